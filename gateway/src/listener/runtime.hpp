// One configured listener as the app runs it: its config, its TLS context and the address it got.
// Built by the app when it binds; read by every worker's accept loop and session.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include <cstddef>
#include <memory>

#include "config/config.hpp"

namespace scopegate::listener {

struct ListenerRuntime {
  config::Listener config;
  std::shared_ptr<boost::asio::ssl::context> tls;  // null for plain listeners
  boost::asio::ip::tcp::endpoint bound;            // the real port when config asked for 0
  std::size_t index = 0;                           // in config.listeners
};

}  // namespace scopegate::listener
