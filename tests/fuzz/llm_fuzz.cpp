// LLM calls (docs/llm.md): the request body an agent sends (llm/request.hpp) and the answer a model
// server sends back, read for its usage as it is relayed (llm/usage_reader.hpp). The first byte picks
// the API and whether the answer is an event stream; the rest splits at the first NUL: before it, a
// request body; after it, an answer.
//
// Beyond "no crash": a request the gateway accepts and then changes (asking a stream for its usage)
// is still one strict JSON object naming the same model, now asking for its usage; and an answer
// reads the same however it is cut into pieces, with counts that never wrap.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "http/errors.hpp"
#include "llm/request.hpp"
#include "llm/usage_reader.hpp"

namespace {

using namespace scopegate;

std::optional<llm::Request> parse(std::string_view body, std::string& why) {
  std::string padded(body);
  padded.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  return llm::parse_request(padded, why);
}

void check_request(std::string_view body) {
  std::string why;
  auto request = parse(body, why);
  if (!request) {
    fuzz::require(!why.empty(), "a refused request has a reason");
    fuzz::require_json_reply(http::error_body(http::ErrorCode::bad_request, {.message = why}), why);
    return;
  }
  fuzz::require(!request->model.empty(), "an accepted request names a model");
  std::string changed(body);
  bool asked = llm::ask_for_stream_usage(changed, *request);
  fuzz::require(asked == (request->stream && request->include_usage != true), "only a stream not asking is changed");
  auto again = parse(changed, why);
  fuzz::require(again.has_value(), "the changed body is still one strict JSON object");
  fuzz::require(again->model == request->model, "the change keeps the model");
  fuzz::require(again->stream == request->stream, "the change keeps stream");
  if (request->stream) fuzz::require(again->include_usage == true, "a stream now asks for its usage");
  std::uint64_t input = 0;
  auto estimate = llm::estimated_tokens(body.size(), *request, llm::Operation::chat, input);
  fuzz::require(estimate >= input && estimate <= 2 * llm::kMaxEstimate, "the estimate is bounded");
}

bool same(const llm::UsageReader& a, const llm::UsageReader& b) {
  return a.seen() == b.seen() && a.usage() == b.usage();
}

void check_answer(config::LlmApi api, bool sse, std::string_view bytes) {
  llm::UsageReader whole(api, sse), cut(api, sse), bytewise(api, sse);
  whole.feed(bytes);
  whole.finish();
  std::size_t at = bytes.empty() ? 0 : static_cast<unsigned char>(bytes.back()) % (bytes.size() + 1);
  cut.feed(bytes.substr(0, at));
  cut.feed(bytes.substr(at));
  cut.finish();
  fuzz::require(same(whole, cut), "an answer reads the same however it is cut");
  if (bytes.size() <= 512) {
    for (std::size_t i = 0; i < bytes.size(); ++i) bytewise.feed(bytes.substr(i, 1));
    bytewise.finish();
    fuzz::require(same(whole, bytewise), "an answer reads the same byte by byte");
  }
  auto u = whole.usage();
  fuzz::require(u.total() >= u[llm::TokenType::input] && u.total() >= u[llm::TokenType::output], "sums saturate");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  auto api = data[0] & 1 ? config::LlmApi::anthropic : config::LlmApi::openai;
  bool sse = data[0] & 2;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  auto nul = input.find('\0');
  check_request(input.substr(0, nul));
  if (nul != std::string_view::npos) check_answer(api, sse, input.substr(nul + 1));
  return 0;
}
