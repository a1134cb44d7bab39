// What bounds retries (docs/resilience.md, "Retries"): a budget that keeps the retries in flight
// on a route to a share of its active requests, so that retries cannot multiply the load on an
// upstream that is already failing (Envoy's retry budget), and the backoff between attempts,
// exponential with full jitter so that clients that failed together do not retry together.
#pragma once

#include <atomic>
#include <cstdint>

namespace scopegate::upstream {

// Shared by every worker; a few atomic operations per request. State: a reload that keeps a route
// keeps its budget object, so the counts of requests in flight stay right.
class RetryBudget {
 public:
  // A request to the route begins and ends (whatever the number of its attempts).
  void begin_request() { active_.fetch_add(1, std::memory_order_relaxed); }
  void end_request() { active_.fetch_sub(1, std::memory_order_relaxed); }
  // May one more retry be in flight? `share` of the active requests, at least `minimum`.
  // A granted retry is given back with end_retry() when its attempt ends.
  bool try_begin_retry(double share, std::uint32_t minimum);
  void end_retry() { retrying_.fetch_sub(1, std::memory_order_relaxed); }

  std::uint32_t active() const { return active_.load(std::memory_order_relaxed); }
  std::uint32_t retrying() const { return retrying_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint32_t> active_{0};
  std::atomic<std::uint32_t> retrying_{0};
};

// How long to wait before retry number `retry` (1 for the first): uniform in
// [0, min(max, base × 2^(retry-1))], drawn from `random` (any 64 bits). Nanoseconds.
std::int64_t backoff_ns(std::uint32_t retry, std::int64_t base_ns, std::int64_t max_ns, std::uint64_t random);

}  // namespace scopegate::upstream
