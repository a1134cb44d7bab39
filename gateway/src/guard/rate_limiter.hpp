// The config's rate limits compiled for one snapshot (docs/policies.md, "Rate limits"): for each
// limit, one token bucket per agent, per route or per agent and route, made up front for every
// agent and route the limit applies to, so that a request finds its buckets by two indexes and
// never looks a name up or allocates. A reload builds a new limiter and carries every bucket's
// level over from the old one (inherit), so a reload neither refills nor empties a bucket.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
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

  // Fleet mode (docs/fleet.md, "Rate limits"): the fleet's buckets live in Redis, and each bucket
  // here holds the tokens this node leased from its fleet bucket, valid until a deadline. Takes a
  // leased token from every bucket that applies, or from none: the first that holds none names
  // itself (the caller leases more for it and tries again).
  struct Shortage {
    std::size_t bucket = 0;
    const config::RateLimit* limit = nullptr;
    std::int64_t empty_ns = 0;  // > 0: the fleet's bucket was found empty, and is for this long yet
  };
  std::optional<Shortage> take_leased(int agent, std::size_t route, std::int64_t now_ns);
  // Adds `tokens` leased for `bucket`, usable until `until_ns` (with what it still holds, unless
  // that lease ended before `now_ns`).
  void add_lease(std::size_t bucket, std::uint64_t tokens, std::int64_t now_ns, std::int64_t until_ns);
  // One lease asked for at a time per bucket: true when this caller may ask (and must call
  // end_lease), false while another's is in flight (wait for it, then take again).
  bool begin_lease(std::size_t bucket);
  // Ends the lease begun; when the fleet's bucket had nothing to give, it is empty until `empty_until_ns`.
  void end_lease(std::size_t bucket, std::int64_t empty_until_ns = 0);
  // The bucket's name: limit id, agent and route (empty when the limit is not per agent or route).
  std::string bucket_name(std::size_t bucket) const;

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
  struct Leased {
    std::mutex mutex;
    std::int64_t tokens = 0, until_ns = 0;
    std::int64_t empty_until_ns = 0;
    bool leasing = false;
  };
  std::unique_ptr<Leased[]> leased_;  // fleet mode
  std::vector<std::string> keys_;  // per bucket: "limit\0agent\0route", for inherit()
};

}  // namespace scopegate::guard
