#include "protocol/jsonrpc.hpp"

#include <simdjson.h>

#include "json/strict.hpp"

namespace scopegate::protocol {

namespace dom = simdjson::dom;

namespace {

dom::parser& parser() {
  thread_local dom::parser p;
  return p;
}

// One strict reading (json/strict.hpp): the tool behind the gateway reads these very bytes.
std::optional<dom::object> parse_object(std::string_view body, std::string& why) {
  return json::parse_strict_object(parser(), body, why);
}

// A string member, if present and a string; `ok` false when present with another type.
std::string_view string_member(dom::object o, std::string_view key, bool& ok) {
  dom::element e;
  if (o.at_key(key).get(e)) return {};
  std::string_view s;
  if (e.get_string().get(s)) ok = false;
  return s;
}

std::optional<dom::object> object_member(dom::object o, std::string_view key) {
  dom::object out;
  if (o.at_key(key).get_object().get(out)) return std::nullopt;
  return out;
}

void read_message(dom::object message, A2aRequest& out) {
  bool ok = true;
  dom::array parts;
  if (!message.at_key("parts").get_array().get(parts)) {
    for (dom::element part : parts) {
      dom::object p;
      if (part.get_object().get(p)) continue;
      std::string_view text = string_member(p, "text", ok);
      if (text.empty()) continue;
      if (!out.text.empty()) out.text += '\n';
      out.text += text;
    }
  }
  for (auto key : {"taskId", "task_id"}) {
    if (auto v = string_member(message, key, ok); !v.empty()) out.task_id = v;
  }
  for (auto key : {"contextId", "context_id"}) {
    if (auto v = string_member(message, key, ok); !v.empty()) out.context_id = v;
  }
}

bool is_message_method(std::string_view m) {
  return m == "message/send" || m == "message/stream" || m == "SendMessage" || m == "SendStreamingMessage";
}

}  // namespace

std::size_t json_padding() { return json::kPadding; }

std::optional<McpRequest> parse_mcp(std::string_view body, std::string& why) {
  auto object = parse_object(body, why);
  if (!object) return std::nullopt;
  dom::element e;
  bool has_method = !object->at_key("method").get(e);
  bool is_response = !object->at_key("result").get(e) || !object->at_key("error").get(e);
  if (!has_method) {
    // A JSON-RPC response (a client answering a server's request) has no method: not an action.
    if (!is_response) {
      why = "not a JSON-RPC request: no method";
      return std::nullopt;
    }
    return McpRequest{};
  }
  if (is_response) {
    // Request or response? Readers would disagree, so neither is assumed.
    why = "a JSON-RPC message has either a method or a result/error, not both";
    return std::nullopt;
  }
  bool ok = true;
  McpRequest out;
  out.method = string_member(*object, "method", ok);
  if (!ok || out.method.empty()) {
    why = "method must be a non-empty string";
    return std::nullopt;
  }
  if (auto params = object_member(*object, "params")) {
    out.name = string_member(*params, "name", ok);
    out.uri = string_member(*params, "uri", ok);
  }
  if (!ok) {
    why = "params.name and params.uri must be strings";
    return std::nullopt;
  }
  return out;
}

McpAction classify(const McpRequest& r) {
  const std::string& m = r.method;
  if (m == "tools/call") return McpAction::tool;
  if (m == "resources/read") return McpAction::resource;
  if (m == "prompts/get") return McpAction::prompt;
  if (m.empty() || m == "initialize" || m == "ping" || m.starts_with("notifications/") || m.ends_with("/list")) {
    return McpAction::housekeeping;
  }
  return McpAction::other;
}

std::optional<A2aRequest> parse_a2a_jsonrpc(std::string_view body, std::string& why) {
  auto object = parse_object(body, why);
  if (!object) return std::nullopt;
  bool ok = true;
  A2aRequest out;
  out.method = string_member(*object, "method", ok);
  if (!ok) {
    why = "method must be a string";
    return std::nullopt;
  }
  out.sends_message = is_message_method(out.method);
  if (auto params = object_member(*object, "params")) {
    if (auto message = object_member(*params, "message")) read_message(*message, out);
    // tasks/get, tasks/cancel, GetTask...: the task is params.id (or params.name "tasks/<id>").
    if (out.task_id.empty()) out.task_id = string_member(*params, "id", ok);
  }
  return out;
}

std::optional<A2aRequest> parse_a2a_rest(std::string_view body, std::string_view verb, std::string& why) {
  auto object = parse_object(body, why);
  if (!object) return std::nullopt;
  A2aRequest out;
  out.method = verb;
  out.sends_message = true;
  auto message = object_member(*object, "message");
  auto request = object_member(*object, "request");  // the field's older name
  if (message && request) {
    why = "the body names the message twice (message and request)";
    return std::nullopt;
  }
  if (message || request) read_message(message ? *message : *request, out);
  return out;
}

std::string_view a2a_rest_verb(std::string_view path) {
  path = path.substr(0, path.find('?'));
  for (std::string_view verb : {"message:send", "message:stream"}) {
    if (path.ends_with(verb) && path.size() > verb.size() && path[path.size() - verb.size() - 1] == '/') return verb;
  }
  return {};
}

}  // namespace scopegate::protocol
