// Reads an LLM API's token usage from its response as the response is relayed (docs/llm.md,
// "Usage"), without holding the body: a JSON body in any number of pieces, or a stream of
// server-sent events (OpenAI's chat chunks, Responses events, Anthropic's message events).
// `usage` is found where each API documents it: a top-level member of the body or of an event's
// data, or under its `message` (Anthropic's message_start) or `response` (Responses API events).
// Each document's (body's, event's) usage counts replace the counts read before them that they
// carry (Anthropic's message_delta brings the final output count). Within one document a later
// usage object replaces an earlier one whole, and a name given twice counts as its last, as
// JavaScript's JSON.parse reads them.
// Only the usage objects themselves are held, each up to kMaxUsageBytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "llm/usage.hpp"

namespace scopegate::llm {

class UsageReader {
 public:
  static constexpr std::size_t kMaxUsageBytes = 4096;

  UsageReader(config::LlmApi api, bool event_stream) : api_(api), event_stream_(event_stream) {}
  void feed(std::string_view piece);
  // The end of the body (or of what arrived of it).
  void finish();
  bool seen() const { return seen_; }
  Usage usage() const;

 private:
  // The JSON scanner: the structure down to depth 3, the member names that matter at depths 1
  // and 2, and the bytes of a usage object being captured.
  enum class Key : std::uint8_t { other, usage, message, response };
  void json(std::string_view text);
  void json_byte(char c);
  void end_json();
  void take_usage();
  // The SSE framing around it.
  void sse(std::string_view piece);
  void end_line();

  config::LlmApi api_;
  bool event_stream_;
  bool seen_ = false;

  // JSON state.
  int depth_ = 0;
  bool in_string_ = false, escape_ = false;
  bool expect_key_ = false;         // the next string in the current object is a member name
  bool reading_key_ = false;        // inside a member name at depth 1 or 2
  std::string key_;                 // that name, up to 16 bytes
  bool key_too_long_ = false;
  Key pending_[3]{};                // the name whose value comes next, by depth (1, 2)
  Key at_[3]{};                     // the member whose value the scanner is inside, by depth
  bool in_object_[4]{};             // the container at each depth is an object
  int capture_depth_ = -1;          // capturing a usage object that opened at this depth
  std::string capture_;
  bool capture_overflow_ = false;

  // SSE state.
  bool at_line_start_ = true, after_cr_ = false;
  std::string data_start_;             // the current data line's first bytes: "[DONE]" ends the stream
  bool done_ = false;                  // past OpenAI's data: [DONE]: nothing more is read, as the SDKs read nothing more
  std::string field_;                  // the current line's field name, up to 8 bytes
  bool in_field_ = true, data_line_ = false, skip_space_ = false;
  bool event_has_data_ = false;

  // What the usage objects said, by the names the APIs use (unset: not seen yet): the documents
  // read so far, and the document being read.
  struct Counts {
    std::optional<std::uint64_t> prompt_tokens, completion_tokens, input_tokens, output_tokens, cached_tokens,
        reasoning_tokens, cache_read_input_tokens, cache_creation_input_tokens;
    void take(const Counts& later);  // each count `later` has replaces this one's
  };
  Counts read_, document_;
  bool document_has_usage_ = false;
};

}  // namespace scopegate::llm
