// A route's concurrency limit (docs/resilience.md, "Concurrency limits"): slots, the bounded FIFO
// queue, the hand-off of a released slot to the oldest waiter, giving up on a wait, and new limits
// on a reload. Every interleaving is driven by hand; a last case runs threads against it (also
// built alone with ThreadSanitizer: scopegate_concurrency_tsan, tests/CMakeLists.txt).
#include "breaker/concurrency.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

using namespace scopegate::breaker;
using Outcome = ConcurrencyLimiter::Outcome;

namespace {

// A waiter that only notes the hand-off, as the gateway's posts a wake-up to its worker.
struct Waiter final : ConcurrencyLimiter::Waiter {
  void granted() override { grants.fetch_add(1); }
  std::atomic<int> grants{0};
};

ConcurrencyLimits limits(std::int64_t inflight, std::int64_t pending) { return {inflight, pending}; }

}  // namespace

TEST_CASE("concurrency: slots up to max_inflight, then refused without a queue, free again once released") {
  ConcurrencyLimiter l(limits(2, 0));
  Waiter w;
  CHECK(l.try_acquire());
  CHECK(l.acquire(w) == Outcome::admitted);
  CHECK(l.inflight() == 2);
  CHECK_FALSE(l.try_acquire());
  CHECK(l.acquire(w) == Outcome::refused);  // max_pending 0: nobody waits
  CHECK(l.pending() == 0);
  l.release();
  CHECK(l.inflight() == 1);
  CHECK(l.try_acquire());
  l.release();
  l.release();
  CHECK(l.inflight() == 0);
  CHECK(w.grants == 0);
}

TEST_CASE("concurrency: a full queue refuses, a release hands its slot to the oldest waiter, in order") {
  ConcurrencyLimiter l(limits(1, 2));
  Waiter a, b, c;
  REQUIRE(l.try_acquire());
  CHECK(l.acquire(a) == Outcome::queued);
  CHECK(l.acquire(b) == Outcome::queued);
  CHECK(l.acquire(c) == Outcome::refused);  // the queue holds two
  CHECK(l.pending() == 2);
  l.release();  // to a: the count never drops, so nothing can slip in between
  CHECK(a.grants == 1);
  CHECK(b.grants == 0);
  CHECK(l.inflight() == 1);
  CHECK(l.pending() == 1);
  CHECK_FALSE(l.try_acquire());  // b waits: a newcomer does not overtake it
  CHECK_FALSE(l.withdraw(a));    // a already holds the slot: it has nothing to withdraw
  l.release();                   // a is done: to b
  CHECK(b.grants == 1);
  CHECK(l.inflight() == 1);
  CHECK(l.pending() == 0);
  l.release();
  CHECK(l.inflight() == 0);
  CHECK(l.try_acquire());
  l.release();
}

TEST_CASE("concurrency: a waiter whose time ran out leaves the queue, and the slot goes to the next one") {
  ConcurrencyLimiter l(limits(1, 3));
  Waiter a, b, c;
  REQUIRE(l.try_acquire());
  REQUIRE(l.acquire(a) == Outcome::queued);
  REQUIRE(l.acquire(b) == Outcome::queued);
  REQUIRE(l.acquire(c) == Outcome::queued);
  CHECK(l.withdraw(b));  // from the middle
  CHECK(l.withdraw(a));  // from the front
  CHECK_FALSE(l.withdraw(a));
  CHECK(l.pending() == 1);
  l.release();
  CHECK(c.grants == 1);
  CHECK(a.grants == 0);
  CHECK(b.grants == 0);
  CHECK(l.inflight() == 1);
  l.release();
  // With the queue empty again, a release goes back to the pool and the fast path works.
  CHECK(l.inflight() == 0);
  CHECK(l.try_acquire());
  CHECK(l.withdraw(c) == false);
  l.release();
  CHECK(l.inflight() == 0);
}

TEST_CASE("concurrency: a withdrawal that loses the race against the hand-off keeps the slot") {
  ConcurrencyLimiter l(limits(1, 1));
  Waiter a;
  REQUIRE(l.try_acquire());
  REQUIRE(l.acquire(a) == Outcome::queued);
  l.release();               // handed over...
  CHECK_FALSE(l.withdraw(a));  // ...before the waiter's timer fired: it proceeds, holding the slot
  CHECK(a.grants == 1);
  CHECK(l.inflight() == 1);
  l.release();
  CHECK(l.inflight() == 0);
}

TEST_CASE("concurrency: a raised limit gives its room to the waiters at once, a lowered one admits nobody until below it") {
  ConcurrencyLimiter l(limits(1, 4));
  Waiter a, b, c;
  REQUIRE(l.try_acquire());
  REQUIRE(l.acquire(a) == Outcome::queued);
  REQUIRE(l.acquire(b) == Outcome::queued);
  REQUIRE(l.acquire(c) == Outcome::queued);
  l.configure(limits(3, 4));  // two more slots: the two oldest waiters get them
  CHECK(a.grants == 1);
  CHECK(b.grants == 1);
  CHECK(c.grants == 0);
  CHECK(l.inflight() == 3);
  l.configure(limits(1, 0));  // three in flight, one allowed; c keeps its place though the queue is now 0
  CHECK(l.pending() == 1);
  Waiter d;
  CHECK(l.acquire(d) == Outcome::refused);
  l.release();  // 3 → 2: still over the limit, nothing for c
  CHECK(c.grants == 0);
  CHECK(l.inflight() == 2);
  l.release();  // 2 → 1: at the limit, nothing for c
  CHECK(c.grants == 0);
  CHECK(l.inflight() == 1);
  l.release();  // below it now: the slot changes hands
  CHECK(c.grants == 1);
  CHECK(l.inflight() == 1);
  l.release();
  CHECK(l.inflight() == 0);
}

