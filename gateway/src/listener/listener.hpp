// The accept loop of one listener on one worker, and the per-connection session coroutine.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "app/app.hpp"
#include "app/worker.hpp"

namespace scopegate::listener {

boost::asio::awaitable<void> accept_loop(app::Worker& worker, boost::asio::ip::tcp::acceptor& acceptor,
                                         const app::ListenerRuntime& listener);

// Serves one client connection: TLS handshake if any, then requests until close, error or drain.
boost::asio::awaitable<void> run_session(app::Worker& worker, boost::asio::ip::tcp::socket socket,
                                         const app::ListenerRuntime& listener);

}  // namespace scopegate::listener
