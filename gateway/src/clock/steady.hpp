// Monotonic time in nanoseconds, the unit of the breakers, guards and health checks: code that
// decides on time (breaker/, guard/) takes `now` as a parameter; the edges that feed it call this.
#pragma once

#include <chrono>
#include <cstdint>

namespace scopegate::clock {

inline std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace scopegate::clock
