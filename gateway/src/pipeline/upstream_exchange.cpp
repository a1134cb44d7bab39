#include "pipeline/upstream_exchange.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/read.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <tuple>

#include "http/use_tuple.hpp"
#include "runtime/services.hpp"
#include "log/log.hpp"
#include "http/errors.hpp"
#include "http/hygiene.hpp"
#include "http/head.hpp"
#include "http/wire.hpp"
#include "pipeline/audit_stages.hpp"
#include "pipeline/concurrency.hpp"
#include "pipeline/endpoints.hpp"
#include "pipeline/llm.hpp"
#include "pipeline/reply.hpp"
#include "pipeline/request_end.hpp"
#include "router/router.hpp"

namespace scopegate::pipeline {

namespace asio = boost::asio;
using http::ErrorCode;

namespace {

using http::use_tuple;
// Upstream response headers may carry more (cookies, CSP) than we accept from agents.
constexpr std::size_t kMinUpstreamHeaderLimit = 64 * 1024;
// Informational (1xx) responses an upstream may send before the real one; more is abuse.
constexpr int kMaxInterimResponses = 8;

// The head sent upstream. Hygiene and stamping happen in one pass (http/head.hpp): every
// hop-by-hop and gateway-owned header the client sent is skipped before the gateway's own are
// written, so nothing inbound survives under a gateway-owned name. Framing is re-derived from
// what the parser saw, never copied from the client's fields.
std::string upstream_request_head(RequestContext& x) {
  const auto& route = *x.route;
  const auto& req = x.parser.get();
  const auto& endpoint = *x.endpoint;
  std::string target = router::upstream_target(route, *endpoint.upstream, req.target());
  http::UpstreamRequestHead head;
  head.target = target;
  // An HTTP/1.0 client may send no Host: then even a preserve_host route gets the upstream's.
  bool keep_host = route.preserve_host && !x.host.empty();
  head.host = keep_host ? std::string_view(x.host) : std::string_view(endpoint.host_header);
  head.client_host = x.host;
  head.peer_address = x.info.peer_address;
  head.peer_is_v6 = x.info.peer.address().is_v6();
  head.proto = x.info.tls ? "https" : "http";
  head.node = x.snapshot.config.node;
  head.request_id = x.request_id;
  head.stamped = x.stamped;
  head.replaced = std::span<const std::string_view>(x.replaced.data(), x.replaced_count);
  // An LLM provider's key belongs to the route serving this attempt (a retry may have switched to
  // the fallback): added here, per attempt, with the agent's key headers dropped.
  std::string stamped_with_key, key_line;
  std::array<std::string_view, std::tuple_size_v<decltype(x.replaced)> + 2> replaced{};
  if (provider_key_header(x, key_line)) {
    stamped_with_key = x.stamped + key_line;
    std::copy_n(x.replaced.begin(), x.replaced_count, replaced.begin());
    replaced[x.replaced_count] = "authorization";
    replaced[x.replaced_count + 1] = "x-api-key";
    head.stamped = stamped_with_key;
    head.replaced = std::span<const std::string_view>(replaced.data(), x.replaced_count + 2);
  }
  if (x.body_buffered) {
    head.framing = http::Framing::content_length;
    head.content_length = x.body.size();
  } else if (x.parser.chunked()) {
    head.framing = http::Framing::chunked;
  } else if (x.content_length) {
    head.framing = http::Framing::content_length;
    head.content_length = *x.content_length;
  }
  std::string out;
  out.reserve(512 + req.target().size());
  http::append_upstream_request_head(out, req, head);
  return out;
}

// Watches the client while the gateway waits on the upstream for the next piece of a response
// body. A client that hangs up would otherwise hold the upstream request open until the upstream
// ends it, and an SSE stream may never end: as nginx does, the upstream is cut. (The wait for the
// response header is not watched: the first-byte deadline bounds it.)
// Only end-of-stream or an error counts; bytes from the client (a pipelined request) end the watch.
class ClientHangupWatch {
 public:
  ClientHangupWatch(asio::ip::tcp::socket& client, http::AnyStream& upstream)
      : client_(client), state_(std::make_shared<State>(&upstream)) {
    if (hung_up(client_)) {
      state_->fired = true;
      return;  // nothing was awaited yet: the caller sees fired() before it waits
    }
    client_.async_wait(asio::ip::tcp::socket::wait_read, [state = state_, &client = client_](boost::system::error_code ec) {
      if (ec || !state->upstream || !hung_up(client)) return;
      log::debug("client hung up: cutting the upstream request");
      state->fired = true;
      boost::system::error_code ignored;
      state->upstream->socket().cancel(ignored);
    });
  }
  bool fired() const { return state_->fired; }
  ~ClientHangupWatch() {
    state_->upstream = nullptr;
    boost::system::error_code ignored;
    client_.cancel(ignored);  // only the watch can be pending on the client now
  }
  ClientHangupWatch(const ClientHangupWatch&) = delete;
  ClientHangupWatch& operator=(const ClientHangupWatch&) = delete;

