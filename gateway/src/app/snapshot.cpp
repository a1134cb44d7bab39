#include "app/snapshot.hpp"

#include <algorithm>
#include <filesystem>

#include "listener/tls.hpp"
#include "upstream/pool.hpp"
#include "upstream/tls_client.hpp"

namespace scopegate::app {

namespace {

// The policy files of `config.policies`, in order: a directory stands for its *.yaml and *.yml
// files, by name. Loaded whole or not at all: one error refuses the snapshot (a reload keeps the
// running policies).
void load_policies(Snapshot& snapshot, std::vector<config::ConfigError>& errors) {
  const auto& config = snapshot.config;
  if (config.policies.empty()) return;
  std::vector<std::string> files;
  for (std::size_t i = 0; i < config.policies.size(); ++i) {
    const std::string& path = config.policies[i];
    std::string key = "policies[" + std::to_string(i) + "]";
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      std::vector<std::string> found;
      for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
        auto ext = entry.path().extension();
        if (entry.is_regular_file(ec) && (ext == ".yaml" || ext == ".yml")) found.push_back(entry.path().string());
      }
      if (ec) {
        errors.push_back({config.source_file, 0, key, "cannot read the directory " + path + ": " + ec.message()});
        continue;
      }
      if (found.empty()) {
        errors.push_back({config.source_file, 0, key, "no policy files (*.yaml, *.yml) in " + path});
        continue;
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (std::filesystem::is_regular_file(path, ec)) {
      files.push_back(path);
    } else {
      errors.push_back({config.source_file, 0, key, "no such policy file or directory: " + path});
    }
  }
  if (!errors.empty()) return;
  auto loaded = policy::load_policy_files(files);
  if (auto* failed = std::get_if<std::vector<policy::LoadError>>(&loaded)) {
    errors.insert(errors.end(), failed->begin(), failed->end());
    return;
  }
  snapshot.policies = std::get<std::shared_ptr<const policy::PolicySet>>(std::move(loaded));
}

}  // namespace

breaker::ConcurrencyLimits concurrency_limits(const config::Route& route) {
  if (!route.concurrency) return {};
  return {route.concurrency->max_inflight, route.concurrency->max_pending};
}

void share_concurrency_limiters(Snapshot& next, const Snapshot& current) {
  for (std::size_t i = 0; i < next.config.routes.size(); ++i) {
    const auto& route = next.config.routes[i];
    for (std::size_t j = 0; j < current.config.routes.size(); ++j) {
      if (current.config.routes[j].name != route.name || !current.limiters[j]) continue;
      next.limiters[i] = current.limiters[j];
      next.limiters[i]->configure(concurrency_limits(route));
      break;
    }
  }
}

std::shared_ptr<Snapshot> build_snapshot(config::Config config, std::vector<config::ConfigError>& errors) {
  auto snapshot = std::make_shared<Snapshot>(std::move(config));
  const auto& routes = snapshot->config.routes;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const auto& route = routes[i];
    auto& out = snapshot->upstreams.emplace_back();
    out.retry_budget = std::make_shared<upstream::RetryBudget>();
    bool per_tool = route.breaker && route.breaker->per == config::Breaker::Per::tool;
    // Per tool or not, each endpoint has its breaker: a dead endpoint is ejected either way (on a
    // route per tool, what the tools answer counts for their breakers only).
    out.has_breaker = route.breaker.has_value();
    if (per_tool) {
      out.tool_breakers.push_back({"", std::make_shared<breaker::Breaker>()});
      for (const auto& [tool, label] : route.tools) {  // a std::map: in order of name
        out.tool_breakers.push_back({tool, std::make_shared<breaker::Breaker>()});
      }
    }
    for (std::size_t e = 0; e < route.upstreams.size(); ++e) {
      const auto& u = route.upstreams[e];
      auto& endpoint = out.endpoints.emplace_back();
      endpoint.upstream = &u;
      endpoint.pool_key = upstream::pool_key(u);
      std::string authority = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
      endpoint.label = authority + ":" + std::to_string(u.port);
      endpoint.host_header = u.port != (u.tls ? 443 : 80) ? endpoint.label : authority;
      endpoint.state = std::make_shared<runtime::EndpointState>();
      if (u.tls) {
        std::string error;
        endpoint.tls = upstream::make_client_context(u, error);
        if (!endpoint.tls) {
          std::string key = "routes[" + std::to_string(i) + "].upstream";
          if (route.upstreams.size() > 1) key += "[" + std::to_string(e) + "]";
          errors.push_back({route.location.substr(0, route.location.rfind(':')), 0, key, error});
        }
      }
    }
  }
  // The gateway's own routes (POST /v1/scopes, /v1/plans): answered by the gateway, no endpoint.
  snapshot->upstreams.resize(routes.size() + runtime::Snapshot::kBuiltinRoutes);
  for (std::size_t i = 0; i < routes.size(); ++i) {
    if (routes[i].on_unavailable != config::OnUnavailable::fallback) continue;
    for (const auto& other : routes) {
      if (other.name == routes[i].fallback) snapshot->upstreams[i].fallback = &other;
    }
  }
  for (std::size_t i = 0; i < snapshot->config.listeners.size(); ++i) {
    const auto& l = snapshot->config.listeners[i];
    if (!l.tls) continue;
    std::string error;
    if (!listener::make_server_context(*l.tls, error)) {
      errors.push_back({snapshot->config.source_file, 0, "listeners[" + std::to_string(i) + "].tls", error});
    }
  }
  load_policies(*snapshot, errors);
  if (!errors.empty()) return nullptr;
  // The breaker settings of each route that asks for breakers (one per endpoint).
  snapshot->breaker_settings.resize(snapshot->config.routes.size() + runtime::Snapshot::kBuiltinRoutes);
  for (std::size_t i = 0; i < snapshot->config.routes.size(); ++i) {
    const auto& b = snapshot->config.routes[i].breaker;
    if (!b) continue;
    auto ns = [](config::Duration d) { return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(); };
    snapshot->breaker_settings[i] = breaker::Settings{b->consecutive_failures, b->failure_ratio, b->min_requests,
                                                      ns(b->window), ns(b->open), ns(b->max_open), 0.1,
                                                      b->half_open_probes};
  }
  if (!snapshot->config.rate_limits.empty()) {
    std::vector<std::string> route_names;
    for (const auto& r : snapshot->config.routes) route_names.push_back(r.name);
    route_names.push_back(snapshot->scopes_route.name);  // indexed like Snapshot::route_index
    route_names.push_back(snapshot->plans_route.name);
    snapshot->rate_limiter = std::make_unique<guard::RateLimiter>(snapshot->config.rate_limits,
                                                                  snapshot->config.agents, route_names);
  }
  snapshot->metric_labels = runtime::GatewayMetrics::instance().resolve(snapshot->config, snapshot->policies.get());
  for (std::size_t i = 0; i < routes.size(); ++i) {
    for (std::size_t e = 0; e < snapshot->upstreams[i].endpoints.size(); ++e) {
      snapshot->upstreams[i].endpoints[e].metric_label = snapshot->metric_labels.endpoints[i][e];
    }
  }
  // A concurrency limiter per route, limited or not (runtime/snapshot.hpp says why), and its gauge,
  // whose series exists from the start (at zero, or at what an earlier snapshot left in flight).
  auto& registry = runtime::GatewayMetrics::instance().registry();
  for (std::size_t i = 0; i < snapshot->config.routes.size(); ++i) {
    snapshot->limiters.push_back(
        std::make_shared<breaker::ConcurrencyLimiter>(concurrency_limits(snapshot->config.routes[i])));
    auto key = metrics::pack(snapshot->metric_labels.routes[i]);
    snapshot->upstream_inflight.push_back(&registry.value(metrics::Family::upstream_inflight, key));
  }
  for (std::size_t i = 0; i < runtime::Snapshot::kBuiltinRoutes; ++i) {  // the gateway's own routes
    snapshot->limiters.emplace_back();
    snapshot->upstream_inflight.push_back(nullptr);
  }
  return snapshot;
}

}  // namespace scopegate::app
