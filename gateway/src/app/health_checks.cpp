#include "app/health_checks.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <algorithm>

#include "clock/steady.hpp"
#include "http/use_tuple.hpp"
#include "log/log.hpp"
#include "runtime/gateway_metrics.hpp"

namespace scopegate::app {

namespace asio = boost::asio;
using http::use_tuple;

using clock::steady_ns;

namespace {

// Checks of many endpoints drift apart by up to this share of their interval, either way.
constexpr double kJitter = 0.1;

double unit(std::uint64_t random) { return static_cast<double>(random >> 11) * 0x1.0p-53; }  // [0, 1)

}  // namespace

std::chrono::nanoseconds jittered(std::chrono::nanoseconds interval, double share, std::uint64_t random) {
  double factor = 1.0 + share * (2.0 * unit(random) - 1.0);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(interval.count()) * factor));
}

// The checkers of one snapshot share its lifetime and one stop flag. The timers live here rather
// than in the coroutines so that stop() can wake every checker that is waiting.
struct HealthChecks::Round {
  std::shared_ptr<const runtime::Snapshot> snapshot;
  std::vector<std::unique_ptr<asio::steady_timer>> timers;  // one per checker
  bool stopped = false;                                      // on the control thread only
};

HealthChecks::HealthChecks(asio::io_context& control, runtime::Services& services)
    : control_(control), services_(services) {}

HealthChecks::~HealthChecks() { stop(); }

void HealthChecks::start(std::shared_ptr<const runtime::Snapshot> snapshot) {
  if (stopped_) return;  // a reload during the drain checks nothing
  if (current_) {
    current_->stopped = true;
    for (auto& timer : current_->timers) timer->cancel();
  }
  auto round = std::make_shared<Round>();
  round->snapshot = std::move(snapshot);
  const auto& routes = round->snapshot->config.routes;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    if (!routes[i].health_check || !round->snapshot->upstreams[i].has_breaker) continue;
    for (std::size_t e = 0; e < round->snapshot->upstreams[i].endpoints.size(); ++e) {
      auto& timer = *round->timers.emplace_back(std::make_unique<asio::steady_timer>(control_));
      asio::co_spawn(control_, check_endpoint(round, i, e, timer), asio::detached);
    }
  }
  if (!round->timers.empty()) {
    log::debug("health checks started", {{"endpoints", std::to_string(round->timers.size())}});
  }
  current_ = std::move(round);
}

void HealthChecks::stop() {
  stopped_ = true;
  if (!current_) return;
  current_->stopped = true;
  for (auto& timer : current_->timers) timer->cancel();
  current_.reset();
}

asio::awaitable<void> HealthChecks::check_endpoint(std::shared_ptr<Round> round, std::size_t route_index,
                                                   std::size_t endpoint_index, asio::steady_timer& timer) {
  const auto& snapshot = *round->snapshot;
  const auto& check = *snapshot.config.routes[route_index].health_check;
  const auto& endpoint = snapshot.upstreams[route_index].endpoints[endpoint_index];
  std::chrono::nanoseconds interval = check.interval;
  // The first check comes at a random point of the first interval: the endpoints of a config are
  // not all checked at the same moment at start, nor again after each reload.
  auto wait = std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(interval.count()) * unit(draw())));
  for (;;) {
    timer.expires_after(wait);
    co_await timer.async_wait(use_tuple);
    if (round->stopped) co_return;
    auto began = std::chrono::steady_clock::now();
    auto result =
        co_await upstream::check_endpoint(*endpoint.upstream, endpoint.tls.get(), endpoint.host_header, check);
    // A reload or shutdown while it ran: the result belongs to a snapshot no longer served (a newer
    // checker decides for the endpoints the new one kept).
    if (round->stopped) co_return;
    apply(snapshot, route_index, endpoint, result);
    // One check at a time per endpoint: a slow one delays the next rather than overlapping it.
    auto spent = std::chrono::steady_clock::now() - began;
    wait = std::max<std::chrono::nanoseconds>(jittered(interval, kJitter, draw()) - spent, std::chrono::nanoseconds(0));
  }
}

void HealthChecks::apply(const runtime::Snapshot& snapshot, std::size_t route_index, const runtime::Endpoint& endpoint,
                         const upstream::CheckResult& result) {
  const auto& route = snapshot.config.routes[route_index];
  auto& state = *endpoint.state;
  auto now = result.passed ? runtime::Health::passing : runtime::Health::failing;
  auto before = state.health.exchange(now, std::memory_order_relaxed);
  state.checked_at_ns.store(steady_ns(), std::memory_order_relaxed);
  // The log says when the health changes, not at every check.
  if (now == runtime::Health::failing && before != now) {
    log::warn("health check failing", {{"route", route.name}, {"endpoint", endpoint.label}, {"detail", result.detail}});
  } else if (now == runtime::Health::passing && before == runtime::Health::failing) {
    log::info("health check passing again", {{"route", route.name}, {"endpoint", endpoint.label}});
  }
  if (!result.passed) return;  // never opens a breaker nor keeps one open longer (see the header)

  auto report = [&](const breaker::Transition& t) {
    audit::BreakerFacts facts;
    facts.route = route.name;
    facts.endpoint = endpoint.label;
    facts.from = breaker::to_string(t.from);
    facts.to = breaker::to_string(t.to);
    facts.cause = t.cause;
    services_.sink().breaker_transition(facts);
    runtime::record_breaker_transition(snapshot.metric_labels.routes[route_index], static_cast<int>(t.to));
  };
  // A move to half-open that a request made and has not reported yet goes first, so that the
  // audit log reads open → half_open → closed.
  if (auto t = state.breaker.take_pending()) report(*t);
  if (auto t = state.breaker.close_by_check()) {
    report(*t);
    log::info("breaker closed by a passing health check", {{"route", route.name}, {"endpoint", endpoint.label}});
  }
}

}  // namespace scopegate::app
