#include "breaker/breaker.hpp"

#include <algorithm>

namespace scopegate::breaker {

std::string_view to_string(State s) {
  switch (s) {
    case State::closed: return "closed";
    case State::open: return "open";
    case State::half_open: return "half_open";
  }
  return "closed";
}

namespace {

// While half-open with every probe slot taken, a caller is told to come back after this long.
constexpr std::int64_t kProbeBusyRetryNs = 1'000'000'000;

std::int64_t slice_ns(const Settings& s, std::size_t slices) {
  return std::max<std::int64_t>(1, s.window_ns / static_cast<std::int64_t>(slices));
}

}  // namespace

Admission Breaker::admit(const Settings& s, std::int64_t now_ns) {
  State st = state();
  if (st == State::closed) return {};
  if (st == State::open) {
    std::int64_t until = open_until_.load(std::memory_order_relaxed);
    if (now_ns < until) return {false, false, until - now_ns};
    std::lock_guard lock(mutex_);
    if (state() == State::open) {
      // The open time is over: a few probes may go.
      probes_.store(0, std::memory_order_relaxed);
      state_.store(static_cast<std::uint8_t>(State::half_open), std::memory_order_release);
      pending_ = Transition{State::open, State::half_open, "open_time_over"};
      has_pending_.store(true, std::memory_order_release);
    }
  }
  if (state() != State::half_open) return admit(s, now_ns);  // closed or opened again meanwhile
  // A slot is taken only while one is free (compare-exchange): there is never a taking to undo
  // that could race with the next half-open period's reset of the count.
  std::uint32_t taken = probes_.load(std::memory_order_acquire);
  while (taken < s.half_open_probes) {
    if (probes_.compare_exchange_weak(taken, taken + 1, std::memory_order_acq_rel)) return {true, true, 0};
  }
  return {false, false, kProbeBusyRetryNs};
}

std::int64_t Breaker::wait_ns(const Settings& s, std::int64_t now_ns) const {
  switch (state()) {
    case State::closed: return 0;
    case State::open: return std::max<std::int64_t>(0, open_until_.load(std::memory_order_relaxed) - now_ns);
    case State::half_open:
      return probes_.load(std::memory_order_relaxed) < s.half_open_probes ? 0 : kProbeBusyRetryNs;
  }
  return 0;
}

void Breaker::abandon_probe() {
  std::lock_guard lock(mutex_);
  if (probes_.load(std::memory_order_relaxed) > 0) probes_.fetch_sub(1, std::memory_order_acq_rel);
}

std::optional<Transition> Breaker::take_pending() {
  // The common case, every admitted request: nothing pending, and no lock taken to learn it.
  if (!has_pending_.load(std::memory_order_acquire)) return std::nullopt;
  std::lock_guard lock(mutex_);
  has_pending_.store(false, std::memory_order_relaxed);
  auto t = pending_;
  pending_.reset();
  return t;
}

void Breaker::count(const Settings& s, bool failure, std::int64_t now_ns) {
  std::int64_t epoch = now_ns / slice_ns(s, kSlices);
  Slice& slice = slices_[static_cast<std::size_t>(epoch) % kSlices];
  std::int64_t seen = slice.epoch.load(std::memory_order_acquire);
  if (seen != epoch && slice.epoch.compare_exchange_strong(seen, epoch, std::memory_order_acq_rel)) {
    // A new slice of time: what it held is older than the window. (A count made by another worker
    // between the exchange and these stores is lost: an approximation the ratio can afford.)
    slice.total.store(0, std::memory_order_relaxed);
    slice.failures.store(0, std::memory_order_relaxed);
  }
  slice.total.fetch_add(1, std::memory_order_relaxed);
  if (failure) slice.failures.fetch_add(1, std::memory_order_relaxed);
}

std::pair<std::uint32_t, std::uint32_t> Breaker::window_counts(const Settings& s, std::int64_t now_ns) const {
  std::int64_t epoch = now_ns / slice_ns(s, kSlices);
  std::uint32_t total = 0, failures = 0;
  for (const Slice& slice : slices_) {
    std::int64_t e = slice.epoch.load(std::memory_order_acquire);
    if (e < 0 || e > epoch || epoch - e >= static_cast<std::int64_t>(kSlices)) continue;
    total += slice.total.load(std::memory_order_relaxed);
    failures += slice.failures.load(std::memory_order_relaxed);
  }
  return {total, failures};
}

Transition Breaker::open(const Settings& s, State from, std::string_view cause, std::int64_t now_ns,
                         std::uint64_t random) {
  std::uint32_t trips = trips_.fetch_add(1, std::memory_order_relaxed) + 1;
  // Exponential in the trips in a row, capped, then jittered so that breakers opened together do
  // not probe together.
  std::int64_t duration = s.open_ns;
  for (std::uint32_t i = 1; i < trips && duration < s.max_open_ns; ++i) duration *= 2;
  duration = std::min(duration, std::max(s.open_ns, s.max_open_ns));
  double u = static_cast<double>(random >> 11) * 0x1.0p-53;  // [0, 1)
  double factor = 1.0 + s.jitter * (2.0 * u - 1.0);
  open_until_.store(now_ns + static_cast<std::int64_t>(static_cast<double>(duration) * factor), std::memory_order_relaxed);
  consecutive_.store(0, std::memory_order_relaxed);
  state_.store(static_cast<std::uint8_t>(State::open), std::memory_order_release);
  return Transition{from, State::open, cause};
}

void Breaker::close() {
  trips_.store(0, std::memory_order_relaxed);
  consecutive_.store(0, std::memory_order_relaxed);
  for (Slice& slice : slices_) slice.epoch.store(-1, std::memory_order_relaxed);
  state_.store(static_cast<std::uint8_t>(State::closed), std::memory_order_release);
}

std::optional<Transition> Breaker::close_by_check() {
  std::lock_guard lock(mutex_);
  State from = state();
  if (from == State::closed) return std::nullopt;
  // Probes in flight (half-open) end on a closed breaker, which ignores them; the next half-open
  // period counts its probes from zero.
  close();
  return Transition{from, State::closed, "health_check_passed"};
}

std::optional<Transition> Breaker::record(const Settings& s, bool failure, bool probe, std::int64_t now_ns,
                                          std::uint64_t random) {
  if (probe) {
    std::lock_guard lock(mutex_);
    if (probes_.load(std::memory_order_relaxed) > 0) probes_.fetch_sub(1, std::memory_order_acq_rel);
    if (state() != State::half_open) return std::nullopt;
    if (failure) return open(s, State::half_open, "probe_failed", now_ns, random);
    close();
    return Transition{State::half_open, State::closed, "probe_succeeded"};
  }
  // A request let through while closed, ending after the breaker opened, says nothing new.
  if (state() != State::closed) return std::nullopt;
  count(s, failure, now_ns);
  if (!failure) {
    if (consecutive_.load(std::memory_order_relaxed) != 0) consecutive_.store(0, std::memory_order_relaxed);
    return std::nullopt;
  }
  std::uint32_t in_a_row = consecutive_.fetch_add(1, std::memory_order_relaxed) + 1;
  std::string_view cause;
  if (s.consecutive_failures > 0 && in_a_row >= s.consecutive_failures) {
    cause = "consecutive_failures";
  } else if (s.failure_ratio > 0) {
    auto [total, failures] = window_counts(s, now_ns);
    if (total >= s.min_requests && static_cast<double>(failures) >= s.failure_ratio * static_cast<double>(total)) {
      cause = "failure_ratio";
    }
  }
  if (cause.empty()) return std::nullopt;
  std::lock_guard lock(mutex_);
  if (state() != State::closed) return std::nullopt;  // another worker tripped it first
  return open(s, State::closed, cause, now_ns, random);
}

void Breaker::reset() {
  state_.store(static_cast<std::uint8_t>(State::closed), std::memory_order_release);
  consecutive_.store(0, std::memory_order_relaxed);
  open_until_.store(0, std::memory_order_relaxed);
  trips_.store(0, std::memory_order_relaxed);
  probes_.store(0, std::memory_order_relaxed);
  for (auto& slice : slices_) {
    slice.epoch.store(-1, std::memory_order_relaxed);
    slice.total.store(0, std::memory_order_relaxed);
    slice.failures.store(0, std::memory_order_relaxed);
  }
  std::lock_guard lock(mutex_);
  pending_.reset();
  has_pending_.store(false, std::memory_order_relaxed);
}

}  // namespace scopegate::breaker
