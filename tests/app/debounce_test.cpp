#include "app/debounce.hpp"

#include <doctest/doctest.h>

using scopegate::app::Debounce;
using namespace std::chrono_literals;

namespace {
const Debounce::Clock::time_point t0{};
}

TEST_CASE("debounce: nothing is due before an event") {
  Debounce d(300ms, 2s);
  CHECK_FALSE(d.due());
  CHECK_FALSE(d.take(t0 + 10s));
}

TEST_CASE("debounce: one event is due a quiet period later, and taken once") {
  Debounce d(300ms, 2s);
  d.event(t0);
  REQUIRE(d.due());
  CHECK(*d.due() == t0 + 300ms);
  CHECK_FALSE(d.take(t0 + 299ms));
  CHECK(d.take(t0 + 300ms));
  CHECK_FALSE(d.due());
  CHECK_FALSE(d.take(t0 + 400ms));
}

TEST_CASE("debounce: a burst of events is one action, due after the burst's last event") {
  Debounce d(300ms, 2s);
  for (int i = 0; i < 1000; ++i) d.event(t0 + std::chrono::microseconds(i * 100));  // 1000 events in 0.1 s
  CHECK(*d.due() == t0 + 99900us + 300ms);
  CHECK_FALSE(d.take(t0 + 300ms));
  CHECK(d.take(t0 + 400ms));
  CHECK_FALSE(d.take(t0 + 800ms));
}

TEST_CASE("debounce: events that never pause are still taken, max_wait after the first") {
  Debounce d(300ms, 2s);
  int taken = 0;
  // An event every 100 ms for 5 s: a quiet period never comes.
  for (auto now = t0; now < t0 + 5s; now += 100ms) {
    if (d.take(now)) ++taken;
    d.event(now);
  }
  CHECK(taken == 2);  // at 2 s and at 4 s
  CHECK(*d.due() == t0 + 4900ms + 300ms);
}

TEST_CASE("debounce: an event after a take starts a new burst") {
  Debounce d(300ms, 2s);
  d.event(t0);
  CHECK(d.take(t0 + 1s));
  d.event(t0 + 5s);
  CHECK(*d.due() == t0 + 5300ms);
  CHECK_FALSE(d.take(t0 + 5200ms));
  CHECK(d.take(t0 + 5300ms));
}
