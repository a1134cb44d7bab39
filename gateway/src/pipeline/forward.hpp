// One request, start to finish: read the header, run the stages in order, forward, relay back.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "pipeline/context.hpp"

namespace scopegate::pipeline {

// The first bytes of the request are already in `buffer`. Returns true when the client
// connection may carry another request.
boost::asio::awaitable<bool> serve_request(runtime::Worker& worker, const runtime::Snapshot& snapshot,
                                           http::AnyStream& client, boost::beast::flat_buffer& buffer,
                                           const ClientInfo& info, runtime::SessionHandle& handle);

}  // namespace scopegate::pipeline
