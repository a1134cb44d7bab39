// POST /v1/scopes on the data listener (docs/protocol.md §4): an agent opens a root scope, or, under
// its Delegation-Token, a child scope for another agent (or a narrower one for itself).
#pragma once

#include <boost/asio/awaitable.hpp>

#include "pipeline/context.hpp"

namespace scopegate::pipeline {

constexpr std::string_view kScopesPath = "/v1/scopes";

// The last stage of the scopes route (pipeline/stages.cpp): every stage before it has passed,
// so the body is parsed (x.scope_request) and the grants checked. Mints the scope and answers 201;
// returns whether the connection may carry another one.
boost::asio::awaitable<bool> serve_open_scope(RequestContext& x);

}  // namespace scopegate::pipeline
