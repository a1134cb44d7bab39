#include "runtime/snapshot.hpp"

#include <algorithm>
#include <atomic>

namespace scopegate::runtime {

const ToolBreaker* RouteUpstreams::tool_breaker(std::string_view tool) const {
  if (tool_breakers.empty()) return nullptr;
  auto it = std::lower_bound(tool_breakers.begin() + 1, tool_breakers.end(), tool,
                             [](const ToolBreaker& b, std::string_view t) { return b.tool < t; });
  if (it != tool_breakers.end() && it->tool == tool) return &*it;
  return &tool_breakers.front();  // a tool the route does not declare: the breaker of the others
}

std::uint16_t Snapshot::agent_label(const config::Agent* agent) const {
  const auto& all = config.agents;
  if (!agent || all.empty() || agent < all.data() || agent >= all.data() + all.size()) {
    return GatewayMetrics::instance().none;
  }
  auto index = static_cast<std::size_t>(agent - all.data());
  return index < metric_labels.agents.size() ? metric_labels.agents[index] : GatewayMetrics::instance().none;
}

config::Route Snapshot::make_scopes_route(const config::Config& c) {
  config::Route r;
  r.name = "scopegate:scopes";
  r.kind = config::RouteKind::scopes;
  r.match.path_prefix = "/v1/scopes";
  r.match.methods = {"POST"};
  // An agent credential always; a Delegation-Token when the scope opened is a child.
  r.access = config::Access::authenticated;
  r.grants.clear();
  // The body is a small JSON object, read whole and parsed before anything is minted.
  r.max_body_bytes = 64 * 1024;
  r.max_inspect_bytes = r.max_body_bytes;
  r.timeouts = c.timeouts;
  r.paths = c.paths.rules;
  r.location = "built in";
  return r;
}

config::Route Snapshot::make_plans_route(const config::Config& c) {
  config::Route r;
  r.name = "scopegate:plans";
  r.kind = config::RouteKind::plans;
  r.match.path_prefix = "/v1/plans";
  r.match.methods = {"GET", "POST"};
  // An agent credential and the Delegation-Token of the scope the plan belongs to.
  r.access = config::Access::authenticated;
  r.grants.clear();
  // A plan of 64 tasks with their objectives and action lists fits well within this.
  r.max_body_bytes = 256 * 1024;
  r.max_inspect_bytes = r.max_body_bytes;
  r.timeouts = c.timeouts;
  r.paths = c.paths.rules;
  r.location = "built in";
  return r;
}

std::uint64_t Snapshot::next_id() {
  static std::atomic<std::uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace scopegate::runtime
