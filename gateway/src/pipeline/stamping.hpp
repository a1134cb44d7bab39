// The gateway's own headers on the forwarded request (docs/protocol.md §2).
#pragma once

#include "pipeline/context.hpp"
#include "pipeline/verdict.hpp"

namespace scopegate::pipeline {

// Renders the Delegation-*, traceparent and baggage lines for the forwarded head.
Verdict stamp_delegation_headers(RequestContext& x);

}  // namespace scopegate::pipeline
