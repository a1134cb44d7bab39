#include "router/router.hpp"

#include <algorithm>
#include <string>

namespace scopegate::router {

bool path_has_prefix(std::string_view path, std::string_view prefix) {
  if (!path.starts_with(prefix)) return false;
  if (path.size() == prefix.size() || prefix.ends_with('/')) return true;
  char next = path[prefix.size()];
  return next == '/' || next == '?';
}

bool covers(const config::RouteMatch& b, const config::RouteMatch& a) {
  if (!path_has_prefix(a.path_prefix, b.path_prefix)) return false;
  if (!b.host.empty() && b.host != a.host) return false;
  if (b.methods.empty()) return true;
  if (a.methods.empty()) return false;
  return std::all_of(a.methods.begin(), a.methods.end(), [&](const std::string& m) {
    return std::find(b.methods.begin(), b.methods.end(), m) != b.methods.end();
  });
}

const config::Route* Router::match(std::string_view host, std::string_view method,
                                   std::string_view target) const {
  for (const auto& route : *routes_) {
    const auto& m = route.match;
    if (!m.host.empty() && m.host != host) continue;
    if (!m.methods.empty() && std::find(m.methods.begin(), m.methods.end(), method) == m.methods.end()) {
      continue;
    }
    if (path_has_prefix(target, m.path_prefix)) return &route;
  }
  return nullptr;
}

std::string upstream_target(const config::Route& route, std::string_view target) {
  std::string_view rest = target;
  if (route.strip_prefix) {
    std::string_view prefix = route.match.path_prefix;
    if (prefix.ends_with('/')) prefix.remove_suffix(1);
    rest = target.substr(prefix.size());
  }
  std::string out = route.upstream.base_path;
  if ((rest.empty() || rest.front() == '?') && out.empty()) out.push_back('/');
  out += rest;
  return out;
}

}  // namespace scopegate::router
