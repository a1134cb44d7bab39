// One request, start to finish: the stage list (read the header, check, authenticate, verify,
// classify, stamp), then the upstream exchange (pipeline/upstream_exchange.hpp).
#pragma once

#include <boost/asio/awaitable.hpp>

#include "pipeline/context.hpp"

namespace scopegate::pipeline {

// The first bytes of the request are already in `buffer`. Returns true when the client
// connection may carry another request. `tap`, when set, sees the response body of the request
// whatever its route (the relay test; routes that need one will set it in a stage).
boost::asio::awaitable<bool> serve_request(runtime::Worker& worker, const runtime::Snapshot& snapshot,
                                           http::AnyStream& client, boost::beast::flat_buffer& buffer,
                                           const ClientInfo& info, runtime::SessionHandle& handle,
                                           ResponseTap tap = nullptr);

}  // namespace scopegate::pipeline
