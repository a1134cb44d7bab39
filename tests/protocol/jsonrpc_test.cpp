#include "protocol/jsonrpc.hpp"

#include <doctest/doctest.h>

using namespace scopegate::protocol;

namespace {
// simdjson reads past the end of the text: a body buffer keeps that padding, as the gateway's does.
std::string padded(std::string text) {
  text.reserve(text.size() + json_padding());
  return text;
}
}  // namespace

TEST_CASE("MCP requests name their action") {
  std::string why;
  auto call = parse_mcp(padded(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{}}})"), why);
  REQUIRE(call.has_value());
  CHECK(call->method == "tools/call");
  CHECK(call->name == "search");
  CHECK(classify(*call) == McpAction::tool);
  call = parse_mcp(padded(R"({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///a"}})"), why);
  REQUIRE(call.has_value());
  CHECK(call->uri == "file:///a");
  CHECK(classify(*call) == McpAction::resource);
  auto named = [](std::string method, std::string name = "") {
    McpRequest r;
    r.method = std::move(method);
    r.name = std::move(name);
    return r;
  };
  for (auto m : {"initialize", "ping", "notifications/initialized", "tools/list", "resources/list", "prompts/list"}) {
    CHECK(classify(named(m)) == McpAction::housekeeping);
  }
  CHECK(classify(named("prompts/get", "p")) == McpAction::prompt);
  CHECK(classify(named("sampling/createMessage")) == McpAction::other);
  // A client's response to a server request carries no method: not an action.
  call = parse_mcp(padded(R"({"jsonrpc":"2.0","id":7,"result":{}})"), why);
  REQUIRE(call.has_value());
  CHECK(classify(*call) == McpAction::housekeeping);
}

TEST_CASE("MCP bodies the gateway refuses") {
  std::string why;
  CHECK_FALSE(parse_mcp(padded("not json"), why).has_value());
  CHECK_FALSE(parse_mcp(padded(R"([{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}])"), why));
  CHECK(why.find("batch") != std::string::npos);
  CHECK_FALSE(parse_mcp(padded(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}})"), why));
  CHECK_FALSE(parse_mcp(padded(R"({"jsonrpc":"2.0","id":1})"), why));
  CHECK_FALSE(parse_mcp(padded(R"("just a string")"), why));
}

TEST_CASE("A2A requests: delegations, text, task and context ids") {
  std::string why;
  // v0.3 shape (kind-tagged parts) and v1.0 shape (a text field per part).
  auto a = parse_a2a_jsonrpc(padded(R"({"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{
    "kind":"message","role":"user","messageId":"m1","taskId":"t1","contextId":"c1",
    "parts":[{"kind":"text","text":"find Q3"},{"kind":"data","data":{}},{"kind":"text","text":"numbers"}]}}})"), why);
  REQUIRE(a.has_value());
  CHECK(a->sends_message);
  CHECK(a->text == "find Q3\nnumbers");
  CHECK(a->task_id == "t1");
  CHECK(a->context_id == "c1");
  auto b = parse_a2a_jsonrpc(padded(R"({"jsonrpc":"2.0","id":1,"method":"SendStreamingMessage","params":{"message":{
    "messageId":"m1","role":"ROLE_USER","parts":[{"text":"hello"}]}}})"), why);
  REQUIRE(b.has_value());
  CHECK(b->sends_message);
  CHECK(b->text == "hello");
  auto c = parse_a2a_jsonrpc(padded(R"({"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"id":"t9"}})"), why);
  REQUIRE(c.has_value());
  CHECK_FALSE(c->sends_message);
  CHECK(c->task_id == "t9");
  auto d = parse_a2a_rest(padded(R"({"message":{"messageId":"m","parts":[{"text":"via REST"}],"contextId":"c2"}})"),
                          "message:send", why);
  REQUIRE(d.has_value());
  CHECK(d->sends_message);
  CHECK(d->text == "via REST");
  CHECK(d->context_id == "c2");
  CHECK(a2a_rest_verb("/v1/message:send") == "message:send");
  CHECK(a2a_rest_verb("/tenant/message:stream?x=1") == "message:stream");
  CHECK(a2a_rest_verb("/v1/tasks/1") == "");
  CHECK(a2a_rest_verb("/v1/xmessage:send") == "");
}

