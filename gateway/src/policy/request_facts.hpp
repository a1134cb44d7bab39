// How a request's facts are gathered from what the gateway knows about it: the scope chain, the
// route and its data labels (an MCP call's arguments come
// from protocol::parse_mcp, as classification reads them). The request stage (pipeline/policies.cpp) and
// `scopegate policy explain` (cli/policy_cli.cpp) both build their Facts with these functions, so
// that an explanation is about the facts a live request would have, not a second reading of them.
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "delegation/token.hpp"
#include "policy/policy.hpp"

namespace scopegate::policy {

// The actors of a scope chain, root first, the acting scope last. A token holds at most 16 blocks;
// a longer chain is cut to its first kMaxChain actors (its depth is kept whole by the caller).
inline constexpr std::size_t kMaxChain = 33;
using ChainBuffer = std::array<std::string_view, kMaxChain>;

// The actors of a verified token's scopes, into `buffer`; the views point into the token.
std::span<const std::string_view> chain_of(const delegation::VerifiedToken& token, ChainBuffer& buffer);

// Who from the chain: root_agent (its first actor), delegator (the actor above the last; "" at a
// root), ancestors (every actor above the last) and depth (one less than its length). The facts
// point into `chain`.
void set_chain_facts(Facts& f, std::span<const std::string_view> chain);

// Who, why and how deep from a verified token: the chain above, the principal (the root's `sub`)
// and the objective (the acting scope's own, or the nearest one above it).
void set_scope_facts(Facts& f, const delegation::VerifiedToken& token, ChainBuffer& buffer);

// The route's name and kind, and what the request touches: the route's data label, and on top of it
// the label of `tool` (an MCP tool's name, or an http route's own name) when the route declares one.
// When both name datasets, their union is made in `merged` and the facts point there; otherwise they
// point into the route (nothing is copied).
void set_route_facts(Facts& f, const config::Route& route, std::string_view tool, std::vector<std::string>& merged);

}  // namespace scopegate::policy
