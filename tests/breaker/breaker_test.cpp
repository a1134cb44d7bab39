// The circuit breaker's state machine with an injected clock and random draw (docs/resilience.md).
#include "breaker/breaker.hpp"

#include <doctest/doctest.h>

#include <thread>
#include <vector>

using namespace scopegate::breaker;

namespace {

constexpr std::int64_t kS = 1'000'000'000;
constexpr std::uint64_t kMid = 1ull << 63;  // a draw of one half: no jitter either way

Settings consecutive(std::uint32_t n) {
  Settings s;
  s.consecutive_failures = n;
  s.open_ns = 5 * kS;
  s.max_open_ns = 60 * kS;
  return s;
}

}  // namespace

TEST_CASE("breaker: consecutive failures open it, a success in between starts the count again") {
  Breaker b;
  auto s = consecutive(3);
  CHECK(b.admit(s, 0).allowed);
  CHECK_FALSE(b.record(s, true, false, 0, kMid));
  CHECK_FALSE(b.record(s, true, false, 0, kMid));
  CHECK_FALSE(b.record(s, false, false, 0, kMid));  // resets
  CHECK_FALSE(b.record(s, true, false, 0, kMid));
  CHECK_FALSE(b.record(s, true, false, 0, kMid));
  auto t = b.record(s, true, false, 1 * kS, kMid);
  REQUIRE(t);
  CHECK(t->from == State::closed);
  CHECK(t->to == State::open);
  CHECK(t->cause == "consecutive_failures");
  CHECK(b.state() == State::open);
  // Open: refused at once, told when to come back.
  auto a = b.admit(s, 2 * kS);
  CHECK_FALSE(a.allowed);
  CHECK(a.retry_after_ns == 4 * kS);
}

TEST_CASE("breaker: half-open admits the configured probes, success closes, failure reopens for longer") {
  Breaker b;
  auto s = consecutive(1);
  s.half_open_probes = 2;
  REQUIRE(b.record(s, true, false, 0, kMid));  // open until 5 s
  auto p1 = b.admit(s, 5 * kS);
  CHECK(p1.allowed);
  CHECK(p1.probe);
  auto pending = b.take_pending();
  REQUIRE(pending);
  CHECK(pending->to == State::half_open);
  CHECK(pending->cause == "open_time_over");
  CHECK_FALSE(b.take_pending());
  CHECK(b.admit(s, 5 * kS).probe);
  CHECK_FALSE(b.admit(s, 5 * kS).allowed);  // both probe slots taken
  // A probe fails: open again, for twice as long (the second trip in a row).
  auto t = b.record(s, true, true, 6 * kS, kMid);
  REQUIRE(t);
  CHECK(t->cause == "probe_failed");
  CHECK(b.open_until_ns() == 16 * kS);
  // The other probe ends after the breaker reopened: it changes nothing.
  CHECK_FALSE(b.record(s, false, true, 7 * kS, kMid));
  CHECK(b.state() == State::open);
  // Next time a probe succeeds: closed, and the trips in a row start again.
  REQUIRE(b.admit(s, 16 * kS).probe);
  t = b.record(s, false, true, 16 * kS, kMid);
  REQUIRE(t);
  CHECK(t->to == State::closed);
  CHECK(t->cause == "probe_succeeded");
  CHECK(b.trips() == 0);
  REQUIRE(b.record(s, true, false, 20 * kS, kMid));
  CHECK(b.open_until_ns() == 25 * kS);  // back to the first open time
}

TEST_CASE("breaker: the open time doubles on trips in a row up to its cap, with jitter both ways") {
  Breaker b;
  auto s = consecutive(1);
  s.jitter = 0;
  std::int64_t now = 0;
  std::vector<std::int64_t> opened;
  for (int i = 0; i < 6; ++i) {
    if (i == 0) REQUIRE(b.record(s, true, false, now, kMid));
    else {
      now = b.open_until_ns();
      REQUIRE(b.admit(s, now).probe);
      REQUIRE(b.record(s, true, true, now, kMid));
    }
    opened.push_back((b.open_until_ns() - now) / kS);
  }
  CHECK(opened == std::vector<std::int64_t>{5, 10, 20, 40, 60, 60});
  // Jitter: a draw of 0 shortens by the jitter share, the largest draw lengthens by almost as much.
  Breaker low, high;
  auto j = consecutive(1);
  j.jitter = 0.2;
  REQUIRE(low.record(j, true, false, 0, 0));
  REQUIRE(high.record(j, true, false, 0, ~0ull));
  CHECK(low.open_until_ns() == 4 * kS);
  CHECK(high.open_until_ns() > 5.99 * kS);
  CHECK(high.open_until_ns() <= 6 * kS);
}

