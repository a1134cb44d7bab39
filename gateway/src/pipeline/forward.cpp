#include "pipeline/forward.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <sys/socket.h>

#include <cerrno>

#include "audit/sink.hpp"
#include "http/errors.hpp"
#include "http/head.hpp"
#include "http/hygiene.hpp"
#include "http/request_id.hpp"
#include "http/wire.hpp"
#include "log/log.hpp"
#include "pipeline/audit_stages.hpp"
#include "pipeline/reply.hpp"
#include "pipeline/scope_stages.hpp"
#include "pipeline/scopes_endpoint.hpp"
#include "router/router.hpp"
#include "runtime/services.hpp"

namespace scopegate::pipeline {

namespace asio = boost::asio;
namespace beast = boost::beast;
using http::ErrorCode;
using std::chrono::milliseconds;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// Upstream response headers may carry more (cookies, CSP) than we accept from agents.
constexpr std::size_t kMinUpstreamHeaderLimit = 64 * 1024;
// Informational (1xx) responses an upstream may send before the real one; more is abuse.
constexpr int kMaxInterimResponses = 8;

// Stage: checks that need only the request header. Ordered cheapest and most fundamental first:
// framing decides whether the byte stream can be trusted at all, so it comes before anything else.
std::optional<http::Violation> inspect_request(RequestContext& x) {
  auto& req = x.parser.get();
  if (auto v = http::check_request_framing(req)) return v;
  // Bare LF line endings: Beast 1.81 would wait for a CRLF that never comes (http/framing_watch.hpp).
  // A chunked body is watched from the bytes already buffered on, so a broken chunk line is
  // refused here, or by the first body read after it, never after the body deadline.
  auto& watch = x.client.framing();
  auto buffered = x.client_buffer.cdata();
  if (x.parser.chunked()) {
    watch.expect_chunked_body(std::string_view(static_cast<const char*>(buffered.data()), buffered.size()));
  } else if (!watch.failed()) {
    watch.stop();  // a sized body may hold any bytes
  }
  if (watch.failed()) return http::Violation{ErrorCode::bad_request, "request framing: " + watch.error().message()};
  const auto& limits = x.snapshot.config.limits;
  if (static_cast<std::size_t>(std::distance(req.begin(), req.end())) > limits.max_header_count) {
    return http::Violation{ErrorCode::headers_too_large, "more than " + std::to_string(limits.max_header_count) +
                                                              " header fields"};
  }
  if (req.method() == bhttp::verb::connect) {
    return http::Violation{ErrorCode::not_implemented, "CONNECT is not supported"};
  }
  if (auto v = http::check_request_target(req.target())) return v;
  // One path for routing and forwarding: normalised here and written back into the request, so
  // every later stage reads it (router::resolve_target explains the order of route and rules).
  auto resolved = router::resolve_target(x.snapshot.router, x.snapshot.config.paths, x.host, req.method_string(),
                                         req.target());
  if (!resolved.refusal.empty()) return http::Violation{ErrorCode::bad_request, std::move(resolved.refusal)};
  if (!resolved.target.empty()) req.target(resolved.target);
  if (auto v = http::find_spoofed_header(req)) return v;
  if (auto upgrade = req[bhttp::field::upgrade]; !upgrade.empty() && !http::iequals_ascii(upgrade, "h2c")) {
    // h2c may be ignored (RFC 9113 §3.1): the request then proceeds as HTTP/1.1. Anything else,
    // WebSocket included, would need a tunnel the gateway does not build: refused, documented.
    return http::Violation{ErrorCode::not_implemented, "protocol upgrade is not supported"};
  }
  return std::nullopt;
}

// Stage: the head sent upstream. Hygiene and stamping happen in one pass (http/head.hpp): every
// hop-by-hop and gateway-owned header the client sent is skipped before the gateway's own are
// written, so nothing inbound survives under a gateway-owned name. Framing is re-derived from
// what the parser saw, never copied from the client's fields.
std::string upstream_request_head(RequestContext& x) {
  const auto& route = *x.route;
  const auto& req = x.parser.get();
  std::string target = router::upstream_target(route, req.target());
  http::UpstreamRequestHead head;
  head.target = target;
  // An HTTP/1.0 client may send no Host: then even a preserve_host route gets the upstream's.
  bool keep_host = route.preserve_host && !x.host.empty();
  head.host = keep_host ? std::string_view(x.host) : x.snapshot.upstream_hosts[x.snapshot.route_index(route)];
  head.client_host = x.host;
  head.peer_address = x.info.peer_address;
  head.peer_is_v6 = x.info.peer.address().is_v6();
  head.proto = x.info.tls ? "https" : "http";
  head.node = x.snapshot.config.node;
  head.request_id = x.request_id;
  head.stamped = x.stamped;
  head.replaced = std::span<const std::string_view>(x.replaced.data(), x.replaced_count);
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
  x.forwarded = true;
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
        co_return false;
      }
      std::size_t got = runtime::RelayBuffers::kSize - res.body().size;
      done = rp.is_done();
      if (got == 0 && !done) continue;  // framing only; nothing to pass on yet
      x.bytes_out += got;
      piece = std::string_view(relay, got);
    }
    // The record is handed over before the client can see the end of the response, so that a
    // crash after that point cannot lose it (audit/journal.hpp).
    if (done) report(x);
    x.client.expires_after(phase(x, x.snapshot.config.timeouts.client_send));
    if (auto [ec, n] = co_await writer.write(piece, done); ec) {
      x.outcome = "client_cut";
      co_return false;
    }
    relayed = true;
  } while (!done);
  upstream_reusable = upstream_keep && !close_delimited && rp.is_done();
  co_return head.keep_alive;
}

