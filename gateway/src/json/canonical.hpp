// A canonical JSON text of a parsed value: members sorted by name (byte order), no whitespace,
// strings escaped one way, numbers written from their value (1.0 and 1 read alike). Two bodies that
// any JSON reader takes for the same value give the same text, so the loop guard's fingerprint
// (guard/loop_guard.hpp) and the policies' argument conditions see through key order and spacing.
#pragma once

#include <simdjson.h>

#include <initializer_list>
#include <string>
#include <string_view>

namespace scopegate::json {

// Appends the canonical text of `value`, leaving out the top-level members named `skip` (an
// object's `_meta`, which carries per-call bookkeeping such as a progress token). The value was
// read by parse_strict_object, so its nesting is bounded.
void append_canonical(std::string& out, simdjson::dom::element value, std::string_view skip = {});

// Appends the canonical text of `object` keeping only the members named in `keep` (what a call
// acts on, where the rest of its members are read by no tool).
void append_canonical_members(std::string& out, simdjson::dom::object object,
                              std::initializer_list<std::string_view> keep);

}  // namespace scopegate::json
