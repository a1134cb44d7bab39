#include "pipeline/stages.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/read.hpp>

#include "http/use_tuple.hpp"
#include "runtime/services.hpp"
#include "http/errors.hpp"
#include "http/hygiene.hpp"
#include "http/request_id.hpp"
#include "pipeline/audit_stages.hpp"
#include "pipeline/authentication.hpp"
#include "pipeline/classification.hpp"
#include "pipeline/concurrency.hpp"
#include "pipeline/delegate.hpp"
#include "pipeline/endpoints.hpp"
#include "pipeline/guards.hpp"
#include "pipeline/plans.hpp"
#include "pipeline/policies.hpp"
#include "pipeline/reply.hpp"
#include "pipeline/request_end.hpp"
#include "pipeline/scopes_endpoint.hpp"
#include "pipeline/stamping.hpp"
#include "pipeline/upstream_exchange.hpp"
#include "pipeline/verification.hpp"
#include "router/router.hpp"
#include "runtime/gateway_metrics.hpp"

namespace scopegate::pipeline {

namespace asio = boost::asio;
namespace beast = boost::beast;
using http::ErrorCode;

namespace {

using http::use_tuple;

std::atomic<std::int64_t>& inflight() {
  static auto& cell = runtime::GatewayMetrics::instance()
                          .registry()
                          .value(metrics::Family::inflight_requests, metrics::kOtherKey)
                          .value;
  return cell;
}

Verdict refuse_and_close(ErrorCode code, std::string message) {
  return Verdict::refuse(code, std::move(message), AfterRefusal::close);
}

// The header, read under one absolute deadline: a slow client cannot hold the slot forever.
asio::awaitable<Verdict> read_request_header(RequestContext& x) {
  const auto& cfg = x.snapshot.config;
  x.parser.header_limit(static_cast<std::uint32_t>(cfg.limits.max_header_bytes));
  x.parser.body_limit(boost::none);  // enforced per route once the route is known
  x.client.expires_after(cfg.timeouts.client_header);
  auto [ec, n] = co_await bhttp::async_read_header(x.client, x.client_buffer, x.parser, use_tuple);
  if (!ec) co_return Verdict::next();
  x.client_keep_alive = false;
  x.request_id = http::make_uuid_v7();  // even a request that never parsed gets an id to quote
  if (ec == bhttp::error::header_limit) {
    co_return refuse_and_close(ErrorCode::headers_too_large, "request header over limits.max_header_bytes");
  }
  if (x.client.timed_out()) {
    co_return refuse_and_close(ErrorCode::request_timeout, "the request header did not arrive in time");
  }
  if (is_disconnect(ec)) co_return Verdict::hang_up();
  co_return refuse_and_close(ErrorCode::bad_request, "malformed request: " + ec.message());
}

// Facts from the request as sent, before any stage rewrites it.
Verdict take_request_facts(RequestContext& x) {
  auto& req = x.parser.get();
  inflight().fetch_add(1, std::memory_order_relaxed);  // a request from here on: its header arrived
  x.counted_inflight = true;  // until serve_request returns (or unwinds)
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
  return Verdict::next();
}

// Framing, limits, target and spoofing: checks that need only the request header, ordered cheapest
// and most fundamental first: framing decides whether the byte stream can be trusted at all, so it
// comes before anything else. Every refusal here closes the connection: after bad framing the
// gateway cannot know where the next request starts.
Verdict inspect_request(RequestContext& x) {
  auto& req = x.parser.get();
  if (auto v = http::check_request_framing(req)) return Verdict::close(std::move(*v));
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
  if (watch.failed()) return refuse_and_close(ErrorCode::bad_request, "request framing: " + watch.error().message());
  const auto& limits = x.snapshot.config.limits;
  if (static_cast<std::size_t>(std::distance(req.begin(), req.end())) > limits.max_header_count) {
    return refuse_and_close(ErrorCode::headers_too_large,
                            "more than " + std::to_string(limits.max_header_count) + " header fields");
  }
  if (req.method() == bhttp::verb::connect) {
    return refuse_and_close(ErrorCode::not_implemented, "CONNECT is not supported");
  }
  if (auto v = http::check_request_target(req.target())) return Verdict::close(std::move(*v));
  // One path for routing and forwarding: normalised here and written back into the request, so
  // every later stage reads it (router::resolve_target explains the order of route and rules).
  auto resolved = router::resolve_target(x.snapshot.router, x.snapshot.config.paths, x.host, req.method_string(),
                                         req.target());
  if (!resolved.refusal.empty()) return refuse_and_close(ErrorCode::bad_request, std::move(resolved.refusal));
  if (!resolved.target.empty()) req.target(resolved.target);
  if (auto v = http::find_spoofed_header(req)) return Verdict::close(std::move(*v));
  if (auto upgrade = req[bhttp::field::upgrade]; !upgrade.empty() && !http::iequals_ascii(upgrade, "h2c")) {
    // h2c may be ignored (RFC 9113 §3.1): the request then proceeds as HTTP/1.1. Anything else,
    // WebSocket included, would need a tunnel the gateway does not build: refused, documented.
    return refuse_and_close(ErrorCode::not_implemented, "protocol upgrade is not supported");
  }
  return Verdict::next();
}

bool is_scopes_endpoint(RequestContext& x) {
  std::string_view target = x.parser.get().target();
  return target.substr(0, target.find('?')) == kScopesPath;
}

// The gateway's own endpoint first, on any host: no config route can shadow it. Then the table:
// host without port, lower-cased; the path with the query for prefix matching.
Verdict route_request(RequestContext& x) {
  auto& req = x.parser.get();
  if (is_scopes_endpoint(x)) {
    x.route = &x.snapshot.scopes_route;
    return Verdict::next();
  }
  if (is_plans_endpoint(req.target())) {
    x.route = &x.snapshot.plans_route;
    return Verdict::next();
  }
  x.route = x.snapshot.router.match(http::host_without_port(x.host), req.method_string(), req.target());
  if (!x.route) return Verdict::refuse(ErrorCode::no_route, "no route matches this request");
  if (x.route->timeouts.request_total.count() > 0) x.deadline = x.started + x.route->timeouts.request_total;
  return Verdict::next();
}

// The declared length against the route's limit. A body the gateway will not read is left on the
// socket, so the connection closes.
Verdict check_declared_length(RequestContext& x) {
  if (x.content_length && *x.content_length > x.route->max_body_bytes) {
    return refuse_and_close(ErrorCode::payload_too_large, "request body over the route's limit");
  }
  return Verdict::next();
}

// MCP/A2A and POST /v1/scopes: the JSON body names the action, so it is read whole (bounded) first.
asio::awaitable<Verdict> read_inspected_body(RequestContext& x) {
  if (!needs_body(x) || !x.has_body) co_return Verdict::next();
  co_return co_await read_whole_body(x, x.route->max_inspect_bytes);
}

// The pipeline, in order. Each position has a reason. Every stage answers with a Verdict; a
// refusal goes through refuse() (the reply, the record) and nothing after it runs (nothing reaches
// the upstream). A refusal made before step 8 still names the caller's scope in its record when
// the credential and the one token hold (attribute_refusal, in reply_error): they are read then for
// the record only, so this order alone decides every answer.
asio::awaitable<bool> run_stages(RequestContext& x) {
  // 1. Read the header under one absolute deadline: a slow client cannot hold the slot forever.
  if (auto v = co_await read_request_header(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 2. Facts from the request as sent, before any stage rewrites it.
  if (auto v = take_request_facts(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 3. Framing, limits, target and spoofing: a violation is answered and the connection closed,
  //    because after bad framing the gateway cannot know where the next request starts.
  if (auto v = inspect_request(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 4. The agent credential, before anything else is decided: a wrong key never learns more
  //    (not even whether a route exists).
  if (auto v = authenticate(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 5. Route. POST /v1/scopes and /v1/plans are routes too (the gateway's own): they pass every
  //    stage up to the grants, so what applies to an action applies to opening a scope.
  if (auto v = route_request(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 5b. Fail closed: a route is served only while its record can be kept. From here on a
  //     strict route's refusals are made durable before they are sent (reply_error).
  if (auto v = resolve_durability(x); !v.proceeds()) co_return co_await refuse(x, v);
  if (auto v = require_audit(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 6. The route's access rule: is an agent needed here at all?
  if (auto v = require_agent(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 6b. The route's protocol decides which methods exist at all, before any body is read.
  if (auto v = check_protocol_method(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 7. Body limit from the declared length, before any 100 Continue invites the body.
  if (auto v = check_declared_length(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 8. The scope: the token is verified before any body is read, so an unauthorised caller
  //    costs a header's worth of work.
  if (auto v = verify_scope(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 9. MCP/A2A (and POST /v1/scopes): the JSON body names the action, so it is read whole
  //    (bounded) first.
  if (auto v = co_await read_inspected_body(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 10. What the request does, then whether the scope grants it. An MCP tool may carry its own
  //     durability label, so durability is resolved again once the tool is known.
  if (auto v = classify_action(x); !v.proceeds()) co_return co_await refuse(x, v);
  if (auto v = resolve_durability(x); !v.proceeds()) co_return co_await refuse(x, v);
  if (auto v = check_grants(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 10b. The access policies (docs/policies.md): what the organisation allows, over the whole
  //      delegation chain and the tool's arguments. After the grants, which still bind; before
  //      anything is minted or forwarded, POST /v1/scopes included (opening a scope is an action).
  if (auto v = check_policies(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 10b'. The plan its scope carries out (docs/plans.md): whether the action, or the delegation of a
  //       task, is what the plan says, when and by whom. After the grants and policies, which bind
  //       whatever a plan says (a plan cannot approve what they forbid); before the guards, so a
  //       deviation refused in enforce mode spends nothing.
  if (auto v = check_plan(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 10c. The guards against runaway use (docs/policies.md): rate limits, the loop guard, then the
  //      budgets of the whole chain, each after what is cheaper and refuses more broadly, so a
  //      request one of them refuses spends nothing the later ones count. Last before anything is
  //      minted or forwarded: what a budget counts is what is let through.
  if (auto v = co_await check_rate_limits(x); !v.proceeds()) co_return co_await refuse(x, v);
  if (auto v = check_loop_guard(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 10d. The endpoint, among those whose circuit breaker admits the request: while every one is
  //      failing, answer at once (503) rather than make the caller wait for a timeout; before the
  //      budgets, so a refusal spends nothing.
  if (auto v = choose_endpoint(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 10e. The route's concurrency limit: a slot to its upstream, or a short bounded wait for one,
  //      else 503 overloaded at once, so a slow tool holds only its own slots. After the breaker (an
  //      open one refuses without making anyone wait); before the budgets, a child scope and a
  //      strict record, so a refusal spends, opens and commits nothing. Held until the upstream's
  //      response has ended (the end of the stream it relays), or this function returns.
  UpstreamSlot slot;
  x.upstream_slot = &slot;
  if (auto v = co_await take_upstream_slot(x, slot); !v.proceeds()) co_return co_await refuse(x, v);
  if (auto v = co_await spend_budget(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 11. POST /v1/scopes is answered here: the gateway mints the scope instead of forwarding.
  if (x.route->kind == config::RouteKind::scopes) co_return co_await serve_open_scope(x);
  if (x.route->kind == config::RouteKind::plans) co_return co_await serve_plans(x);

  // 12. A delegation opens the child scope (and reports it) before anything is forwarded.
  if (auto v = open_delegation(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 13. Stamping, after hygiene has decided what of the inbound head survives (http/head.cpp
  //     skips every Delegation-*, hop-by-hop and replaced header while writing the rest).
  if (auto v = stamp_delegation_headers(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 14. Strict audit: the record is durable before the upstream sees a byte (group commit).
  if (auto v = co_await commit_before_forward(x); !v.proceeds()) co_return co_await refuse(x, v);

  // 15. The upstream exchange and the relay back (pipeline/upstream_exchange.cpp).
  co_return co_await forward(x);
}

}  // namespace

asio::awaitable<bool> serve_request(runtime::Worker& worker, const runtime::Snapshot& snapshot, http::AnyStream& client,
                                    beast::flat_buffer& buffer, const ClientInfo& info, runtime::SessionHandle& handle,
                                    ResponseTap tap) {
  RequestContext x(worker, snapshot, client, buffer, info, handle);
  x.response_tap = tap;
  // However the request ends, an exception included: it leaves the in-flight gauge, and a
  // request that got no record gives back the budget it reserved and its breaker probe's slot, and
  // it leaves its endpoint's count of requests in flight.
  struct RequestExit {
    RequestContext& x;
    ~RequestExit() {
      give_back_budget(x);
      leave_endpoint(x);
      if (x.counted_inflight) inflight().fetch_sub(1, std::memory_order_relaxed);
    }
  } request_exit{x};
  bool keep = co_await run_stages(x);
  // A connection that closed before a request began is not a request.
  // Most requests were reported before their last write; the rest (cut, or closed early) here.
  // (A strict record committed whole is not repeated; one committed before forwarding always
  // gets its outcome, even when the client left before anything was sent upstream.)
  if (x.status != 0 || x.forwarded || x.recorded == RequestContext::Recorded::before_forward) end_request(x);
  co_return keep;
}

}  // namespace scopegate::pipeline
