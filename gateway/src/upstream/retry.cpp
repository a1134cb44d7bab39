#include "upstream/retry.hpp"

#include <algorithm>
#include <cmath>

namespace scopegate::upstream {

bool RetryBudget::try_begin_retry(double share, std::uint32_t minimum) {
  auto active = static_cast<double>(active_.load(std::memory_order_relaxed));
  auto allowed = std::max<std::uint32_t>(minimum, static_cast<std::uint32_t>(std::floor(active * share)));
  std::uint32_t now = retrying_.load(std::memory_order_relaxed);
  do {
    if (now >= allowed) return false;
  } while (!retrying_.compare_exchange_weak(now, now + 1, std::memory_order_relaxed));
  return true;
}

std::int64_t backoff_ns(std::uint32_t retry, std::int64_t base_ns, std::int64_t max_ns, std::uint64_t random) {
  if (retry == 0 || base_ns <= 0 || max_ns <= 0) return 0;
  // Doubling stops at the cap, well before the shift could overflow.
  std::int64_t ceiling = base_ns;
  for (std::uint32_t i = 1; i < retry && ceiling < max_ns; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, max_ns);
  return static_cast<std::int64_t>(random % (static_cast<std::uint64_t>(ceiling) + 1));
}

}  // namespace scopegate::upstream
