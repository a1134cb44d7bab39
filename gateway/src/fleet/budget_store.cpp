#include "fleet/budget_store.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "clock/steady.hpp"
#include "fleet/node.hpp"

namespace scopegate::fleet {

using guard::BudgetKind;
using guard::Charge;
using guard::ChainScope;
using guard::ScopeUse;

namespace {

constexpr std::size_t kMaxChain = 16;

// The limit of each BudgetKind, in kBudgetKinds order.
constexpr std::optional<std::uint64_t> config::BudgetLimits::*kLimits[] = {
    &config::BudgetLimits::max_actions,   &config::BudgetLimits::max_delegations, &config::BudgetLimits::max_children,
    &config::BudgetLimits::max_bytes_out, &config::BudgetLimits::max_tokens,      &config::BudgetLimits::max_cost};
static_assert(std::size(kLimits) == guard::kBudgetKinds.size());

std::optional<std::uint64_t> limit_of(const config::BudgetLimits& l, std::size_t kind) { return l.*kLimits[kind]; }
std::optional<std::uint64_t>& field_of(config::BudgetLimits& l, std::size_t kind) { return l.*kLimits[kind]; }

std::uint64_t used_of(const ScopeUse& u, std::size_t kind) {
  switch (static_cast<BudgetKind>(kind)) {
    case BudgetKind::actions: return u.subtree.actions;
    case BudgetKind::delegations: return u.subtree.delegations;
    case BudgetKind::children: return u.children;
    case BudgetKind::bytes_out: return u.subtree.bytes_out;
    case BudgetKind::tokens: return u.subtree.tokens;
    case BudgetKind::cost: return u.subtree.cost;
  }
  return 0;
}

// Whether `charge` is decided by budget `kind` of the chain's scope at `last` (the acting one or
// not), and what it adds before the decision. Mirrors guard::first_exhausted: actions, delegations
// and fan-out are checked with what the request adds; bytes, tokens and cost by what is spent
// already, since what a response brings is known only once it has passed.
struct Applies {
  bool applies = false;
  bool before = false;  // checked with the addition (used + adding > limit), else used >= limit
  std::uint64_t adding = 0;
};
Applies applies_to(const Charge& charge, std::size_t kind, bool last) {
  switch (static_cast<BudgetKind>(kind)) {
    case BudgetKind::actions: return {charge.actions > 0, true, charge.actions};
    case BudgetKind::delegations: return {charge.delegations > 0, true, charge.delegations};
    case BudgetKind::children: return {charge.delegations > 0 && last, true, charge.delegations};
    case BudgetKind::bytes_out: return {true, false, 0};
    case BudgetKind::tokens: return {charge.llm, false, 0};
    case BudgetKind::cost: return {charge.llm && !charge.unpriced, false, 0};
  }
  return {};
}

bool any_limits(std::span<const ChainScope> chain) {
  return std::any_of(chain.begin(), chain.end(), [](const ChainScope& s) { return s.limits != nullptr; });
}

}  // namespace

FleetBudgetStore::FleetBudgetStore(Node& node) : node_(node) {}

std::uint64_t FleetBudgetStore::slice(std::uint64_t limit, double fraction) {
  double s = std::ceil(static_cast<double>(limit) * fraction);
  if (!(s >= 1)) return 1;
  return s >= static_cast<double>(limit) ? limit : static_cast<std::uint64_t>(s);
}

std::optional<guard::Exhausted> FleetBudgetStore::spend_locally(std::span<const ChainScope> chain, const Charge& charge) {
  node_.stats().local_fallbacks.fetch_add(1, std::memory_order_relaxed);
  // The leases exist before the spend, so what is spent beyond them is charged to the fleet (as
  // a deficit) at the next lease.
  std::lock_guard lock(mutex_);
  for (const auto& scope : chain) {
    if (scope.limits) lease_of(scope);
  }
  return local_.try_spend(chain, charge);
}

bool FleetBudgetStore::local_only() const {
  return !node_.connected() && node_.settings().budgets_unavailable == config::Fleet::OnUnavailable::local;
}

FleetBudgetStore::Lease& FleetBudgetStore::lease_of(const ChainScope& scope) {
  // A lease starts at nothing held. Use this node's counters already show (rebuilt from its log at
  // start, or spent before the budget existed) is told to Redis with the first lease, which counts
  // it once: against what the node held before a restart, else as spending beyond its leases.
  auto it = leases_.find(std::string(scope.id));
  if (it == leases_.end()) it = leases_.emplace(std::string(scope.id), Lease{}).first;
  if (scope.expires != 0) it->second.expires = scope.expires;
  return it->second;
}

bool FleetBudgetStore::recently_spent_out(const Lease& lease, std::size_t kind, std::int64_t now_ns) const {
  auto idle = std::chrono::nanoseconds(node_.settings().budget_lease_idle).count();
  return lease.spent_out_ns[kind] != 0 && now_ns - lease.spent_out_ns[kind] < idle;
}

std::optional<guard::Exhausted> FleetBudgetStore::try_spend(std::span<const ChainScope> chain, const Charge& charge) {
  if (chain.empty() || chain.size() > kMaxChain || !any_limits(chain)) return local_.try_spend(chain, charge);
  if (local_only()) return spend_locally(chain, charge);
  std::int64_t now = clock::steady_ns();
  std::lock_guard lock(mutex_);
  // The same decision as one node's, each limit replaced by what this node holds of it.
  std::array<config::BudgetLimits, kMaxChain> held;
  std::array<ChainScope, kMaxChain> leased;
  std::array<Lease*, kMaxChain> leases{};
  for (std::size_t i = 0; i < chain.size(); ++i) {
    leased[i] = chain[i];
    if (!chain[i].limits) continue;
    held[i] = *chain[i].limits;
    leases[i] = &lease_of(chain[i]);
    for (std::size_t k = 0; k < kKinds; ++k) {
      if (auto& f = field_of(held[i], k)) *f = std::min(*f, leases[i]->granted[k]);
    }
    leased[i].limits = &held[i];
  }
  auto exhausted = local_.try_spend({leased.data(), chain.size()}, charge);
  if (!exhausted) {
    for (auto* l : leases) {
      if (l) l->last_spend_ns = now;
    }
    return std::nullopt;
  }
  auto k = static_cast<std::size_t>(exhausted->kind);
  const Lease& l = *leases[exhausted->index];
  std::uint64_t limit = limit_of(*chain[exhausted->index].limits, k).value_or(0);
  bool unpriced = exhausted->kind == BudgetKind::cost && charge.unpriced;
  exhausted->lease_short = !unpriced && l.granted[k] < limit && !recently_spent_out(l, k, now);
  exhausted->limit = limit;
  if (!exhausted->lease_short && !unpriced) exhausted->used = std::max(exhausted->used, l.fleet_taken[k]);
  return exhausted;
}

void FleetBudgetStore::settle(std::span<const ChainScope> chain, const Charge& was, const Charge& is) {
  local_.settle(chain, was, is);
  if (is.bytes_out <= was.bytes_out && is.tokens <= was.tokens && is.cost <= was.cost) return;
  bool after_the_fact = std::any_of(chain.begin(), chain.end(), [](const ChainScope& c) {
    return c.limits && (c.limits->max_bytes_out || c.limits->max_tokens || c.limits->max_cost);
  });
  if (!after_the_fact || !node_.connected()) return;
  // A response's bytes, tokens and cost are known only now: what this node spent beyond what it
  // holds is told to Redis at once, so that the other nodes' next leases see it (and a budget it
  // used up stops being leased), not at this node's next lease.
  std::lock_guard lock(mutex_);
  for (const auto& scope : chain) {
    if (!scope.limits) continue;
    Lease& l = lease_of(scope);
    ScopeUse use = local_.use(scope.id).value_or(ScopeUse{});
    for (auto kind : {BudgetKind::bytes_out, BudgetKind::tokens, BudgetKind::cost}) {
      auto k = static_cast<std::size_t>(kind);
      auto limit = limit_of(*scope.limits, k);
      std::uint64_t used = used_of(use, k);
      if (!limit || used <= l.granted[k] || l.leasing[k] > 0 || !l.known[k]) continue;
      ++l.leasing[k];
      node_.report_budget(std::string(scope.id), std::string(guard::kBudgetKinds[k]), used + l.offset[k], *limit,
                          scope.expires,
                          [this, id = std::string(scope.id), k, limit = *limit](const BudgetLease& got) {
                            std::lock_guard relock(mutex_);
                            auto it = leases_.find(id);
                            if (it == leases_.end()) return;
                            --it->second.leasing[k];
                            if (!got.failed) learn(it->second, k, got, limit);
                          });
    }
  }
}

boost::asio::awaitable<FleetBudgetStore::LeaseOutcome> FleetBudgetStore::take_leases(std::span<const ChainScope> chain,
                                                                                    Charge charge) {
  std::vector<Want> wants;
  std::vector<std::pair<std::string, std::size_t>> awaited;  // leases other requests are asking for
  {
    std::int64_t now = clock::steady_ns();
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < chain.size() && i < kMaxChain; ++i) {
      if (!chain[i].limits) continue;
      Lease& l = lease_of(chain[i]);
      ScopeUse use = local_.use(chain[i].id).value_or(ScopeUse{});
      for (std::size_t k = 0; k < kKinds; ++k) {
        auto limit = limit_of(*chain[i].limits, k);
        auto a = applies_to(charge, k, i + 1 == chain.size());
        if (!limit || !a.applies || recently_spent_out(l, k, now)) continue;
        std::uint64_t used = used_of(use, k);
        bool is_short = a.before ? used + a.adding > l.granted[k] : used >= l.granted[k];
        if (!is_short) continue;
        if (l.leasing[k] > 0) {
          // One lease asked for at a time per budget: requests at once would each take a slice,
          // and hold far more of the fleet's budget here than this node needs.
          awaited.emplace_back(std::string(chain[i].id), k);
          continue;
        }
        std::uint64_t want = std::max(slice(*limit, node_.settings().budget_lease), a.adding);
        ++l.leasing[k];  // no idle return while a lease is asked for: its answer would undo it
        wants.push_back(Want{std::string(chain[i].id), k, used + l.offset[k], want, *limit, chain[i].expires,
                             !l.known[k]});
      }
    }
  }
  bool failed = false;
  for (auto& w : wants) {
    BudgetLease got;
    if (!failed) {
      got = co_await node_.lease_budget(w.scope, std::string(guard::kBudgetKinds[w.kind]), w.used, w.want, w.limit,
                                        w.expires, w.first);
    }
    std::lock_guard lock(mutex_);
    Lease& l = leases_[w.scope];
    --l.leasing[w.kind];
    if (!failed && got.failed) l.uncertain[w.kind] = true;  // the script may yet run, or have run
    failed = failed || got.failed;
    if (failed) continue;
    if (w.first) l.offset[w.kind] += got.before;
    l.known[w.kind] = true;
    learn(l, w.kind, got, w.limit);
    l.last_spend_ns = clock::steady_ns();  // a lease just taken is not idle
  }
  if (failed) co_return LeaseOutcome::unavailable;
  // Then the leases of the others, looked at each millisecond for at most twice the store's timeout.
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  const auto polls_at_most = 2 * node_.settings().redis.timeout.count();
  for (std::int64_t polls = 0; !awaited.empty() && polls < polls_at_most; ++polls) {
    {
      std::lock_guard lock(mutex_);
      std::erase_if(awaited, [&](const auto& a) {
        auto it = leases_.find(a.first);
        return it == leases_.end() || it->second.leasing[a.second] == 0;
      });
    }
    if (awaited.empty()) break;
    timer.expires_after(std::chrono::milliseconds(1));
    co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
  co_return LeaseOutcome::taken;
}

// What Redis says this node holds, and the fleet's total (under mutex_).
void FleetBudgetStore::learn(Lease& l, std::size_t kind, const BudgetLease& got, std::uint64_t limit) {
  l.granted[kind] = got.held > l.offset[kind] ? got.held - l.offset[kind] : 0;
  l.fleet_taken[kind] = got.total;
  if (got.total >= limit) l.spent_out_ns[kind] = clock::steady_ns();
}

void FleetBudgetStore::return_idle(std::int64_t now_ns, bool all) {
  auto idle = std::chrono::nanoseconds(node_.settings().budget_lease_idle).count();
  std::lock_guard lock(mutex_);
  for (auto& [scope, l] : leases_) {
    if (!all && now_ns - l.last_spend_ns < idle) continue;
    ScopeUse use = local_.use(scope).value_or(ScopeUse{});
    for (std::size_t k = 0; k < kKinds; ++k) {
      std::uint64_t used = used_of(use, k);
      // Only what a lease answered in this process says (else what Redis holds for this node may be
      // spending before a restart, not a lease); an unanswered one may have granted more than known.
      if (!l.known[k] || l.leasing[k] > 0 || (l.granted[k] <= used && !l.uncertain[k])) continue;
      l.granted[k] = used;
      l.uncertain[k] = false;
      node_.return_budget(scope, std::string(guard::kBudgetKinds[k]), used + l.offset[k]);
    }
  }
}

std::size_t FleetBudgetStore::forget_expired(std::int64_t now) {
  {
    std::lock_guard lock(mutex_);
    std::erase_if(leases_, [&](const auto& item) { return item.second.expires != 0 && item.second.expires < now; });
  }
  return local_.forget_expired(now);
}

}  // namespace scopegate::fleet
