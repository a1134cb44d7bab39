#include "config/route_match.hpp"

#include <algorithm>
#include <string>

namespace scopegate::config {

bool path_has_prefix(std::string_view path, std::string_view prefix) {
  if (!path.starts_with(prefix)) return false;
  if (path.size() == prefix.size() || prefix.ends_with('/')) return true;
  char next = path[prefix.size()];
  return next == '/' || next == '?';
}

bool covers(const RouteMatch& b, const RouteMatch& a) {
  if (!path_has_prefix(a.path_prefix, b.path_prefix)) return false;
  if (!b.host.empty() && b.host != a.host) return false;
  if (b.methods.empty()) return true;
  if (a.methods.empty()) return false;
  return std::all_of(a.methods.begin(), a.methods.end(), [&](const std::string& m) {
    return std::find(b.methods.begin(), b.methods.end(), m) != b.methods.end();
  });
}

}  // namespace scopegate::config
