// The immutable route table: first match wins, in config order.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace scopegate::router {

class Router {
 public:
  explicit Router(const std::vector<config::Route>& routes) : routes_(&routes) {}

  // host without port, already lower-cased by the caller; target is the origin-form request target.
  const config::Route* match(std::string_view host, std::string_view method, std::string_view target) const;

 private:
  const std::vector<config::Route>* routes_;
};

// The request target routing and forwarding both read (docs/configuration.md, "Paths").
struct ResolvedTarget {
  std::string target;   // the normalised path and the query as sent; empty when nothing changed
  std::string refusal;  // non-empty: the request is refused (400 bad_request), and why
};

// Normalises the path of an origin-form `target` (http/path.hpp); the query is never touched.
// `host` is the Host header as sent. See the comment in router.cpp for why the route is matched
// on the normalised path before the route's own rules apply.
ResolvedTarget resolve_target(const Router& router, const config::Paths& paths, std::string_view host,
                              std::string_view method, std::string_view target);

// Strips the route's prefix (if configured) and prepends the endpoint's base path.
std::string upstream_target(const config::Route& route, const config::Upstream& endpoint, std::string_view target);

}  // namespace scopegate::router
