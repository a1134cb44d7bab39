// LLM requests: the path's operation, the model and stream flags read strictly, and the one change
// the gateway makes to a streamed chat completion's body.
#include "llm/request.hpp"

#include <doctest/doctest.h>
#include <simdjson.h>

#include "json/strict.hpp"
#include "llm/usage.hpp"

using namespace scopegate::llm;
using scopegate::config::LlmApi;

namespace {

std::optional<Request> parse(std::string text, std::string& why) {
  text.reserve(text.size() + scopegate::json::kPadding);
  return parse_request(text, why);
}

// The body after the change, re-read strictly: it must still be one object without a repeated name.
std::string asked(std::string body) {
  std::string why;
  auto r = parse(body, why);
  REQUIRE_MESSAGE(r, why);
  ask_for_stream_usage(body, *r);
  auto again = parse(body, why);
  REQUIRE_MESSAGE(again, why << ": " << body);
  CHECK(again->include_usage == (r->stream ? std::optional<bool>(true) : r->include_usage));
  CHECK(again->model == r->model);
  return body;
}

}  // namespace

TEST_CASE("llm request: the operation by path, under any prefix, query ignored") {
  CHECK(operation_of(LlmApi::openai, "/v1/chat/completions") == Operation::chat);
  CHECK(operation_of(LlmApi::openai, "/openai/v1/chat/completions?x=1") == Operation::chat);
  CHECK(operation_of(LlmApi::openai, "/v1/chat/completions/") == Operation::chat);
  CHECK(operation_of(LlmApi::openai, "/V1/Chat/Completions") == Operation::chat);
  CHECK(operation_of(LlmApi::openai, "/v1/responses") == Operation::responses);
  CHECK(operation_of(LlmApi::openai, "/v1/completions") == Operation::completions);
  CHECK(operation_of(LlmApi::openai, "/v1/embeddings") == Operation::embeddings);
  CHECK(operation_of(LlmApi::openai, "/v1/models") == Operation::other);
  CHECK(operation_of(LlmApi::openai, "/v1/messages") == Operation::other);
  CHECK(operation_of(LlmApi::anthropic, "/v1/messages") == Operation::messages);
  CHECK(operation_of(LlmApi::anthropic, "/v1/chat/completions") == Operation::other);
  CHECK(operation_name(Operation::embeddings) == "embeddings");
  CHECK(operation_name(Operation::messages) == "chat");
}

TEST_CASE("llm request: strict reading, the model required") {
  std::string why;
  auto r = parse(R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":false}})", why);
  REQUIRE(r);
  CHECK(r->model == "gpt-4o");
  CHECK(r->stream);
  CHECK(r->include_usage == false);
  CHECK_FALSE(parse(R"({"model":"a","model":"b"})", why));
  CHECK_FALSE(parse(R"({"messages":[]})", why));
  CHECK(why.find("model") != std::string::npos);
  CHECK_FALSE(parse(R"({"model":""})", why));
  CHECK_FALSE(parse(R"({"model":"a"} {})", why));
  CHECK_FALSE(parse(R"(["model"])", why));
  // What a lax server would read as true is refused rather than taken as false.
  CHECK_FALSE(parse(R"({"model":"m","stream":1})", why));
  CHECK(why == "\"stream\" must be true or false");
  CHECK_FALSE(parse(R"({"model":"m","stream":"true"})", why));
  CHECK_FALSE(parse(R"({"model":"m","stream":true,"stream_options":{"include_usage":"no"}})", why));
  CHECK_FALSE(parse(R"({"model":"m","stream":true,"stream_options":"x"})", why));
  // A background response's usage would come outside the call.
  CHECK_FALSE(parse(R"({"model":"m","background":true})", why));
  CHECK(parse(R"({"model":"m","background":false,"stream":null})", why));
  auto limited = parse(R"({"model":"m","max_tokens":100,"max_completion_tokens":50})", why);
  REQUIRE(limited);
  CHECK(limited->max_output == 100u);
  std::uint64_t input = 0;
  CHECK(estimated_tokens(400, *limited, Operation::chat, input) == 201);
  CHECK(input == 101);
  // No max_tokens: a default output is held; an embedding has none; a huge one is capped.
  auto open = parse(R"({"model":"m"})", why);
  CHECK(estimated_tokens(400, *open, Operation::chat, input) == 101 + kDefaultOutput);
  CHECK(estimated_tokens(400, *open, Operation::embeddings, input) == 101);
  auto huge = parse(R"({"model":"m","max_tokens":18446744073709551615})", why);
  CHECK(estimated_tokens(400, *huge, Operation::chat, input) == 101 + kMaxEstimate);
}

