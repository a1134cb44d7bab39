// The usage reader against each API's documented shapes, fed whole and in every split, and against
// what a second reader (a client SDK) would take from the same bytes.
#include "llm/usage_reader.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using scopegate::config::LlmApi;
using scopegate::llm::TokenType;
using scopegate::llm::Usage;
using scopegate::llm::UsageReader;

namespace {

Usage usage(std::uint64_t in, std::uint64_t out, std::uint64_t cache = 0, std::uint64_t reasoning = 0) {
  Usage u;
  u[TokenType::input] = in;
  u[TokenType::output] = out;
  u[TokenType::cache_read] = cache;
  u[TokenType::reasoning] = reasoning;
  return u;
}

// Reads `body` whole, then split at every position, then byte by byte: the answer must not depend
// on where the relay's pieces end.
std::optional<Usage> read_every_way(LlmApi api, bool sse, const std::string& body) {
  std::optional<Usage> first;
  auto read = [&](const std::vector<std::string_view>& pieces) -> std::optional<Usage> {
    UsageReader r(api, sse);
    for (auto p : pieces) r.feed(p);
    r.finish();
    if (!r.seen()) return std::nullopt;
    return r.usage();
  };
  first = read({body});
  for (std::size_t cut = 0; cut <= body.size(); ++cut) {
    std::string_view b(body);
    auto got = read({b.substr(0, cut), b.substr(cut)});
    CHECK_MESSAGE(got == first, "split at " << cut);
  }
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < body.size(); ++i) bytes.push_back(std::string_view(body).substr(i, 1));
  CHECK(read(bytes) == first);
  return first;
}

}  // namespace

TEST_CASE("llm usage: OpenAI chat completion, JSON, with cached and reasoning tokens") {
  std::string body =
      R"({"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"a \"usage\": {\"prompt_tokens\": 999}","usage":{"prompt_tokens":5}}}],)"
      R"("usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":3}}})";
  // The text and the nested "usage" inside a choice are not the response's usage.
  CHECK(read_every_way(LlmApi::openai, false, body) == usage(12, 7, 4, 3));
}

TEST_CASE("llm usage: OpenAI chat stream, usage in the final chunk only") {
  std::string body =
      "data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n"
      "data: {\"id\":\"c\",\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
      "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\n"
      "data: [DONE]\n\n";
  CHECK(read_every_way(LlmApi::openai, true, body) == usage(3, 2));
  // CRLF and CR line endings, a comment, and one event's data on two lines.
  std::string crlf =
      ": keep-alive\r\n\r\ndata: {\"choices\":[],\r\ndata: \"usage\":{\"prompt_tokens\":8,\"completion_tokens\":1}}\r\n\r\n"
      "data: [DONE]\r\r";
  CHECK(read_every_way(LlmApi::openai, true, crlf) == usage(8, 1));
  // Nothing after [DONE] is read, as the SDKs read nothing after it.
  CHECK(read_every_way(LlmApi::openai, true, body + "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":999}}\n\n") ==
        usage(3, 2));
  // No usage at all: nothing seen (not a usage of zeros).
  CHECK_FALSE(read_every_way(LlmApi::openai, true, "data: {\"choices\":[]}\n\ndata: [DONE]\n\n"));
}

TEST_CASE("llm usage: OpenAI Responses API, JSON and stream") {
  std::string json =
      R"({"id":"r","object":"response","output":[{"type":"message","content":[{"type":"output_text","text":"x"}]}],)"
      R"("usage":{"input_tokens":20,"input_tokens_details":{"cached_tokens":10},"output_tokens":9,"output_tokens_details":{"reasoning_tokens":3},"total_tokens":29}})";
  CHECK(read_every_way(LlmApi::openai, false, json) == usage(20, 9, 10, 3));
  std::string sse =
      "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\",\"usage\":null}}\n\n"
      "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"x\"}\n\n"
      "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"output\":[],"
      "\"usage\":{\"input_tokens\":6,\"output_tokens\":4,\"input_tokens_details\":{\"cached_tokens\":0},"
      "\"output_tokens_details\":{\"reasoning_tokens\":0}}}}\n\n";
  CHECK(read_every_way(LlmApi::openai, true, sse) == usage(6, 4));
}

