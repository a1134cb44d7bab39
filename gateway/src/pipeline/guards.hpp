// The guards against runaway use (docs/policies.md, "Budgets, rate limits and the loop guard"), as
// stages after the policies: rate limits per agent and route, the loop guard per scope, then the
// budgets of the scope's whole chain. In that order, so a request one of them refuses spends
// nothing of what the later ones count. Each is a pure decision (guard/) over state the stage hands
// it with the clock; a refusal is 429 with the guard's rule and, where waiting helps, Retry-After.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "pipeline/context.hpp"
#include "pipeline/verdict.hpp"

namespace scopegate::pipeline {

struct RequestSummary;

// In fleet mode a bucket whose leased tokens ran out waits for a lease from Redis (docs/fleet.md).
boost::asio::awaitable<Verdict> check_rate_limits(RequestContext& x);
Verdict check_loop_guard(RequestContext& x);
// Spends the request's action (and delegation) from every budget of its chain, or refuses. In
// fleet mode a budget whose lease ran out waits for more from Redis (docs/fleet.md).
boost::asio::awaitable<Verdict> spend_budget(RequestContext& x);
// An end-of-request observer: what the request spent is settled against what its record says it
// did (let through or not, a scope opened or not, its response bytes), the same rule by which the
// counters are rebuilt from the log at start (guard/budget_replay.hpp).
void settle_budget(runtime::Services& app, const RequestSummary& summary);
// A request that ends with no record (its client left before it was forwarded or answered, or a
// stage threw) gives back what spend_budget reserved: nothing in the log says it was let through.
void give_back_budget(RequestContext& x);

}  // namespace scopegate::pipeline
