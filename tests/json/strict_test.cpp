#include "json/strict.hpp"

#include <doctest/doctest.h>

using scopegate::json::parse_strict_object;

namespace {
std::string padded(std::string text) {
  text.reserve(text.size() + scopegate::json::kPadding);
  return text;
}

bool accepted(std::string text, std::string* why_out = nullptr) {
  simdjson::dom::parser parser;
  std::string why;
  auto body = padded(std::move(text));
  bool ok = parse_strict_object(parser, body, why).has_value();
  if (why_out) *why_out = why;
  return ok;
}
}  // namespace

TEST_CASE("strict JSON: one object, read one way by every parser") {
  CHECK(accepted(R"({"a":1,"b":{"c":[1,2,{"d":"e"}]}})"));
  CHECK(accepted(" \n{}\t\r\n"));
  // The same member name twice, at any depth, with or without escapes that spell the same name.
  struct Case {
    const char* body;
    const char* where;
  };
  for (auto [body, where] : {
           Case{R"({"a":1,"a":2})", "the body"},
           Case{R"({"params":{"name":"search","arguments":{},"name":"hr_lookup"}})", "params"},
           Case{R"({"method":"tools/list","method":"tools/call"})", "the body"},
           Case{R"({"p":{"message":{"parts":[{"text":"a","text":"b"}]}}})", "p.message.parts[0]"},
           Case{R"({"x":[[{"k":1}],[{"k":1,"k":2}]]})", "x[1][0]"},
           Case{R"({"name":"a","na\u006de":"b"})", "the body"},
       }) {
    std::string why;
    CHECK_FALSE(accepted(body, &why));
    CHECK(why.find("twice") != std::string::npos);
    CHECK(why.find(where) != std::string::npos);
  }
  // Many members: the sorted path finds a duplicate among them too.
  std::string wide = "{";
  for (int i = 0; i < 40; ++i) wide += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  CHECK(accepted(wide + "\"last\":0}"));
  CHECK_FALSE(accepted(wide + "\"k17\":0}"));
  // Equal values under different names are fine; equal names in different objects are fine.
  CHECK(accepted(R"({"a":{"n":1},"b":{"n":1},"c":[{"n":1},{"n":2}]})"));
}

TEST_CASE("strict JSON: what is not exactly one object in UTF-8") {
  for (const char* body : {
           "{} {}", "{} x", "[]", "\"text\"", "17", "", "{\"a\":\"\xff\"}", "{\"a\":\"\\ud800\"}",
           "{\"a\":1e400}", "{\"a\":12345678901234567890123}", "\xef\xbb\xbf{}", "{\"a\":1,}", "{'a':1}",
       }) {
    CAPTURE(body);
    CHECK_FALSE(accepted(body));
  }
  std::string why;
  CHECK_FALSE(accepted(R"([{"jsonrpc":"2.0"}])", &why));
  CHECK(why.find("batch") != std::string::npos);
}

TEST_CASE("strict JSON: messages quote at most a readable part of a hostile name") {
  std::string name(5000, 'n');
  std::string why;
  CHECK_FALSE(accepted("{\"" + name + "\":1,\"" + name + "\":2}", &why));
  CHECK(why.size() < 300);
}

TEST_CASE("strict JSON: nesting is bounded below every reader's limit") {
  auto nested = [](std::size_t levels) {
    return "{\"a\":" + std::string(levels, '[') + "1" + std::string(levels, ']') + "}";
  };
  CHECK(accepted(nested(scopegate::json::kMaxDepth - 1)));
  std::string why;
  CHECK_FALSE(accepted(nested(scopegate::json::kMaxDepth), &why));
  CHECK(why.find("deeper") != std::string::npos);
  CHECK_FALSE(accepted(nested(1000)));
}
