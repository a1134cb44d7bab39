#include "llm/usage_reader.hpp"

#include <simdjson.h>

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace scopegate::llm {

namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Counts past this are no model's: taken as this, so that no sum of them comes near the counters'
// limit (where adding and taking back no longer cancel).
constexpr std::uint64_t kMaxCount = 1'000'000'000'000ull;

void read_count(simdjson::dom::element value, std::optional<std::uint64_t>& out) {
  std::uint64_t n = 0;
  if (!value.get_uint64().get(n)) out = std::min(n, kMaxCount);  // null, or anything but a count, leaves it as it was
}

}  // namespace

void UsageReader::feed(std::string_view piece) {
  if (done_) return;
  if (event_stream_) sse(piece);
  else json(piece);
}

void UsageReader::finish() {
  if (event_stream_) end_line();
  end_json();
}

void UsageReader::Counts::take(const Counts& later) {
  auto keep = [](std::optional<std::uint64_t>& mine, const std::optional<std::uint64_t>& theirs) {
    if (theirs) mine = theirs;
  };
  keep(prompt_tokens, later.prompt_tokens);
  keep(completion_tokens, later.completion_tokens);
  keep(input_tokens, later.input_tokens);
  keep(output_tokens, later.output_tokens);
  keep(cached_tokens, later.cached_tokens);
  keep(reasoning_tokens, later.reasoning_tokens);
  keep(cache_read_input_tokens, later.cache_read_input_tokens);
  keep(cache_creation_input_tokens, later.cache_creation_input_tokens);
}

Usage UsageReader::usage() const {
  Counts c = read_;
  if (document_has_usage_) c.take(document_);  // a stream cut mid-event: what it had read counts
  Usage u;
  auto get = [](const std::optional<std::uint64_t>& v) { return v.value_or(0); };
  if (api_ == config::LlmApi::anthropic) {
    // Anthropic counts cache reads and writes apart from input_tokens; OpenTelemetry's input
    // includes them (docs/llm.md, "Usage").
    std::uint64_t read = get(c.cache_read_input_tokens), written = get(c.cache_creation_input_tokens);
    u[TokenType::input] = saturating_add(saturating_add(get(c.input_tokens), read), written);
    u[TokenType::cache_read] = read;
    u[TokenType::output] = get(c.output_tokens);
  } else {
    // Chat completions and embeddings say prompt/completion; the Responses API input/output.
    u[TokenType::input] = c.prompt_tokens ? *c.prompt_tokens : get(c.input_tokens);
    u[TokenType::output] = c.completion_tokens ? *c.completion_tokens : get(c.output_tokens);
    u[TokenType::cache_read] = get(c.cached_tokens);
    u[TokenType::reasoning] = get(c.reasoning_tokens);
  }
  return u;
}

namespace {

constexpr std::size_t kMaxKey = 16;  // longer member names are none the scanner looks for

// Outside a string, only quotes and brackets change the scanner's state, and commas at depths 1
// and 2 (where member names are read). Everything else (numbers, literals, ':', white space, and
// the commas of deeper arrays, an embedding's thousands of floats) is passed over in bulk.
template <bool Commas>
const char* next_structural(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"'), open_brace = _mm_set1_epi8('{'), close_brace = _mm_set1_epi8('}'),
                open_bracket = _mm_set1_epi8('['), close_bracket = _mm_set1_epi8(']'), comma = _mm_set1_epi8(',');
  while (end - p >= 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, open_brace)),
                               _mm_or_si128(_mm_cmpeq_epi8(v, close_brace),
                                            _mm_or_si128(_mm_cmpeq_epi8(v, open_bracket), _mm_cmpeq_epi8(v, close_bracket))));
    if constexpr (Commas) hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, comma));
    if (int mask = _mm_movemask_epi8(hit)) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  for (; p < end; ++p) {
    char c = *p;
    if (c == '"' || c == '{' || c == '}' || c == '[' || c == ']' || (Commas && c == ',')) break;
  }
  return p;
}

// The end of the line that starts at p: its CR or LF, or `end`.
const char* line_end(const char* p, const char* end) {
  auto n = static_cast<std::size_t>(end - p);
  const char* lf = static_cast<const char*>(std::memchr(p, '\n', n));
  const char* limit = lf ? lf : end;
  const char* cr = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(limit - p)));
  return cr ? cr : limit;
}

}  // namespace

