#include "pipeline/endpoints.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <limits>
#include <random>

#include "clock/steady.hpp"
#include "log/log.hpp"
#include "pipeline/request_end.hpp"
#include "runtime/gateway_metrics.hpp"
#include "runtime/services.hpp"
#include "upstream/balancer.hpp"
#include "upstream/retry.hpp"

namespace scopegate::pipeline {

using http::ErrorCode;

using clock::steady_ns;

namespace {

// Random draws for the balancer, the backoff and the jitter of an open time: any 64 bits, per worker thread.
std::uint64_t draw() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return random();
}

// `tool`: the breaker is that tool's (per: tool); else the endpoint's.
void report(runtime::Services& app, const config::Route& route, const runtime::Endpoint* endpoint,
            const runtime::ToolBreaker* tool, std::uint16_t route_label, const breaker::Transition& t) {
  audit::BreakerFacts facts;
  facts.route = route.name;
  if (tool) facts.tool = tool->tool.empty() ? std::string_view("other") : std::string_view(tool->tool);
  else if (endpoint) facts.endpoint = endpoint->label;
  facts.from = breaker::to_string(t.from);
  facts.to = breaker::to_string(t.to);
  facts.cause = t.cause;
  app.sink().breaker_transition(facts);
  runtime::record_breaker_transition(route_label, static_cast<int>(t.to));
}

// What an attempt, or a whole request, came to, as a breaker sees it.
struct Outcome {
  std::optional<ErrorCode> reason;  // the gateway's error, if it answered itself
  bool forwarded = false;
  std::string_view cut;             // "upstream_cut" when the upstream cut its response
  unsigned status = 0;
  protocol::McpOutcome answer = protocol::McpOutcome::unknown;
  bool reading_answer = false;      // the answer was being read (a breaker counts what it says)
  bool timeout_not_theirs = false;  // a timeout of a retry cut short by time earlier attempts spent
};

// Whose breaker an outcome is weighed for. An endpoint's counts what says the server failed, and on
// a route whose breakers are per endpoint also what its tools answered; a tool's counts what that
// call met (its timeout, its 5xx, its answer) but not a connection that failed, which is the
// server's, not the tool's: a dead endpoint must not open the breaker of every tool called on it.
enum class Weighed { endpoint, endpoint_with_answers, tool };

// Did the upstream fail, by the route's own definition of failure? nullopt: it was never asked
// (refused or abandoned before forwarding), or what ended it was not the upstream's doing, so the
// request says nothing about it.
std::optional<bool> upstream_failed(const config::Breaker& b, const Outcome& o, Weighed weighed) {
  bool answers = weighed != Weighed::endpoint;
  if (o.reason) {
    switch (*o.reason) {
      case ErrorCode::upstream_unavailable:
        return weighed == Weighed::tool ? std::nullopt : std::optional<bool>(b.on_connect);
      // A retry whose time was cut short by what earlier attempts spent (request_total) did not get
      // the endpoint's fair share of it: its timeout is not held against that endpoint. A first
      // attempt had the request's whole time, and its timeout counts.
      case ErrorCode::upstream_timeout:
        return o.timeout_not_theirs ? std::nullopt : std::optional<bool>(b.on_timeout);
      case ErrorCode::upstream_protocol_error: return b.on_protocol;
      // The client's doing (a body too slow, too large or broken), even after forwarding began:
      // nothing learnt about the upstream.
      case ErrorCode::bad_request:
      case ErrorCode::payload_too_large:
      case ErrorCode::request_timeout: return std::nullopt;
      // Refused by the route's concurrency limit, full or out of patience: the upstream never saw
      // it (a breaker that counted these would open on a busy route, not a failing one).
      case ErrorCode::overloaded: return std::nullopt;
      default: break;
    }
  }
  if (!o.forwarded) return std::nullopt;
  if (o.cut == "upstream_cut") return b.on_reset;
  // The client left before the answer could be read: nothing is known of it, neither way.
  if (answers && o.reading_answer && o.answer == protocol::McpOutcome::unknown && o.cut == "client_cut") {
    return std::nullopt;
  }
  if (o.status >= 500 && o.status <= 599 && b.on_5xx) return true;
  // An MCP server that answers is working: its errors count only where the route says so.
  if (answers && o.answer == protocol::McpOutcome::jsonrpc_error && b.on_jsonrpc_error) return true;
  if (answers && o.answer == protocol::McpOutcome::tool_error && b.on_tool_error) return true;
  return std::find(b.statuses.begin(), b.statuses.end(), o.status) != b.statuses.end();
}

// How an endpoint's breaker weighs an outcome: on a route whose breakers are per tool, the tools'
// breakers count the answers, and an endpoint's only what says the server itself is failing.
Weighed endpoint_weighing(const config::Breaker& b) {
  return b.per == config::Breaker::Per::endpoint ? Weighed::endpoint_with_answers : Weighed::endpoint;
}

std::uint64_t bit(std::size_t index) { return std::uint64_t{1} << index; }

const config::Route& serving(const RequestContext& x) { return x.serving_route ? *x.serving_route : *x.route; }

// Nanoseconds left before the request's total deadline; the most there is when it has none.
std::int64_t deadline_left_ns(const RequestContext& x) {
  if (x.deadline == Clock::time_point::max()) return std::numeric_limits<std::int64_t>::max();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(x.deadline - Clock::now()).count();
}

// Chooses an endpoint of the serving route not yet tried whose breaker admits the request, and
// enters it. false: none does; `retry_after_ns` is then the soonest one will.
bool enter_endpoint(RequestContext& x, std::int64_t& retry_after_ns) {
  const auto& route = serving(x);
  std::size_t index = x.snapshot.route_index(route);
  const auto& route_upstreams = x.snapshot.upstreams[index];
  const auto& endpoints = route_upstreams.endpoints;
  const auto& settings = x.snapshot.breaker_settings[index];
  bool breakers = route_upstreams.has_breaker;
  std::int64_t now = breakers ? steady_ns() : 0;
  retry_after_ns = std::numeric_limits<std::int64_t>::max();
  std::uint64_t excluded = x.endpoints_tried;
  std::array<upstream::Candidate, 64> candidates;
  std::array<std::uint8_t, 64> which;
  for (;;) {
    std::size_t n = 0;
    for (std::size_t e = 0; e < endpoints.size(); ++e) {
      if (excluded & bit(e)) continue;
      const auto& state = *endpoints[e].state;
      if (std::int64_t wait = breakers ? state.breaker.wait_ns(settings, now) : 0; wait > 0) {
        retry_after_ns = std::min(retry_after_ns, wait);
        continue;
      }
      candidates[n] = {state.outstanding.load(std::memory_order_relaxed), endpoints[e].upstream->weight};
      which[n++] = static_cast<std::uint8_t>(e);
    }
    if (n == 0) return false;
    std::size_t chosen = n == 1 ? which[0] : which[upstream::choose_endpoint({candidates.data(), n}, draw(), draw())];
    const auto& endpoint = endpoints[chosen];
    if (breakers) {
      auto admission = endpoint.state->breaker.admit(settings, now);
      if (auto t = endpoint.state->breaker.take_pending()) {
        report(x.worker.app(), route, &endpoint, nullptr, x.snapshot.metric_labels.routes[index], *t);
      }
      if (!admission.allowed) {  // another worker took the last probe slot meanwhile
        retry_after_ns = std::min(retry_after_ns, std::max<std::int64_t>(admission.retry_after_ns, 1));
        excluded |= bit(chosen);
        continue;
      }
      x.breaker = &endpoint.state->breaker;
      x.breaker_probe = admission.probe;
    }
    x.endpoint = x.last_endpoint = &endpoint;
    x.endpoints_tried |= bit(chosen);
    endpoint.state->outstanding.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
}

// A breaker that counts what an MCP server answers reads the answer as it is relayed: only for a
// JSON-RPC request (a POST that expects a response), whose answer ends. A session's event stream
// (GET) or a notification is decided by its head, as on any route.
void watch_mcp_outcome(RequestContext& x) {
  const auto& route = serving(x);
  bool request = x.route->kind == config::RouteKind::mcp && route.kind == config::RouteKind::mcp &&
                 x.method == bhttp::verb::post && !x.mcp_method.empty() && !x.mcp_method.starts_with("notifications/");
  bool counts = false;
  if (request && x.tool_breaker) counts = x.route->breaker->on_jsonrpc_error || x.route->breaker->on_tool_error;
  if (request && x.breaker && endpoint_weighing(*route.breaker) == Weighed::endpoint_with_answers) {
    counts = counts || route.breaker->on_jsonrpc_error || route.breaker->on_tool_error;
  }
  x.reads_mcp_outcome = counts;
}

// Gives back the fallback route's concurrency slot, if the request holds one.
void leave_fallback_slot(RequestContext& x) {
  if (!x.fallback_limiter) return;
  if (x.fallback_gauge) x.fallback_gauge->value.fetch_sub(1, std::memory_order_relaxed);
  x.fallback_limiter->release();
  x.fallback_limiter = nullptr;
  x.fallback_gauge = nullptr;
}

// The route's own endpoints are unavailable: its fallback route's serve it, when it has one, its
// concurrency limit has a slot free (no waiting: the request has waited enough), and one of its
// endpoints admits it (docs/resilience.md, "Graceful degradation").
bool enter_fallback(RequestContext& x) {
  const config::Route* fallback = x.snapshot.upstreams[x.snapshot.route_index(*x.route)].fallback;
  if (x.serving_route || !fallback) return false;
  std::size_t index = x.snapshot.route_index(*fallback);
  auto* limiter = index < x.snapshot.limiters.size() ? x.snapshot.limiters[index].get() : nullptr;
  if (limiter && !limiter->try_acquire()) {
    log::debug("the fallback route is at its concurrency limit", {{"route", x.route->name}, {"fallback", fallback->name}});
    return false;
  }
  x.serving_route = fallback;
  x.endpoints_tried = 0;
  std::int64_t unused = 0;
  if (!enter_endpoint(x, unused)) {
    x.serving_route = nullptr;  // the fallback could not take it either: the record names no fallback
    if (limiter) limiter->release();
    return false;
  }
  if (limiter) {
    x.fallback_limiter = limiter;
    x.fallback_gauge = index < x.snapshot.upstream_inflight.size() ? x.snapshot.upstream_inflight[index] : nullptr;
    if (x.fallback_gauge) x.fallback_gauge->value.fetch_add(1, std::memory_order_relaxed);
  }
  watch_mcp_outcome(x);
  log::debug("serving from the fallback route", {{"route", x.route->name}, {"fallback", fallback->name}});
  return true;
}

// A breaker admitted the request but never learns how it went (it went elsewhere, or nowhere): a
// probe's slot goes to the next request.
void forget(breaker::Breaker*& b, bool& probe) {
  if (b && probe) b->abandon_probe();
  b = nullptr;
  probe = false;
}

// The request leaves its endpoint: no longer outstanding there, and its retry slot (if it held one)
// goes back to the budget.
void exit_endpoint(RequestContext& x) {
  if (x.endpoint) {
    x.endpoint->state->outstanding.fetch_sub(1, std::memory_order_relaxed);
    x.endpoint = nullptr;
  }
  if (x.retry_held) {
    x.retry_held->end_retry();
    x.retry_held = nullptr;
  }
}

bool idempotent(bhttp::verb method) {
  switch (method) {
    case bhttp::verb::get:
    case bhttp::verb::head:
    case bhttp::verb::options:
    case bhttp::verb::trace:
    case bhttp::verb::put:
    case bhttp::verb::delete_: return true;
    default: return false;
  }
}

}  // namespace

Verdict choose_endpoint(RequestContext& x) {
  std::size_t index = x.snapshot.route_index(*x.route);
  const auto& route_upstreams = x.snapshot.upstreams[index];
  if (route_upstreams.endpoints.empty()) return Verdict::next();  // answered by the gateway itself
  std::int64_t retry_after_ns = 0;
  // A tool call on a route with breakers per tool: the tool's breaker decides first, then an
  // endpoint is chosen among those whose own breaker admits the request.
  const runtime::ToolBreaker* tool = x.operation == "execute_tool" ? route_upstreams.tool_breaker(x.tool) : nullptr;
  bool tool_open = false;
  if (tool) {
    auto admission = tool->breaker->admit(x.snapshot.breaker_settings[index], steady_ns());
    if (auto t = tool->breaker->take_pending()) {
      report(x.worker.app(), *x.route, nullptr, tool, x.snapshot.metric_labels.routes[index], *t);
    }
    if (admission.allowed) {
      x.tool_breaker = tool;
      x.tool_probe = admission.probe;
    } else {
      tool_open = true;
      retry_after_ns = admission.retry_after_ns;
    }
  }
  bool entered = !tool_open && enter_endpoint(x, retry_after_ns);
  if (!entered) {
    // Not tried on this route: the tool's breaker learns nothing from it.
    if (x.tool_breaker && x.tool_probe) x.tool_breaker->breaker->abandon_probe();
    x.tool_breaker = nullptr;
    x.tool_probe = false;
  }
  if (!entered && !enter_fallback(x)) {
    x.retry_after_s = std::max<std::int64_t>(1, (retry_after_ns + 999'999'999) / 1'000'000'000);
    std::string which = tool_open ? (tool->tool.empty() ? "the circuit breaker of its undeclared tools (" + x.tool + " among them)"
                                                        : "the circuit breaker of tool " + x.tool) +
                                        " is open and the tool is not called"
                        : route_upstreams.endpoints.size() == 1 ? "its circuit breaker is open and nothing is sent to its upstream"
                                                                : "the circuit breakers of all its endpoints are open and nothing is sent to them";
    return http::Violation{ErrorCode::breaker_open, "route " + x.route->name + " is failing: " + which +
                                                        "; retry in " + std::to_string(x.retry_after_s) + " s"};
  }
  if (entered) watch_mcp_outcome(x);
  x.active_in = route_upstreams.retry_budget.get();
  x.active_in->begin_request();
  return Verdict::next();
}

std::optional<std::int64_t> prepare_retry(RequestContext& x, ErrorCode code, RetryReason reason) {
  const auto& route = serving(x);
  std::size_t index = x.snapshot.route_index(route);
  const auto& route_upstreams = x.snapshot.upstreams[index];
  Outcome attempt{code, true, {}, 0, protocol::McpOutcome::unknown, false, x.retries > 0 && x.phase_cut_short};
  // The failed attempt is over for its endpoint, whatever comes next: its breaker learns of it now
  // (the request's end reports only its last attempt).
  if (x.breaker) {
    if (auto failed = upstream_failed(*route.breaker, attempt, Weighed::endpoint)) {
      auto t = x.breaker->record(x.snapshot.breaker_settings[index], *failed, x.breaker_probe, steady_ns(), draw());
      if (t) report(x.worker.app(), route, x.endpoint, nullptr, x.snapshot.metric_labels.routes[index], *t);
      x.breaker = nullptr;
      x.breaker_probe = false;
    } else {
      forget(x.breaker, x.breaker_probe);
    }
  }
  const runtime::Endpoint* failed_endpoint = x.endpoint;
  exit_endpoint(x);

  bool safe = reason == RetryReason::connect || (idempotent(x.method) && !x.has_body);
  if (!safe) return std::nullopt;
  // Retries stay within the route's own limits and the request's own deadline: a wait that would
  // outlast it, or an attempt with no time left, would only turn the failure into a timeout (and
  // charge it to the next endpoint).
  const auto& own = *x.route;
  auto ns = [](config::Duration d) { return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(); };
  std::int64_t wait = upstream::backoff_ns(x.retries + 1, ns(own.retries.backoff), ns(own.retries.max_backoff), draw());
  if (wait >= deadline_left_ns(x)) return std::nullopt;
  auto& budget = *route_upstreams.retry_budget;
  std::int64_t unused = 0;
  bool retried = false;
  if (x.retries < own.retries.max && budget.try_begin_retry(own.retries.budget, own.retries.min_retries)) {
    if (enter_endpoint(x, unused)) {
      x.retry_held = &budget;
      retried = true;
    } else {
      budget.end_retry();
    }
  }
  if (!retried) {
    if (x.serving_route || !x.snapshot.upstreams[x.snapshot.route_index(*x.route)].fallback) return std::nullopt;
    // The route's own endpoints failed the call: its tool's breaker hears it before the fallback
    // serves it (what the fallback does is not the tool's doing).
    if (x.tool_breaker) {
      std::size_t own_index = x.snapshot.route_index(own);
      if (auto failed = upstream_failed(*own.breaker, attempt, Weighed::tool)) {
        auto t = x.tool_breaker->breaker->record(x.snapshot.breaker_settings[own_index], *failed, x.tool_probe,
                                                 steady_ns(), draw());
        if (t) report(x.worker.app(), own, nullptr, x.tool_breaker, x.snapshot.metric_labels.routes[own_index], *t);
      } else if (x.tool_probe) {
        x.tool_breaker->breaker->abandon_probe();
      }
      x.tool_breaker = nullptr;
      x.tool_probe = false;
    }
    if (!enter_fallback(x)) return std::nullopt;
    wait = 0;  // another route's endpoints: nothing to back off from
  }
  ++x.retries;
  runtime::record_retry(x.snapshot.metric_labels.routes[x.snapshot.route_index(own)],
                        reason == RetryReason::connect ? 0 : 1);
  log::debug("retrying on another endpoint", {{"route", own.name},
                                              {"from", failed_endpoint ? failed_endpoint->label : std::string()},
                                              {"to", x.endpoint->label},
                                              {"reason", reason == RetryReason::connect ? "connect" : "reset"}});
  return wait;
}

void decide_probe_on_head(RequestContext& x) {
  if (x.reads_mcp_outcome) return;  // what the server answered shows in the body: decided when it ends
  auto fails = [&](const config::Breaker& b) {
    return (x.status >= 500 && x.status <= 599 && b.on_5xx) ||
           std::find(b.statuses.begin(), b.statuses.end(), x.status) != b.statuses.end();
  };
  const auto& route = serving(x);
  if (x.breaker && x.breaker_probe && x.endpoint && !fails(*route.breaker)) {
    std::size_t index = x.snapshot.route_index(route);
    auto t = x.breaker->record(x.snapshot.breaker_settings[index], false, true, steady_ns(), draw());
    x.breaker_probe = false;
    if (t) report(x.worker.app(), route, x.endpoint, nullptr, x.snapshot.metric_labels.routes[index], *t);
  }
  if (x.tool_breaker && x.tool_probe && !fails(*x.route->breaker)) {
    std::size_t index = x.snapshot.route_index(*x.route);
    auto t = x.tool_breaker->breaker->record(x.snapshot.breaker_settings[index], false, true, steady_ns(), draw());
    x.tool_probe = false;
    if (t) report(x.worker.app(), *x.route, nullptr, x.tool_breaker, x.snapshot.metric_labels.routes[index], *t);
  }
}

void leave_upstream(RequestContext& x) {
  exit_endpoint(x);
  leave_fallback_slot(x);
}

void leave_endpoint(RequestContext& x) {
  if (!x.ended) {
    forget(x.breaker, x.breaker_probe);
    if (x.tool_breaker && x.tool_probe) x.tool_breaker->breaker->abandon_probe();
    x.tool_probe = false;
  }
  exit_endpoint(x);
  leave_fallback_slot(x);
  if (x.active_in) {
    x.active_in->end_request();
    x.active_in = nullptr;
  }
}

void record_breaker(runtime::Services& app, const RequestSummary& summary) {
  const auto& f = summary.facts;
  Outcome outcome{summary.reason, summary.metrics.forwarded, f.outcome, f.status, summary.mcp_outcome,
                  summary.reading_answer, summary.timeout_not_theirs};
  if (summary.breaker && summary.breaker_route && summary.endpoint) {
    const config::Route& route = *summary.breaker_route;
    auto failed = upstream_failed(*route.breaker, outcome, endpoint_weighing(*route.breaker));
    if (!failed) {
      // Never reached the upstream: it decides nothing, and a probe's slot goes to the next request.
      if (summary.breaker_probe) summary.breaker->abandon_probe();
    } else if (auto t = summary.breaker->record(*summary.breaker_settings, *failed, summary.breaker_probe, steady_ns(),
                                                draw())) {
      report(app, route, summary.endpoint, nullptr, summary.breaker_route_label, *t);
    }
  }
  if (summary.tool_breaker && summary.route) {
    const config::Route& route = *summary.route;  // a tool's breaker is its own route's
    auto failed = upstream_failed(*route.breaker, outcome, Weighed::tool);
    if (!failed) {
      if (summary.tool_probe) summary.tool_breaker->breaker->abandon_probe();
    } else if (auto t = summary.tool_breaker->breaker->record(*summary.tool_settings, *failed, summary.tool_probe,
                                                              steady_ns(), draw())) {
      report(app, route, nullptr, summary.tool_breaker, summary.metrics.route, *t);
    }
  }
}

}  // namespace scopegate::pipeline
