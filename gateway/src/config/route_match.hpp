// What a route's match can reach, as a pure function of config: the router matches requests with
// it, and the loader uses it to refuse a route an earlier one makes unreachable. It lives here,
// below router/, so that config validation does not depend on the layer built from config.
#pragma once

#include <string_view>

#include "config/config.hpp"

namespace scopegate::config {

// True when `path` is `prefix` or lies below it on a segment boundary:
// "/tools" matches "/tools", "/tools/x" and "/tools?q", never "/toolsx".
bool path_has_prefix(std::string_view path, std::string_view prefix);

// True when every request route `a` can match, route `b` can match too (b shadows a if b comes first).
bool covers(const RouteMatch& b, const RouteMatch& a);

}  // namespace scopegate::config
