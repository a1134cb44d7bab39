// Just enough of an LLM API request to name and count it (docs/llm.md): which operation the path
// is, the model (the action `model:<name>`), whether the answer streams, and whether a streamed
// chat completion asked for its usage. The body is read once, strictly (json/strict.hpp), like
// every body the gateway inspects.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace scopegate::llm {

// What a request to an llm route does, by its path. `other` paths (a model list, files, batches)
// name no model and are forwarded as the route's own action.
enum class Operation { chat, completions, responses, embeddings, messages, other };

// The OpenTelemetry GenAI operation name the audit record gives it ("chat", "embeddings"), or "http".
std::string_view operation_name(Operation op);

// By the path (its query ignored): the API's documented endpoints, under any prefix.
Operation operation_of(config::LlmApi api, std::string_view target);

struct Request {
  std::string model;
  bool stream = false;
  // stream_options.include_usage, as sent (chat completions): nullopt when absent or null.
  std::optional<bool> include_usage;
  // The most output tokens the call may produce, when it says (max_tokens, max_completion_tokens,
  // max_output_tokens): what a budget reserves for it while it runs.
  std::optional<std::uint64_t> max_output;
};

// `body` must have json::kPadding bytes of capacity past its size. nullopt with `why` when it is
// not one strict JSON object with a non-empty string `model`, when `stream` or
// `stream_options.include_usage` is there but not a boolean (servers that read "true" or 1 as true
// would stream a call the gateway took for a plain one), or when it asks for a background
// response (`background: true`: its usage would arrive outside the call, uncounted).
std::optional<Request> parse_request(std::string_view body, std::string& why);

// Makes a streamed chat completion ask for its usage: stream_options.include_usage set to true,
// added where absent (the only change to the body; every other byte stays as sent). False when
// the body already asks, or does not stream.
bool ask_for_stream_usage(std::string& body, const Request& request);

// What a budget holds for a call while it runs, before its response says what it used: its body's
// bytes / 4 as input tokens (an over-estimate for JSON) and its max_output, or kDefaultOutput when
// it names none (an embedding: none). Each part at most kMaxEstimate, so that a huge max_tokens
// cannot push a budget's counters to their limit (where adding and taking back no longer cancel).
inline constexpr std::uint64_t kDefaultOutput = 4096;
inline constexpr std::uint64_t kMaxEstimate = 10'000'000;
std::uint64_t estimated_tokens(std::size_t body_bytes, const Request& request, Operation op, std::uint64_t& input);

}  // namespace scopegate::llm
