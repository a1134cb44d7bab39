// The upstream exchange at the end of the corridor: connect (or take a pooled connection), send
// the stamped head and stream the request body, read the response head, relay the body back.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "pipeline/context.hpp"

namespace scopegate::pipeline {

// Forwards the request the stages admitted and relays the response; a failure on the way is
// refused through refuse() like any stage's. Returns whether the client connection may carry
// another request. A pooled connection the upstream closed meanwhile is replaced once, but only
// when no request body has been taken from the client (so nothing is lost).
boost::asio::awaitable<bool> forward(RequestContext& x);

}  // namespace scopegate::pipeline
