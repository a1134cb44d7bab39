// The jitter of the health checks' intervals (docs/resilience.md, "Health checks").
#include "app/health_checks.hpp"

#include <doctest/doctest.h>

using scopegate::app::jittered;
using namespace std::chrono_literals;

TEST_CASE("health checks: an interval varies by up to its jitter share, either way") {
  constexpr std::uint64_t kMid = 1ull << 63;  // a draw of one half: no jitter
  CHECK(jittered(5s, 0.1, kMid) == 5s);
  CHECK(jittered(5s, 0.1, 0) == 4500ms);
  CHECK(jittered(5s, 0.1, ~0ull) > 5499ms);
  CHECK(jittered(5s, 0.1, ~0ull) <= 5500ms);
  CHECK(jittered(200ms, 0, 0) == 200ms);
}
