// scopegate_classify: the gateway's own reading of MCP and A2A bodies, for the parser differential
// test (tests/integration/test_parser_differential.py). Test-only, never installed.
//
// Input, one JSON line per body (stdin, or the file named as the argument):
//   {"kind":"mcp"|"a2a"|"a2a_rest", "body_b64":"<body, base64url without padding>"}
// Output, one JSON line per input, in order:
//   {"accepted":bool, "why":..., "method":..., "action":..., "name":..., "uri":..., "sends_message":...,
//    "text":..., "task_id":..., "context_id":..., "arguments":<params.arguments re-serialised, or null>}
// Every reading comes from the product's functions (protocol::parse_mcp, classify, parse_a2a_*);
// only params.arguments, which the gateway forwards without reading, is extracted here.
#include <simdjson.h>

#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "delegation/token.hpp"
#include "json/strict.hpp"
#include "json/write.hpp"
#include "protocol/jsonrpc.hpp"

namespace {

using namespace scopegate;
namespace dom = simdjson::dom;

std::string_view action_name(protocol::McpAction action) {
  switch (action) {
    case protocol::McpAction::tool: return "tool";
    case protocol::McpAction::resource: return "resource";
    case protocol::McpAction::prompt: return "prompt";
    case protocol::McpAction::housekeeping: return "housekeeping";
    case protocol::McpAction::other: return "other";
  }
  return "?";
}

// params.arguments exactly as simdjson holds it, minified; "null" when absent. Only called on a
// body the gateway accepted, so the strict parse cannot fail here.
std::string arguments_of(std::string_view body) {
  static dom::parser parser;
  std::string why;
  auto object = json::parse_strict_object(parser, body, why);
  dom::element arguments;
  if (!object || object->at_key("params").at_key("arguments").get(arguments)) return "null";
  return simdjson::to_string(arguments);
}

// One output line: `fields` holds members already written with a leading comma (json/write.hpp).
void print(bool accepted, const std::string& fields) {
  std::cout << "{\"accepted\":" << (accepted ? "true" : "false") << fields << "}\n";
}

void refuse(const std::string& why) {
  std::string fields;
  scopegate::json::append_field(fields, "why", why);
  print(false, fields);
}

void classify_line(std::string_view kind, const std::string& body) {
  namespace out = scopegate::json;
  std::string why, fields;
  if (kind == "mcp") {
    auto request = protocol::parse_mcp(body, why);
    if (!request) return refuse(why);
    out::append_field(fields, "method", request->method);
    out::append_field(fields, "action", action_name(protocol::classify(*request)));
    out::append_field(fields, "name", request->name);
    out::append_field(fields, "uri", request->uri);
    out::append_key(fields, "arguments");
    fields += arguments_of(body);
    return print(true, fields);
  }
  std::optional<protocol::A2aRequest> request;
  if (kind == "a2a") {
    request = protocol::parse_a2a_jsonrpc(body, why);
  } else if (kind == "a2a_rest") {
    request = protocol::parse_a2a_rest(body, "message:send", why);
  } else {
    why = "unknown kind";
  }
  if (!request) return refuse(why);
  out::append_field(fields, "method", request->method);
  out::append_key(fields, "sends_message");
  fields += request->sends_message ? "true" : "false";
  out::append_field(fields, "text", request->text);
  out::append_field(fields, "task_id", request->task_id);
  out::append_field(fields, "context_id", request->context_id);
  print(true, fields);
}

}  // namespace

int main(int argc, char** argv) {
  std::ifstream file;
  if (argc > 1) file.open(argv[1]);
  std::istream& in = argc > 1 ? file : std::cin;
  if (!in) {
    std::cerr << "scopegate_classify: cannot read " << argv[1] << "\n";
    return 2;
  }
  dom::parser line_parser;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    std::string_view kind, b64;
    dom::object input;
    if (line_parser.parse(line).get(input) || input["kind"].get(kind) || input["body_b64"].get(b64)) {
      std::cerr << "scopegate_classify: line " << number << " is not {\"kind\":...,\"body_b64\":...}\n";
      return 2;
    }
    auto body = delegation::base64url_decode(b64);
    if (!body) {
      std::cerr << "scopegate_classify: line " << number << ": body_b64 is not base64url\n";
      return 2;
    }
    // The gateway's body buffers carry simdjson's padding past their end; so does this one.
    body->reserve(body->size() + json::kPadding);
    classify_line(kind, *body);
  }
  return 0;
}