 private:
  struct State {
    explicit State(http::AnyStream* u) : upstream(u) {}
    http::AnyStream* upstream;
    bool fired = false;
  };
  static bool hung_up(asio::ip::tcp::socket& s) {
    char byte;
    ssize_t n = ::recv(s.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }
  asio::ip::tcp::socket& client_;
  std::shared_ptr<State> state_;
};

struct UpstreamFailure {
  ErrorCode code;
  std::string message;
};

// Streams the request body from the client to the upstream through one fixed buffer; the head
// goes out with the first piece of body. Returns an error reply to send, or nullopt once the
// whole request is written.
asio::awaitable<std::optional<UpstreamFailure>> send_request(RequestContext& x, upstream::Connection& up,
                                                             char* relay, bool& upstream_failed) {
  auto& req = x.parser.get();
  const auto& timeouts = x.route->timeouts;
  http::BodyWriter writer(up.stream, upstream_request_head(x), x.parser.chunked() && !x.body_buffered);
  bool done = !x.has_body || x.body_buffered;
  std::string_view piece = x.body_buffered ? std::string_view(x.body) : std::string_view{};
  do {
    if (!done) {
      req.body().data = relay;
      req.body().size = runtime::RelayBuffers::kSize;
      x.client.expires_after(phase(x, x.snapshot.config.timeouts.client_body_idle));
      auto [ec, n] = co_await bhttp::async_read_some(x.client, x.client_buffer, x.parser, use_tuple);
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) {
        x.client_keep_alive = false;
        if (x.client.timed_out()) {
          auto code = total_deadline_passed(x) ? ErrorCode::upstream_timeout : ErrorCode::request_timeout;
          co_return UpstreamFailure{code, "the request body stalled"};
        }
        co_return UpstreamFailure{ErrorCode::bad_request, "request body: " + ec.message()};
      }
      std::size_t got = runtime::RelayBuffers::kSize - req.body().size;
      done = x.parser.is_done();
      if (got == 0 && !done) continue;  // a read that only completed framing (a chunk header)
      x.bytes_in += got;
      if (x.bytes_in > x.route->max_body_bytes) {
        x.client_keep_alive = false;
        co_return UpstreamFailure{ErrorCode::payload_too_large, "request body over the route's limit"};
      }
      piece = std::string_view(relay, got);
    }
    up.stream.expires_after(phase(x, timeouts.upstream_idle));
    if (!x.forwarded) {
      // The head leaves with the first piece of body: only now has the upstream been sent anything
      // (a client that stalls before its first byte of body was never forwarded, and its wait is
      // not upstream time).
      x.forwarded = true;
      x.upstream_started = Clock::now();
    }
    if (auto [ec, n] = co_await writer.write(piece, done); ec) {
      upstream_failed = true;
      auto code = up.stream.timed_out() ? ErrorCode::upstream_timeout : ErrorCode::upstream_unavailable;
      std::string why = "writing to the upstream: " + ec.message();
      co_return UpstreamFailure{code, std::move(why)};
    }
  } while (!done);
  x.body_consumed = true;
  co_return std::nullopt;
}

// A model call whose client left before its answer ended: the answer is read on, not relayed, so
// that the usage it reports at its end is still recorded and counted against the budgets (the
// provider bills what it generated whether the client stayed or not). Bounded: at most
// kDrainBytes, each read within upstream_idle, all within kDrainTime; the connection is not reused.
asio::awaitable<void> drain_for_usage(RequestContext& x, upstream::Connection& up,
                                      bhttp::response_parser<bhttp::buffer_body>& rp, char* relay) {
  constexpr std::uint64_t kDrainBytes = 16ull << 20;
  constexpr auto kDrainTime = std::chrono::seconds(120);
  if (!x.usage_reader || !x.response_tap) co_return;
  auto& res = rp.get();
  auto until = Clock::now() + kDrainTime;
  std::uint64_t drained = 0;
  // A gateway shutting down does not wait for answers nobody will read: it closes the upstream
  // (runtime::Worker::begin_drain), and what was read by then is recorded.
  x.handle.reading_on = true;
  struct Done {
    runtime::SessionHandle& handle;
    ~Done() { handle.reading_on = false; }
  } done{x.handle};
  while (!x.worker.draining() && !rp.is_done() && drained < kDrainBytes && Clock::now() < until) {
    res.body().data = relay;
    res.body().size = runtime::RelayBuffers::kSize;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    up.stream.expires_after(std::min(phase(x, x.route->timeouts.upstream_idle), left));
    auto [ec, n] = co_await bhttp::async_read_some(up.stream, up.buffer, rp, use_tuple);
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) break;
    std::size_t got = runtime::RelayBuffers::kSize - res.body().size;
    drained += got;
    x.response_tap(x, std::string_view(relay, got), rp.is_done());
  }
  if (!rp.is_done()) x.response_tap(x, {}, true);  // what arrived is all there is to read
}

// Streams the upstream response to the client: head rewritten, body through one fixed buffer,
// flushed read by read so server-sent events reach the client as they are produced.
// Returns whether the client connection may carry another request.
asio::awaitable<bool> relay_response(RequestContext& x, upstream::Connection& up,
                                     bhttp::response_parser<bhttp::buffer_body>& rp, char* relay,
                                     bool& upstream_reusable) {
  auto& res = rp.get();
  const auto& timeouts = x.route->timeouts;
  unsigned status = res.result_int();
  bool no_body = x.method == bhttp::verb::head || status == 204 || status == 304 || (status >= 100 && status < 200);
  bool upstream_keep = res.keep_alive();
  std::optional<std::uint64_t> upstream_length;
  if (auto cl = rp.content_length()) upstream_length = *cl;
  bool close_delimited = !no_body && !upstream_length && !rp.chunked();

  http::ClientResponseHead head;
  head.client_version = x.version;
  head.node = x.snapshot.config.node;
  head.request_id = x.request_id;
  head.keep_alive = may_keep_client(x);
  if (!no_body) {
    if (upstream_length) {
      head.framing = http::Framing::content_length;
      head.content_length = *upstream_length;
    } else if (x.version >= 11) {
      head.framing = http::Framing::chunked;
    } else {
      head.framing = http::Framing::until_close;
      head.keep_alive = false;  // an HTTP/1.0 client learns the end of the body from the close
    }
  }
  x.status = status;
  bool event_stream = false;
  if ((x.reads_mcp_outcome || x.plan_reads_answer) && !no_body) {
    auto type = res[bhttp::field::content_type];
    event_stream = type.size() >= 17 && http::iequals_ascii(type.substr(0, 17), "text/event-stream");
  }
  if (x.reads_mcp_outcome && !no_body) x.mcp_scanner.emplace(event_stream);
  if (!x.model.empty() && !no_body) {
    expect_llm_response(x, res[bhttp::field::content_type], res[bhttp::field::content_encoding]);
  }
  if (x.plan_reads_answer && !no_body) x.a2a_scanner.emplace(event_stream);
  // However the relay ends (the client or the upstream cutting it included), what was read of the
  // answer decides: an error event already relayed is an error even if the client left after it.
  struct DecideAnswer {
    RequestContext& x;
    ~DecideAnswer() {
      if (x.mcp_scanner && x.mcp_outcome == protocol::McpOutcome::unknown) x.mcp_outcome = x.mcp_scanner->finish();
      if (x.a2a_scanner && !x.a2a_read) x.a2a_answer = x.a2a_scanner->finish(), x.a2a_read = true;
    }
  } decide_answer{x};
  // A half-open breaker's probe is decided by the response head: a stream may last for hours, and
  // the probe's slot with it (pipeline/endpoints.cpp).
  decide_probe_on_head(x);

  std::string head_text;
  head_text.reserve(512);
  http::append_client_response_head(head_text, res, head);
  http::BodyWriter writer(x.client, std::move(head_text), head.framing == http::Framing::chunked);
  bool done = no_body || rp.is_done();
  std::string_view piece;
  // Armed for a stream (no Content-Length: SSE, chunked, close-delimited) the first time the relay
  // must wait on the upstream socket. A sized body is bounded by upstream_idle anyway, and the
  // watch costs two system calls, so responses of known length go without.
  std::optional<ClientHangupWatch> hangup;
  bool relayed = false;  // a piece went out: what is left buffered may be only framing (a chunk's CRLF)
  do {
    if (!done) {
      if (!hangup && !upstream_length && (up.buffer.size() == 0 || relayed)) {
        hangup.emplace(x.client.socket(), up.stream);
        if (hangup->fired()) {
          x.outcome = "client_cut";
          co_await drain_for_usage(x, up, rp, relay);
          co_return false;
        }
      }
      res.body().data = relay;
      res.body().size = runtime::RelayBuffers::kSize;
      up.stream.expires_after(phase(x, timeouts.upstream_idle));
      auto [ec, n] = co_await bhttp::async_read_some(up.stream, up.buffer, rp, use_tuple);
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) {
        log::debug("upstream response body failed", {{"route", x.route->name}, {"error", ec.message()}});
        if (!relayed && !(hangup && hangup->fired())) {
          // Nothing has reached the client yet (the head goes out with the first piece): it can
          // still be told plainly, e.g. of chunk framing it cannot be relayed (bare LF).
          auto code = up.stream.timed_out() ? ErrorCode::upstream_timeout
                      : is_disconnect(ec)   ? ErrorCode::upstream_unavailable
                                            : ErrorCode::upstream_protocol_error;
          std::string why = "the upstream response broke off before its body: " + ec.message();
          co_return co_await reply_error(x, code, why, true);
        }
        // The status line is on its way: the only honest signal left is to cut.
        x.outcome = hangup && hangup->fired() ? "client_cut" : "upstream_cut";
        if (x.outcome == "client_cut") co_await drain_for_usage(x, up, rp, relay);
        co_return false;
      }
      std::size_t got = runtime::RelayBuffers::kSize - res.body().size;
      done = rp.is_done();
      if (got == 0 && !done) continue;  // framing only; nothing to pass on yet
      x.bytes_out += got;
      piece = std::string_view(relay, got);
      if (x.mcp_scanner) x.mcp_scanner->feed(piece);
      if (x.a2a_scanner) x.a2a_scanner->feed(piece);
    }
    if (done && x.mcp_scanner) x.mcp_outcome = x.mcp_scanner->finish();
    if (done && x.a2a_scanner && !x.a2a_read) x.a2a_answer = x.a2a_scanner->finish(), x.a2a_read = true;
    // The record is handed over before the client can see the end of the response, so that a
    // crash after that point cannot lose it (audit/journal.hpp). The tap sees the last piece
    // first, then: what it reads (an LLM call's usage, in the final event) belongs in the record.
    if (done) {
      if (x.response_tap) x.response_tap(x, piece, true);
      end_request(x);
      upstream_exchange_done(x);  // its slots and its endpoint are free before the client sees the end
    }
    x.client.expires_after(phase(x, x.snapshot.config.timeouts.client_send));
    auto [write_ec, written] = co_await writer.write(piece, done);
    // Every other piece is seen after it went out (or failed to), so the tap never delays it.
    if (!done && x.response_tap) x.response_tap(x, piece, false);
    if (write_ec) {
      x.outcome = "client_cut";
      if (!done) co_await drain_for_usage(x, up, rp, relay);
      co_return false;
    }
    relayed = true;
  } while (!done);
  upstream_reusable = upstream_keep && !close_delimited && rp.is_done();
  co_return head.keep_alive;
}

}  // namespace

