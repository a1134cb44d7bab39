#include "guard/rate_limiter.hpp"

#include <algorithm>
#include <unordered_map>

namespace scopegate::guard {

RateLimiter::RateLimiter(const std::vector<config::RateLimit>& limits, std::span<const config::Agent> agents,
                         std::span<const std::string> route_names)
    : agent_slots_(agents.size() + 1), route_slots_(route_names.size()) {
  std::size_t total = 0;
  for (const auto& limit : limits) {
    Compiled c;
    c.limit = &limit;
    c.agent_applies.assign(agent_slots_, limit.agents.empty() ? 1 : 0);
    // A limit per agent, or per agent and route, has nothing to key on without an agent.
    if (limit.per != config::RateLimit::Per::route || !limit.agents.empty()) c.agent_applies[0] = 0;
    for (std::size_t i = 0; i < agents.size(); ++i) {
      if (std::find(limit.agents.begin(), limit.agents.end(), agents[i].id) != limit.agents.end()) {
        c.agent_applies[1 + i] = 1;
      }
    }
    c.route_applies.assign(route_slots_, limit.routes.empty() ? 1 : 0);
    for (std::size_t i = 0; i < route_names.size(); ++i) {
      if (std::find(limit.routes.begin(), limit.routes.end(), route_names[i]) != limit.routes.end()) {
        c.route_applies[i] = 1;
      }
    }
    c.first = total;
    switch (limit.per) {
      case config::RateLimit::Per::agent: total += agent_slots_; break;
      case config::RateLimit::Per::route: total += route_slots_; break;
      case config::RateLimit::Per::agent_route: total += agent_slots_ * route_slots_; break;
    }
    limits_.push_back(std::move(c));
  }
  buckets_ = std::make_unique<TokenBucket[]>(total);
  leased_ = std::make_unique<Leased[]>(total);
  keys_.resize(total);
  auto agent_name = [&](std::size_t slot) { return slot == 0 ? std::string() : agents[slot - 1].id; };
  for (const auto& c : limits_) {
    for (std::size_t a = 0; a < agent_slots_; ++a) {
      for (std::size_t r = 0; r < route_slots_; ++r) {
        std::string key = c.limit->id;
        key += '\0';
        if (c.limit->per != config::RateLimit::Per::route) key += agent_name(a);
        key += '\0';
        if (c.limit->per != config::RateLimit::Per::agent) key += route_names[r];
        keys_[bucket_index(c, static_cast<int>(a) - 1, r)] = std::move(key);
      }
    }
  }
}

std::size_t RateLimiter::bucket_index(const Compiled& c, int agent, std::size_t route) const {
  std::size_t a = static_cast<std::size_t>(agent + 1);
  switch (c.limit->per) {
    case config::RateLimit::Per::agent: return c.first + a;
    case config::RateLimit::Per::route: return c.first + route;
    case config::RateLimit::Per::agent_route: return c.first + a * route_slots_ + route;
  }
  return c.first;
}

std::optional<RateLimiter::Refusal> RateLimiter::take(int agent, std::size_t route, std::int64_t now_ns) {
  std::size_t a = static_cast<std::size_t>(agent + 1);
  if (a >= agent_slots_ || route >= route_slots_) return std::nullopt;
  for (std::size_t i = 0; i < limits_.size(); ++i) {
    const Compiled& c = limits_[i];
    if (!c.agent_applies[a] || !c.route_applies[route]) continue;
    std::int64_t wait_ns = 0;
    if (buckets_[bucket_index(c, agent, route)].take(c.limit->rate, c.limit->burst, now_ns, wait_ns)) continue;
    // Refused: what the earlier limits gave is given back, so a refused request costs nothing.
    for (std::size_t j = 0; j < i; ++j) {
      const Compiled& earlier = limits_[j];
      if (!earlier.agent_applies[a] || !earlier.route_applies[route]) continue;
      buckets_[bucket_index(earlier, agent, route)].put_back(earlier.limit->burst);
    }
    return Refusal{c.limit, wait_ns};
  }
  return std::nullopt;
}

std::optional<RateLimiter::Shortage> RateLimiter::take_leased(int agent, std::size_t route, std::int64_t now_ns) {
  std::size_t a = static_cast<std::size_t>(agent + 1);
  if (a >= agent_slots_ || route >= route_slots_) return std::nullopt;
  for (std::size_t i = 0; i < limits_.size(); ++i) {
    const Compiled& c = limits_[i];
    if (!c.agent_applies[a] || !c.route_applies[route]) continue;
    std::size_t b = bucket_index(c, agent, route);
    {
      std::lock_guard lock(leased_[b].mutex);
      if (leased_[b].until_ns < now_ns) leased_[b].tokens = 0;  // a lease past its time is spent
      if (leased_[b].tokens > 0) {
        --leased_[b].tokens;
        continue;
      }
    }
    std::int64_t empty_ns = 0;
    {
      std::lock_guard lock(leased_[b].mutex);
      if (leased_[b].empty_until_ns > now_ns) empty_ns = leased_[b].empty_until_ns - now_ns;
    }
    for (std::size_t j = 0; j < i; ++j) {
      const Compiled& earlier = limits_[j];
      if (!earlier.agent_applies[a] || !earlier.route_applies[route]) continue;
      std::size_t e = bucket_index(earlier, agent, route);
      std::lock_guard lock(leased_[e].mutex);
      ++leased_[e].tokens;
    }
    return Shortage{b, c.limit, empty_ns};
  }
  return std::nullopt;
}

void RateLimiter::add_lease(std::size_t bucket, std::uint64_t tokens, std::int64_t now_ns, std::int64_t until_ns) {
  std::lock_guard lock(leased_[bucket].mutex);
  if (leased_[bucket].until_ns < now_ns) leased_[bucket].tokens = 0;
  leased_[bucket].tokens += static_cast<std::int64_t>(tokens);
  leased_[bucket].until_ns = std::max(leased_[bucket].until_ns, until_ns);
}

bool RateLimiter::begin_lease(std::size_t bucket) {
  std::lock_guard lock(leased_[bucket].mutex);
  if (leased_[bucket].leasing) return false;
  leased_[bucket].leasing = true;
  return true;
}

void RateLimiter::end_lease(std::size_t bucket, std::int64_t empty_until_ns) {
  std::lock_guard lock(leased_[bucket].mutex);
  leased_[bucket].leasing = false;
  leased_[bucket].empty_until_ns = empty_until_ns;
}

std::string RateLimiter::bucket_name(std::size_t bucket) const {
  std::string name = keys_[bucket];
  std::replace(name.begin(), name.end(), '\0', ':');
  return name;
}

void RateLimiter::inherit(const RateLimiter& previous, std::int64_t now_ns) {
  if (limits_.empty() || previous.limits_.empty()) return;
  std::unordered_map<std::string_view, std::size_t> old;
  old.reserve(previous.keys_.size());
  for (std::size_t i = 0; i < previous.keys_.size(); ++i) old.emplace(previous.keys_[i], i);
  // The old bucket's level under the old rate and burst, capped by the new burst.
  std::vector<std::pair<const config::RateLimit*, std::size_t>> owner(previous.keys_.size());
  for (const auto& c : previous.limits_) {
    std::size_t count = c.limit->per == config::RateLimit::Per::agent   ? previous.agent_slots_
                        : c.limit->per == config::RateLimit::Per::route ? previous.route_slots_
                                                                          : previous.agent_slots_ * previous.route_slots_;
    for (std::size_t k = 0; k < count; ++k) owner[c.first + k] = {c.limit, c.first + k};
  }
  for (const auto& c : limits_) {
    std::size_t count = c.limit->per == config::RateLimit::Per::agent   ? agent_slots_
                        : c.limit->per == config::RateLimit::Per::route ? route_slots_
                                                                          : agent_slots_ * route_slots_;
    for (std::size_t k = 0; k < count; ++k) {
      auto it = old.find(keys_[c.first + k]);
      if (it == old.end()) continue;
      const config::RateLimit* was = owner[it->second].first;
      double level = previous.buckets_[it->second].level(was->rate, was->burst, now_ns);
      buckets_[c.first + k].set_level(std::min(level, c.limit->burst), now_ns);
    }
  }
}

}  // namespace scopegate::guard
