// A circuit breaker (docs/resilience.md): closed while its upstream answers, open (requests refused
// at once, nothing sent) after it failed too often, half-open when the open time is over (a few
// probe requests decide: success closes, failure opens again, for longer). A pure state machine:
// the clock and the random draw for jitter are passed in, so the tests are deterministic.
//
// Shared by every worker. The hot path takes no lock: admitting a request while closed is one
// atomic load, and recording a success is a few relaxed atomic operations on the current slice of
// the failure window. Transitions, which are rare, take the breaker's mutex.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>

namespace scopegate::breaker {

struct Settings {
  std::uint32_t consecutive_failures = 5;  // closed → open after this many failures in a row; 0: not used
  double failure_ratio = 0;                // ...or this share of failures over `window`; 0: not used
  std::uint32_t min_requests = 20;         // the ratio counts once the window holds this many requests
  std::int64_t window_ns = 30'000'000'000;
  std::int64_t open_ns = 5'000'000'000;       // the first open time; doubles on each trip in a row...
  std::int64_t max_open_ns = 60'000'000'000;  // ...up to this
  double jitter = 0.1;                        // the open time varies by up to this share, either way
  std::uint32_t half_open_probes = 1;         // requests let through while half-open
};

enum class State : std::uint8_t { closed, open, half_open };
std::string_view to_string(State s);

struct Admission {
  bool allowed = true;
  bool probe = false;              // a half-open probe: its outcome decides the state
  std::int64_t retry_after_ns = 0; // refused: until the breaker lets a probe through
};

struct Transition {
  State from = State::closed, to = State::closed;
  std::string_view cause;  // "consecutive_failures", "failure_ratio", "open_time_over", "probe_succeeded",
                           // "probe_failed", "health_check_passed"
};

class Breaker {
 public:
  // May a request go now? While half-open, at most half_open_probes are in flight at once.
  Admission admit(const Settings& s, std::int64_t now_ns);
  // How long until admit() would let a request through (0: now). Changes nothing: the balancer
  // asks it of every endpoint before it chooses one, and admits only the chosen.
  std::int64_t wait_ns(const Settings& s, std::int64_t now_ns) const;
  bool may_admit(const Settings& s, std::int64_t now_ns) const { return wait_ns(s, now_ns) == 0; }
  // What became of a request admit() let through. `random` is a uniform draw (any 64 bits) for the
  // jitter of a new open time. A transition it caused is returned (open → half-open happens in
  // admit(): take_pending() reports it).
  std::optional<Transition> record(const Settings& s, bool failure, bool probe, std::int64_t now_ns,
                                   std::uint64_t random);
  // A probe admit() let through that never reached the upstream: its slot is free again.
  void abandon_probe();
  // A transition admit() made (open → half_open), not yet reported; at most one.
  std::optional<Transition> take_pending();
  // An active health check of the endpoint passed (docs/resilience.md, "Health checks"): while
  // open or half-open the breaker closes at once, as after a successful probe, without waiting
  // for the open time to end or risking a real request. Closed: nothing changes (nullopt). A
  // failing check has no counterpart: a breaker opens on real traffic only.
  std::optional<Transition> close_by_check();

  State state() const { return static_cast<State>(state_.load(std::memory_order_acquire)); }
  std::uint32_t consecutive_failures() const { return consecutive_.load(std::memory_order_relaxed); }
  std::int64_t open_until_ns() const { return open_until_.load(std::memory_order_relaxed); }
  std::uint32_t trips() const { return trips_.load(std::memory_order_relaxed); }
  // Requests and failures in the window as of `now_ns`.
  std::pair<std::uint32_t, std::uint32_t> window_counts(const Settings& s, std::int64_t now_ns) const;

  // Back to closed with an empty window, as if new. Only while no request can reach it (a reload
  // that gives a route a breaker again, before the snapshot is published): a probe in flight
  // would otherwise be forgotten.
  void reset();

 private:
  static constexpr std::size_t kSlices = 10;
  struct Slice {
    std::atomic<std::int64_t> epoch{-1};
    std::atomic<std::uint32_t> total{0}, failures{0};
  };
  void count(const Settings& s, bool failure, std::int64_t now_ns);
  Transition open(const Settings& s, State from, std::string_view cause, std::int64_t now_ns, std::uint64_t random);
  // Closed with a fresh start: no trips in a row, no failures counted. Under mutex_.
  void close();

  std::atomic<std::uint8_t> state_{static_cast<std::uint8_t>(State::closed)};
  std::atomic<std::uint32_t> consecutive_{0};
  std::atomic<std::int64_t> open_until_{0};
  std::atomic<std::uint32_t> trips_{0};        // trips in a row (reset when a probe closes it)
  std::atomic<std::uint32_t> probes_{0};       // probes in flight while half-open
  std::array<Slice, kSlices> slices_;
  std::mutex mutex_;                           // transitions
  std::optional<Transition> pending_;          // under mutex_
  std::atomic<bool> has_pending_{false};       // pending_ holds one: take_pending() must lock
};

}  // namespace scopegate::breaker
