// The syntax of one grant pattern (docs/protocol.md §1): `*`, or `<kind>:<rest>` where <kind> is
// one of the action kinds the gateway names requests with and <rest> is an exact name or a prefix
// ending in '*'. Checked where grants enter the gateway: the config loader (agents' and routes'
// grants), the Delegation-Grants header, POST /v1/scopes (delegation/grants.hpp,
// delegation/scope_request.cpp) and `scopegate token mint`; one definition so that none of them
// can accept what another refuses.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace scopegate::config {

// The action kinds (docs/protocol.md §1): the prefixes pipeline/classification.cpp gives actions.
// A pattern with any other prefix could never match, so it is refused rather than kept.
inline constexpr std::string_view kActionKinds[] = {"tool", "resource", "prompt", "agent", "route", "model"};

// Why `pattern` is not a grant pattern, written for the person who typed it (with the near miss
// when there is one: "unknown action kind 'tools'; did you mean 'tool:*'?"); nullopt when it is one.
std::optional<std::string> grant_pattern_problem(std::string_view pattern);

// Printable ASCII without space, ',', '"' or '\\'; '*' only as the last character; `*` alone or a
// known action kind, its ':' and at least one more character.
bool is_valid_grant_pattern(std::string_view pattern);

}  // namespace scopegate::config
