// The admin listener (loopback by default): health, readiness, reload; metrics and scope
// endpoints join in later stages. Mutations need the admin bearer token.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace scopegate::app {
class App;
}

namespace scopegate::admin {

boost::asio::awaitable<void> serve(app::App& app, boost::asio::ip::tcp::acceptor& acceptor);

}  // namespace scopegate::admin
