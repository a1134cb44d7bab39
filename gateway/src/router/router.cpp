#include "router/router.hpp"

#include <algorithm>
#include <string>

#include "config/route_match.hpp"
#include "http/hygiene.hpp"
#include "http/path.hpp"

namespace scopegate::router {

const config::Route* Router::match(std::string_view host, std::string_view method,
                                   std::string_view target) const {
  for (const auto& route : *routes_) {
    const auto& m = route.match;
    if (!m.host.empty() && m.host != host) continue;
    if (!m.methods.empty() && std::find(m.methods.begin(), m.methods.end(), method) == m.methods.end()) {
      continue;
    }
    if (config::path_has_prefix(target, m.path_prefix)) return &route;
  }
  return nullptr;
}

// Order. What needs no route is decided first, the same for every route: dot segments, escaped
// unreserved characters and merged slashes, with %2F and %5C kept escaped so that they cannot act
// as separators yet. The route is matched on that path, and then the route's own choices apply to
// what is left (%2F, %5C, ';'); with no route, the top-level rules decide. A route that unescapes
// gets its path decoded and normalised again, which must still match the same route: a path whose
// route changes by decoding is refused, so the route whose rules were applied is the route served.
// The caller writes the result back into the request, so every later stage (routing again,
// forwarding, the audit record) reads this one path.
ResolvedTarget resolve_target(const Router& router, const config::Paths& paths, std::string_view host,
                              std::string_view method, std::string_view target) {
  ResolvedTarget out;
  auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q);
  if (!http::needs_normalizing(path)) return out;

  http::PathOptions options{.merge_slashes = paths.merge_slashes, .unescape_slashes = false};
  auto normal = http::normalize_path(path, options);
  if (!normal.error.empty()) {
    out.refusal = std::move(normal.error);
    return out;
  }
  std::string candidate = std::move(normal.path);
  candidate += query;
  if (normal.escaped_slash || normal.path_params) {
    std::string host_key = http::host_without_port(host);
    const config::Route* route = router.match(host_key, method, candidate);
    const config::PathRules& rules = route ? route->paths : paths.rules;
    if (normal.path_params && rules.path_params == config::PathParams::reject) {
      out.refusal = "';' path parameters are not allowed here (paths.path_params: reject)";
      return out;
    }
    if (normal.escaped_slash && rules.escaped_slashes == config::EscapedSlashes::reject) {
      out.refusal = "%2F or %5C in the path is not allowed here (paths.escaped_slashes: reject)";
      return out;
    }
    if (normal.escaped_slash && rules.escaped_slashes == config::EscapedSlashes::unescape) {
      options.unescape_slashes = true;
      auto decoded = http::normalize_path(path, options);
      if (!decoded.error.empty()) {
        out.refusal = std::move(decoded.error);
        return out;
      }
      candidate = std::move(decoded.path);
      candidate += query;
      if (router.match(host_key, method, candidate) != route) {
        out.refusal = "decoding %2F or %5C in the path changes the route it matches";
        return out;
      }
    }
  }
  if (candidate != target) out.target = std::move(candidate);
  return out;
}

std::string upstream_target(const config::Route& route, const config::Upstream& endpoint, std::string_view target) {
  std::string_view rest = target;
  if (route.strip_prefix) {
    std::string_view prefix = route.match.path_prefix;
    if (prefix.ends_with('/')) prefix.remove_suffix(1);
    rest = target.substr(prefix.size());
  }
  std::string out = endpoint.base_path;
  if ((rest.empty() || rest.front() == '?') && out.empty()) out.push_back('/');
  out += rest;
  return out;
}

}  // namespace scopegate::router