// Stage: the upstream exchange. A pooled connection the upstream closed meanwhile is replaced
// once, but only when no request body has been taken from the client (so nothing is lost).
asio::awaitable<bool> forward(RequestContext& x) {
  const auto& route = *x.route;
  const auto& snap = x.snapshot;
  auto route_index = snap.route_index(route);
  const std::string& key = snap.pool_keys[route_index];
  auto relay = x.worker.buffers().acquire();

  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<upstream::Connection> up = x.worker.pool().take(key, snap.config.timeouts.upstream_pool_idle,
                                                                             /*verify=*/x.has_body);
    bool reused = up != nullptr;
    if (!up) {
      auto connected = co_await upstream::connect(route.upstream, snap.upstream_tls[route_index].get(),
                                                  phase(x, route.timeouts.upstream_connect));
      if (!connected.connection) {
        log::debug("upstream connect failed", {{"route", route.name},
                                               {"reason", upstream::to_string(connected.failure)},
                                               {"error", connected.detail}});
        std::string why = std::string("cannot connect to the upstream (") + upstream::to_string(connected.failure) + ")";
        co_return co_await reply_error(x, ErrorCode::upstream_unavailable, why);
      }
      up = std::move(connected.connection);
    }
    x.handle.upstream = &up->stream;
    struct ClearHandle {
      runtime::SessionHandle& h;
      ~ClearHandle() { h.upstream = nullptr; }
    } clear_handle{x.handle};

    if (x.expect_continue && x.has_body && x.version >= 11 && !x.continue_sent) {
      // The gateway answers the expectation itself (as nginx does) and strips it upstream.
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      x.client.expires_after(snap.config.timeouts.client_send);
      auto [ec, n] = co_await asio::async_write(x.client, asio::buffer(kContinue), use_tuple);
      if (ec) co_return false;
      x.continue_sent = true;
    }

    bool upstream_failed = false;
    if (auto failure = co_await send_request(x, *up, relay.data(), upstream_failed)) {
      bool replayable = !x.has_body || x.body_buffered;
      if (upstream_failed && reused && replayable && attempt == 0) continue;
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
      up->stream.expires_after(phase(x, route.timeouts.upstream_first_byte));
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
      bool stale = reused && !x.has_body && attempt == 0 && !up->stream.timed_out() && is_disconnect(ec) &&
                   up->buffer.size() == 0;
      if (stale) continue;  // the pooled connection was closed under us: try a fresh one
      if (up->stream.timed_out()) {
        co_return co_await reply_error(x, ErrorCode::upstream_timeout, "no response from the upstream in time");
      }
      if (is_disconnect(ec)) {
        co_return co_await reply_error(x, ErrorCode::upstream_unavailable, "the upstream closed the connection");
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
      x.worker.pool().put(key, std::move(up), route.upstream.pool_size);
    }
    co_return keep;
  }
}

}  // namespace