TEST_CASE("llm usage: Anthropic message, JSON and stream, cache reads and writes joining the input") {
  std::string json =
      R"({"id":"m","type":"message","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":5,"output_tokens":7,"cache_read_input_tokens":4,"cache_creation_input_tokens":2}})";
  CHECK(read_every_way(LlmApi::anthropic, false, json) == usage(11, 7, 4));
  std::string sse =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"content\":[],"
      "\"usage\":{\"input_tokens\":25,\"cache_read_input_tokens\":10,\"cache_creation_input_tokens\":0,\"output_tokens\":1}}}\n\n"
      "event: ping\ndata: {\"type\":\"ping\"}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  // message_delta's output count replaces message_start's, as the SDK's final message has it.
  CHECK(read_every_way(LlmApi::anthropic, true, sse) == usage(35, 15, 10));
}

TEST_CASE("llm usage: a name given twice counts as its last, as JSON.parse reads it") {
  std::string body = R"({"usage":{"prompt_tokens":1,"completion_tokens":1},"usage":{"prompt_tokens":9,"prompt_tokens":10,"completion_tokens":2}})";
  CHECK(read_every_way(LlmApi::openai, false, body) == usage(10, 2));
  // The later object replaces the earlier whole: its missing count is missing, not the earlier's.
  std::string replaced = R"({"usage":{"prompt_tokens":100,"completion_tokens":5},"usage":{"prompt_tokens":100}})";
  CHECK(read_every_way(LlmApi::openai, false, replaced) == usage(100, 0));
}

TEST_CASE("llm usage: counts near the top of the range saturate instead of wrapping") {
  // A count past 10^12 is no model's: taken as 10^12, so sums stay far from the counters' limit.
  UsageReader r(LlmApi::openai, false);
  r.feed(R"({"usage":{"prompt_tokens":18446744073709551615,"completion_tokens":2}})");
  r.finish();
  CHECK(r.usage()[TokenType::input] == 1'000'000'000'000ull);
  Usage a;
  a[TokenType::input] = UINT64_MAX - 1;
  a.add(r.usage());
  CHECK(a[TokenType::input] == UINT64_MAX);
  CHECK(a.total() == UINT64_MAX);
}

TEST_CASE("llm usage: a usage object past the bound, or not an object, is not read") {
  std::string big = R"({"usage":{"prompt_tokens":1,"pad":")" + std::string(5000, 'x') + R"("}})";
  UsageReader r(LlmApi::openai, false);
  r.feed(big);
  r.finish();
  CHECK_FALSE(r.seen());
  UsageReader s(LlmApi::openai, false);
  s.feed(R"({"usage":[1,2],"x":{"usage":{"prompt_tokens":4}}})");
  s.finish();
  CHECK_FALSE(s.seen());
  // Numbers that are not counts leave the count unset.
  UsageReader t(LlmApi::openai, false);
  t.feed(R"({"usage":{"prompt_tokens":-3,"completion_tokens":2.5}})");
  t.finish();
  CHECK(t.seen());
  CHECK(t.usage() == usage(0, 0));
}

TEST_CASE("llm usage: a large body around the usage is skipped, whatever it holds") {
  std::string data;
  for (int i = 0; i < 2000; ++i) data += (i ? "," : "") + std::to_string(i * 0.001);
  std::string body = R"({"object":"list","data":[{"embedding":[)" + data +
                     R"(],"note":"}]{[\\\"usage\\\""}],"model":"e","usage":{"prompt_tokens":42,"total_tokens":42}})";
  UsageReader r(LlmApi::openai, false);
  for (std::size_t i = 0; i < body.size(); i += 4096) r.feed(std::string_view(body).substr(i, 4096));
  r.finish();
  CHECK(r.usage() == usage(42, 0));
}
