// Just enough of MCP and A2A request bodies to name what a request does (docs/protocol.md §1):
// the JSON-RPC method and the tool, resource or prompt it touches; for A2A, whether it sends a
// message (a delegation), the message text (the sub-agent's objective) and task/context ids.
// Bodies are parsed whole with simdjson, after the route's size limit has been enforced.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace scopegate::protocol {

// Bytes a body buffer must have allocated past its end for simdjson to parse it in place.
std::size_t json_padding();

struct McpRequest {
  std::string method;
  std::string name;  // params.name: tools/call, prompts/get
  std::string uri;   // params.uri: resources/read
  // Only when asked for (ParseWants), from the same one reading of the body:
  std::string arguments;  // canonical JSON of params.arguments (json/canonical.hpp); "" when absent
  // Canonical JSON of what makes two calls the same: a tool call's or prompt's name and
  // arguments, a resource read's uri, else params without _meta.
  std::string content;
};

// What a stage needs beyond naming the action: each costs a walk of the body, so only on request.
struct ParseWants {
  bool arguments = false;  // McpRequest::arguments (the policies read tool arguments)
  bool content = false;    // McpRequest::content, A2aRequest::content (the loop guard)
};

enum class McpAction { tool, resource, prompt, housekeeping, other };

// `body` must have json_padding() bytes of capacity past its size. nullopt with `why` when the
// body is not one JSON-RPC request object (batches are refused: each call must be checked alone).
std::optional<McpRequest> parse_mcp(std::string_view body, std::string& why, ParseWants wants = {});

McpAction classify(const McpRequest& request);

struct A2aRequest {
  std::string method;        // JSON-RPC method, or "message:send"/"message:stream" over REST
  bool sends_message = false;
  std::string text;          // the message's text parts, joined by newlines
  std::string task_id;
  std::string context_id;
  std::string content;       // when asked for: canonical JSON of the message's parts
};

std::optional<A2aRequest> parse_a2a_jsonrpc(std::string_view body, std::string& why, ParseWants wants = {});
// REST binding: `verb` is "message:send" or "message:stream"; the body carries the message.
std::optional<A2aRequest> parse_a2a_rest(std::string_view body, std::string_view verb, std::string& why,
                                         ParseWants wants = {});

// The REST verb at the end of an A2A path ("/v1/message:send" → "message:send"), or empty.
std::string_view a2a_rest_verb(std::string_view path);

}  // namespace scopegate::protocol