namespace {

// The pipeline, in order. Each position has a reason; a stage that refuses answers the client
// itself and nothing after it runs (nothing reaches the upstream). A refusal made before step 9
// still names the caller's scope in its record when the credential and the one token hold
// (attribute_refusal, in reply_error): they are read then for the record only, so this order
// alone decides every answer.
asio::awaitable<bool> run_stages(RequestContext& x) {
  const auto& snapshot = x.snapshot;
  const auto& cfg = snapshot.config;
  auto& client = x.client;
  x.parser.header_limit(static_cast<std::uint32_t>(cfg.limits.max_header_bytes));
  x.parser.body_limit(boost::none);  // enforced per route once the route is known

  // 1. Read the header under one absolute deadline: a slow client cannot hold the slot forever.
  client.expires_after(cfg.timeouts.client_header);
  auto [ec, n] = co_await bhttp::async_read_header(client, x.client_buffer, x.parser, use_tuple);
  if (ec) {
    x.client_keep_alive = false;
    x.request_id = http::make_uuid_v7();  // even a request that never parsed gets an id to quote
    if (ec == bhttp::error::header_limit) {
      co_await reply_error(x, ErrorCode::headers_too_large, "request header over limits.max_header_bytes", true);
    } else if (client.timed_out()) {
      co_await reply_error(x, ErrorCode::request_timeout, "the request header did not arrive in time", true);
    } else if (!is_disconnect(ec)) {
      std::string why = "malformed request: " + ec.message();
      co_await reply_error(x, ErrorCode::bad_request, why, true);
    }
    co_return false;
  }

  auto& req = x.parser.get();
  // 2. Facts from the request as sent, before any stage rewrites it.
  scan_inbound_headers(x);
  auto inbound_id = x.inbound.request_id;
  x.request_id = http::is_uuid(inbound_id) ? std::string(inbound_id) : http::make_uuid_v7();
  x.method = req.method();
  x.version = req.version();
  x.client_keep_alive = req.keep_alive();
  if (auto cl = x.parser.content_length()) x.content_length = *cl;
  x.has_body = x.parser.chunked() || (x.content_length && *x.content_length > 0);
  x.body_consumed = !x.has_body;
  x.expect_continue = http::iequals_ascii(req[bhttp::field::expect], "100-continue");
  x.host = req[bhttp::field::host];

  // 3. Framing, limits, target and spoofing: a violation is answered and the connection closed,
  //    because after bad framing the gateway cannot know where the next request starts.
  if (auto v = inspect_request(x)) co_return co_await reply_violation(x, *v, true);

  // 4. The agent credential, before anything else is decided: a wrong key never learns more
  //    (not even whether a route exists).
  if (auto v = authenticate(x)) co_return co_await reply_violation(x, *v, !x.body_consumed);

  // 5. The gateway's own endpoint on the data listener (it opens scopes, so it is audited).
  std::string_view target = req.target();
  if (target.substr(0, target.find('?')) == kScopesPath) {
    if (auto v = require_audit(x)) co_return co_await reply_violation(x, *v, !x.body_consumed);
    co_return co_await serve_open_scope(x);
  }

  // 6. Route. Host without port, lower-cased; the path with the query for prefix matching.
  x.route = snapshot.router.match(http::host_without_port(x.host), req.method_string(), req.target());
  if (!x.route) co_return co_await reply_error(x, ErrorCode::no_route, "no route matches this request");
  if (x.route->timeouts.request_total.count() > 0) x.deadline = x.started + x.route->timeouts.request_total;

  // 6b. Fail closed: a route is served only while its record can be kept. From here on a
  //     strict route's refusals are made durable before they are sent (reply_error).
  resolve_durability(x);
  if (auto v = require_audit(x)) co_return co_await reply_violation(x, *v, !x.body_consumed);

  // 7. The route's access rule: is an agent needed here at all?
  if (auto v = require_agent(x)) co_return co_await reply_violation(x, *v);

  // 7b. The route's protocol decides which methods exist at all, before any body is read.
  if (auto v = check_protocol_method(x)) co_return co_await reply_violation(x, *v, !x.body_consumed);

  // 8. Body limit from the declared length, before any 100 Continue invites the body.
  if (x.content_length && *x.content_length > x.route->max_body_bytes) {
    co_return co_await reply_error(x, ErrorCode::payload_too_large, "request body over the route's limit", true);
  }

  // 9. The scope: the token is verified before any body is read, so an unauthorised caller
  //    costs a header's worth of work.
  if (auto v = verify_scope(x)) co_return co_await reply_violation(x, *v);

  // 10. MCP/A2A: the JSON-RPC body names the action, so it is read whole (bounded) first.
  if (needs_body(x) && x.has_body) {
    if (auto v = co_await read_whole_body(x, x.route->max_inspect_bytes)) {
      co_return co_await reply_violation(x, *v, !x.body_consumed);
    }
  }

  // 11. What the request does, then whether the scope grants it.
  if (auto v = classify_action(x)) co_return co_await reply_violation(x, *v);
  resolve_durability(x);  // an MCP tool may carry its own label
  if (auto v = check_grants(x)) co_return co_await reply_violation(x, *v);

  // 12. A delegation opens the child scope (and reports it) before anything is forwarded.
  if (auto v = open_delegation(x)) co_return co_await reply_violation(x, *v);

  // 13. Stamping, after hygiene has decided what of the inbound head survives (http/head.cpp
  //     skips every Delegation-*, hop-by-hop and replaced header while writing the rest).
  stamp_delegation_headers(x);

  // 14. Strict audit: the record is durable before the upstream sees a byte (group commit).
  if (!co_await commit_before_forward(x)) {
    std::string why = "the request's audit record could not be made durable";
    if (auto* writer = x.worker.app().audit_writer()) why += " (" + writer->unavailable_reason() + ")";
    co_return co_await reply_error(x, ErrorCode::audit_unavailable, why, !x.body_consumed);
  }

  // 15. The upstream exchange and the relay back.
  co_return co_await forward(x);
}

}  // namespace

asio::awaitable<bool> serve_request(runtime::Worker& worker, const runtime::Snapshot& snapshot, http::AnyStream& client,
                                    beast::flat_buffer& buffer, const ClientInfo& info, runtime::SessionHandle& handle) {
  RequestContext x(worker, snapshot, client, buffer, info, handle);
  bool keep = co_await run_stages(x);
  // A connection that closed before a request began is not a request.
  // Most requests were reported before their last write; the rest (cut, or closed early) here.
  // (A strict record committed whole is not repeated; one committed before forwarding always
  // gets its outcome, even when the client left before anything was sent upstream.)
  if (x.status != 0 || x.forwarded || x.recorded == RequestContext::Recorded::before_forward) report(x);
  co_return keep;
}

}  // namespace scopegate::pipeline
