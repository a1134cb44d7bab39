#include "listener/listener.hpp"

#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <utility>

#include "http/errors.hpp"
#include "http/linger.hpp"
#include "http/use_tuple.hpp"
#include "listener/peer_limit.hpp"
#include "log/log.hpp"
#include "runtime/services.hpp"

namespace scopegate::listener {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::optional<ConnectionSlot> ConnectionSlot::take(std::atomic<std::size_t>& total, const asio::ip::address& peer,
                                                   std::size_t per_peer_cap) {
  bool per_peer = per_peer_cap > 0;
  if (per_peer && !peer_table().try_acquire(peer, per_peer_cap)) return std::nullopt;
  return ConnectionSlot(total, peer, per_peer);
}

ConnectionSlot::ConnectionSlot(std::atomic<std::size_t>& total, const asio::ip::address& peer, bool counted_per_peer)
    : total_(&total), peer_(peer), counted_per_peer_(counted_per_peer) {
  total.fetch_add(1, std::memory_order_relaxed);
}

ConnectionSlot::ConnectionSlot(ConnectionSlot&& other) noexcept
    : total_(std::exchange(other.total_, nullptr)), peer_(other.peer_), counted_per_peer_(other.counted_per_peer_) {}

ConnectionSlot::~ConnectionSlot() {
  if (!total_) return;  // moved from
  total_->fetch_sub(1, std::memory_order_relaxed);
  if (counted_per_peer_) peer_table().release(peer_);
}

namespace {
using http::use_tuple;

// Refused connections lingering at once on this worker. Each holds a descriptor (no connection
// slot), so under a flood the ones past this close without lingering.
constexpr std::size_t kMaxLingeringRefusals = 1024;
thread_local std::size_t lingering_refusals = 0;

std::string overloaded_reply(std::string_view message) {
  std::string body = http::error_body(http::ErrorCode::overloaded, {message, "", "", ""});
  return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Over a connection limit: 503 overloaded, then a lingering close. The client's request is often
// already on its way; closing at once would answer it with a reset, which can destroy the 503
// before the client reads it.
asio::awaitable<void> refuse_overloaded(tcp::socket socket, const std::string& reply, std::chrono::milliseconds linger) {
  ++lingering_refusals;
  struct Uncount {
    ~Uncount() { --lingering_refusals; }
  } uncount;
  // A new socket's send buffer is empty: the reply fits without waiting.
  [[maybe_unused]] auto n = ::send(socket.native_handle(), reply.data(), reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  co_await http::lingering_close(socket, linger);
}

void refuse(runtime::Worker& worker, tcp::socket socket, const std::string& reply, std::chrono::milliseconds linger) {
  if (lingering_refusals >= kMaxLingeringRefusals) linger = std::chrono::milliseconds(0);
  asio::co_spawn(worker.io(), refuse_overloaded(std::move(socket), reply, linger), asio::detached);
}
}  // namespace

asio::awaitable<void> accept_loop(runtime::Worker& worker, tcp::acceptor& acceptor,
                                  const ListenerRuntime& listener) {
  static const std::string too_many = overloaded_reply("too many client connections");
  static const std::string too_many_from_peer = overloaded_reply("too many connections from this address");
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
    auto snapshot = worker.snapshot();
    const auto& config = snapshot->config;
    boost::system::error_code pec;
    auto peer = socket.remote_endpoint(pec);
    if (pec) continue;  // the peer left already; the socket closes here
    if (app.connections.load(std::memory_order_relaxed) >= config.limits.max_connections) {
      refuse(worker, std::move(socket), too_many, config.timeouts.lingering_close);
      continue;
    }
    auto slot = ConnectionSlot::take(app.connections, peer.address(), config.limits.max_connections_per_peer);
    if (!slot) {
      log::debug("connection refused: per-peer cap", {{"peer", peer.address().to_string()}});
      refuse(worker, std::move(socket), too_many_from_peer, config.timeouts.lingering_close);
      continue;
    }
    asio::co_spawn(worker.io(), run_session(worker, std::move(socket), listener, std::move(*slot)),
                   [](std::exception_ptr e) {
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
