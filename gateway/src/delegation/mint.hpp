// Minting scopes, shared by both ways a scope opens: POST /v1/scopes (a root, or a child under the
// caller's token) and a delegation to a sub-agent on an agent or a2a route. A pure decision: the
// clock and the new scope's id come in, nothing is recorded; the caller records and reports the
// scope before the request that opened it goes any further (docs/protocol.md §3).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "config/config.hpp"
#include "delegation/grants.hpp"
#include "delegation/scope.hpp"
#include "delegation/token.hpp"
#include "http/errors.hpp"

namespace scopegate::delegation {

struct MintedScope {
  ScopeRecord record;
  std::string token;
};

struct MintRefusal {
  http::ErrorCode code;
  std::string message;
};

using MintResult = std::variant<MintedScope, MintRefusal>;

struct ChildMint {
  const Keyring& keyring;
  const config::TokenSettings& settings;
  std::string_view parent_token;  // as presented: the child token extends it
  const VerifiedToken& parent;
  const config::Agent& target;    // who acts in the child scope
  std::string_view delegator;     // the agent that opens it
  const Grants& ceiling;          // what the target may get at most, on top of the parent's rights
  const std::optional<Grants>& requested;
  std::string_view objective;
  std::int64_t ttl_s = 0;
  std::int64_t now = 0;           // unix seconds
  std::string_view sid;           // the new scope's id
  std::string_view task = {};     // "<plan>/<task>" the child carries (docs/plans.md); empty: none
};

// A child of `parent` for `target`: the parent's rights ∩ `ceiling`, or exactly `requested` when it
// fits within them (grant_exceeded otherwise); depth within the target's and the global limit
// (depth_exceeded); expiry ttl_s from now, never past the parent's.
MintResult mint_child_scope(const ChildMint& in);

struct RootMint {
  const Keyring& keyring;
  const config::TokenSettings& settings;
  const config::Agent& caller;      // who opens the root and acts in it
  std::string_view principal;       // checked by the caller (printable, bounded)
  const std::optional<Grants>& requested;  // the caller's own grants when absent
  std::string_view objective;
  std::int64_t ttl_s = 0;
  std::int64_t now = 0;
  std::string_view sid;
};

// A root scope for `caller`, within the agent's own grants (grant_exceeded beyond them). Whether
// the caller may open roots at all is the caller's check (policy_denied).
MintResult mint_root_scope(const RootMint& in);

}  // namespace scopegate::delegation