void UsageReader::json(std::string_view text) {
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    // The bulk of an answer lies outside any usage object and any member name the scanner looks
    // for: string content is skipped to its next quote or backslash (memchr), the rest to the next
    // byte that changes the structure, without looking at each byte's role.
    if (capture_depth_ < 0 && !escape_ && reading_key_) {
      // A member name at depth 1 or 2: taken whole up to its closing quote (or a backslash).
      auto n = static_cast<std::size_t>(end - p);
      const char* quote = static_cast<const char*>(std::memchr(p, '"', n));
      const char* limit = quote ? quote : end;
      const char* slash = static_cast<const char*>(std::memchr(p, '\\', static_cast<std::size_t>(limit - p)));
      const char* stop = slash ? slash : limit;
      auto length = static_cast<std::size_t>(stop - p);
      if (key_.size() + length <= kMaxKey) key_.append(p, length);
      else key_too_long_ = true;
      p = stop;
      if (p == end) break;
    } else if (capture_depth_ < 0 && !escape_) {
      if (in_string_) {
        auto n = static_cast<std::size_t>(end - p);
        const char* quote = static_cast<const char*>(std::memchr(p, '"', n));
        const char* limit = quote ? quote : end;
        const char* slash = static_cast<const char*>(std::memchr(p, '\\', static_cast<std::size_t>(limit - p)));
        p = slash ? slash : limit;
      } else {
        p = depth_ == 1 || depth_ == 2 ? next_structural<true>(p, end) : next_structural<false>(p, end);
      }
      if (p == end) break;
    }
    json_byte(*p++);
  }
}

void UsageReader::json_byte(char c) {
  bool capturing = capture_depth_ >= 0;
  auto keep = [&] {
    if (capture_.size() < kMaxUsageBytes) capture_ += c;
    else capture_overflow_ = true;
  };
  if (in_string_) {
    if (capturing) keep();
    if (escape_) {
      escape_ = false;
    } else if (c == '\\') {
      escape_ = true;
      key_too_long_ = key_too_long_ || reading_key_;  // an escaped name is not one the scanner looks for
    } else if (c == '"') {
      in_string_ = false;
      if (reading_key_) {
        reading_key_ = false;
        Key k = Key::other;
        if (!key_too_long_) {
          if (key_ == "usage") k = Key::usage;
          else if (key_ == "message") k = Key::message;
          else if (key_ == "response") k = Key::response;
        }
        pending_[depth_] = k;
      }
    } else if (reading_key_) {
      if (key_.size() < kMaxKey) key_ += c;
      else key_too_long_ = true;
    }
    return;
  }
  if (is_space(c)) return;
  if (capturing) keep();
  switch (c) {
    case '"':
      in_string_ = true;
      if (expect_key_ && (depth_ == 1 || depth_ == 2)) {
        reading_key_ = true;
        key_.clear();
        key_too_long_ = false;
      }
      expect_key_ = false;
      break;
    case ',':
      // Only at depths 1 and 2 (the scanner passes deeper commas over): a member name follows.
      if ((depth_ == 1 || depth_ == 2) && in_object_[depth_]) expect_key_ = true;
      if (depth_ == 1 || depth_ == 2) at_[depth_] = Key::other;
      break;
    case '{':
    case '[': {
      if ((depth_ == 1 || depth_ == 2) && in_object_[depth_]) {
        at_[depth_] = pending_[depth_];
        pending_[depth_] = Key::other;
      }
      bool usage_here = c == '{' && !capturing &&
                        ((depth_ == 1 && at_[1] == Key::usage) ||
                         (depth_ == 2 && (at_[1] == Key::message || at_[1] == Key::response) && at_[2] == Key::usage));
      if (usage_here) {
        capture_depth_ = depth_;
        capture_.assign(1, c);
        capture_overflow_ = false;
      }
      ++depth_;
      if (depth_ <= 3) in_object_[depth_] = c == '{';
      if (depth_ == 1 || depth_ == 2) at_[depth_] = pending_[depth_] = Key::other;
      expect_key_ = c == '{';
      break;
    }
    case '}':
    case ']':
      if (depth_ > 0) --depth_;
      expect_key_ = false;
      if (capturing && capture_depth_ == depth_) {
        take_usage();
        capture_depth_ = -1;
      }
      break;
    default: break;  // ':' and the characters of numbers, true, false and null
  }
}

