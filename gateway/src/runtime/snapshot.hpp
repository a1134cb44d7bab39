// Everything a request needs from configuration, built once per (re)load and then immutable.
// Shared by std::shared_ptr<const Snapshot>: a reload publishes a new one; requests in flight
// keep the one they started with.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/agents.hpp"
#include "config/config.hpp"
#include "delegation/token.hpp"
#include "breaker/breaker.hpp"
#include "breaker/concurrency.hpp"
#include "guard/rate_limiter.hpp"
#include "policy/policy.hpp"
#include "router/router.hpp"
#include "runtime/gateway_metrics.hpp"
#include "upstream/retry.hpp"

namespace scopegate::runtime {

// What one endpoint of a route keeps across reloads (while its route keeps its name and the
// endpoint its host and port): requests in flight to it, which the balancer reads, and its circuit
// breaker. Shared, not copied, so requests admitted under the previous snapshot report to the same
// breaker and counts as those admitted under the new one.
// The latest active health check of an endpoint (docs/resilience.md, "Health checks").
enum class Health : std::uint8_t { unknown, passing, failing };
inline std::string_view to_string(Health h) {
  switch (h) {
    case Health::passing: return "passing";
    case Health::failing: return "failing";
    case Health::unknown: break;
  }
  return "unknown";
}

struct EndpointState {
  std::atomic<std::uint32_t> outstanding{0};
  breaker::Breaker breaker;  // consulted while the route has a breaker
  // Written by the endpoint's health checker (app/health_checks.hpp), read by GET /v1/breakers.
  std::atomic<Health> health{Health::unknown};
  std::atomic<std::int64_t> checked_at_ns{0};  // steady clock of the latest check; 0: none yet
};

// One endpoint of a route (docs/resilience.md, "Several endpoints").
struct Endpoint {
  const config::Upstream* upstream = nullptr;  // into the route's `upstreams`
  std::string pool_key;                        // its keep-alive connections (upstream/pool.hpp)
  std::string host_header;                     // the Host sent to it (unless the route preserves the client's)
  std::string label;                           // host:port: the record's `endpoint`, a metric label
  std::shared_ptr<boost::asio::ssl::context> tls;  // null for http://
  // Handed over from the previous snapshot by App::publish() before this one is shared; never
  // replaced afterwards.
  std::shared_ptr<EndpointState> state;
  std::uint16_t metric_label = 0;
};

// A route's endpoints and what they share: the retry budget (state, like the endpoints').
// A breaker of an mcp route with `breaker: {per: tool}`: one per tool the route declares, and one
// (tool "") for every other tool. State, like an endpoint's: a reload shares it by tool name.
struct ToolBreaker {
  std::string tool;
  std::shared_ptr<breaker::Breaker> breaker;
};

struct RouteUpstreams {
  std::vector<Endpoint> endpoints;  // empty only for the gateway's own POST /v1/scopes
  std::shared_ptr<upstream::RetryBudget> retry_budget;  // handed over like Endpoint::state
  bool has_breaker = false;                 // a breaker per endpoint
  std::vector<ToolBreaker> tool_breakers;   // per tool instead: sorted by name, "" (other tools) first
  const config::Route* fallback = nullptr;  // `on_unavailable: fallback`: the route that serves instead

  // The breaker of a tool call to `tool`; null when the route has none per tool.
  const ToolBreaker* tool_breaker(std::string_view tool) const;
};

struct Snapshot {
  explicit Snapshot(config::Config c)
      : config(std::move(c)),
        router(config.routes),
        agents(config.agents),
        keyring(delegation::make_keyring(config.token)),
        scopes_route(make_scopes_route(config)),
        plans_route(make_plans_route(config)),
        id(next_id()) {}
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  // Index of a route into the per-route tables: config.routes in order, then scopes_route, then
  // plans_route (kBuiltinRoutes of them).
  static constexpr std::size_t kBuiltinRoutes = 2;
  std::size_t route_index(const config::Route& r) const {
    if (&r == &scopes_route) return config.routes.size();
    if (&r == &plans_route) return config.routes.size() + 1;
    return static_cast<std::size_t>(&r - config.routes.data());
  }

  const config::Config config;
  const router::Router router;  // refers into config.routes
  const auth::AgentDirectory agents;  // refers into config.agents
  const delegation::Keyring keyring;
  // POST /v1/scopes as a route (docs/protocol.md §4): named "scopegate:scopes", a name no config
  // route can take, so that the stages, the audit record and the metrics treat it as any other.
  const config::Route scopes_route;
  // /v1/plans (docs/plans.md): "scopegate:plans", the same way.
  const config::Route plans_route;
  const std::uint64_t id;  // unique per snapshot in this process (caches made under it key on it)
  std::vector<RouteUpstreams> upstreams;  // per route (indexed like route_index)
  MetricLabels metric_labels;               // label ids of routes, agents and tools (runtime/gateway_metrics.hpp)
  std::shared_ptr<const policy::PolicySet> policies;  // the access policies; null: none configured
  // The config's rate limits with their buckets (state: a reload carries the levels over); null: none.
  std::unique_ptr<guard::RateLimiter> rate_limiter;
  // The settings of each route's breakers (indexed like route_index; meaningful where the route has
  // a breaker). The breakers themselves are per endpoint, in `upstreams`.
  std::vector<breaker::Settings> breaker_settings;
  // Concurrency limits per route (indexed like route_index; null for POST /v1/scopes, which has no
  // upstream). Every route has one, unlimited unless it sets `concurrency:`, so that the count of
  // requests in flight is right whatever limit a later reload sets. State: a reload that keeps a
  // route's name shares its limiter (app/snapshot.hpp, share_concurrency_limiters).
  std::vector<std::shared_ptr<breaker::ConcurrencyLimiter>> limiters;
  // scopegate_upstream_inflight{route} per route (indexed like limiters): the same cell for the same
  // route name in every snapshot, so requests of an older one still count where they should.
  std::vector<metrics::ValueCell*> upstream_inflight;

  // The metrics label of one of this snapshot's agents; "none" for no agent.
  std::uint16_t agent_label(const config::Agent* agent) const;

 private:
  static config::Route make_scopes_route(const config::Config& c);
  static config::Route make_plans_route(const config::Config& c);
  static std::uint64_t next_id();
};

}  // namespace scopegate::runtime
