// Opening child scopes (docs/protocol.md §3): for a delegation on an agent or a2a route, and for
// POST /v1/scopes under a token. delegation/mint.hpp decides and signs; this records and reports.
#pragma once

#include <optional>
#include <string_view>
#include <variant>

#include "audit/sink.hpp"
#include "delegation/mint.hpp"
#include "http/hygiene.hpp"
#include "pipeline/context.hpp"
#include "pipeline/verdict.hpp"

namespace scopegate::pipeline {

using ChildScope = delegation::MintedScope;

// Opens a child of the caller's scope (x.token) for `target`: the caller's rights ∩ `ceiling`,
// or exactly `requested` when it fits within them (403 grant_exceeded otherwise); depth within the
// target's and the global limit (403 depth_exceeded); expiry `ttl_s` from now, never past the
// parent's (delegation/mint.hpp decides and signs). The scope is recorded and reported as opened
// before this returns.
std::variant<ChildScope, http::Violation> open_child_scope(RequestContext& x, const config::Agent& target,
                                                           const delegation::Grants& ceiling,
                                                           const std::optional<delegation::Grants>& requested,
                                                           std::string_view objective, std::int64_t ttl_s);

// Reports a scope opened by this request (minted, or first seen in its token): to the audit sink,
// and to scopegate_scopes_opened_total.
void report_scope_opened(RequestContext& x, const delegation::ScopeRecord& scope, audit::Opening how);

// A delegation: mints the child scope for the route's target agent, records and reports it.
Verdict open_delegation(RequestContext& x);

}  // namespace scopegate::pipeline
