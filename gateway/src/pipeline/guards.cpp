#include "pipeline/guards.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cmath>

#include "clock/steady.hpp"
#include "guard/loop_guard.hpp"
#include "guard/rate_limiter.hpp"
#include "http/use_tuple.hpp"
#include "llm/usage.hpp"
#include "pipeline/request_end.hpp"
#include "runtime/services.hpp"

namespace scopegate::pipeline {

namespace asio = boost::asio;
using http::ErrorCode;

using clock::steady_ns;

namespace {

// Whole seconds, rounded up: a client that waits this long finds room.
std::int64_t seconds_up(std::int64_t ns) { return std::max<std::int64_t>(1, (ns + 999'999'999) / 1'000'000'000); }

int agent_index(const RequestContext& x) {
  if (!x.agent) return -1;
  return static_cast<int>(x.agent - x.snapshot.config.agents.data());
}

}  // namespace

namespace {

Verdict rate_limited(RequestContext& x, const config::RateLimit& limit, std::int64_t wait_ns) {
  x.guard_rule = "rate_limit:" + limit.id;
  x.retry_after_s = seconds_up(wait_ns);
  std::string who = limit.per == config::RateLimit::Per::route ? "route " + x.route->name
                    : limit.per == config::RateLimit::Per::agent
                        ? "agent " + (x.agent ? x.agent->id : std::string("(none)"))
                        : "agent " + (x.agent ? x.agent->id : std::string("(none)")) + " on route " + x.route->name;
  return http::Violation{ErrorCode::rate_limited,
                         "rate limit " + limit.id + " for " + who + " is used up; retry in " +
                             std::to_string(x.retry_after_s) + " s"};
}

// 503 while the fleet's store is unreachable and the setting says closed (docs/fleet.md).
Verdict store_unavailable(RequestContext& x, std::string_view what, fleet::Node& node) {
  node.stats().unavailable_refusals.fetch_add(1, std::memory_order_relaxed);
  x.guard_rule = "fleet:" + std::string(what);
  x.retry_after_s = 1;
  return http::Violation{ErrorCode::overloaded, "the fleet's shared " + std::string(what) +
                                                    " cannot be checked now (the store is unreachable); retry in 1 s"};
}

// A short pause while another request's lease is in flight (a round trip to Redis, well under a
// millisecond on a LAN): looked at again each millisecond.
asio::awaitable<void> wait_a_moment() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(std::chrono::milliseconds(1));
  co_await timer.async_wait(http::use_tuple);
}

// Fleet mode: the tokens come from this node's leases of the fleet's buckets; a bucket with none
// left leases more (one Redis round trip for a slice of `fleet.rate_limits.lease` of its burst).
asio::awaitable<Verdict> take_fleet_rate_tokens(RequestContext& x, guard::RateLimiter& limiter, fleet::Node& node) {
  const auto& settings = node.settings();
  int agent = agent_index(x);
  std::size_t route = x.snapshot.route_index(*x.route);
  // Enough turns to wait out another request's lease for twice the store's timeout.
  const int turns = 4 + 2 * static_cast<int>(settings.redis.timeout.count());
  for (int attempt = 0; attempt < turns; ++attempt) {
    auto shortage = limiter.take_leased(agent, route, steady_ns());
    if (!shortage) co_return Verdict::next();
    const config::RateLimit& limit = *shortage->limit;
    // The fleet's bucket was empty a moment ago: refused without asking again.
    if (shortage->empty_ns > 0) co_return rate_limited(x, limit, shortage->empty_ns);
    if (!limiter.begin_lease(shortage->bucket)) {
      // Another request of this node is leasing for the bucket: wait for its lease rather than
      // ask too (requests at once would each take a slice, and empty the fleet's bucket).
      co_await wait_a_moment();
      continue;
    }
    // Ended however this coroutine ends (an exception, the worker stopping), so no bucket is left
    // waiting on a lease nobody asks for.
    struct LeaseTurn {
      guard::RateLimiter& limiter;
      std::size_t bucket;
      std::int64_t empty_until_ns = 0;
      ~LeaseTurn() { limiter.end_lease(bucket, empty_until_ns); }
    } turn{limiter, shortage->bucket};
    auto want = static_cast<std::uint64_t>(std::max(1.0, std::floor(limit.burst * settings.rate_lease)));
    auto name = limiter.bucket_name(shortage->bucket);
    auto lease = co_await node.lease_rate(std::move(name), want, limit.rate, limit.burst);
    if (lease.failed) {
      if (settings.rate_limits_unavailable == config::Fleet::OnUnavailable::closed) {
        co_return store_unavailable(x, "rate limits", node);
      }
      // local: this node's own buckets, each at the whole limit.
      node.stats().local_fallbacks.fetch_add(1, std::memory_order_relaxed);
      auto refused = limiter.take(agent, route, steady_ns());
      co_return refused ? rate_limited(x, *refused->limit, refused->wait_ns) : Verdict::next();
    }
    std::int64_t now = steady_ns();
    if (lease.granted == 0) {
      turn.empty_until_ns = now + lease.wait_ns;
      co_return rate_limited(x, limit, lease.wait_ns);
    }
    limiter.add_lease(shortage->bucket, lease.granted, now, now + std::chrono::nanoseconds(settings.rate_lease_ttl).count());
  }
  // Leases taken for it, spent by other requests before this one each time (slices too small for
  // the traffic, or a slow Redis): the limit did not refuse it, the fleet's store could not serve it.
  co_return store_unavailable(x, "rate limits", node);
}

}  // namespace

asio::awaitable<Verdict> check_rate_limits(RequestContext& x) {
  guard::RateLimiter* limiter = x.snapshot.rate_limiter.get();
  if (!limiter) co_return Verdict::next();
  if (auto* node = x.worker.app().fleet()) co_return co_await take_fleet_rate_tokens(x, *limiter, *node);
  auto refused = limiter->take(agent_index(x), x.snapshot.route_index(*x.route), steady_ns());
  if (!refused) co_return Verdict::next();
  co_return rate_limited(x, *refused->limit, refused->wait_ns);
}

Verdict check_loop_guard(RequestContext& x) {
  const auto& settings = x.snapshot.config.loop_guard;
  if (settings.max_repeats == 0 || !x.token || x.action.empty()) return Verdict::next();
  // MCP calls that name an action, and messages to sub-agents; a task being polled is no loop.
  bool counted = x.route->kind == config::RouteKind::mcp || (x.route->kind == config::RouteKind::a2a && x.delegates);
  if (!counted || !x.body_buffered) return Verdict::next();
  auto call = guard::fingerprint_call(x.token->current().sid, x.action, x.call_content);
  guard::LoopSettings s{settings.max_repeats, std::chrono::nanoseconds(settings.window).count(), settings.max_entries};
  auto wait_ns = x.worker.app().loop_guard().count(call, s, steady_ns());
  if (!wait_ns) return Verdict::next();
  x.guard_rule = "loop_guard";
  x.retry_after_s = seconds_up(*wait_ns);
  return http::Violation{
      ErrorCode::loop_detected,
      "the same call (" + x.action + " with the same arguments) was made " + std::to_string(settings.max_repeats) +
          " times in this scope within " + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(settings.window).count()) +
          " s; change the arguments or the approach instead of repeating it"};
}

namespace {

// The chain of the request's scope, root first, with each scope's limits (by the agent acting in it).
std::size_t chain_of(const RequestContext& x, std::array<guard::ChainScope, 16>& chain) {
  const auto& scopes = x.token->scopes;
  std::size_t n = std::min(scopes.size(), chain.size());
  const auto& budgets = x.snapshot.config.budgets;
  for (std::size_t i = 0; i < n; ++i) {
    const config::BudgetLimits& limits = budgets.for_agent(scopes[i].agt);
    chain[i] = guard::ChainScope{scopes[i].sid, limits.any() ? &limits : nullptr, x.token->expires_at[i]};
  }
  return n;
}

}  // namespace

asio::awaitable<Verdict> spend_budget(RequestContext& x) {
  if (!x.token) co_return Verdict::next();
  std::array<guard::ChainScope, 16> chain{};
  std::size_t n = chain_of(x, chain);
  guard::Charge charge;
  if (!x.action.empty()) charge.actions = 1;
  // A scope opened below this one: a delegation, or POST /v1/scopes with a token.
  if (x.delegates || x.route->kind == config::RouteKind::scopes) charge.delegations = 1;
  // A call to a model API: the token and cost budgets apply. What it will use is not known yet:
  // an estimate is held while it runs (so calls at once cannot all pass on the same headroom)
  // and settled to what its response reported when it ends.
  if (x.route->kind == config::RouteKind::llm && !x.action.empty()) {
    charge.llm = true;
    charge.tokens = x.reserve_tokens;
    charge.cost = x.reserve_cost;
    charge.unpriced = !x.snapshot.config.llm.price(x.model);
  }
  auto& app = x.worker.app();
  auto exhausted = app.budgets().try_spend({chain.data(), n}, charge);
  // Fleet mode: this node's lease of a budget ran out, not the budget. Take more and try again
  // (a few times: requests at once may spend what one of them leased).
  for (int attempt = 0; exhausted && exhausted->lease_short && attempt < 4; ++attempt) {
    auto* store = app.fleet_budgets();
    std::span<const guard::ChainScope> whole(chain.data(), n);
    auto outcome = co_await store->take_leases(whole, charge);
    if (outcome == fleet::FleetBudgetStore::LeaseOutcome::unavailable) {
      if (app.fleet()->settings().budgets_unavailable == config::Fleet::OnUnavailable::closed) {
        co_return store_unavailable(x, "budgets", *app.fleet());
      }
      exhausted = store->spend_locally({chain.data(), n}, charge);  // local: this node's own counters
      break;
    }
    exhausted = app.budgets().try_spend({chain.data(), n}, charge);
  }
  if (exhausted && exhausted->lease_short) {
    // Leases taken for it, spent by other requests first each time: the budget did not refuse it.
    co_return store_unavailable(x, "budgets", *app.fleet());
  }
  if (!exhausted) {
    x.budget_spent = charge;
    x.budget_reserved = true;
    co_return Verdict::next();
  }
  const auto& e = *exhausted;
  x.guard_rule = "budget:" + std::string(guard::to_string(e.kind));
  x.budget_exhausted = e.kind;
  const auto& scope = x.token->scopes[e.index];
  std::string whose = e.index + 1 == n ? "this scope (" + scope.sid + ")"
                                        : "ancestor scope " + scope.sid + " (agent " + scope.agt + ", depth " +
                                              std::to_string(e.index) + ")";
  const std::string& currency = x.snapshot.config.llm.currency;
  std::string what = e.kind == guard::BudgetKind::children
                         ? "may open at most " + std::to_string(e.limit) + " scopes itself"
                     : e.kind == guard::BudgetKind::bytes_out
                         ? "has received " + std::to_string(e.used) + " of its " + std::to_string(e.limit) + " bytes"
                     : e.kind == guard::BudgetKind::cost && charge.unpriced
                         ? "has a cost budget, and " + (x.model.empty() ? "this endpoint" : "model " + x.model) +
                               " has no price in llm.prices: only priced models may be called under it"
                     : e.kind == guard::BudgetKind::cost
                         ? "has spent " + llm::format_cost(e.used) + " of its " + llm::format_cost(e.limit) + " " +
                               currency + " on model calls"
                     : e.kind == guard::BudgetKind::tokens
                         ? "has used " + std::to_string(e.used) + " of its " + std::to_string(e.limit) + " model tokens"
                         : "has used " + std::to_string(e.used) + " of its " + std::to_string(e.limit) + " " +
                               std::string(guard::to_string(e.kind));
  co_return http::Violation{ErrorCode::budget_exhausted,
                            "the " + std::string(guard::to_string(e.kind)) + " budget of " + whose + " is spent: it " +
                                what + "; ask the agent that delegated to you, or a person, for a new scope"};
}

void settle_budget(runtime::Services& app, const RequestSummary& summary) {
  if (summary.budget_chain_size == 0) return;
  const auto& f = summary.facts;
  // What the record says the request spent (guard/budget_replay.cpp reads it back the same way).
  // A record written before forwarding (strict routes) says "allow" whatever then became of the
  // request, an upstream that could not be reached included: it stays spent, as it will be when
  // the counters are rebuilt from that record.
  guard::Charge is;
  if (f.allowed || summary.recorded == RequestContext::Recorded::before_forward) {
    if (!f.action.empty()) is.actions = 1;
    if (!f.child_scope.empty()) is.delegations = 1;
    is.bytes_out = f.bytes_out;
    if (f.usage) {
      is.tokens = f.usage->total();
      is.cost = f.cost;
    }
  }
  guard::Charge was = summary.budget_reserved ? summary.budget_spent : guard::Charge{};
  is.llm = was.llm;
  is.unpriced = was.unpriced;
  app.budgets().settle({summary.budget_chain.data(), summary.budget_chain_size}, was, is);
}

void give_back_budget(RequestContext& x) {
  if (!x.budget_reserved || x.ended || !x.token) return;
  std::array<guard::ChainScope, 16> chain{};
  std::size_t n = chain_of(x, chain);
  x.worker.app().budgets().settle({chain.data(), n}, x.budget_spent, guard::Charge{});
  x.budget_reserved = false;
}

}  // namespace scopegate::pipeline
