// The delegation stages (docs/protocol.md §1–§3), each a plain function of the RequestContext that
// returns a Verdict (pipeline/verdict.hpp): continue, or the refusal to answer with. The order they run in is written once, in
// serve_request (pipeline/forward.cpp).
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "http/hygiene.hpp"
#include "pipeline/context.hpp"
#include "pipeline/verdict.hpp"

namespace scopegate::pipeline {

// Fills x.inbound in one pass over the request's fields.
void scan_inbound_headers(RequestContext& x);

// The agent credential (header, or verified client certificate). A credential that is present
// but wrong is refused at once; an absent one is refused only where the route needs an agent.
Verdict authenticate(RequestContext& x);

// The route's access rule: scoped and authenticated routes need an agent.
Verdict require_agent(RequestContext& x);

// Delegation-Token: verified (MAC chain, expiry, audience), presented by its actor, not deeper
// than the agent may act, not revoked. Scopes seen for the first time are recorded and reported.
Verdict verify_scope(RequestContext& x);

// A refusal decided before verify_scope ran (framing, spoofing, no route, body limits, a method
// the route's protocol lacks) still names its caller and the caller's scope: x.agent when the
// credential is valid, and x.token when its one Delegation-Token also verifies as verify_scope
// would verify it, for the record (and the error body's scope). Nothing else changes: the client
// gets the refusal already decided, nothing is minted, and a token that does not verify (forged,
// expired, another agent's) attributes nothing. Called by reply_error.
void attribute_refusal(RequestContext& x);

// Whether the route needs the body to name the action (MCP and A2A JSON-RPC requests).
bool needs_body(const RequestContext& x);
// MCP and A2A routes: only the methods their protocols define, and a body only where it is read.
Verdict check_protocol_method(const RequestContext& x);

// Names the action (tool, resource, prompt, delegation) from the route, the method and, for
// MCP/A2A, the buffered body; checks Mcp-Method/Mcp-Name against the body.
Verdict classify_action(RequestContext& x);

// The action against the token's effective grants and the agent's ceiling.
Verdict check_grants(RequestContext& x);

struct ChildScope {
  delegation::ScopeRecord record;
  std::string token;
};

// Opens a child of the caller's scope (x.token) for `target`: the caller's rights ∩ `ceiling`,
// or exactly `requested` when it fits within them (403 grant_exceeded otherwise); depth within the
// target's and the global limit (403 depth_exceeded); expiry `ttl_s` from now, never past the
// parent's. The scope is recorded and reported as opened before this returns.
std::variant<ChildScope, http::Violation> mint_child_scope(RequestContext& x, const config::Agent& target,
                                                           const delegation::Grants& ceiling,
                                                           const std::optional<delegation::Grants>& requested,
                                                           std::string_view objective, std::int64_t ttl_s);

// A delegation: mints the child scope for the route's target agent, records and reports it.
Verdict open_delegation(RequestContext& x);

// Renders the Delegation-*, traceparent and baggage lines for the forwarded head.
Verdict stamp_delegation_headers(RequestContext& x);

}  // namespace scopegate::pipeline
