// The config's rate limits compiled for one snapshot (docs/policies.md, "Rate limits"): for each
// limit, one token bucket per agent, per route or per agent and route, made up front for every
// agent and route the limit applies to, so that a request finds its buckets by two indexes and
// never looks a name up or allocates. A reload builds a new limiter and carries every bucket's
// level over from the old one (inherit), so a reload neither refills nor empties a bucket.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "guard/token_bucket.hpp"

namespace scopegate::guard {

class RateLimiter {
 public:
  // `limits` must outlive the limiter (the snapshot's config). Agents are indexed like
  // config.agents; routes like runtime::Snapshot::route_index (the config's routes, then
  // "scopegate:scopes").
  RateLimiter(const std::vector<config::RateLimit>& limits, std::span<const config::Agent> agents,
              std::span<const std::string> route_names);

  struct Refusal {
    const config::RateLimit* limit = nullptr;
    std::int64_t wait_ns = 0;  // until the refusing bucket holds a token again
  };

  // Takes a token from every bucket that applies to the request (agent: index, or -1 for none),
  // or from none of them: the first bucket that is empty refuses, and what was taken is put back.
  std::optional<Refusal> take(int agent, std::size_t route, std::int64_t now_ns);

  // Carries every bucket's level over from `previous` (same limit id, agent and route), as of now.
  void inherit(const RateLimiter& previous, std::int64_t now_ns);

  bool empty() const { return limits_.empty(); }

 private:
  struct Compiled {
    const config::RateLimit* limit = nullptr;
    std::vector<char> agent_applies;  // [0] no agent, [1 + i] config.agents[i]
    std::vector<char> route_applies;  // by route index
    std::size_t first = 0;            // its buckets in buckets_
  };
  std::size_t bucket_index(const Compiled& c, int agent, std::size_t route) const;

  std::vector<Compiled> limits_;
  std::size_t agent_slots_ = 0, route_slots_ = 0;
  std::unique_ptr<TokenBucket[]> buckets_;
  std::vector<std::string> keys_;  // per bucket: "limit\0agent\0route", for inherit()
};

}  // namespace scopegate::guard
