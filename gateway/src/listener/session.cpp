#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "listener/listener.hpp"
#include "listener/tls.hpp"
#include "pipeline/forward.hpp"

namespace scopegate::listener {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// What an idle connection holds while it waits: small, so 10,000 idle clients stay cheap.
constexpr std::size_t kFirstRead = 1024;
constexpr std::size_t kKeepBufferCapacity = 16 * 1024;

// Registers the session with its worker and counts it; undone on every exit path.
class SessionScope {
 public:
  SessionScope(app::Worker& w, http::AnyStream& client) : worker_(w), it_(w.add_session()) {
    it_->client = &client;
    worker_.app().connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~SessionScope() {
    worker_.remove_session(it_);
    worker_.app().connections.fetch_sub(1, std::memory_order_relaxed);
  }
  app::SessionHandle& handle() { return *it_; }

 private:
  app::Worker& worker_;
  std::list<app::SessionHandle>::iterator it_;
};
}  // namespace

asio::awaitable<void> run_session(app::Worker& worker, tcp::socket socket, const app::ListenerRuntime& listener) {
  boost::system::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  pipeline::ClientInfo info{socket.remote_endpoint(ec), {}, listener.tls != nullptr, listener.index, {}};
  if (ec) co_return;  // the peer left before we looked
  info.peer_address = info.peer.address().to_string();

  std::optional<http::AnyStream> stream;
  if (listener.tls) stream.emplace(std::move(socket), *listener.tls);
  else stream.emplace(std::move(socket));
  http::AnyStream& client = *stream;
  SessionScope scope(worker, client);
  auto& handle = scope.handle();

  if (auto* tls = client.tls()) {
    client.expires_after(worker.snapshot()->config.timeouts.client_header);
    auto [hec] = co_await tls->async_handshake(asio::ssl::stream_base::server, use_tuple);
    if (hec) co_return;
    info.certificate_subject = verified_peer_subject(tls->native_handle());
  }

  beast::flat_buffer buffer;
  for (bool first = true;; first = false) {
    auto snapshot = worker.snapshot();
    const auto& timeouts = snapshot->config.timeouts;
    if (buffer.size() == 0) {
      // Idle between requests: the only state kept is the socket and a small buffer.
      if (buffer.capacity() > kKeepBufferCapacity) buffer.shrink_to_fit();
      handle.idle = true;
      if (worker.draining()) break;
      client.expires_after(first ? timeouts.client_header : timeouts.keepalive_idle);
      auto [rec, n] = co_await client.async_read_some(buffer.prepare(kFirstRead), use_tuple);
      handle.idle = false;
      if (rec) break;  // closed, reset or idle too long: nothing to answer
      buffer.commit(n);
    }
    handle.idle = false;
    bool keep = co_await pipeline::serve_request(worker, *snapshot, client, buffer, info, handle);
    if (!keep) break;
  }
  client.close();
}

}  // namespace scopegate::listener
