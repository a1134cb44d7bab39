// A token bucket (docs/policies.md, "Rate limits"): `rate` tokens a second accrue up to `burst`;
// each request takes one. A pure function of its state and the clock the caller passes in, so the
// tests drive it with an injected clock. Safe to share between workers: a short spin lock guards
// its two numbers (no allocation, no syscall, nothing held across a wait).
#pragma once

#include <atomic>
#include <cstdint>

namespace scopegate::guard {

class TokenBucket {
 public:
  TokenBucket() = default;
  TokenBucket(const TokenBucket&) = delete;
  TokenBucket& operator=(const TokenBucket&) = delete;

  // The longest wait take() answers: a year. The config allows no rate that slow (one token a
  // day at least); the cap keeps the arithmetic in range whatever rate a caller passes.
  static constexpr std::int64_t kMaxWaitNs = 365LL * 24 * 3600 * 1'000'000'000;

  // Takes one token at `now_ns` (a steady clock), after refilling since the last call. A bucket
  // never used is full. When none is there, takes nothing and sets `wait_ns` to how long until one
  // is (at most kMaxWaitNs).
  bool take(double rate, double burst, std::int64_t now_ns, std::int64_t& wait_ns);
  // Returns a token taken by take() (another bucket of the same request refused it).
  void put_back(double burst);
  // Tokens there at `now_ns` (for carrying a bucket's level over a reload).
  double level(double rate, double burst, std::int64_t now_ns) const;
  // Starts from `tokens` at `now_ns` instead of full.
  void set_level(double tokens, std::int64_t now_ns);

 private:
  void lock() const;
  void unlock() const { busy_.clear(std::memory_order_release); }
  double refill(double rate, double burst, std::int64_t now_ns) const;

  mutable std::atomic_flag busy_;
  double tokens_ = 0;
  std::int64_t last_ns_ = 0;
  bool started_ = false;
};

}  // namespace scopegate::guard
