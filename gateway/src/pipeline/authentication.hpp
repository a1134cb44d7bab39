// Who is calling (docs/protocol.md §1): the agent credential, and the route's access rule.
#pragma once

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

}  // namespace scopegate::pipeline
