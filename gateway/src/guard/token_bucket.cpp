#include "guard/token_bucket.hpp"

#include <algorithm>
#include <cmath>

namespace scopegate::guard {

void TokenBucket::lock() const {
  while (busy_.test_and_set(std::memory_order_acquire)) {
    while (busy_.test(std::memory_order_relaxed)) {
    }
  }
}

double TokenBucket::refill(double rate, double burst, std::int64_t now_ns) const {
  if (!started_) return burst;
  // A clock that went backwards (it is steady, but the tests' is injected) adds nothing.
  double elapsed_s = static_cast<double>(std::max<std::int64_t>(0, now_ns - last_ns_)) / 1e9;
  return std::min(burst, tokens_ + elapsed_s * rate);
}

bool TokenBucket::take(double rate, double burst, std::int64_t now_ns, std::int64_t& wait_ns) {
  lock();
  double tokens = refill(rate, burst, now_ns);
  tokens_ = tokens;
  last_ns_ = std::max(last_ns_, now_ns);
  started_ = true;
  bool ok = tokens >= 1.0;
  if (ok) tokens_ = tokens - 1.0;
  unlock();
  if (!ok) {
    // Compared as a double before the conversion: a tiny rate would put the wait beyond int64.
    double wait = std::ceil((1.0 - tokens) / rate * 1e9);
    wait_ns = wait < static_cast<double>(kMaxWaitNs) ? static_cast<std::int64_t>(wait) : kMaxWaitNs;
  }
  return ok;
}

void TokenBucket::put_back(double burst) {
  lock();
  tokens_ = std::min(burst, tokens_ + 1.0);
  unlock();
}

double TokenBucket::level(double rate, double burst, std::int64_t now_ns) const {
  lock();
  double tokens = refill(rate, burst, now_ns);
  unlock();
  return tokens;
}

void TokenBucket::set_level(double tokens, std::int64_t now_ns) {
  lock();
  tokens_ = tokens;
  last_ns_ = now_ns;
  started_ = true;
  unlock();
}

}  // namespace scopegate::guard
