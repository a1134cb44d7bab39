#include "protocol/mcp_outcome.hpp"

#include <simdjson.h>

#include "json/strict.hpp"

namespace scopegate::protocol {

namespace dom = simdjson::dom;

namespace {

dom::parser& parser() {
  thread_local dom::parser p;
  return p;
}

// JSON-RPC codes a caller causes (a bad request, an unknown method or tool, bad params) and MCP's
// "resource not found": the server is working. The rest (internal error -32603, the server range
// -32000 to -32099, an application's own codes) count as the server failing.
bool caused_by_the_caller(std::int64_t code) {
  return code == -32700 || code == -32600 || code == -32601 || code == -32602 || code == -32002;
}

McpOutcome classify_message(dom::element message) {
  dom::object o;
  if (message.get_object().get(o)) return McpOutcome::unknown;
  dom::object error;
  if (!o["error"].get(error)) {
    std::int64_t code = 0;
    if (!error["code"].get(code) && caused_by_the_caller(code)) return McpOutcome::result;
    return McpOutcome::jsonrpc_error;
  }
  dom::element result;
  if (o["result"].get(result)) return McpOutcome::unknown;  // a request or a notification, not a response
  bool is_error = false;
  if (result.is_object() && !result["isError"].get(is_error) && is_error) return McpOutcome::tool_error;
  return McpOutcome::result;
}

}  // namespace

McpOutcome classify_mcp_response(std::string_view json) {
  simdjson::padded_string padded(json);
  dom::element root;
  if (parser().parse(padded).get(root)) return McpOutcome::unknown;
  // A member named twice reads differently in different parsers (simdjson keeps the first, the
  // SDKs the last): such an answer decides nothing.
  if (json::find_ambiguity(root)) return McpOutcome::unknown;
  dom::array batch;
  if (root.get_array().get(batch)) return classify_message(root);
  McpOutcome seen = McpOutcome::unknown;
  for (dom::element message : batch) {
    auto outcome = classify_message(message);
    if (outcome == McpOutcome::jsonrpc_error || outcome == McpOutcome::tool_error) return outcome;
    if (outcome == McpOutcome::result) seen = outcome;
  }
  return seen;
}

void McpOutcomeScanner::feed(std::string_view piece) {
  if (overflow_) return;
  if (body_.size() + piece.size() > kMaxBytes) {
    overflow_ = true;
    body_.clear();
    body_.shrink_to_fit();
    return;
  }
  body_.append(piece);
}

McpOutcome McpOutcomeScanner::finish() {
  if (overflow_) return McpOutcome::unknown;
  if (!event_stream_) return classify_mcp_response(body_);
  // Server-sent events: lines "data: <text>" make up an event's data (joined by newlines), a blank
  // line ends the event. The first event carrying a JSON-RPC response decides.
  std::string data;
  bool has_data = false;
  auto end_event = [&]() -> McpOutcome {
    McpOutcome outcome = has_data ? classify_mcp_response(data) : McpOutcome::unknown;
    data.clear();
    has_data = false;
    return outcome;
  };
  std::string_view rest = body_;
  while (!rest.empty()) {
    // A line ends at CRLF, LF or a lone CR (the event-stream format allows all three).
    std::size_t eol = rest.find_first_of("\r\n");
    std::string_view line = rest.substr(0, eol);
    if (eol == std::string_view::npos) {
      rest = {};
    } else {
      bool crlf = rest[eol] == '\r' && eol + 1 < rest.size() && rest[eol + 1] == '\n';
      rest = rest.substr(eol + (crlf ? 2 : 1));
    }
    if (line.empty()) {
      if (auto outcome = end_event(); outcome != McpOutcome::unknown) return outcome;
      continue;
    }
    if (!line.starts_with("data:")) continue;  // event:, id:, retry:, comments
    line.remove_prefix(5);
    if (line.starts_with(' ')) line.remove_prefix(1);
    if (has_data) data += '\n';
    data += line;
    has_data = true;
  }
  return end_event();  // a stream cut before the blank line that would have ended its last event
}

}  // namespace scopegate::protocol
