// The accept loop of one listener on one worker, and the per-connection session coroutine.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <optional>

#include "listener/runtime.hpp"
#include "runtime/worker.hpp"

namespace scopegate::listener {

// One client connection's share of the connection limits: counted in App::connections (all
// listeners) and, while limits.max_connections_per_peer is on, in the peer table (peer_limit.hpp).
// Taken at accept, before the session starts, so a burst of accepts cannot overshoot the caps;
// given back when the session ends, however it ends.
class ConnectionSlot {
 public:
  // Empty (no slot taken) when the peer already holds `per_peer_cap` connections (0: no cap).
  static std::optional<ConnectionSlot> take(std::atomic<std::size_t>& total, const boost::asio::ip::address& peer,
                                            std::size_t per_peer_cap);
  ConnectionSlot(ConnectionSlot&& other) noexcept;
  ConnectionSlot& operator=(ConnectionSlot&&) = delete;
  ~ConnectionSlot();

 private:
  ConnectionSlot(std::atomic<std::size_t>& total, const boost::asio::ip::address& peer, bool counted_per_peer);
  std::atomic<std::size_t>* total_;
  boost::asio::ip::address peer_;
  bool counted_per_peer_;
};

boost::asio::awaitable<void> accept_loop(runtime::Worker& worker, boost::asio::ip::tcp::acceptor& acceptor,
                                         const ListenerRuntime& listener);

// Serves one client connection: TLS handshake if any, then requests until close, error or drain.
boost::asio::awaitable<void> run_session(runtime::Worker& worker, boost::asio::ip::tcp::socket socket,
                                         const ListenerRuntime& listener, ConnectionSlot slot);

}  // namespace scopegate::listener
