#include "protocol/jsonrpc.hpp"

#include <simdjson.h>

#include "json/canonical.hpp"
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

// One id under either of its spellings; both at once, or a non-string, is refused (the SDKs
// would pick one, or turn a number into text, and the record would name another task).
bool read_id(dom::object message, std::string_view camel, std::string_view snake, std::string& out,
             std::string& why) {
  bool ok = true;
  dom::element e;
  bool has_camel = !message.at_key(camel).get(e);
  bool has_snake = !message.at_key(snake).get(e);
  if (has_camel && has_snake) {
    why = "the message names " + std::string(camel) + " twice (" + std::string(camel) + " and " +
          std::string(snake) + ")";
    return false;
  }
  out = string_member(message, has_camel ? camel : snake, ok);
  if (!ok) why = "message." + std::string(camel) + " must be a string";
  return ok;
}

// The text parts of a message. A part with a "text" member is a text part, as the v1.0 SDK reads
// it; the v0.3 SDK reads the part's "kind" instead, so a part whose kind is not "text" yet carries
// a text is refused: the two would disagree on what the agent is told. A text that is not a
// string is refused too, since the SDK would turn it into one and the agent would read words the
// objective does not hold.
bool read_message(dom::object message, A2aRequest& out, std::string& why) {
  bool ok = true;
  dom::array parts;
  if (!message.at_key("parts").get_array().get(parts)) {
    for (dom::element part : parts) {
      dom::object p;
      if (part.get_object().get(p)) continue;
      dom::element e;
      if (!p.at_key("kind").get(e)) {
        std::string_view kind = string_member(p, "kind", ok);
        if (!ok) {
          why = "a message part's kind must be a string";
          return false;
        }
        if (kind != "text") {
          if (!p.at_key("text").get(e)) {
            why = "a message part of kind \"" + std::string(kind.substr(0, 40)) + "\" carries a text";
            return false;
          }
          continue;
        }
      }
      if (p.at_key("text").get(e)) continue;
      std::string_view text = string_member(p, "text", ok);
      if (!ok) {
        why = "a message part's text must be a string";
        return false;
      }
      if (text.empty()) continue;
      if (!out.text.empty()) out.text += '\n';
      out.text += text;
    }
  }
  return read_id(message, "taskId", "task_id", out.task_id, why) &&
         read_id(message, "contextId", "context_id", out.context_id, why);
}

// What a message says (its parts), leaving out what differs between two sendings of the same one
// (messageId, metadata).
void content_of(dom::object message, A2aRequest& out) {
  dom::element parts;
  if (!message.at_key("parts").get(parts)) json::append_canonical(out.content, parts);
}

bool is_message_method(std::string_view m) {
  return m == "message/send" || m == "message/stream" || m == "SendMessage" || m == "SendStreamingMessage";
}

}  // namespace

std::size_t json_padding() { return json::kPadding; }

std::optional<McpRequest> parse_mcp(std::string_view body, std::string& why, ParseWants wants) {
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
    dom::element arguments;
    if (wants.arguments && !params->at_key("arguments").get(arguments)) json::append_canonical(out.arguments, arguments);
  }
  dom::element params_value;
  if (wants.content && !object->at_key("params").get(params_value)) {
    // What a call acts on, as the server reads it: a tool or prompt by name and arguments, a
    // resource by uri. Other members (_meta's progress token, or anything an agent adds that the
    // SDKs ignore) do not make it another call. Other methods: params without _meta.
    dom::object params;
    bool named = out.method == "tools/call" || out.method == "prompts/get";
    if ((named || out.method == "resources/read") && !params_value.get_object().get(params)) {
      if (named) json::append_canonical_members(out.content, params, {"name", "arguments"});
      else json::append_canonical_members(out.content, params, {"uri"});
    } else {
      json::append_canonical(out.content, params_value, "_meta");
    }
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

std::optional<A2aRequest> parse_a2a_jsonrpc(std::string_view body, std::string& why, ParseWants wants) {
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
    if (out.sends_message) {
      auto message = object_member(*params, "message");
      if (message && !read_message(*message, out, why)) return std::nullopt;
      if (message && wants.content) content_of(*message, out);
    } else {
      // tasks/get, tasks/cancel, GetTask...: the task is params.id.
      out.task_id = string_member(*params, "id", ok);
      if (!ok) {
        why = "params.id must be a string";
        return std::nullopt;
      }
    }
  }
  return out;
}

std::optional<A2aRequest> parse_a2a_rest(std::string_view body, std::string_view verb, std::string& why,
                                         ParseWants wants) {
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
  if ((message || request) && !read_message(message ? *message : *request, out, why)) return std::nullopt;
  if ((message || request) && wants.content) content_of(message ? *message : *request, out);
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
