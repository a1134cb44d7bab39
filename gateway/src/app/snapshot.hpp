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
std::shared_ptr<const Snapshot> build_snapshot(config::Config config, std::vector<config::ConfigError>& errors);

}  // namespace scopegate::app
