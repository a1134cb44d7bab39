#include "runtime/snapshot.hpp"

#include <atomic>

namespace scopegate::runtime {

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

std::uint64_t Snapshot::next_id() {
  static std::atomic<std::uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace scopegate::runtime
