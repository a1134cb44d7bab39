#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "http/linger.hpp"
#include "http/use_tuple.hpp"
#include "listener/listener.hpp"
#include "listener/tls.hpp"
#include "pipeline/stages.hpp"

namespace scopegate::listener {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {
using http::use_tuple;
// What an idle connection holds while it waits: small, so 10,000 idle clients stay cheap.
constexpr std::size_t kFirstRead = 1024;
constexpr std::size_t kKeepBufferCapacity = 16 * 1024;

// Registers the session with its worker; undone on every exit path.
class SessionScope {
 public:
  SessionScope(runtime::Worker& w, http::AnyStream& client) : worker_(w), it_(w.add_session()) {
    it_->client = &client;
  }
  ~SessionScope() { worker_.remove_session(it_); }
  runtime::SessionHandle& handle() { return *it_; }

 private:
  runtime::Worker& worker_;
  std::list<runtime::SessionHandle>::iterator it_;
};

std::string_view text_of(const beast::flat_buffer& buffer) {
  auto data = buffer.cdata();
  return {static_cast<const char*>(data.data()), data.size()};
}
}  // namespace

// `slot` is held, not read: the frame owns it, so the connection counts until the session ends.
asio::awaitable<void> run_session(runtime::Worker& worker, tcp::socket socket, const ListenerRuntime& listener,
                                  [[maybe_unused]] ConnectionSlot slot) {
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
    // A silent socket is dropped after client_first_byte; a started handshake has client_header.
    client.expires_after(worker.snapshot()->config.timeouts.client_first_byte);
    auto [wec] = co_await client.socket().async_wait(tcp::socket::wait_read, use_tuple);
    if (wec) co_return;
    client.expires_after(worker.snapshot()->config.timeouts.client_header);
    auto [hec] = co_await tls->async_handshake(asio::ssl::stream_base::server, use_tuple);
    if (hec) co_return;
    info.certificate_subject = verified_peer_subject(tls->native_handle());
  }

  beast::flat_buffer buffer;
  bool linger = false;
  for (bool first = true;; first = false) {
    // Timeouts for the wait; the request itself takes the snapshot current when it arrives (below),
    // so a reload applies to the next request on every connection, idle ones included.
    auto waiting = worker.snapshot();
    const auto& timeouts = waiting->config.timeouts;
    // Every line of the next request's header must end in CRLF (http/framing_watch.hpp); a
    // pipelined request may have started in the buffer already.
    client.framing().expect_header(text_of(buffer));
    if (buffer.size() == 0) {
      // Idle between requests: the only state kept is the socket and a small buffer.
      if (buffer.capacity() > kKeepBufferCapacity) buffer.shrink_to_fit();
      handle.idle = true;
      if (worker.draining()) break;
      // A new connection gets client_first_byte to say anything at all (so silent sockets cannot
      // hold slots for the whole header deadline); client_header starts with the first byte.
      client.expires_after(first ? timeouts.client_first_byte : timeouts.keepalive_idle);
      auto [rec, n] = co_await client.async_read_some(buffer.prepare(kFirstRead), use_tuple);
      handle.idle = false;
      if (rec) break;  // closed, reset, silent or idle too long: nothing to answer
      buffer.commit(n);
    }
    handle.idle = false;
    auto snapshot = worker.snapshot();
    bool keep = co_await pipeline::serve_request(worker, *snapshot, client, buffer, info, handle);
    if (!keep) {
      // Not after a missed deadline (a slow header or body, a client that stopped reading): the
      // deadline took the slot away, and lingering would give a slowloris client it back.
      linger = !client.missed_a_deadline();
      break;
    }
  }
  if (linger) {
    // The gateway ends the connection after a reply: what the client still sends (an unread body,
    // pipelined requests) is read and dropped for a while, so the reply is not lost to a reset.
    // Nothing is in flight any more: drain and shutdown may close it at once.
    handle.idle = true;
    client.expires_never();
    auto limit = worker.snapshot()->config.timeouts.lingering_close;
    co_await http::lingering_close(client.socket(), limit);
  }
  client.close();
}

}  // namespace scopegate::listener
