#include "listener/listener.hpp"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "app/log.hpp"
#include "http/errors.hpp"

namespace scopegate::listener {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Over limits.max_connections: a best-effort 503 without waiting for the socket, then close.
void refuse_overloaded(tcp::socket& socket) {
  static const std::string reply = [] {
    std::string body = http::error_body(http::ErrorCode::overloaded, {"too many client connections", "", "", ""});
    return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  [[maybe_unused]] auto n = ::send(socket.native_handle(), reply.data(), reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  boost::system::error_code ec;
  socket.close(ec);
}
}  // namespace

asio::awaitable<void> accept_loop(app::Worker& worker, tcp::acceptor& acceptor,
                                  const app::ListenerRuntime& listener) {
  auto& app = worker.app();
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      // Out of file descriptors or a transient accept error: back off briefly instead of spinning.
      log::warn("accept failed", {{"listener", listener.config.name}, {"error", ec.message()}});
      asio::steady_timer pause(worker.io(), std::chrono::milliseconds(50));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    if (app.connections.load(std::memory_order_relaxed) >= worker.snapshot()->config.limits.max_connections) {
      refuse_overloaded(socket);
      continue;
    }
    asio::co_spawn(worker.io(), run_session(worker, std::move(socket), listener), [](std::exception_ptr e) {
      // The one place unexpected failures of a session end up; expected ones are values.
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log::error("session failed", {{"error", ex.what()}});
      }
    });
  }
}

}  // namespace scopegate::listener
