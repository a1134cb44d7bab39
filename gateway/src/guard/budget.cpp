#include "guard/budget.hpp"

#include <algorithm>

namespace scopegate::guard {

namespace {

constexpr std::size_t kMaxChain = 16;  // a token holds at most 16 scope blocks

// `a + b - c` for counters that never go below zero (a give-back of what was never counted, after
// the counters were forgotten, leaves zero).
std::uint64_t moved(std::uint64_t value, std::uint64_t was, std::uint64_t is) {
  if (is >= was) return value + (is - was) < value ? UINT64_MAX : value + (is - was);  // a cost may saturate
  return value >= was - is ? value - (was - is) : 0;
}

void move_usage(Usage& u, const Charge& was, const Charge& is) {
  u.actions = moved(u.actions, was.actions, is.actions);
  u.delegations = moved(u.delegations, was.delegations, is.delegations);
  u.bytes_out = moved(u.bytes_out, was.bytes_out, is.bytes_out);
  u.tokens = moved(u.tokens, was.tokens, is.tokens);
  u.cost = moved(u.cost, was.cost, is.cost);
}

}  // namespace

std::optional<Exhausted> first_exhausted(std::span<const ChainScope> chain, std::span<const ScopeUse* const> use,
                                         const Charge& charge) {
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const config::BudgetLimits* limits = chain[i].limits;
    if (!limits) continue;
    static const ScopeUse kNone{};
    const ScopeUse& u = use[i] ? *use[i] : kNone;
    auto over = [&](const std::optional<std::uint64_t>& limit, std::uint64_t used, std::uint64_t adding) {
      return limit && used + adding > *limit;
    };
    if (charge.actions && over(limits->max_actions, u.subtree.actions, charge.actions)) {
      return Exhausted{i, BudgetKind::actions, *limits->max_actions, u.subtree.actions};
    }
    if (charge.delegations && over(limits->max_delegations, u.subtree.delegations, charge.delegations)) {
      return Exhausted{i, BudgetKind::delegations, *limits->max_delegations, u.subtree.delegations};
    }
    // Fan-out: only the acting scope opens the new scope.
    if (charge.delegations && i + 1 == chain.size() && over(limits->max_children, u.children, charge.delegations)) {
      return Exhausted{i, BudgetKind::children, *limits->max_children, u.children};
    }
    if (limits->max_bytes_out && u.subtree.bytes_out >= *limits->max_bytes_out) {
      return Exhausted{i, BudgetKind::bytes_out, *limits->max_bytes_out, u.subtree.bytes_out};
    }
    if (charge.llm && limits->max_tokens && u.subtree.tokens >= *limits->max_tokens) {
      return Exhausted{i, BudgetKind::tokens, *limits->max_tokens, u.subtree.tokens};
    }
    if (charge.llm && limits->max_cost && (charge.unpriced || u.subtree.cost >= *limits->max_cost)) {
      return Exhausted{i, BudgetKind::cost, *limits->max_cost, u.subtree.cost};
    }
  }
  return std::nullopt;
}

MemoryBudgetStore::Shard& MemoryBudgetStore::shard_of(std::span<const ChainScope> chain) {
  return shards_[std::hash<std::string_view>{}(chain.front().id) % kShards];
}

MemoryBudgetStore::Entry& MemoryBudgetStore::entry(Shard& shard, const ChainScope& scope) {
  auto it = shard.scopes.find(scope.id);
  if (it == shard.scopes.end()) it = shard.scopes.emplace(std::string(scope.id), Entry{}).first;
  // The latest word on its expiry: a record read back at start only knows an upper bound.
  if (scope.expires != 0) it->second.expires = scope.expires;
  return it->second;
}

std::optional<Exhausted> MemoryBudgetStore::try_spend(std::span<const ChainScope> chain, const Charge& charge) {
  if (chain.empty() || chain.size() > kMaxChain) return std::nullopt;
  Shard& shard = shard_of(chain);
  std::lock_guard lock(shard.mutex);
  std::array<Entry*, kMaxChain> entries{};
  std::array<const ScopeUse*, kMaxChain> use{};
  for (std::size_t i = 0; i < chain.size(); ++i) {
    entries[i] = &entry(shard, chain[i]);
    use[i] = &entries[i]->use;
  }
  if (auto exhausted = first_exhausted(chain, {use.data(), chain.size()}, charge)) return exhausted;
  const Charge none{};
  for (std::size_t i = 0; i < chain.size(); ++i) move_usage(entries[i]->use.subtree, none, charge);
  move_usage(entries[chain.size() - 1]->use.own, none, charge);
  if (chain.size() >= 1) entries[chain.size() - 1]->use.children += charge.delegations;
  return std::nullopt;
}

void MemoryBudgetStore::settle(std::span<const ChainScope> chain, const Charge& was, const Charge& is) {
  if (chain.empty() || chain.size() > kMaxChain || was == is) return;
  Shard& shard = shard_of(chain);
  std::lock_guard lock(shard.mutex);
  for (std::size_t i = 0; i < chain.size(); ++i) {
    Entry& e = entry(shard, chain[i]);
    move_usage(e.use.subtree, was, is);
    if (i + 1 == chain.size()) {
      move_usage(e.use.own, was, is);
      e.use.children = moved(e.use.children, was.delegations, is.delegations);
    }
  }
}

std::optional<ScopeUse> MemoryBudgetStore::use(std::string_view scope) const {
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    if (auto it = shard.scopes.find(scope); it != shard.scopes.end()) return it->second.use;
  }
  return std::nullopt;
}

std::size_t MemoryBudgetStore::forget_expired(std::int64_t now) {
  std::size_t dropped = 0;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    dropped += std::erase_if(shard.scopes, [&](const auto& item) { return item.second.expires < now; });
  }
  return dropped;
}

std::size_t MemoryBudgetStore::size() const {
  std::size_t n = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    n += shard.scopes.size();
  }
  return n;
}

}  // namespace scopegate::guard
