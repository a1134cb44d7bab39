#include "llm/request.hpp"

#include <cctype>

#include "json/strict.hpp"
#include "llm/usage.hpp"

namespace scopegate::llm {

namespace {

// Case-insensitively: a server that routes /V1/Chat/Completions as chat completions must not see a
// model call the gateway took for another endpoint.
bool ends_with_path(std::string_view path, std::string_view suffix) {
  if (path.size() < suffix.size()) return false;
  auto tail = path.substr(path.size() - suffix.size());
  for (std::size_t i = 0; i < suffix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(tail[i])) != suffix[i]) return false;
  }
  return true;
}

// Whether a member name, as written between its quotes (escapes and all), reads as `name` (ASCII):
// "stream\u005foptions" is stream_options to every parser, so it must be to this one too.
bool key_equals(std::string_view raw, std::string_view name) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < raw.size(); ++i, ++n) {
    char c = raw[i];
    if (c == '\\' && i + 1 < raw.size()) {
      char e = raw[++i];
      switch (e) {
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
          if (i + 4 >= raw.size()) return false;
          unsigned value = 0;
          for (int k = 1; k <= 4; ++k) {
            char h = raw[i + k];
            value <<= 4;
            if (h >= '0' && h <= '9') value |= static_cast<unsigned>(h - '0');
            else if (h >= 'a' && h <= 'f') value |= static_cast<unsigned>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') value |= static_cast<unsigned>(h - 'A' + 10);
            else return false;
          }
          if (value >= 0x80) return false;  // `name` is ASCII
          c = static_cast<char>(value);
          i += 4;
          break;
        }
        default: c = e;  // \" \\ \/
      }
    }
    if (n >= name.size() || name[n] != c) return false;
  }
  return n == name.size();
}

// A small reader over JSON text the strict parser has already accepted: it finds the value of a
// member by name, so the body can be changed in place without being re-serialised.
class Text {
 public:
  explicit Text(std::string_view s) : s_(s) {}

  std::size_t skip_space(std::size_t i) const {
    while (i < s_.size() && (s_[i] == ' ' || s_[i] == '\t' || s_[i] == '\n' || s_[i] == '\r')) ++i;
    return i;
  }
  // Past the string that starts at i (its opening quote).
  std::size_t skip_string(std::size_t i) const {
    for (++i; i < s_.size(); ++i) {
      if (s_[i] == '\\') ++i;
      else if (s_[i] == '"') return i + 1;
    }
    return s_.size();
  }
  // Past the value that starts at i.
  std::size_t skip_value(std::size_t i) const {
    if (i >= s_.size()) return i;
    if (s_[i] == '"') return skip_string(i);
    if (s_[i] != '{' && s_[i] != '[') {
      while (i < s_.size() && s_[i] != ',' && s_[i] != '}' && s_[i] != ']' && s_[i] != ' ' && s_[i] != '\n' &&
             s_[i] != '\r' && s_[i] != '\t')
        ++i;
      return i;
    }
    int depth = 0;
    for (; i < s_.size(); ++i) {
      char c = s_[i];
      if (c == '"') {
        i = skip_string(i) - 1;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
    }
    return i;
  }
  // The start of the value of member `name` of the object whose '{' is at `open`; npos if none.
  std::size_t member(std::size_t open, std::string_view name) const {
    std::size_t i = skip_space(open + 1);
    while (i < s_.size() && s_[i] == '"') {
      std::size_t end = skip_string(i);
      std::string_view key = s_.substr(i + 1, end - i - 2);
      i = skip_space(skip_space(end) + 1);  // past ':'
      if (key_equals(key, name)) return i;
      i = skip_space(skip_value(i));
      if (i < s_.size() && s_[i] == ',') i = skip_space(i + 1);
    }
    return std::string_view::npos;
  }

 private:
  std::string_view s_;
};

}  // namespace

std::string_view operation_name(Operation op) {
  switch (op) {
    case Operation::chat:
    case Operation::responses:
    case Operation::messages: return "chat";
    case Operation::completions: return "text_completion";
    case Operation::embeddings: return "embeddings";
    case Operation::other: break;
  }
  return "http";
}

