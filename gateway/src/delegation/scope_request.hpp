// The body of POST /v1/scopes (docs/protocol.md §4), read once, strictly: what the caller asks to
// open. Whether it may is decided later, by the stages every request passes (grants) and by the
// mint (delegation/mint.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "delegation/grants.hpp"

namespace scopegate::delegation {

struct ScopeRequest {
  std::string objective;                 // cut to kMaxObjectiveBytes
  std::optional<Grants> grants;          // absent: everything the caller may pass on
  std::optional<std::int64_t> ttl_s;     // absent: the default
  std::string principal;                 // roots only
  std::string agent;                     // who acts in the scope; empty: the caller
  std::string task;                      // "<plan>/<task>" the child carries (docs/plans.md); empty: none
};

// The request, or nothing with `why` saying what is wrong (a 400 bad_request). Duplicate keys,
// unknown fields and anything but one JSON object are refused.
std::optional<ScopeRequest> parse_scope_request(std::string_view body, std::string& why);

}  // namespace scopegate::delegation