void UsageReader::end_json() {
  if (document_has_usage_) read_.take(document_);
  document_ = {};
  document_has_usage_ = false;
  depth_ = 0;
  in_string_ = escape_ = expect_key_ = reading_key_ = false;
  capture_depth_ = -1;
  capture_.clear();
  for (auto& k : pending_) k = Key::other;
  for (auto& k : at_) k = Key::other;
}

void UsageReader::take_usage() {
  if (capture_overflow_) return;
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string text(capture_);
  simdjson::dom::object usage;
  if (parser.parse(text).get_object().get(usage)) return;
  seen_ = true;
  // A later usage object of the same document replaces the earlier one whole.
  Counts& c = document_;
  c = {};
  document_has_usage_ = true;
  // In document order, so that a name given twice counts as its last.
  for (auto [key, value] : usage) {
    if (key == "prompt_tokens") read_count(value, c.prompt_tokens);
    else if (key == "completion_tokens") read_count(value, c.completion_tokens);
    else if (key == "input_tokens") read_count(value, c.input_tokens);
    else if (key == "output_tokens") read_count(value, c.output_tokens);
    else if (key == "cache_read_input_tokens") read_count(value, c.cache_read_input_tokens);
    else if (key == "cache_creation_input_tokens") read_count(value, c.cache_creation_input_tokens);
    else if (key == "prompt_tokens_details" || key == "input_tokens_details" || key == "completion_tokens_details" ||
             key == "output_tokens_details") {
      simdjson::dom::object details;
      if (value.get_object().get(details)) continue;
      bool input = key == "prompt_tokens_details" || key == "input_tokens_details";
      for (auto [name, count] : details) {
        if (input && name == "cached_tokens") read_count(count, c.cached_tokens);
        if (!input && name == "reasoning_tokens") read_count(count, c.reasoning_tokens);
      }
    }
  }
}

// Server-sent events: lines end with CR, LF or CRLF; "data:" lines (one optional space after the
// colon) carry the event's JSON, several of them joined by a newline; a blank line ends the event.
void UsageReader::sse(std::string_view piece) {
  const char* p = piece.data();
  const char* end = p + piece.size();
  while (p < end) {
    char c = *p;
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') {
        ++p;
        continue;
      }
    }
    if (c == '\r' || c == '\n') {
      end_line();
      after_cr_ = c == '\r';
      ++p;
      if (done_) return;
      continue;
    }
    if (in_field_) {
      at_line_start_ = false;
      if (c == ':') {
        in_field_ = false;
        data_line_ = field_ == "data";
        skip_space_ = true;
        if (data_line_) {
          if (event_has_data_) json_byte('\n');
          event_has_data_ = true;
        }
      } else if (field_.size() < 8) {
        field_ += c;
      } else {
        field_ = "-";  // a long name is no field the reader wants
      }
      ++p;
      continue;
    }
    if (skip_space_) {
      skip_space_ = false;
      if (c == ' ') {
        ++p;
        continue;
      }
    }
    // The rest of the line, up to its end in this piece.
    const char* q = line_end(p, end);
    if (data_line_) {
      std::string_view run(p, static_cast<std::size_t>(q - p));
      if (data_start_.size() < 7) data_start_.append(run.substr(0, 7 - data_start_.size()));
      json(run);
    }
    p = q;
  }
}

void UsageReader::end_line() {
  if (data_line_ && data_start_ == "[DONE]") {
    done_ = true;  // the end of an OpenAI stream: an SDK stops reading here
    end_json();
  }
  data_start_.clear();
  if (at_line_start_) {
    // A blank line: the event is complete.
    if (event_has_data_) end_json();
    event_has_data_ = false;
  } else if (in_field_ && field_ == "data") {
    // "data" alone: an empty data line.
    if (event_has_data_) json_byte('\n');
    event_has_data_ = true;
  }
  at_line_start_ = true;
  in_field_ = true;
  data_line_ = skip_space_ = false;
  field_.clear();
}

}  // namespace scopegate::llm