TEST_CASE("breaker: the failure ratio counts over the window once it holds min_requests") {
  Breaker b;
  Settings s;
  s.consecutive_failures = 0;
  s.failure_ratio = 0.5;
  s.min_requests = 10;
  s.window_ns = 10 * kS;
  // 4 failures among 8 requests: under min_requests.
  for (int i = 0; i < 8; ++i) CHECK_FALSE(b.record(s, i % 2 == 0, false, i * kS / 10, kMid));
  CHECK_FALSE(b.record(s, false, false, kS, kMid));  // 9 requests, 4 failures
  auto t = b.record(s, true, false, kS, kMid);       // 10 requests, 5 failures: 50%
  REQUIRE(t);
  CHECK(t->cause == "failure_ratio");
  // Old requests leave the window: the same mix spread over more than the window never trips.
  Breaker c;
  for (int i = 0; i < 40; ++i) CHECK_FALSE(c.record(s, i % 4 == 0, false, i * 2 * kS, kMid));
  auto [total, failures] = c.window_counts(s, 79 * kS);
  CHECK(total <= 6);
  CHECK(failures <= 2);
}

TEST_CASE("breaker: an abandoned probe frees its slot, and a reset starts it afresh") {
  Breaker b;
  auto s = consecutive(1);
  REQUIRE(b.record(s, true, false, 0, kMid));
  REQUIRE(b.admit(s, 5 * kS).probe);
  CHECK_FALSE(b.admit(s, 5 * kS).allowed);
  b.abandon_probe();
  CHECK(b.admit(s, 5 * kS).probe);
  b.reset();
  CHECK(b.state() == State::closed);
  CHECK(b.trips() == 0);
  auto admitted = b.admit(s, 5 * kS);
  CHECK(admitted.allowed);
  CHECK_FALSE(admitted.probe);
  CHECK(b.window_counts(s, 5 * kS).first == 0);
}

TEST_CASE("breaker: a passing health check closes it from open at once, as a successful probe would") {
  Breaker b;
  auto s = consecutive(1);
  REQUIRE(b.record(s, true, false, 0, kMid));  // open until 5 s
  REQUIRE(b.admit(s, 5 * kS).probe);
  REQUIRE(b.record(s, true, true, 5 * kS, kMid));  // probe failed: open until 15 s, second trip
  CHECK(b.trips() == 2);
  CHECK_FALSE(b.admit(s, 6 * kS).allowed);
  auto t = b.close_by_check();
  REQUIRE(t);
  CHECK(t->from == State::open);
  CHECK(t->to == State::closed);
  CHECK(t->cause == "health_check_passed");
  CHECK(b.state() == State::closed);
  CHECK(b.trips() == 0);
  CHECK(b.consecutive_failures() == 0);
  CHECK(b.window_counts(s, 6 * kS).first == 0);
  // Long before the open time was over, requests go again, and as ordinary ones (not probes).
  auto a = b.admit(s, 6 * kS);
  CHECK(a.allowed);
  CHECK_FALSE(a.probe);
  // The trips in a row started again: the next trip opens for the first open time.
  REQUIRE(b.record(s, true, false, 7 * kS, kMid));
  CHECK(b.open_until_ns() == 12 * kS);
}

TEST_CASE("breaker: a passing health check closes it from half-open, and a probe ending later changes nothing") {
  Breaker b;
  auto s = consecutive(2);
  REQUIRE_FALSE(b.record(s, true, false, 0, kMid));
  REQUIRE(b.record(s, true, false, 0, kMid));
  REQUIRE(b.admit(s, 5 * kS).probe);
  REQUIRE(b.take_pending());
  CHECK(b.state() == State::half_open);
  auto t = b.close_by_check();
  REQUIRE(t);
  CHECK(t->from == State::half_open);
  CHECK(t->to == State::closed);
  CHECK(t->cause == "health_check_passed");
  CHECK_FALSE(b.take_pending());
  // The probe let through before the check ends on a closed breaker: no second transition, and a
  // failed probe does not reopen it.
  CHECK_FALSE(b.record(s, true, true, 5 * kS, kMid));
  CHECK(b.state() == State::closed);
  CHECK(b.consecutive_failures() == 0);
}

TEST_CASE("breaker: a passing health check changes nothing while closed") {
  Breaker b;
  auto s = consecutive(3);
  CHECK_FALSE(b.close_by_check());
  CHECK_FALSE(b.record(s, true, false, 0, kMid));
  CHECK_FALSE(b.record(s, true, false, 0, kMid));
  // Closed: the failures in a row are real traffic's, and a check does not wipe them.
  CHECK_FALSE(b.close_by_check());
  CHECK(b.state() == State::closed);
  CHECK(b.consecutive_failures() == 2);
  REQUIRE(b.record(s, true, false, 0, kMid));
  CHECK_FALSE(b.take_pending());
}

