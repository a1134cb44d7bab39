// What an MCP server answered, read from a relayed response body (protocol/mcp_outcome.hpp).
#include "protocol/mcp_outcome.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace scopegate::protocol;

TEST_CASE("mcp outcome: results, JSON-RPC errors and tool errors") {
  CHECK(classify_mcp_response(R"({"jsonrpc":"2.0","id":1,"result":{"content":[]}})") == McpOutcome::result);
  CHECK(classify_mcp_response(R"({"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":false}})") == McpOutcome::result);
  CHECK(classify_mcp_response(R"({"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":true}})") == McpOutcome::tool_error);
  CHECK(classify_mcp_response(R"({"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"internal error"}})") ==
        McpOutcome::jsonrpc_error);
  CHECK(classify_mcp_response(R"({"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"backend down"}})") ==
        McpOutcome::jsonrpc_error);
  // What a caller causes is the server working: a bad request, an unknown method or tool, bad params.
  for (int code : {-32700, -32600, -32601, -32602, -32002}) {
    std::string body = R"({"jsonrpc":"2.0","id":1,"error":{"code":)" + std::to_string(code) + R"(,"message":"x"}})";
    CHECK(classify_mcp_response(body) == McpOutcome::result);
  }
  // An error member that is not an object is no JSON-RPC error; a member named twice decides nothing.
  CHECK(classify_mcp_response(R"({"jsonrpc":"2.0","id":1,"error":null,"result":{}})") == McpOutcome::result);
  CHECK(classify_mcp_response(R"({"jsonrpc":"2.0","id":1,"result":{"isError":false,"isError":true}})") ==
        McpOutcome::unknown);
  // isError of another type is not a tool error; a notification is not an answer; nor is garbage.
  CHECK(classify_mcp_response(R"({"jsonrpc":"2.0","id":1,"result":{"isError":"yes"}})") == McpOutcome::result);
  CHECK(classify_mcp_response(R"({"jsonrpc":"2.0","method":"notifications/progress"})") == McpOutcome::unknown);
  CHECK(classify_mcp_response("not json") == McpOutcome::unknown);
  CHECK(classify_mcp_response("") == McpOutcome::unknown);
  // A batch: any error in it.
  CHECK(classify_mcp_response(R"([{"id":1,"result":{}},{"id":2,"result":{"isError":true}}])") == McpOutcome::tool_error);
  CHECK(classify_mcp_response(R"([{"id":1,"result":{}}])") == McpOutcome::result);
}

TEST_CASE("mcp outcome: a JSON body fed in pieces, and the bound on what is kept") {
  McpOutcomeScanner json(false);
  std::string body = R"({"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"down"}],"isError":true}})";
  for (std::size_t i = 0; i < body.size(); i += 5) json.feed(std::string_view(body).substr(i, 5));
  CHECK(json.finish() == McpOutcome::tool_error);

  McpOutcomeScanner big(false);
  big.feed(R"({"jsonrpc":"2.0","id":7,"result":{"isError":true,"content":")");
  big.feed(std::string(McpOutcomeScanner::kMaxBytes, 'x'));
  big.feed(R"("}})");
  CHECK(big.finish() == McpOutcome::unknown);  // past the bound: not counted either way
}

TEST_CASE("mcp outcome: server-sent events, the first response among notifications decides") {
  McpOutcomeScanner sse(true);
  sse.feed("event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\n\r\n");
  sse.feed(": a comment\n");
  sse.feed("event: message\nid: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\n");
  sse.feed("data: \"error\":{\"code\":-32000,\"message\":\"x\"}}\n\n");
  sse.feed("data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n");
  CHECK(sse.finish() == McpOutcome::jsonrpc_error);

  McpOutcomeScanner cut(true);  // the stream ended without the blank line after its last event
  cut.feed("data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"isError\":true}}");
  CHECK(cut.finish() == McpOutcome::tool_error);

  McpOutcomeScanner cr(true);  // bare CR line ends
  cr.feed("event: message\rdata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"isError\":true}}\r\r");
  CHECK(cr.finish() == McpOutcome::tool_error);

  McpOutcomeScanner none(true);
  none.feed("event: ping\n\n");
  CHECK(none.finish() == McpOutcome::unknown);
}
