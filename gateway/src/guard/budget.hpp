// Budgets per scope subtree (docs/policies.md, "Budgets"). Every action, delegation and response
// byte under a scope is spent from that scope's budget and from every ancestor's, so a child's use
// spends its parents' budgets; fan-out (children) is counted for the scope that opened them only.
// The decision is a pure function of the counters, the chain's limits and the charge; the counters
// live behind BudgetStore, a small interface, so that a store shared by several gateway nodes can
// replace the in-memory one.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "config/config.hpp"

namespace scopegate::guard {

enum class BudgetKind { actions, delegations, children, bytes_out, tokens, cost };
inline constexpr std::array<std::string_view, 6> kBudgetKinds{"actions",   "delegations", "children",
                                                              "bytes_out", "tokens",      "cost"};
inline std::string_view to_string(BudgetKind k) { return kBudgetKinds[static_cast<std::size_t>(k)]; }

struct Usage {
  std::uint64_t actions = 0, delegations = 0, bytes_out = 0;
  std::uint64_t tokens = 0, cost = 0;  // LLM tokens (input and output) and cost in pico-units (docs/llm.md)
};

// One scope's counters: its own use, its subtree's (its own included) and the scopes it opened.
struct ScopeUse {
  Usage own, subtree;
  std::uint64_t children = 0;
};

// What one request spends. An action is a request that names one (a tool call, a read, a
// delegation...); a delegation opens a scope below the acting one; bytes are what its caller got;
// tokens and cost are what a model call used, known only once its response has passed. `llm`
// marks a call to a model: the token and cost budgets refuse only those.
struct Charge {
  std::uint64_t actions = 0, delegations = 0, bytes_out = 0;
  std::uint64_t tokens = 0, cost = 0;
  bool llm = false;
  bool unpriced = false;  // a model call whose cost cannot be known: refused under a cost budget
  bool operator==(const Charge&) const = default;
};

// One scope of a request's chain, root first and the acting scope last.
struct ChainScope {
  std::string_view id;
  const config::BudgetLimits* limits = nullptr;  // null: none
  std::int64_t expires = 0;                       // unix seconds; the counters are kept until then
};

struct Exhausted {
  std::size_t index = 0;  // in the chain
  BudgetKind kind = BudgetKind::actions;
  std::uint64_t limit = 0, used = 0;
  // A store shared by a fleet (fleet/budget_store.hpp): this node's lease of the budget is spent,
  // not the budget. The caller takes more lease and tries again.
  bool lease_short = false;
};

// The first budget along `chain` (root first) that `charge` would overrun, given the counters. A
// request is refused once its subtree's bytes reached max_bytes_out, and a model call once its
// subtree's tokens or cost reached max_tokens or max_cost (what a response will bring is not known
// before it is sent: the call that crosses a limit runs to its end, and the next one is refused).
// Pure: for the store, and for tests.
std::optional<Exhausted> first_exhausted(std::span<const ChainScope> chain, std::span<const ScopeUse* const> use,
                                         const Charge& charge);

class BudgetStore {
 public:
  virtual ~BudgetStore() = default;
  // Spends `charge` along the whole chain, or, when a budget would be overrun, spends nothing and
  // says which. Atomic for one chain: two requests of one tree cannot both take the last unit.
  virtual std::optional<Exhausted> try_spend(std::span<const ChainScope> chain, const Charge& charge) = 0;
  // Moves the chain's counters from what `was` spent to what `is` spent (a request that was not let
  // through after all gives back; its response bytes are added), without checking limits.
  virtual void settle(std::span<const ChainScope> chain, const Charge& was, const Charge& is) = 0;
  virtual std::optional<ScopeUse> use(std::string_view scope) const = 0;
  // Drops the counters of scopes that expired before `now` (unix seconds).
  virtual std::size_t forget_expired(std::int64_t now) = 0;
  virtual std::size_t size() const = 0;
};

// This node's counters, in memory: sharded by the chain's root, so one lock covers a whole chain.
class MemoryBudgetStore final : public BudgetStore {
 public:
  std::optional<Exhausted> try_spend(std::span<const ChainScope> chain, const Charge& charge) override;
  void settle(std::span<const ChainScope> chain, const Charge& was, const Charge& is) override;
  std::optional<ScopeUse> use(std::string_view scope) const override;
  std::size_t forget_expired(std::int64_t now) override;
  std::size_t size() const override;

 private:
  struct Entry {
    ScopeUse use;
    std::int64_t expires = 0;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, Entry, Hash, std::equal_to<>> scopes;
  };
  static constexpr std::size_t kShards = 16;
  Shard& shard_of(std::span<const ChainScope> chain);
  static Entry& entry(Shard& shard, const ChainScope& scope);

  std::array<Shard, kShards> shards_;
};

}  // namespace scopegate::guard