TEST_CASE("breaker: workers recording at once trip it exactly once") {
  Breaker b;
  auto s = consecutive(50);
  std::vector<std::thread> threads;
  std::atomic<int> transitions{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (b.admit(s, 0).allowed && b.record(s, true, false, 0, kMid)) transitions.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(transitions.load() == 1);
  CHECK(b.state() == State::open);
}

#include "config/loader.hpp"

TEST_CASE("breaker config: defaults, failure_on, and errors naming their keys") {
  auto env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  std::string base = "listeners:\n  - port: 8080\nroutes:\n  - name: t\n    access: open\n"
                     "    match: { path_prefix: /t }\n    upstream: http://127.0.0.1:9000\n";
  auto ok = scopegate::config::load_string(base + "    breaker: { failure_on: [connect, 429] }\n", "gw.yaml", env);
  REQUIRE(ok.config);
  const auto& b = *ok.config->routes[0].breaker;
  CHECK(b.consecutive_failures == 5);
  CHECK(b.on_connect);
  CHECK_FALSE(b.on_5xx);
  CHECK(b.statuses == std::vector<unsigned>{429});
  CHECK_FALSE(scopegate::config::load_string(base, "gw.yaml", env).config->routes[0].breaker);
  auto bad = scopegate::config::load_string(
      base + "    breaker: { consecutive_failures: 0, open: 10s, max_open: 5s, failure_on: [dead], failure_ratio: 2 }\n",
      "gw.yaml", env);
  REQUIRE_FALSE(bad.config);
  std::string all;
  for (const auto& e : bad.errors) all += e.to_string() + "\n";
  CHECK(all.find("gw.yaml:8: routes[0].breaker.failure_on[0]") != std::string::npos);
  CHECK(all.find("routes[0].breaker.failure_ratio") != std::string::npos);
  CHECK(all.find("routes[0].breaker.max_open: shorter than open") != std::string::npos);
  CHECK(all.find("routes[0].breaker: the breaker can never open") != std::string::npos);
}

TEST_CASE("health check config: defaults, expect, and errors naming their keys") {
  auto env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  std::string base = "listeners:\n  - port: 8080\nroutes:\n  - name: t\n    access: open\n"
                     "    match: { path_prefix: /t }\n    upstream: http://127.0.0.1:9000\n";
  std::string breaker = "    breaker: { consecutive_failures: 2 }\n";
  auto ok = scopegate::config::load_string(base + breaker + "    health_check: { path: /healthz }\n", "gw.yaml", env);
  REQUIRE(ok.config);
  const auto& h = *ok.config->routes[0].health_check;
  CHECK(h.path == "/healthz");
  CHECK(h.interval == std::chrono::seconds(5));
  CHECK(h.timeout == std::chrono::seconds(2));
  CHECK(h.expect.empty());  // any 2xx
  auto listed = scopegate::config::load_string(
      base + breaker +
          "    health_check: { path: \"/status?code=204\", interval: 200ms, timeout: 1s, expect: [200, 204] }\n",
      "gw.yaml", env);
  REQUIRE(listed.config);
  CHECK(listed.config->routes[0].health_check->interval == std::chrono::milliseconds(200));
  CHECK(listed.config->routes[0].health_check->expect == std::vector<unsigned>{200, 204});

  auto errors = [&](const std::string& text) {
    auto loaded = scopegate::config::load_string(text, "gw.yaml", env);
    CHECK_FALSE(loaded.config);
    std::string all;
    for (const auto& e : loaded.errors) all += e.to_string() + "\n";
    return all;
  };
  auto alone = errors(base + "    health_check: { path: /healthz }\n");
  CHECK(alone.find("gw.yaml:8: routes[0].health_check: applies only to a route with a breaker") != std::string::npos);
  auto bad = errors(base + breaker +
                    "    health_check: { path: healthz, interval: 0s, expect: [200, 999], method: HEAD }\n");
  CHECK(bad.find("routes[0].health_check.path: must start with '/'") != std::string::npos);
  CHECK(bad.find("routes[0].health_check.interval: must be greater than zero") != std::string::npos);
  CHECK(bad.find("routes[0].health_check.expect[1]") != std::string::npos);
  CHECK(bad.find("gw.yaml:9: routes[0].health_check.method: unknown key") != std::string::npos);
  CHECK(errors(base + breaker + "    health_check: { interval: 1s }\n").find("routes[0].health_check.path: required") !=
        std::string::npos);
  CHECK(errors(base + breaker + "    health_check: { path: \"/a b\" }\n").find("visible ASCII") != std::string::npos);
}