asio::awaitable<bool> forward(RequestContext& x) {
  const auto& route = *x.route;
  const auto& snap = x.snapshot;
  auto relay = x.worker.buffers().acquire();

  // Attempts: a stale pooled connection is replaced once without counting as a retry; a failure the
  // upstream cannot have acted on may be retried on another endpoint (pipeline/endpoints.cpp).
  bool replaced_stale = false;
  for (;;) {
    const runtime::Endpoint& endpoint = *x.endpoint;
    const std::string& key = endpoint.pool_key;
    std::unique_ptr<upstream::Connection> up = x.worker.pool().take(key, snap.config.timeouts.upstream_pool_idle,
                                                                    /*verify=*/x.has_body);
    bool reused = up != nullptr;
    // A failure before the upstream may have read anything of the request: worth another endpoint.
    auto retry_or_reply = [&](ErrorCode code, std::string why, RetryReason reason) -> asio::awaitable<std::optional<bool>> {
      if (auto wait_ns = prepare_retry(x, code, reason)) {
        if (*wait_ns > 0) {
          asio::steady_timer timer(co_await asio::this_coro::executor);
          timer.expires_after(std::chrono::nanoseconds(*wait_ns));
          co_await timer.async_wait(use_tuple);
        }
        co_return std::nullopt;  // try again, on x.endpoint
      }
      co_return co_await reply_error(x, code, why);
    };
    if (!up) {
      auto connect_limit = phase(x, route.timeouts.upstream_connect);
      x.phase_cut_short = connect_limit < route.timeouts.upstream_connect;
      auto connected = co_await upstream::connect(*endpoint.upstream, endpoint.tls.get(), connect_limit);
      if (!connected.connection) {
        log::debug("upstream connect failed", {{"route", route.name},
                                               {"endpoint", endpoint.label},
                                               {"reason", upstream::to_string(connected.failure)},
                                               {"error", connected.detail}});
        std::string why = "cannot connect to the upstream " + endpoint.label + " (" +
                          upstream::to_string(connected.failure) + ")";
        // A connect cut short by the request's own deadline is that deadline running out, not the
        // endpoint failing to connect in its time (pipeline/endpoints.cpp decides whom it charges).
        auto code = connected.failure == upstream::ConnectFailure::timeout && total_deadline_passed(x)
                        ? ErrorCode::upstream_timeout
                        : ErrorCode::upstream_unavailable;
        if (auto done = co_await retry_or_reply(code, std::move(why), RetryReason::connect)) co_return *done;
        continue;
      }
      up = std::move(connected.connection);
    }
    x.handle.upstream = &up->stream;
    struct ClearHandle {
      runtime::SessionHandle& h;
      ~ClearHandle() { h.upstream = nullptr; }
    } clear_handle{x.handle};

    if (!co_await send_continue(x)) co_return false;

    bool upstream_failed = false;
    if (auto failure = co_await send_request(x, *up, relay.data(), upstream_failed)) {
      bool replayable = !x.has_body || x.body_buffered;
      if (upstream_failed && reused && replayable && !replaced_stale) {
        replaced_stale = true;
        continue;
      }
      co_return co_await reply_error(x, failure->code, failure->message, !x.body_consumed);
    }

    std::optional<bhttp::response_parser<bhttp::buffer_body>> rp;
    boost::system::error_code ec;
    for (int interim = 0; interim <= kMaxInterimResponses; ++interim) {
      rp.emplace();
      rp->header_limit(static_cast<std::uint32_t>(
          std::max(kMinUpstreamHeaderLimit, snap.config.limits.max_header_bytes)));
      rp->body_limit(boost::none);
      if (x.method == bhttp::verb::head) rp->skip(true);
      auto first_byte_limit = phase(x, route.timeouts.upstream_first_byte);
      x.phase_cut_short = first_byte_limit < route.timeouts.upstream_first_byte;
      up->stream.expires_after(first_byte_limit);
      auto pending = up->buffer.cdata();
      up->stream.framing().expect_header(std::string_view(static_cast<const char*>(pending.data()), pending.size()));
      std::tie(ec, std::ignore) = co_await bhttp::async_read_header(up->stream, up->buffer, *rp, use_tuple);
      if (ec) break;
      int status = rp->get().result_int();
      if (status < 100 || status >= 200) break;
      if (status == 101) {
        ec = bhttp::error::bad_version;  // never asked for an upgrade
        break;
      }
    }
    if (!ec && rp->get().result_int() < 200) ec = bhttp::error::bad_status;
    if (ec) {
      // Only a request without a body is replayed after the upstream may have read it: a tool call
      // must not run twice. (A failed write, above, means the upstream never had it whole.)
      bool cut_before_head = !up->stream.timed_out() && is_disconnect(ec) && up->buffer.size() == 0;
      bool stale = reused && !x.has_body && !replaced_stale && cut_before_head;
      if (stale) {  // the pooled connection was closed under us: try a fresh one
        replaced_stale = true;
        continue;
      }
      if (up->stream.timed_out()) {
        co_return co_await reply_error(x, ErrorCode::upstream_timeout, "no response from the upstream in time");
      }
      if (is_disconnect(ec)) {
        // A reset before the head: an idempotent request without a body may go to another endpoint
        // (prepare_retry decides; anything with a body, a tool call included, never does).
        std::string why = "the upstream " + endpoint.label + " closed the connection";
        if (cut_before_head) {
          if (auto done = co_await retry_or_reply(ErrorCode::upstream_unavailable, std::move(why), RetryReason::reset)) {
            co_return *done;
          }
          continue;
        }
        co_return co_await reply_error(x, ErrorCode::upstream_unavailable, why);
      }
      std::string why = "invalid response: " + ec.message();
      co_return co_await reply_error(x, ErrorCode::upstream_protocol_error, why);
    }
    if (auto v = http::check_response_framing(rp->get())) {
      std::string why = "upstream response: " + v->message;
      co_return co_await reply_error(x, v->code, why);
    }
    // A chunked body with bare LF lines would leave the relay waiting for a CRLF and the client
    // with an empty reply: what came with the header is checked now, while a 502 can still be sent;
    // later chunks are watched as the relay reads them (http/framing_watch.hpp).
    if (rp->chunked() && !rp->is_done()) {
      auto body_start = up->buffer.cdata();
      auto fec = up->stream.framing().expect_chunked_body(
          std::string_view(static_cast<const char*>(body_start.data()), body_start.size()));
      if (fec) {
        std::string why = "upstream response: " + fec.message();
        co_return co_await reply_error(x, ErrorCode::upstream_protocol_error, why);
      }
    } else {
      up->stream.framing().stop();  // a sized or close-delimited body may hold any bytes
    }

    bool upstream_reusable = false;
    bool keep = co_await relay_response(x, *up, *rp, relay.data(), upstream_reusable);
    if (upstream_reusable && up->buffer.size() == 0) {
      x.worker.pool().put(key, std::move(up), endpoint.upstream->pool_size);
    }
    co_return keep;
  }
}


}  // namespace scopegate::pipeline
