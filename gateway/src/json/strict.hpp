// One reading of every inspected body (docs/protocol.md, "Inspected bodies"). A body the gateway
// reads to decide something (MCP and A2A JSON-RPC, POST /v1/scopes, later plans and LLM requests)
// is accepted only when every JSON parser reads it the same way: exactly one object, valid UTF-8,
// no member name twice in any object at any depth, nothing after it. simdjson alone keeps the first
// of two equal names while the SDKs behind the gateway (JavaScript, Python) keep the last, so the
// gateway could authorise one tool while the server runs another; refusing such bodies closes that.
#pragma once

#include <simdjson.h>

#include <optional>
#include <string>
#include <string_view>

namespace scopegate::json {

// Bytes a buffer must have allocated past its end for parse_strict_object to read it in place.
inline constexpr std::size_t kPadding = simdjson::SIMDJSON_PADDING;
// Nesting deeper than this is refused: Python's parser gives up near 1,000 levels (recursion),
// simdjson at 1,024, and no tool call needs more than a few dozen.
inline constexpr std::size_t kMaxDepth = 128;

// Parses `text` (with kPadding bytes of capacity past its end) with `parser`. The object lives in
// the parser until its next parse. nullopt with `why`, a sentence for the client, when the text
// breaks one of the rules above (JSON-RPC batches are named as such).
std::optional<simdjson::dom::object> parse_strict_object(simdjson::dom::parser& parser, std::string_view text,
                                                         std::string& why);

// The first place under `root` that breaks the rules: an object with a member name twice (`name`
// set, `path` such as "params.arguments" or "$" for the top), or nesting deeper than kMaxDepth
// (`name` empty). nullopt when there is none.
struct Ambiguity {
  std::string path;
  std::string name;
};
std::optional<Ambiguity> find_ambiguity(simdjson::dom::element root);

}  // namespace scopegate::json