Operation operation_of(config::LlmApi api, std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (api == config::LlmApi::anthropic) return ends_with_path(path, "/v1/messages") ? Operation::messages : Operation::other;
  if (ends_with_path(path, "/chat/completions")) return Operation::chat;
  if (ends_with_path(path, "/completions")) return Operation::completions;
  if (ends_with_path(path, "/responses")) return Operation::responses;
  if (ends_with_path(path, "/embeddings")) return Operation::embeddings;
  return Operation::other;
}

std::optional<Request> parse_request(std::string_view body, std::string& why) {
  thread_local simdjson::dom::parser parser;
  auto object = json::parse_strict_object(parser, body, why);
  if (!object) return std::nullopt;
  Request r;
  std::string_view model;
  if (object->at_key("model").get_string().get(model) || model.empty()) {
    why = "an LLM request names its model: a non-empty string \"model\"";
    return std::nullopt;
  }
  r.model = model;
  // Present but not a boolean: some servers read "true" or 1 as true. Refused, not guessed.
  auto boolean = [&](simdjson::dom::object o, std::string_view name, std::optional<bool>& out) {
    simdjson::dom::element e;
    if (o.at_key(name).get(e) || e.is_null()) return true;
    bool b = false;
    if (e.get_bool().get(b)) {
      why = "\"" + std::string(name) + "\" must be true or false";
      return false;
    }
    out = b;
    return true;
  };
  std::optional<bool> stream, background;
  if (!boolean(*object, "stream", stream) || !boolean(*object, "background", background)) return std::nullopt;
  r.stream = stream.value_or(false);
  if (background == true) {
    why = "background responses are not supported on this gateway: their usage would arrive outside the call";
    return std::nullopt;
  }
  simdjson::dom::element options;
  if (!object->at_key("stream_options").get(options) && !options.is_null()) {
    simdjson::dom::object o;
    if (options.get_object().get(o)) {
      why = "\"stream_options\" must be an object";
      return std::nullopt;
    }
    if (!boolean(o, "include_usage", r.include_usage)) return std::nullopt;
  }
  for (std::string_view name : {"max_tokens", "max_completion_tokens", "max_output_tokens"}) {
    std::uint64_t n = 0;
    if (!object->at_key(name).get_uint64().get(n)) r.max_output = std::max(r.max_output.value_or(0), n);
  }
  return r;
}

bool ask_for_stream_usage(std::string& body, const Request& request) {
  if (!request.stream || request.include_usage == true) return false;
  Text text(body);
  std::size_t open = text.skip_space(0);
  if (open >= body.size() || body[open] != '{') return false;
  std::size_t options = text.member(open, "stream_options");
  if (options == std::string_view::npos) {
    // The object has a model, so at least one member follows.
    body.insert(open + 1, R"("stream_options":{"include_usage":true},)");
    return true;
  }
  if (options >= body.size() || body[options] != '{') {
    // stream_options: null (or another non-object, which the API refuses anyway): replaced.
    std::size_t end = text.skip_value(options);
    body.replace(options, end - options, R"({"include_usage":true})");
    return true;
  }
  std::size_t include = text.member(options, "include_usage");
  if (include == std::string_view::npos) {
    std::size_t first = text.skip_space(options + 1);
    bool empty = first < body.size() && body[first] == '}';
    body.insert(options + 1, empty ? R"("include_usage":true)" : R"("include_usage":true,)");
    return true;
  }
  std::size_t end = text.skip_value(include);
  body.replace(include, end - include, "true");
  return true;
}

std::uint64_t estimated_tokens(std::size_t body_bytes, const Request& request, Operation op, std::uint64_t& input) {
  input = std::min<std::uint64_t>(body_bytes / 4 + 1, kMaxEstimate);
  std::uint64_t output = op == Operation::embeddings ? 0 : request.max_output.value_or(kDefaultOutput);
  return input + std::min(output, kMaxEstimate);
}

}  // namespace scopegate::llm
