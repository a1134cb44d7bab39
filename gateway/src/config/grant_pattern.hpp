// The syntax of one grant pattern (docs/protocol.md §1): an exact action string, or a prefix
// ending in '*'. Checked where grants enter the gateway: the config loader (agents' and routes'
// grants), the Delegation-Grants header and POST /v1/scopes (delegation/grants.hpp); one
// definition so that none of them can accept what another refuses.
#pragma once

#include <string_view>

namespace scopegate::config {

// Printable ASCII without space, ',', '"' or '\\', not empty, and '*' only as the last character.
bool is_valid_grant_pattern(std::string_view pattern);

}  // namespace scopegate::config
