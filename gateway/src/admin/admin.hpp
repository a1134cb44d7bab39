// The admin listener (loopback by default): health, readiness, reload; metrics and scope
// endpoints join in later stages. Mutations need the admin bearer token.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>

#include <memory>
#include <string>

#include "runtime/services.hpp"

namespace scopegate::admin {

// What the admin endpoint needs from the app: the services every worker shares, and what only the
// app can do (reload the config, run a query off the control thread). app::App provides it; the
// admin endpoint sits below app/, which starts it.
class Control : public runtime::Services {
 public:
  using Services::Services;

  struct ReloadOutcome {
    bool ok = false;
    std::string message;
  };
  // Loads the config file again; on success swaps the snapshot, else keeps the running one.
  virtual ReloadOutcome reload() = 0;
  // Where admin queries over the audit log run (one at a time), off the control thread.
  virtual boost::asio::thread_pool& query_pool() = 0;

 protected:
  ~Control() = default;
};

boost::asio::awaitable<void> serve(Control& app, boost::asio::ip::tcp::acceptor& acceptor);

}  // namespace scopegate::admin