TEST_CASE("llm request: a streamed chat completion is made to ask for its usage, every way it can be written") {
  CHECK(asked(R"({"model":"m","stream":true,"messages":[]})") ==
        R"({"stream_options":{"include_usage":true},"model":"m","stream":true,"messages":[]})");
  CHECK(asked(R"({"model":"m","stream":true,"stream_options":{}})") ==
        R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})");
  CHECK(asked(R"({"model":"m","stream":true,"stream_options":{ "x" : 1 }})") ==
        R"({"model":"m","stream":true,"stream_options":{"include_usage":true, "x" : 1 }})");
  CHECK(asked(R"({"model":"m","stream":true,"stream_options":{"include_usage" : false}})") ==
        R"({"model":"m","stream":true,"stream_options":{"include_usage" : true}})");
  CHECK(asked(R"({"model":"m","stream":true,"stream_options":null})") ==
        R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})");
  CHECK(asked(R"({"model":"m","stream":true,"stream_options":{"include_usage":null}})") ==
        R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})");
  // Escaped names are the same names to every parser: changed in place, never added twice.
  CHECK(asked(R"({"model":"m","stream":true,"stream\u005foptions":{"include\u005fusage":false}})") ==
        R"({"model":"m","stream":true,"stream\u005foptions":{"include\u005fusage":true}})");
  // Strings that look like the member are not it.
  CHECK(asked(R"({"model":"stream_options","stream":true,"x":"\"stream_options\":{}"})") ==
        R"({"stream_options":{"include_usage":true},"model":"stream_options","stream":true,"x":"\"stream_options\":{}"})");
  // Not streamed, or already asking: untouched.
  CHECK(asked(R"({"model":"m","messages":[]})") == R"({"model":"m","messages":[]})");
  CHECK(asked(R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})") ==
        R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})");
}

TEST_CASE("llm cost: exact in pico-units, written as a decimal, read back") {
  scopegate::config::ModelPrice price{2'500'000, 10'000'000, 1'250'000};  // 2.5, 10, 1.25 per million
  Usage u;
  u[TokenType::input] = 1000;
  u[TokenType::cache_read] = 400;
  u[TokenType::output] = 200;
  // 600 * 2.5e-6 + 400 * 1.25e-6 + 200 * 10e-6 = 0.0015 + 0.0005 + 0.002 = 0.004
  CHECK(cost_of(u, price) == 4'000'000'000ull);
  CHECK(format_cost(4'000'000'000ull) == "0.004");
  CHECK(format_cost(0) == "0");
  CHECK(format_cost(12 * kPicoPerUnit) == "12");
  CHECK(format_cost(1) == "0.000000000001");
  CHECK(parse_cost("0.004") == 4'000'000'000ull);
  CHECK(parse_cost("12") == 12 * kPicoPerUnit);
  CHECK_FALSE(parse_cost("1e-3"));
  CHECK(cost_from_double(0.004) == 4'000'000'000ull);
  CHECK(cost_from_double(0.000000000001) == 1);
  // More cached tokens than input (a confused upstream) costs no negative input.
  u[TokenType::cache_read] = 5000;
  CHECK(cost_of(u, price) == 1000 * 1'250'000ull + 200 * 10'000'000ull);
}
