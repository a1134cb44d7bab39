// What the workers share, owned by the app (app::App derives from it): the current config
// snapshot, the scope registry, where facts are reported, the connection count. The stages, the
// sessions and the workers reach the app only through this, so they sit below app/.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "audit/sink.hpp"
#include "audit/writer.hpp"
#include "delegation/registry.hpp"
#include "fleet/budget_store.hpp"
#include "fleet/node.hpp"
#include "guard/budget.hpp"
#include "guard/loop_guard.hpp"
#include "plan/registry.hpp"
#include "runtime/snapshot.hpp"

namespace scopegate::runtime {

class Services {
 public:
  explicit Services(std::shared_ptr<const Snapshot> initial) : snapshot_(std::move(initial)) {}
  Services(const Services&) = delete;
  Services& operator=(const Services&) = delete;

  std::shared_ptr<const Snapshot> snapshot() const;
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }

  // Scopes this node opened or has seen, and revocations; shared by every worker.
  delegation::ScopeRegistry& scopes() { return scopes_; }
  // Where requests and scope events are reported (the audit writer, the log).
  audit::FactSink& sink() { return *sink_; }
  // The audit writer, or null when no audit.dir is configured (nothing to fail closed on).
  audit::Writer* audit_writer() { return writer_.get(); }
  // The guards' state, which outlives config snapshots: calls counted per scope, budget counters.
  guard::LoopGuard& loop_guard() { return loop_guard_; }
  guard::BudgetStore& budgets() { return *budgets_; }
  // The plans this node runs (docs/plans.md).
  plan::Registry& plans() { return plans_; }
  // Fleet mode (docs/fleet.md): this node's link to the fleet's Redis, and the budget store that
  // spends leases of it; both null on a single node.
  fleet::Node* fleet() { return fleet_.get(); }
  fleet::FleetBudgetStore* fleet_budgets() { return fleet_budgets_; }

  // Open client connections across all workers (for limits.max_connections and draining).
  std::atomic<std::size_t> connections{0};

 protected:
  ~Services() = default;

  mutable std::mutex snapshot_mutex_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::atomic<std::uint64_t> generation_{1};
  std::atomic<bool> draining_{false};
  delegation::ScopeRegistry scopes_;
  guard::LoopGuard loop_guard_;
  plan::Registry plans_;
  std::unique_ptr<fleet::Node> fleet_;  // before budgets_, whose fleet store refers to it
  std::unique_ptr<guard::BudgetStore> budgets_ = std::make_unique<guard::MemoryBudgetStore>();
  fleet::FleetBudgetStore* fleet_budgets_ = nullptr;  // budgets_, in fleet mode
  std::unique_ptr<audit::Writer> writer_;  // before sink_, which refers to it
  std::unique_ptr<audit::FactSink> sink_ = std::make_unique<audit::LogSink>();
};

}  // namespace scopegate::runtime
