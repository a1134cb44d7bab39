// Builds a snapshot from a loaded config: the runtime parts (TLS contexts, pool keys, upstream
// hosts) that need listener/ and upstream/, and the checks that can only fail at that point.
#pragma once

#include <memory>
#include <vector>

#include "config/config.hpp"
#include "config/loader.hpp"
#include "runtime/snapshot.hpp"

namespace scopegate::app {

using runtime::Snapshot;

// Builds the runtime parts (TLS contexts) of a loaded config; errors are appended to `errors`.
// The snapshot is still open for publishing to carry state over into it; shared as const from then on.
std::shared_ptr<Snapshot> build_snapshot(config::Config config, std::vector<config::ConfigError>& errors);

// The limits a route's config asks for (unlimited without `concurrency:`).
breaker::ConcurrencyLimits concurrency_limits(const config::Route& route);

// Before `next` replaces `current`: each route that keeps its name takes over the running limiter,
// with the new limits. The limiter's count then still includes the requests in flight under the old
// snapshot, which release their slots into it (docs/resilience.md, "Concurrency limits").
void share_concurrency_limiters(Snapshot& next, const Snapshot& current);

}  // namespace scopegate::app
