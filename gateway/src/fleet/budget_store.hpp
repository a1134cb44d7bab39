// Budgets shared by a fleet (docs/fleet.md, "Budgets"): the BudgetStore of a node in fleet mode.
// Each budget (one limit of one scope) is a total in Redis of what the fleet's nodes have taken
// of it. A node takes a lease, a slice of `fleet.budgets.lease` of the limit, and spends it here
// with the same counters and the same decision as a single node (guard/budget.hpp), its lease in
// place of the limit. Redis is asked only when a lease runs out, and never grants past the limit,
// so the fleet spends no more than one node would: what one node holds unspent is what the others
// may miss (the lease slack), until it goes back after `lease_idle` without use.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "guard/budget.hpp"

namespace scopegate::fleet {

class Node;
struct BudgetLease;

class FleetBudgetStore final : public guard::BudgetStore {
 public:
  explicit FleetBudgetStore(Node& node);

  // Spends from this node's leases. A lease too small is reported as Exhausted with lease_short
  // (take_leases, then try again); a budget the fleet has spent, as plain Exhausted. While Redis
  // is unreachable with budgets.on_store_unavailable: local, the whole limits apply to this node's
  // own counters instead.
  std::optional<guard::Exhausted> try_spend(std::span<const guard::ChainScope> chain, const guard::Charge& charge) override;
  void settle(std::span<const guard::ChainScope> chain, const guard::Charge& was, const guard::Charge& is) override;
  std::optional<guard::ScopeUse> use(std::string_view scope) const override { return local_.use(scope); }
  std::size_t forget_expired(std::int64_t now) override;
  std::size_t size() const override { return local_.size(); }

  enum class LeaseOutcome { taken, unavailable };
  // Asks Redis for more of every budget of the chain whose lease is too small for `charge`, charging
  // what this node spent beyond its leases. `unavailable` when Redis could not be asked.
  boost::asio::awaitable<LeaseOutcome> take_leases(std::span<const guard::ChainScope> chain, guard::Charge charge);

  // Spends on this node's own counters against the whole limits (Redis unreachable, local).
  std::optional<guard::Exhausted> spend_locally(std::span<const guard::ChainScope> chain, const guard::Charge& charge);

  // Whether decisions fall back to this node's own counters (Redis unreachable, on_store_unavailable: local).
  bool local_only() const;

  // Gives back the unspent part of every lease not used for fleet.budgets.lease_idle (fleet thread),
  // or of every lease (`all`, at stop).
  void return_idle(std::int64_t now_ns, bool all = false);

  // The slice of `limit` one lease asks for: at least one unit.
  static std::uint64_t slice(std::uint64_t limit, double fraction);

 private:
  static constexpr std::size_t kKinds = guard::kBudgetKinds.size();
  struct Lease {
    std::array<std::uint64_t, kKinds> granted{};   // what this node holds, as Redis last said
    std::array<std::uint64_t, kKinds> fleet_taken{};  // the fleet's total, as of the last lease
    std::array<std::int64_t, kKinds> spent_out_ns{};  // when Redis last had nothing more to give
    std::array<int, kKinds> leasing{};            // leases asked for and not yet answered
    // What Redis counts for this node beyond this process's counters: what it held before a restart
    // (spent, as far as anyone can tell). Redis's figures are this node's counters plus it.
    std::array<std::uint64_t, kKinds> offset{};
    std::array<bool, kKinds> known{};             // a lease answered in this process
    std::array<bool, kKinds> uncertain{};         // a lease unanswered: Redis may hold more for this node
    std::int64_t last_spend_ns = 0;
    std::int64_t expires = 0;
  };
  struct Want {
    std::string scope;
    std::size_t kind = 0;
    std::uint64_t used = 0, want = 0, limit = 0;
    std::int64_t expires = 0;
    bool first = false;
  };
  void learn(Lease& l, std::size_t kind, const BudgetLease& got, std::uint64_t limit);
  Lease& lease_of(const guard::ChainScope& scope);
  bool recently_spent_out(const Lease& lease, std::size_t kind, std::int64_t now_ns) const;

  Node& node_;
  guard::MemoryBudgetStore local_;  // this node's counters: its own use, against its leases
  mutable std::mutex mutex_;        // leases_; taken before a shard of local_
  std::unordered_map<std::string, Lease> leases_;
};

}  // namespace scopegate::fleet
