// Under which scope, and whether it grants the action (docs/protocol.md §2): the one
// Delegation-Token verified and admitted, refusals attributed to it, the grant check.
#pragma once

#include "pipeline/context.hpp"
#include "pipeline/verdict.hpp"

namespace scopegate::pipeline {

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

// The action against the token's effective grants and the agent's ceiling.
Verdict check_grants(RequestContext& x);

}  // namespace scopegate::pipeline
