// The route's circuit breaker as a stage and an observer (docs/resilience.md): before anything is
// forwarded, an open breaker answers at once, 503 breaker_open with Retry-After, and the upstream
// sees nothing; when the request ends, what the upstream did is recorded, which may trip or close
// the breaker. Each transition is a breaker.transition audit record and a metric.
#pragma once

#include "pipeline/context.hpp"
#include "pipeline/verdict.hpp"

namespace scopegate::pipeline {

struct RequestSummary;

Verdict admit_to_upstream(RequestContext& x);
void record_breaker(runtime::Services& app, const RequestSummary& summary);
// A probe whose upstream answered with a head that is no failure closes the breaker now, rather than
// when its body ends (a stream would hold the probe's slot as long as it lasts); the request is then
// recorded as any other when it ends.
void decide_probe_on_head(RequestContext& x);
// A request that ends without its observers running (the client left before any reply, or a stage
// threw) frees the half-open probe slot it held, so the breaker is not stuck waiting for it.
void abandon_breaker_probe(RequestContext& x);

}  // namespace scopegate::pipeline
