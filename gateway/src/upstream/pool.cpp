#include "upstream/pool.hpp"

#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cerrno>

#include "http/use_tuple.hpp"

namespace scopegate::upstream {

namespace {
using http::use_tuple;
using tcp = asio::ip::tcp;

// A pooled connection the upstream has closed (or that has unexpected bytes waiting) must not be
// reused: a request written to it would fail. A non-blocking peek tells without consuming.
bool still_open(Connection& c) {
  if (c.buffer.size() != 0) return false;
  auto fd = c.stream.socket().native_handle();
  char byte;
  ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}
}  // namespace

const char* to_string(ConnectFailure f) {
  switch (f) {
    case ConnectFailure::none: return "none";
    case ConnectFailure::resolve: return "resolve";
    case ConnectFailure::refused: return "connect";
    case ConnectFailure::timeout: return "timeout";
    case ConnectFailure::tls: return "tls";
  }
  return "unknown";
}

std::string pool_key(const config::Upstream& u) {
  std::string key = (u.tls ? "https://" : "http://") + u.host + ":" + std::to_string(u.port);
  if (u.tls) key += "|" + u.server_name + "|" + u.ca_file + "|" + (u.verify ? "verify" : "noverify");
  return key;
}

asio::awaitable<ConnectResult> connect(const config::Upstream& u, asio::ssl::context* tls, config::Duration timeout) {
  ConnectResult result;
  auto executor = co_await asio::this_coro::executor;

  boost::system::error_code ec;
  auto address = asio::ip::make_address(u.host, ec);
  std::vector<tcp::endpoint> endpoints;
  if (!ec) {
    endpoints.emplace_back(address, u.port);
  } else {
    // getaddrinfo runs on Asio's resolver thread, never on this event loop.
    tcp::resolver resolver(executor);
    auto [rec, results] = co_await resolver.async_resolve(u.host, std::to_string(u.port), use_tuple);
    if (rec) {
      result.failure = ConnectFailure::resolve;
      result.detail = rec.message();
      co_return result;
    }
    for (const auto& r : results) endpoints.push_back(r.endpoint());
  }

  // The connection object exists from the start so that its deadline covers connect and handshake.
  auto connection = u.tls ? std::make_unique<Connection>(tcp::socket(executor), *tls)
                          : std::make_unique<Connection>(tcp::socket(executor));
  auto& stream = connection->stream;
  stream.expires_after(timeout);
  auto [cec, endpoint] = co_await asio::async_connect(stream.socket(), endpoints, use_tuple);
  if (cec) {
    result.failure = stream.timed_out() ? ConnectFailure::timeout : ConnectFailure::refused;
    result.detail = stream.timed_out() ? "timed out" : cec.message();
    co_return result;
  }
  stream.socket().set_option(tcp::no_delay(true), ec);

  if (auto* tls_stream = stream.tls()) {
    if (!SSL_set_tlsext_host_name(tls_stream->native_handle(), u.server_name.c_str())) {
      result.failure = ConnectFailure::tls;
      result.detail = "cannot set SNI";
      co_return result;
    }
    if (u.verify) {
      tls_stream->set_verify_mode(asio::ssl::verify_peer);
      tls_stream->set_verify_callback(asio::ssl::host_name_verification(u.server_name));
    } else {
      tls_stream->set_verify_mode(asio::ssl::verify_none);
    }
    auto [hec] = co_await tls_stream->async_handshake(asio::ssl::stream_base::client, use_tuple);
    if (hec) {
      result.failure = stream.timed_out() ? ConnectFailure::timeout : ConnectFailure::tls;
      result.detail = stream.timed_out() ? "timed out" : hec.message();
      co_return result;
    }
  }
  stream.expires_never();
  result.connection = std::move(connection);
  co_return result;
}

std::unique_ptr<Connection> Pool::take(const std::string& key, config::Duration max_idle, bool verify) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return nullptr;
  auto& list = it->second;
  auto now = std::chrono::steady_clock::now();
  auto oldest_allowed = now - max_idle;
  auto trusted_since = now - std::chrono::seconds(1);
  // Most recently returned first: it is the most likely to still be open upstream.
  while (!list.empty()) {
    std::unique_ptr<Connection> c = std::move(list.back());
    list.pop_back();
    if (c->idle_since < oldest_allowed) continue;
    if ((verify || c->idle_since < trusted_since) && !still_open(*c)) continue;
    return c;
  }
  return nullptr;
}

void Pool::put(const std::string& key, std::unique_ptr<Connection> c, std::size_t capacity) {
  auto& list = idle_[key];
  if (list.size() >= capacity) return;
  c->idle_since = std::chrono::steady_clock::now();
  c->stream.expires_never();
  list.push_back(std::move(c));
}

void Pool::sweep(config::Duration max_idle) {
  auto oldest_allowed = std::chrono::steady_clock::now() - max_idle;
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& list = it->second;
    std::erase_if(list, [&](const auto& c) { return c->idle_since < oldest_allowed; });
    if (list.empty()) it = idle_.erase(it);
    else ++it;
  }
}

}  // namespace scopegate::upstream
