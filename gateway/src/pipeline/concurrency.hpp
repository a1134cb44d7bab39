// The route's concurrency limit as a stage (docs/resilience.md, "Concurrency limits"): a request
// takes one of the route's upstream slots, or waits in the route's bounded queue for one, or is
// refused at once with 503 overloaded and Retry-After (the upstream sees nothing). The slot is held
// until the upstream's response has ended (for a streamed response, SSE, the end of the stream),
// and given back before its last bytes go to the client.
// Every route counts its requests in flight (scopegate_upstream_inflight{route}), limited or not.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <cstdint>

#include "pipeline/context.hpp"
#include "pipeline/verdict.hpp"

namespace scopegate::pipeline {

// One slot of a route's limit, given back when the holder goes out of scope: after the exchange,
// or when an exception or a cancelled coroutine unwinds it.
class UpstreamSlot {
 public:
  UpstreamSlot() = default;
  UpstreamSlot(const UpstreamSlot&) = delete;
  UpstreamSlot& operator=(const UpstreamSlot&) = delete;
  ~UpstreamSlot();
  // Gives the slot back now, once the upstream's response has ended, before its last bytes reach
  // the client: the next request must not find the slot taken by one that is over. Idempotent.
  void release();

 private:
  friend boost::asio::awaitable<Verdict> take_upstream_slot(RequestContext& x, UpstreamSlot& slot);
  void hold(breaker::ConcurrencyLimiter& limiter, metrics::ValueCell* gauge);

  // Both outlive the slot: the request's snapshot, which holds them, lives until the request ends.
  breaker::ConcurrencyLimiter* limiter_ = nullptr;
  metrics::ValueCell* gauge_ = nullptr;
};

// The upstream exchange is over (its response read whole): the request's concurrency slots go back
// (its route's, and the fallback route's if it was served from there) and it leaves its endpoint.
void upstream_exchange_done(RequestContext& x);

// Takes a slot of the route's limit into `slot`, waiting up to the route's pending_timeout (and no
// longer than the request's own deadline) where it has a queue; else refuses with 503 overloaded.
// POST /v1/scopes, which goes to no upstream, takes none.
boost::asio::awaitable<Verdict> take_upstream_slot(RequestContext& x, UpstreamSlot& slot);

}  // namespace scopegate::pipeline
