// Keep-alive connections to upstreams. One Pool per worker thread, touched only from that
// thread's io_context, so taking and returning a connection needs no lock.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "http/any_stream.hpp"

namespace scopegate::upstream {

namespace asio = boost::asio;
namespace beast = boost::beast;

struct Connection {
  // Beast sizes each read by the buffer's spare capacity (at least 512 bytes): without room
  // reserved up front, a 16 KiB response would take thirty-odd read calls.
  static constexpr std::size_t kReadBufferSize = 16 * 1024;
  template <class... Args>
  explicit Connection(Args&&... args) : stream(std::forward<Args>(args)...) {
    buffer.reserve(kReadBufferSize);
  }
  http::AnyStream stream;
  beast::flat_buffer buffer;  // bytes read from the upstream but not yet parsed
  std::chrono::steady_clock::time_point idle_since{};
};

enum class ConnectFailure { none, resolve, refused, timeout, tls };
const char* to_string(ConnectFailure f);

struct ConnectResult {
  std::unique_ptr<Connection> connection;
  ConnectFailure failure = ConnectFailure::none;
  std::string detail;
};

// Resolves, connects and (for https) handshakes with SNI and certificate verification,
// all within `timeout`.
asio::awaitable<ConnectResult> connect(const config::Upstream& upstream, asio::ssl::context* tls,
                                       config::Duration timeout);

class Pool {
 public:
  // An idle connection to `key` younger than `max_idle`, or nullptr. Whether the upstream has
  // closed it meanwhile is checked (one non-blocking peek) when `verify` is set or the connection
  // has been idle for over a second; a request without a body that meets a connection closed
  // under it is retried by the caller instead, which saves the system call on the hot path.
  std::unique_ptr<Connection> take(const std::string& key, config::Duration max_idle, bool verify);

  // Keeps `c` for reuse unless `key` already holds `capacity` idle connections.
  void put(const std::string& key, std::unique_ptr<Connection> c, std::size_t capacity);

  // Closes idle connections older than `max_idle`; run periodically by the worker.
  void sweep(config::Duration max_idle);

  void clear() { idle_.clear(); }

 private:
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
};

// The pool key of an upstream: everything that makes two connections interchangeable.
std::string pool_key(const config::Upstream& upstream);

}  // namespace scopegate::upstream
