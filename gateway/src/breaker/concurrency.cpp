#include "breaker/concurrency.hpp"

namespace scopegate::breaker {

// Why no slot is ever stranded: a request that finds the limit reached announces itself in
// waiting_ (under the lock) and then looks at the count once more; a release gives its slot back to
// the count and then looks at waiting_. Both are sequentially consistent, so at least one of the two
// sees the other: either the newcomer sees the slot and takes it, or the releaser sees the newcomer
// and, under the lock it holds meanwhile, finds it queued and hands it the slot.

ConcurrencyLimiter::ConcurrencyLimiter(ConcurrencyLimits limits)
    : max_inflight_(limits.max_inflight), max_pending_(limits.max_pending) {}

bool ConcurrencyLimiter::take_below_limit() {
  std::int64_t max = max_inflight_.load(std::memory_order_relaxed);
  if (max == ConcurrencyLimits::kUnlimited) {
    inflight_.fetch_add(1, std::memory_order_seq_cst);
    return true;
  }
  std::int64_t n = inflight_.load(std::memory_order_seq_cst);
  while (n < max) {
    if (inflight_.compare_exchange_weak(n, n + 1, std::memory_order_seq_cst, std::memory_order_seq_cst)) return true;
  }
  return false;
}

bool ConcurrencyLimiter::try_acquire() {
  // While anyone waits, a free slot is theirs: the newcomer goes to the back of the queue.
  if (waiting_.load(std::memory_order_seq_cst) != 0) return false;
  return take_below_limit();
}

ConcurrencyLimiter::Outcome ConcurrencyLimiter::acquire(Waiter& waiter) {
  std::lock_guard lock(lock_);
  waiting_.fetch_add(1, std::memory_order_seq_cst);  // announced before the last look at the count
  grant_while_room();  // room that came back since the queue formed goes to the queue first
  if (head_ == nullptr && take_below_limit()) {
    waiting_.fetch_sub(1, std::memory_order_seq_cst);
    return Outcome::admitted;
  }
  if (queued_ >= max_pending_.load(std::memory_order_relaxed)) {
    waiting_.fetch_sub(1, std::memory_order_seq_cst);
    return Outcome::refused;
  }
  waiter.queued_ = true;
  waiter.next_ = nullptr;
  waiter.prev_ = tail_;
  if (tail_) tail_->next_ = &waiter;
  else head_ = &waiter;
  tail_ = &waiter;
  ++queued_;
  return Outcome::queued;  // the announcement stays counted in waiting_ while it waits
}

void ConcurrencyLimiter::release() {
  if (waiting_.load(std::memory_order_seq_cst) == 0) {
    inflight_.fetch_sub(1, std::memory_order_seq_cst);
    if (waiting_.load(std::memory_order_seq_cst) == 0) return;
    // Someone joined the queue meanwhile and may have missed the slot: it is queued by the time
    // the lock is ours.
    std::lock_guard lock(lock_);
    grant_while_room();
    return;
  }
  std::lock_guard lock(lock_);
  // The count includes this slot: at or below the limit, it changes hands without ever being free
  // (a lowered limit, with more in flight than it allows, lets the count fall instead).
  if (head_ != nullptr && inflight_.load(std::memory_order_seq_cst) <= max_inflight_.load(std::memory_order_relaxed)) {
    pop_front()->granted();
    return;
  }
  inflight_.fetch_sub(1, std::memory_order_seq_cst);
  grant_while_room();
}

bool ConcurrencyLimiter::withdraw(Waiter& waiter) {
  std::lock_guard lock(lock_);
  if (!waiter.queued_) return false;
  if (waiter.prev_) waiter.prev_->next_ = waiter.next_;
  else head_ = waiter.next_;
  if (waiter.next_) waiter.next_->prev_ = waiter.prev_;
  else tail_ = waiter.prev_;
  waiter.prev_ = waiter.next_ = nullptr;
  waiter.queued_ = false;
  --queued_;
  waiting_.fetch_sub(1, std::memory_order_seq_cst);
  return true;
}

void ConcurrencyLimiter::configure(ConcurrencyLimits limits) {
  std::lock_guard lock(lock_);
  max_inflight_.store(limits.max_inflight, std::memory_order_relaxed);
  max_pending_.store(limits.max_pending, std::memory_order_relaxed);
  grant_while_room();
}

ConcurrencyLimits ConcurrencyLimiter::limits() const {
  return {max_inflight_.load(std::memory_order_relaxed), max_pending_.load(std::memory_order_relaxed)};
}

std::int64_t ConcurrencyLimiter::pending() const {
  std::lock_guard lock(lock_);
  return queued_;
}

void ConcurrencyLimiter::grant_while_room() {
  while (head_ != nullptr && take_below_limit()) pop_front()->granted();
}

ConcurrencyLimiter::Waiter* ConcurrencyLimiter::pop_front() {
  Waiter* w = head_;
  head_ = w->next_;
  if (head_) head_->prev_ = nullptr;
  else tail_ = nullptr;
  w->prev_ = w->next_ = nullptr;
  w->queued_ = false;
  --queued_;
  waiting_.fetch_sub(1, std::memory_order_seq_cst);
  return w;
}

}  // namespace scopegate::breaker
