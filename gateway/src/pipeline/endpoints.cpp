#include "pipeline/endpoints.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <limits>
#include <random>

#include "log/log.hpp"
#include "pipeline/request_end.hpp"
#include "runtime/gateway_metrics.hpp"
#include "runtime/services.hpp"
#include "upstream/balancer.hpp"
#include "upstream/retry.hpp"

namespace scopegate::pipeline {

using http::ErrorCode;

namespace {

// While half-open with every probe slot taken, a caller is told to come back after this long.
constexpr std::int64_t kProbeBusyRetryNs = 1'000'000'000;

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// Random draws for the balancer, the backoff and the jitter of an open time: any 64 bits, per worker thread.
std::uint64_t draw() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return random();
}

void report(runtime::Services& app, const config::Route& route, const runtime::Endpoint& endpoint,
            std::uint16_t route_label, const breaker::Transition& t) {
  app.sink().breaker_transition(route.name, endpoint.label, breaker::to_string(t.from), breaker::to_string(t.to),
                                t.cause);
  runtime::record_breaker_transition(route_label, static_cast<int>(t.to));
}

// Did the upstream fail, by the route's own definition of failure? nullopt: it was never asked
// (refused or abandoned before forwarding), so the request says nothing about it.
std::optional<bool> upstream_failed(const config::Breaker& b, std::optional<ErrorCode> reason, bool forwarded,
                                    std::string_view outcome, unsigned status) {
  if (reason) {
    switch (*reason) {
      case ErrorCode::upstream_unavailable: return b.on_connect;
      case ErrorCode::upstream_timeout: return b.on_timeout;
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
  if (!forwarded) return std::nullopt;
  if (outcome == "upstream_cut") return b.on_reset;
  if (status >= 500 && status <= 599 && b.on_5xx) return true;
  return std::find(b.statuses.begin(), b.statuses.end(), status) != b.statuses.end();
}

std::uint64_t bit(std::size_t index) { return std::uint64_t{1} << index; }

const config::Route& serving(const RequestContext& x) { return x.serving_route ? *x.serving_route : *x.route; }

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
      if (breakers && !state.breaker.may_admit(settings, now)) {
        std::int64_t wait = state.breaker.state() == breaker::State::open ? state.breaker.open_until_ns() - now
                                                                            : kProbeBusyRetryNs;
        retry_after_ns = std::min(retry_after_ns, std::max<std::int64_t>(wait, 1));
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
        report(x.worker.app(), route, endpoint, x.snapshot.metric_labels.routes[index], *t);
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

// The route's own endpoints are unavailable: its fallback route's serve it, when it has one and one
// of them admits it (docs/resilience.md, "Graceful degradation").
bool enter_fallback(RequestContext& x) {
  const config::Route* fallback = x.snapshot.upstreams[x.snapshot.route_index(*x.route)].fallback;
  if (x.serving_route || !fallback) return false;
  x.serving_route = fallback;
  x.endpoints_tried = 0;
  std::int64_t unused = 0;
  if (enter_endpoint(x, unused)) {
    log::debug("serving from the fallback route", {{"route", x.route->name}, {"fallback", fallback->name}});
    return true;
  }
  return false;
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
  if (!enter_endpoint(x, retry_after_ns) && !enter_fallback(x)) {
    x.retry_after_s = std::max<std::int64_t>(1, (retry_after_ns + 999'999'999) / 1'000'000'000);
    std::string which = route_upstreams.endpoints.size() == 1 ? "its circuit breaker is open and nothing is sent to its upstream"
                                                             : "the circuit breakers of all its endpoints are open and nothing is sent to them";
    return http::Violation{ErrorCode::breaker_open, "route " + x.route->name + " is failing: " + which +
                                                        "; retry in " + std::to_string(x.retry_after_s) + " s"};
  }
  x.active_in = route_upstreams.retry_budget.get();
  x.active_in->begin_request();
  return Verdict::next();
}

std::optional<std::int64_t> prepare_retry(RequestContext& x, ErrorCode code, RetryReason reason) {
  const auto& route = serving(x);
  std::size_t index = x.snapshot.route_index(route);
  const auto& route_upstreams = x.snapshot.upstreams[index];
  // The failed attempt is over for its endpoint, whatever comes next: its breaker learns of it now
  // (the request's end reports only its last attempt).
  if (x.breaker && x.endpoint) {
    if (auto failed = upstream_failed(*route.breaker, code, true, {}, 0)) {
      auto t = x.breaker->record(x.snapshot.breaker_settings[index], *failed, x.breaker_probe, steady_ns(), draw());
      if (t) report(x.worker.app(), route, *x.endpoint, x.snapshot.metric_labels.routes[index], *t);
    } else if (x.breaker_probe) {
      x.breaker->abandon_probe();
    }
  }
  x.breaker = nullptr;
  x.breaker_probe = false;
  const runtime::Endpoint* failed_endpoint = x.endpoint;
  exit_endpoint(x);

  bool safe = reason == RetryReason::connect || (idempotent(x.method) && !x.has_body);
  if (!safe) return std::nullopt;
  // Retries stay within the route's own limits; what the fallback route then serves is not a retry
  // of it but the degradation the route asked for.
  const auto& own = *x.route;
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
  if (!retried && !enter_fallback(x)) return std::nullopt;
  ++x.retries;
  runtime::record_retry(x.snapshot.metric_labels.routes[x.snapshot.route_index(*x.route)],
                        reason == RetryReason::connect ? 0 : 1);
  log::debug("retrying on another endpoint", {{"route", x.route->name},
                                              {"from", failed_endpoint ? failed_endpoint->label : std::string()},
                                              {"to", x.endpoint->label},
                                              {"reason", reason == RetryReason::connect ? "connect" : "reset"}});
  auto ns = [](config::Duration d) { return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(); };
  return upstream::backoff_ns(x.retries, ns(own.retries.backoff), ns(own.retries.max_backoff), draw());
}

void decide_probe_on_head(RequestContext& x) {
  if (!x.breaker || !x.breaker_probe || !x.endpoint) return;
  const auto& route = serving(x);
  const config::Breaker& b = *route.breaker;
  bool failed = (x.status >= 500 && x.status <= 599 && b.on_5xx) ||
                std::find(b.statuses.begin(), b.statuses.end(), x.status) != b.statuses.end();
  if (failed) return;  // decided when the request ends, as a failure
  std::size_t index = x.snapshot.route_index(route);
  auto t = x.breaker->record(x.snapshot.breaker_settings[index], false, true, steady_ns(), draw());
  x.breaker_probe = false;
  if (t) report(x.worker.app(), route, *x.endpoint, x.snapshot.metric_labels.routes[index], *t);
}

void leave_endpoint(RequestContext& x) {
  if (!x.ended && x.breaker && x.breaker_probe) {
    x.breaker->abandon_probe();
    x.breaker_probe = false;
  }
  exit_endpoint(x);
  if (x.active_in) {
    x.active_in->end_request();
    x.active_in = nullptr;
  }
}

void record_breaker(runtime::Services& app, const RequestSummary& summary) {
  if (!summary.breaker || !summary.endpoint || !summary.breaker_route) return;
  const config::Route& route = *summary.breaker_route;
  const auto& f = summary.facts;
  auto failed = upstream_failed(*route.breaker, summary.reason, summary.metrics.forwarded, f.outcome, f.status);
  if (!failed) {
    // Never reached the upstream: it decides nothing, and a probe's slot goes to the next request.
    if (summary.breaker_probe) summary.breaker->abandon_probe();
    return;
  }
  auto transition = summary.breaker->record(*summary.breaker_settings, *failed, summary.breaker_probe, steady_ns(),
                                            draw());
  if (transition) report(app, route, *summary.endpoint, summary.breaker_route_label, *transition);
}

}  // namespace scopegate::pipeline
