// What an MCP server answered to a JSON-RPC request, read from the response body as it is relayed
// (docs/resilience.md, "What counts as a failure"): a result, a JSON-RPC error, or a tools/call
// result with isError: true. A tool that answers with an error is working, so these count for a
// circuit breaker only where the route says so. The body is buffered up to a bound while it passes
// through (the relay is not held back); a JSON body or a stream of server-sent events whose data
// is JSON-RPC messages.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace scopegate::protocol {

enum class McpOutcome {
  unknown,        // no JSON-RPC response found, or the body was larger than the bound
  result,         // a result that is not a tool error
  jsonrpc_error,  // {"error": {...}}
  tool_error,     // {"result": {"isError": true, ...}}
};

class McpOutcomeScanner {
 public:
  // Per request in flight on such a route: what a connection may cost stays bounded. An error
  // answer is small; a body past this is taken for a result.
  static constexpr std::size_t kMaxBytes = 64 * 1024;

  // `event_stream`: the response is text/event-stream (each event's data is one message).
  explicit McpOutcomeScanner(bool event_stream) : event_stream_(event_stream) {}
  void feed(std::string_view piece);
  // Once the body has ended. The first JSON-RPC response in it decides.
  McpOutcome finish();

 private:
  bool event_stream_;
  bool overflow_ = false;
  std::string body_;
};

// One JSON-RPC message (or a batch: any error in it makes it an error).
McpOutcome classify_mcp_response(std::string_view json);

}  // namespace scopegate::protocol
