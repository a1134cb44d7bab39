#include "pipeline/breakers.hpp"

#include <algorithm>
#include <chrono>
#include <random>

#include "pipeline/request_end.hpp"
#include "runtime/gateway_metrics.hpp"
#include "runtime/services.hpp"

namespace scopegate::pipeline {

using http::ErrorCode;

namespace {

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// The jitter of an open time: any 64 bits, drawn per worker thread.
std::uint64_t draw() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return random();
}

void report(runtime::Services& app, const config::Route& route, std::uint16_t route_label,
            const breaker::Transition& t) {
  app.sink().breaker_transition(route.name, route.upstream.url, breaker::to_string(t.from),
                                breaker::to_string(t.to), t.cause);
  runtime::record_breaker_transition(route_label, static_cast<int>(t.to));
}

// Did the upstream fail, by the route's own definition of failure? nullopt: it was never asked
// (refused or abandoned before forwarding), so the request says nothing about it.
std::optional<bool> upstream_failed(const config::Breaker& b, const RequestSummary& s) {
  if (s.reason) {
    switch (*s.reason) {
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
  if (!s.metrics.forwarded) return std::nullopt;
  if (s.facts.outcome == "upstream_cut") return b.on_reset;
  unsigned status = s.facts.status;
  if (status >= 500 && status <= 599 && b.on_5xx) return true;
  for (unsigned code : b.statuses) {
    if (code == status) return true;
  }
  return false;
}

}  // namespace

Verdict admit_to_upstream(RequestContext& x) {
  std::size_t index = x.snapshot.route_index(*x.route);
  breaker::Breaker* b = index < x.snapshot.breakers.size() ? x.snapshot.breakers[index].get() : nullptr;
  if (!b) return Verdict::next();
  const auto& settings = x.snapshot.breaker_settings[index];
  auto admission = b->admit(settings, steady_ns());
  if (auto t = b->take_pending()) {
    report(x.worker.app(), *x.route, x.snapshot.metric_labels.routes[index], *t);
  }
  if (admission.allowed) {
    x.breaker = b;
    x.breaker_probe = admission.probe;
    return Verdict::next();
  }
  x.retry_after_s = std::max<std::int64_t>(1, (admission.retry_after_ns + 999'999'999) / 1'000'000'000);
  return http::Violation{ErrorCode::breaker_open,
                         "route " + x.route->name + " is failing: its circuit breaker is open and nothing is sent to " +
                             "its upstream; retry in " + std::to_string(x.retry_after_s) + " s"};
}

void decide_probe_on_head(RequestContext& x) {
  if (!x.breaker || !x.breaker_probe) return;
  const config::Breaker& b = *x.route->breaker;
  bool failed = (x.status >= 500 && x.status <= 599 && b.on_5xx) ||
                std::find(b.statuses.begin(), b.statuses.end(), x.status) != b.statuses.end();
  if (failed) return;  // decided when the request ends, as a failure
  std::size_t index = x.snapshot.route_index(*x.route);
  auto t = x.breaker->record(x.snapshot.breaker_settings[index], false, true, steady_ns(), draw());
  x.breaker_probe = false;
  if (t) report(x.worker.app(), *x.route, x.snapshot.metric_labels.routes[index], *t);
}

void abandon_breaker_probe(RequestContext& x) {
  if (x.ended || !x.breaker || !x.breaker_probe) return;
  x.breaker->abandon_probe();
  x.breaker_probe = false;
}

void record_breaker(runtime::Services& app, const RequestSummary& summary) {
  if (!summary.breaker) return;
  const config::Route& route = *summary.route;
  const auto& config = *route.breaker;
  auto failed = upstream_failed(config, summary);
  if (!failed) {
    // Never reached the upstream: it decides nothing, and a probe's slot goes to the next request.
    if (summary.breaker_probe) summary.breaker->abandon_probe();
    return;
  }
  auto transition = summary.breaker->record(*summary.breaker_settings, *failed, summary.breaker_probe, steady_ns(),
                                            draw());
  if (transition) report(app, route, summary.metrics.route, *transition);
}

}  // namespace scopegate::pipeline
