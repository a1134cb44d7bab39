#include "pipeline/concurrency.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <memory>
#include <string>

#include "http/use_tuple.hpp"
#include "pipeline/endpoints.hpp"
#include "pipeline/reply.hpp"

namespace scopegate::pipeline {

namespace asio = boost::asio;
using http::ErrorCode;
using Outcome = breaker::ConcurrencyLimiter::Outcome;

namespace {

// A request waiting for a slot: a timer on its own worker's executor, cut short by the hand-off.
// Shared by the waiting coroutine and the wake-up the releasing thread posts, which may arrive after
// the coroutine has moved on (its time ran out just as the slot came).
class PendingWait final : public breaker::ConcurrencyLimiter::Waiter, public std::enable_shared_from_this<PendingWait> {
 public:
  explicit PendingWait(const asio::any_io_executor& executor) : timer(executor) {}

  void granted() override {
    // The slot may come from a request on another worker, and a worker's reactor takes no lock
    // (runtime/worker.hpp): the timer is cancelled on its own thread.
    asio::post(timer.get_executor(), [self = shared_from_this()] { self->timer.cancel(); });
  }

  asio::steady_timer timer;
};

// A wait that ends neither by a hand-off nor by its timer (the coroutine destroyed while suspended,
// at shutdown) leaves the queue, and gives back a slot handed to it meanwhile: the limiter must never
// keep a pointer to a waiter that is gone, nor lose a slot to it.
struct LeaveQueue {
  breaker::ConcurrencyLimiter& limiter;
  PendingWait& wait;
  bool armed = true;
  ~LeaveQueue() {
    if (armed && !limiter.withdraw(wait)) limiter.release();
  }
};

// 503 overloaded, written for the agent's model: which route, why, and when to try again.
Verdict overloaded(RequestContext& x, const breaker::ConcurrencyLimiter& limiter, bool timed_out,
                   std::chrono::milliseconds waited) {
  x.retry_after_s = 1;
  auto limits = limiter.limits();
  std::string why = timed_out ? "no slot came free within " + std::to_string(waited.count()) + " ms"
                    : limits.max_pending == 0
                        ? "it keeps no queue"
                        : "its queue of " + std::to_string(limits.max_pending) + " waiting requests is full";
  std::string most = limits.max_inflight == breaker::ConcurrencyLimits::kUnlimited
                         ? std::string("its")
                         : "all " + std::to_string(limits.max_inflight) + " of its";
  return http::Violation{ErrorCode::overloaded, "route " + x.route->name + " is overloaded: " + most +
                                                    " requests to the upstream at once are taken and " + why +
                                                    "; nothing was sent upstream; retry in 1 s"};
}

// Past the limit: a place in the queue and a wait for the hand-off, or a refusal. On Verdict::next()
// the caller holds a slot (handed over, or free when it asked).
asio::awaitable<Verdict> wait_for_slot(RequestContext& x, breaker::ConcurrencyLimiter& limiter) {
  auto wait = std::make_shared<PendingWait>(co_await asio::this_coro::executor);
  auto outcome = limiter.acquire(*wait);
  if (outcome == Outcome::refused) co_return overloaded(x, limiter, false, {});
  if (outcome == Outcome::queued) {
    // The route's patience as this request's snapshot has it (a route whose limit came with a later
    // reload has the default), never past the request's own deadline.
    const auto& c = x.route->concurrency;
    auto patience = phase(x, c ? c->pending_timeout : config::Concurrency{}.pending_timeout);
    wait->timer.expires_after(patience);
    LeaveQueue leave{limiter, *wait};
    auto [ec] = co_await wait->timer.async_wait(http::use_tuple);
    (void)ec;  // expired, or cancelled by the hand-off: withdraw() tells which won
    leave.armed = false;
    if (limiter.withdraw(*wait)) co_return overloaded(x, limiter, true, patience);
  }
  co_return Verdict::next();
}

}  // namespace

UpstreamSlot::~UpstreamSlot() { release(); }

void UpstreamSlot::release() {
  if (!limiter_) return;
  if (gauge_) gauge_->value.fetch_sub(1, std::memory_order_relaxed);
  limiter_->release();
  limiter_ = nullptr;
  gauge_ = nullptr;
}

void upstream_exchange_done(RequestContext& x) {
  if (x.upstream_slot) x.upstream_slot->release();
  leave_upstream(x);
}

void UpstreamSlot::hold(breaker::ConcurrencyLimiter& limiter, metrics::ValueCell* gauge) {
  limiter_ = &limiter;
  gauge_ = gauge;
  if (gauge_) gauge_->value.fetch_add(1, std::memory_order_relaxed);
}

asio::awaitable<Verdict> take_upstream_slot(RequestContext& x, UpstreamSlot& slot) {
  std::size_t index = x.snapshot.route_index(*x.route);
  auto* limiter = index < x.snapshot.limiters.size() ? x.snapshot.limiters[index].get() : nullptr;
  if (!limiter) co_return Verdict::next();  // POST /v1/scopes: answered by the gateway itself
  auto* gauge = x.snapshot.upstream_inflight[index];
  // The path every request takes: one compare-exchange while below the limit.
  if (limiter->try_acquire()) {
    slot.hold(*limiter, gauge);
    co_return Verdict::next();
  }
  auto verdict = co_await wait_for_slot(x, *limiter);
  if (verdict.proceeds()) slot.hold(*limiter, gauge);
  co_return verdict;
}

}  // namespace scopegate::pipeline
