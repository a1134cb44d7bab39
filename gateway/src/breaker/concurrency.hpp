// A route's concurrency limit (docs/resilience.md, "Concurrency limits"): at most max_inflight
// requests to its upstream at once, across every worker thread; a request over the limit waits in a
// bounded first-in, first-out queue (at most max_pending) until a slot is given back, or is refused.
// A slow tool then holds only its own slots, never all of the gateway's connections and workers.
//
// The path every request takes is lock-free: taking a slot below the limit is one compare-exchange
// on the in-flight count, giving it back is one subtraction while nobody waits. The queue sits
// behind a mutex and is touched only once the limit is reached. A release with waiters hands its
// slot straight to the oldest one (the count stays as it is), so no slot is lost between a release
// and a wake-up, and a newcomer cannot overtake the queue.
//
// Pure: no I/O, no clock. A waiter learns of its slot through granted(); how it sleeps and wakes
// (a timer on its own worker's executor, pipeline/concurrency.cpp) and when it gives up
// (withdraw()) are the caller's, so the tests drive every interleaving by hand.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <mutex>

namespace scopegate::breaker {

struct ConcurrencyLimits {
  static constexpr std::int64_t kUnlimited = std::numeric_limits<std::int64_t>::max();
  std::int64_t max_inflight = kUnlimited;  // most requests in flight at once; kUnlimited: no limit (still counted)
  std::int64_t max_pending = 0;            // most requests waiting for a slot; 0: over the limit is refused at once
};

class ConcurrencyLimiter {
 public:
  // One request waiting for a slot, linked into the queue in place (no allocation under the lock).
  class Waiter {
   public:
    // A released slot now belongs to this waiter. Called once, by the releasing thread, with the
    // limiter's lock held: it must only pass the news on (post to the waiter's own thread), never
    // call back into the limiter. Holding the lock is what lets withdraw() promise that granted()
    // has finished by the time it answers false.
    virtual void granted() = 0;

   protected:
    Waiter() = default;
    ~Waiter() = default;
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;

   private:
    friend class ConcurrencyLimiter;
    Waiter* prev_ = nullptr;
    Waiter* next_ = nullptr;
    bool queued_ = false;  // under the limiter's lock
  };

  enum class Outcome { admitted, queued, refused };

  explicit ConcurrencyLimiter(ConcurrencyLimits limits = {});
  ConcurrencyLimiter(const ConcurrencyLimiter&) = delete;
  ConcurrencyLimiter& operator=(const ConcurrencyLimiter&) = delete;

  // A slot, if one is free and nobody is waiting for one; the path every request takes first.
  bool try_acquire();
  // A slot if one is free (admitted), else a place at the end of the queue if it has room (queued:
  // granted() will be called, unless withdraw() comes first), else refused.
  Outcome acquire(Waiter& waiter);
  // Gives a slot back: to the oldest waiter when there is one (granted()), else to the pool.
  void release();
  // The waiter gives up (its time ran out, its request ended). true: it left the queue without a
  // slot. false: a slot was handed to it first (granted() has returned): it holds that slot and
  // must release() it.
  bool withdraw(Waiter& waiter);
  // New limits (a reload that keeps the route). Requests in flight are never cut: a lower
  // max_inflight lets nobody in until the count is below it, a higher one gives the new room to
  // the waiters at once. A lower max_pending keeps those already waiting and refuses newcomers
  // until the queue is shorter.
  void configure(ConcurrencyLimits limits);

  ConcurrencyLimits limits() const;
  std::int64_t inflight() const { return inflight_.load(std::memory_order_relaxed); }
  std::int64_t pending() const;

 private:
  bool take_below_limit();
  void grant_while_room();  // lock_ held
  Waiter* pop_front();      // lock_ held

  std::atomic<std::int64_t> inflight_{0};
  // Requests in the queue or about to decide whether to join it (each under lock_). Read without
  // the lock by release() to learn that nobody waits, and by try_acquire() to leave the slots to
  // the queue while it is not empty.
  std::atomic<std::int64_t> waiting_{0};
  std::atomic<std::int64_t> max_inflight_;
  std::atomic<std::int64_t> max_pending_;
  mutable std::mutex lock_;
  Waiter* head_ = nullptr;  // the oldest waiter; under lock_
  Waiter* tail_ = nullptr;
  std::int64_t queued_ = 0;  // the queue's length; under lock_
};

}  // namespace scopegate::breaker