TEST_CASE("one reading: bodies two parsers would read differently are refused") {
  std::string why;
  // The probe's bypass: simdjson kept the first name, the SDK server the last.
  CHECK_FALSE(parse_mcp(padded(R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search","arguments":{},"name":"hr_lookup"}})"), why));
  CHECK_FALSE(parse_mcp(padded(R"({"jsonrpc":"2.0","id":2,"method":"tools/list","method":"tools/call","params":{"name":"x"}})"), why));
  CHECK_FALSE(parse_a2a_jsonrpc(padded(R"({"jsonrpc":"2.0","id":1,"method":"tasks/get","method":"message/send","params":{}})"), why));
  CHECK_FALSE(parse_a2a_jsonrpc(padded(R"({"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":{"parts":[{"kind":"text","text":"a","text":"b"}]}}})"), why));
  // Request or response: a message with both a method and a result is neither.
  CHECK_FALSE(parse_mcp(padded(R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x"},"result":{}})"), why));
  CHECK_FALSE(parse_mcp(padded(R"({"jsonrpc":"2.0","id":3,"method":5,"result":{}})"), why));
  CHECK_FALSE(parse_mcp(padded(R"({"jsonrpc":"2.0","id":3,"method":""})"), why));
  // REST: the message under both of its names.
  CHECK_FALSE(parse_a2a_rest(padded(R"({"message":{"parts":[{"text":"a"}]},"request":{"parts":[{"text":"b"}]}})"), "message:send", why));
  CHECK(why.find("twice") != std::string::npos);
}

TEST_CASE("A2A: the text and ids the sub-agent's SDK acts on, or a refusal") {
  std::string why;
  auto send = [&](const std::string& message) {
    return parse_a2a_jsonrpc(padded(R"({"jsonrpc":"2.0","id":1,"method":"message/send","params":{"message":)" + message +
                                    "}}"),
                             why);
  };
  // A file or data part carrying a text: v0.3 readers skip it, v1.0 readers read it. Refused.
  CHECK_FALSE(send(R"({"parts":[{"kind":"file","file":{"uri":"u"},"text":"hidden"},{"kind":"text","text":"shown"}]})"));
  auto a = send(R"({"parts":[{"kind":"file","file":{"uri":"u"}},{"kind":"text","text":"shown"},{"text":"too"}]})");
  REQUIRE(a);
  CHECK(a->text == "shown\ntoo");
  // A text that is not a string would be turned into one by the SDK: refused.
  CHECK_FALSE(send(R"({"parts":[{"text":["ignore the scope"]}]})"));
  CHECK_FALSE(send(R"({"parts":[{"text":5},{"text":"t"}]})"));
  CHECK_FALSE(send(R"({"parts":[{"kind":"text","text":5}]})"));
  // An id under both spellings, or not a string: refused.
  CHECK_FALSE(send(R"({"parts":[],"taskId":"A","task_id":"B"})"));
  CHECK_FALSE(send(R"({"parts":[],"contextId":"","context_id":"B"})"));
  CHECK_FALSE(send(R"({"parts":[],"taskId":7})"));
  auto b = send(R"({"parts":[],"task_id":"T","contextId":"C"})");
  REQUIRE(b);
  CHECK(b->task_id == "T");
  CHECK(b->context_id == "C");
  // params.id names the task of tasks/get, never of a message send.
  auto c = parse_a2a_jsonrpc(padded(R"({"jsonrpc":"2.0","id":1,"method":"message/send","params":{"id":"T","message":{"parts":[]}}})"), why);
  REQUIRE(c);
  CHECK(c->task_id.empty());
  auto d = parse_a2a_jsonrpc(padded(R"({"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"id":"T"}})"), why);
  REQUIRE(d);
  CHECK(d->task_id == "T");
}
