// Bodies on mcp and a2a routes: the JSON-RPC reading that names the action a grant is checked
// against (protocol/jsonrpc.hpp), and the strict JSON rules under it (json/strict.hpp). An agent
// controls every byte of these bodies.
//
// Beyond "no crash": a body a route accepts must have been accepted by the strict reading (one
// object, no duplicate names anywhere), and every refusal must explain itself in a sentence the
// gateway can put into a JSON error reply.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "http/errors.hpp"
#include "json/strict.hpp"
#include "protocol/jsonrpc.hpp"

namespace {

using namespace scopegate;

void require_explained(const std::string& why) {
  fuzz::require(!why.empty(), "a refused body has a reason");
  std::string reply = http::error_body(http::ErrorCode::bad_request, {.message = why});
  fuzz::require_json_reply(reply, why);
}

// An independent look for a member name twice, at any depth (a set per object; slow, plain).
bool has_repeated_name(simdjson::dom::element e) {
  simdjson::dom::object object;
  simdjson::dom::array array;
  if (!e.get_object().get(object)) {
    std::set<std::string_view> names;
    for (auto field : object) {
      if (!names.insert(field.key).second || has_repeated_name(field.value)) return true;
    }
  } else if (!e.get_array().get(array)) {
    for (auto item : array) {
      if (has_repeated_name(item)) return true;
    }
  }
  return false;
}

// Whether the strict reading accepts `body`, and if so that no duplicate name survived it.
bool strictly_one_object(std::string_view body) {
  thread_local simdjson::dom::parser parser;
  std::string why;
  auto object = json::parse_strict_object(parser, body, why);
  if (!object) {
    require_explained(why);
    return false;
  }
  // Read again with a plain parser: whatever it sees must have no name twice either.
  thread_local simdjson::dom::parser plain;
  simdjson::dom::element root;
  fuzz::require(!plain.parse(body.data(), body.size(), false).get(root), "an accepted body parses plainly too");
  fuzz::require(!has_repeated_name(root), "an accepted body has no member name twice");
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string body = fuzz::padded_copy(data, size);
  fuzz::require(body.capacity() >= body.size() + protocol::json_padding(), "the body carries the parser's padding");
  const std::string_view view(body);
  const bool strict = strictly_one_object(view);

  std::string why;
  if (auto mcp = protocol::parse_mcp(view, why)) {
    fuzz::require(strict, "an MCP body is accepted only after the strict reading accepts it");
    auto action = protocol::classify(*mcp);
    if (action == protocol::McpAction::tool) fuzz::require(mcp->method == "tools/call", "only tools/call is a tool call");
  } else {
    require_explained(why);
  }

  why.clear();
  if (auto a2a = protocol::parse_a2a_jsonrpc(view, why)) {
    fuzz::require(strict, "an A2A JSON-RPC body is accepted only after the strict reading accepts it");
  } else {
    require_explained(why);
  }

  for (std::string_view verb : {"message:send", "message:stream"}) {
    why.clear();
    if (auto a2a = protocol::parse_a2a_rest(view, verb, why)) {
      fuzz::require(strict, "an A2A REST body is accepted only after the strict reading accepts it");
      fuzz::require(a2a->sends_message && a2a->method == verb, "a REST message verb sends a message");
    } else {
      require_explained(why);
    }
  }

  // The same bytes as a request path: the REST binding finds its verb at the end of it.
  auto verb = protocol::a2a_rest_verb(view);
  fuzz::require(verb.empty() || verb == "message:send" || verb == "message:stream", "a REST verb is one of two");
  return 0;
}
