// Active health checks (docs/resilience.md, "Health checks"): one checker per endpoint of every
// route with a `health_check`, all on the control thread's io_context, none ever blocking it (the
// probe is upstream/health_check.hpp, asynchronous from the DNS lookup to the response head).
//
// A passing check closes the endpoint's open or half-open breaker at once, so that a recovered
// upstream takes traffic again without waiting out its open time and without a real request
// risked as a probe. A failing check never opens a breaker, nor keeps one open longer: a breaker
// is about what real traffic meets, and the health path may fail (or pass) while the routes
// agents use do otherwise. The worst a failing check does is not shorten an open time.
//
// The checkers hold the snapshot they were started for, so the endpoints they check stay valid;
// every publish starts those of the new snapshot and stops the previous ones, and shutdown stops
// them all.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "runtime/services.hpp"
#include "runtime/snapshot.hpp"
#include "upstream/health_check.hpp"

namespace scopegate::app {

// The wait before a check: `interval` varied by up to `share` either way by the uniform draw
// `random`, so that the checks of many endpoints started together drift apart instead of
// reaching their upstreams in step.
std::chrono::nanoseconds jittered(std::chrono::nanoseconds interval, double share, std::uint64_t random);

class HealthChecks {
 public:
  HealthChecks(boost::asio::io_context& control, runtime::Services& services);
  ~HealthChecks();
  HealthChecks(const HealthChecks&) = delete;
  HealthChecks& operator=(const HealthChecks&) = delete;

  // From now on, checks the endpoints of `snapshot` (those of routes with a health_check) and no
  // others: the checkers of an earlier snapshot stop. Call on the control thread. Does nothing after stop().
  void start(std::shared_ptr<const runtime::Snapshot> snapshot);
  // Shutdown: the checkers waiting for their next check end now, one in the middle of a check
  // ends when it returns, and its result is dropped. No checker starts after this.
  void stop();

 private:
  struct Round;  // the checkers of one snapshot

  boost::asio::awaitable<void> check_endpoint(std::shared_ptr<Round> round, std::size_t route, std::size_t endpoint,
                                              boost::asio::steady_timer& timer);
  void apply(const runtime::Snapshot& snapshot, std::size_t route, const runtime::Endpoint& endpoint,
             const upstream::CheckResult& result);
  std::uint64_t draw() { return random_(); }

  boost::asio::io_context& control_;
  runtime::Services& services_;
  std::shared_ptr<Round> current_;
  bool stopped_ = false;
  std::mt19937_64 random_{std::random_device{}()};
};

}  // namespace scopegate::app