TEST_CASE("concurrency: without a limit every request is admitted and counted") {
  ConcurrencyLimiter l;
  Waiter w;
  for (int i = 0; i < 1000; ++i) CHECK(l.try_acquire());
  CHECK(l.acquire(w) == Outcome::admitted);
  CHECK(l.inflight() == 1001);
  for (int i = 0; i < 1001; ++i) l.release();
  CHECK(l.inflight() == 0);
  // A limit set later (a reload) counts the requests already in flight.
  REQUIRE(l.try_acquire());
  REQUIRE(l.try_acquire());
  l.configure(limits(2, 0));
  CHECK_FALSE(l.try_acquire());
  l.release();
  CHECK(l.try_acquire());
  l.release();
  l.release();
}

TEST_CASE("concurrency: threads racing for slots never exceed the limit, and no slot or waiter is lost") {
  constexpr std::int64_t kLimit = 3;
  constexpr int kThreads = 6;
  constexpr int kRounds = 20'000;
  ConcurrencyLimiter l(limits(kLimit, 2));
  std::atomic<int> holding{0}, most{0}, refused{0}, gave_up{0}, served{0};
  auto hold = [&] {
    int now = holding.fetch_add(1) + 1;
    for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
    }
    holding.fetch_sub(1);
    served.fetch_add(1);
    l.release();
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        if (l.try_acquire()) {
          hold();
          continue;
        }
        Waiter w;
        switch (l.acquire(w)) {
          case Outcome::admitted: hold(); break;
          case Outcome::refused: refused.fetch_add(1); break;
          case Outcome::queued: {
            // Wait a little for the hand-off, as a timer would; some give up, racing it.
            int spins = (i + t) % 7 == 0 ? 10 : 100'000;
            while (w.grants.load() == 0 && spins-- > 0) std::this_thread::yield();
            if (w.grants.load() == 0 && l.withdraw(w)) {
              gave_up.fetch_add(1);
              break;
            }
            CHECK(w.grants.load() == 1);  // withdraw() said false: granted() has already run
            hold();
            break;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(most.load() <= kLimit);
  CHECK(l.inflight() == 0);
  CHECK(l.pending() == 0);
  CHECK(served + refused + gave_up == kThreads * kRounds);
  CHECK(l.try_acquire());  // the limiter still works: nothing was left behind
  l.release();
}

#ifndef SCOPEGATE_LIMITER_ONLY  // the ThreadSanitizer build has the limiter alone, without the config loader
#include "config/loader.hpp"

TEST_CASE("concurrency config: off unless set, defaults, and errors naming file, line and key") {
  auto env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  std::string base = "listeners:\n  - port: 8080\nroutes:\n  - name: t\n    access: open\n"
                     "    match: { path_prefix: /t }\n    upstream: http://127.0.0.1:9000\n";
  CHECK_FALSE(scopegate::config::load_string(base, "gw.yaml", env).config->routes[0].concurrency);
  auto ok = scopegate::config::load_string(base + "    concurrency: { max_inflight: 8 }\n", "gw.yaml", env);
  REQUIRE(ok.config);
  const auto& c = *ok.config->routes[0].concurrency;
  CHECK(c.max_inflight == 8);
  CHECK(c.max_pending == 0);
  CHECK(c.pending_timeout == scopegate::config::Duration{1000});
  auto full = scopegate::config::load_string(
      base + "    concurrency: { max_inflight: 2, max_pending: 10, pending_timeout: 250ms }\n", "gw.yaml", env);
  REQUIRE(full.config);
  CHECK(full.config->routes[0].concurrency->max_pending == 10);
  CHECK(full.config->routes[0].concurrency->pending_timeout == scopegate::config::Duration{250});

  auto errors = [&](const std::string& yaml) {
    auto bad = scopegate::config::load_string(base + yaml, "gw.yaml", env);
    CHECK_FALSE(bad.config);
    std::string all;
    for (const auto& e : bad.errors) all += e.to_string() + "\n";
    return all;
  };
  auto all = errors("    concurrency: { max_inflight: 0, max_pending: -1, pending_timeout: 0s, queue: 5 }\n");
  CHECK(all.find("gw.yaml:8: routes[0].concurrency.max_inflight: expected an integer from 1") != std::string::npos);
  CHECK(all.find("gw.yaml:8: routes[0].concurrency.max_pending: expected an integer from 0") != std::string::npos);
  CHECK(all.find("gw.yaml:8: routes[0].concurrency.pending_timeout: must be greater than zero") != std::string::npos);
  CHECK(all.find("gw.yaml:8: routes[0].concurrency.queue: unknown key") != std::string::npos);
  all = errors("    concurrency:\n      max_pending: 4\n");
  CHECK(all.find("gw.yaml:9: routes[0].concurrency.max_inflight: required") != std::string::npos);
  all = errors("    concurrency: 16\n");
  CHECK(all.find("gw.yaml:8: routes[0].concurrency: expected a mapping") != std::string::npos);
}
#endif
