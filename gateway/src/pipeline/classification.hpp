// What the request does: the methods a route's protocol allows, and the action named from the
// route, the method and (MCP/A2A) the JSON-RPC body.
#pragma once

#include "pipeline/context.hpp"
#include "pipeline/verdict.hpp"

namespace scopegate::pipeline {

// Whether the route needs the body to name the action (MCP and A2A JSON-RPC requests).
bool needs_body(const RequestContext& x);
// MCP and A2A routes: only the methods their protocols define, and a body only where it is read.
Verdict check_protocol_method(const RequestContext& x);

// Names the action (tool, resource, prompt, delegation) from the route, the method and, for
// MCP/A2A, the buffered body; checks Mcp-Method/Mcp-Name against the body.
Verdict classify_action(RequestContext& x);

}  // namespace scopegate::pipeline
