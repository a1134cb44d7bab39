// A route's endpoints as a stage and an observer (docs/resilience.md). Before anything is forwarded,
// an endpoint is chosen: among those whose circuit breaker admits the request, by the power of two
// choices over the fewest requests in flight (weighted). When no endpoint admits it, the gateway
// answers at once, 503 breaker_open with Retry-After, and no upstream sees anything. A failed
// attempt that may be retried reports to its endpoint's breaker and the next endpoint is chosen the
// same way; when the request ends, what the last endpoint did is recorded, which may trip or close
// its breaker. Each transition is a breaker.transition audit record and a metric.
#pragma once

#include "pipeline/context.hpp"
#include "pipeline/verdict.hpp"

namespace scopegate::pipeline {

struct RequestSummary;

// Stage 10d: the first endpoint, or breaker_open.
Verdict choose_endpoint(RequestContext& x);

// Why an attempt failed in a way that may be retried (the retry reasons of
// scopegate_retries_total): no connection was made, or the upstream reset an idempotent request
// without a body before its response head.
enum class RetryReason { connect, reset };

// After attempt `x.retries` failed with `code` for `reason`: reports the failure to the endpoint's
// breaker, and, when the route's retry policy and budget allow and an endpoint not yet tried
// admits the request, switches the request to it and returns how long to wait first (ns).
// nullopt: no retry; the caller answers with the failure.
std::optional<std::int64_t> prepare_retry(RequestContext& x, http::ErrorCode code, RetryReason reason);

void record_breaker(runtime::Services& app, const RequestSummary& summary);
// A probe whose upstream answered with a head that is no failure closes the breaker now, rather than
// when its body ends (a stream would hold the probe's slot as long as it lasts); the request is then
// recorded as any other when it ends.
void decide_probe_on_head(RequestContext& x);
// However the request ends: it leaves its endpoint's outstanding count and the route's retry
// budget, and a probe that never reported (the client left before any reply, or a stage threw)
// frees its half-open slot, so the breaker is not stuck waiting for it.
void leave_endpoint(RequestContext& x);
// The upstream's response has ended: the request leaves its endpoint's outstanding count and gives
// back the fallback route's slot now, before its last bytes reach the client (leave_endpoint does
// what is left when the request ends).
void leave_upstream(RequestContext& x);

}  // namespace scopegate::pipeline
