#include "app/snapshot.hpp"

#include "listener/tls.hpp"
#include "upstream/pool.hpp"
#include "upstream/tls_client.hpp"

namespace scopegate::app {

std::shared_ptr<const Snapshot> build_snapshot(config::Config config, std::vector<config::ConfigError>& errors) {
  auto snapshot = std::make_shared<Snapshot>(std::move(config));
  const auto& routes = snapshot->config.routes;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const auto& route = routes[i];
    snapshot->pool_keys.push_back(upstream::pool_key(route.upstream));
    const auto& u = route.upstream;
    std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
    if (u.port != (u.tls ? 443 : 80)) host += ":" + std::to_string(u.port);
    snapshot->upstream_hosts.push_back(std::move(host));
    std::shared_ptr<boost::asio::ssl::context> ctx;
    if (route.upstream.tls) {
      std::string error;
      ctx = upstream::make_client_context(route.upstream, error);
      if (!ctx) {
        errors.push_back({route.location.substr(0, route.location.rfind(':')), 0,
                          "routes[" + std::to_string(i) + "].upstream", error});
      }
    }
    snapshot->upstream_tls.push_back(std::move(ctx));
  }
  for (std::size_t i = 0; i < snapshot->config.listeners.size(); ++i) {
    const auto& l = snapshot->config.listeners[i];
    if (!l.tls) continue;
    std::string error;
    if (!listener::make_server_context(*l.tls, error)) {
      errors.push_back({snapshot->config.source_file, 0, "listeners[" + std::to_string(i) + "].tls", error});
    }
  }
  if (!errors.empty()) return nullptr;
  snapshot->metric_labels = runtime::GatewayMetrics::instance().resolve(snapshot->config);
  return snapshot;
}

}  // namespace scopegate::app
