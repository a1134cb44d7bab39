// The gateway's metrics (docs/protocol.md §8) on top of metrics/: the process's registry, the ids
// of the label values every request uses, the label ids of one config (resolved with its snapshot,
// so the request path never looks a string up), and what a finished request records.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "audit/events.hpp"
#include "config/config.hpp"
#include "http/errors.hpp"
#include "metrics/registry.hpp"
#include "plan/run.hpp"
#include "policy/policy.hpp"

namespace scopegate::runtime {

class Services;

// Label ids of one config: routes (indexed like Snapshot::route_index, the scopes route last),
// agents (like config.agents) and each route's declared tools.
struct MetricLabels {
  std::vector<std::uint16_t> routes;
  std::vector<std::vector<std::uint16_t>> endpoints;  // per route: its endpoints' host:port
  std::vector<std::uint16_t> agents;
  std::vector<std::map<std::string, std::uint16_t, std::less<>>> tools;
  std::map<std::string, std::uint16_t, std::less<>> rules;  // policy rule ids
  std::map<std::string, std::uint16_t, std::less<>> models;  // the price table's models (docs/llm.md)

  std::uint16_t tool(std::size_t route, std::string_view name) const;  // "other" unless declared
  std::uint16_t rule(std::string_view id) const;                       // "default" for ""
  std::uint16_t model(std::string_view name) const;                    // "other" unless priced
};

class GatewayMetrics {
 public:
  static GatewayMetrics& instance();

  metrics::Registry& registry() { return registry_; }

  MetricLabels resolve(const config::Config& config, const policy::PolicySet* policies = nullptr);

  std::uint16_t none, allow, deny, ok, error, by_default, enforce, shadow;
  std::uint16_t operation(std::string_view op) const;
  std::uint16_t code(http::ErrorCode c) const { return codes_[static_cast<std::size_t>(c)]; }
  std::uint16_t status_class(unsigned status) const { return classes_[status >= 100 && status < 600 ? status / 100 : 0]; }
  std::uint16_t event(std::size_t e) const { return events_[e]; }
  std::uint16_t depth(int d) const;
  std::uint16_t breaker_state(int s) const { return breaker_states_[static_cast<std::size_t>(s) % breaker_states_.size()]; }
  std::uint16_t retry_reason(int r) const { return retry_reasons_[static_cast<std::size_t>(r) % retry_reasons_.size()]; }
  std::uint16_t budget_kind(int k) const { return budget_kinds_[static_cast<std::size_t>(k) % budget_kinds_.size()]; }
  std::uint16_t plan_deviation(plan::DeviationKind k) const { return plan_deviations_[static_cast<std::size_t>(k)]; }
  std::uint16_t task_state(plan::TaskState s) const { return task_states_[static_cast<std::size_t>(s)]; }
  std::uint16_t token_type(std::size_t t) const { return token_types_[t % token_types_.size()]; }

 private:
  GatewayMetrics();

  metrics::Registry registry_;
  std::array<std::uint16_t, 7> operations_{};
  std::array<std::uint16_t, http::kErrorCodeCount> codes_{};
  std::array<std::uint16_t, 6> classes_{};  // [0] other, [1] 1xx ... [5] 5xx
  std::array<std::uint16_t, audit::kEventCount> events_{};
  std::array<std::uint16_t, 17> depths_{};
  std::array<std::uint16_t, 6> budget_kinds_{};  // guard::kBudgetKinds
  std::array<std::uint16_t, 4> token_types_{};   // llm::kTokenLabels
  std::array<std::uint16_t, 2> retry_reasons_{};   // pipeline::RetryReason: connect, reset
  std::array<std::uint16_t, 3> breaker_states_{};
  std::array<std::uint16_t, plan::kDeviationKindCount> plan_deviations_{};
  std::array<std::uint16_t, plan::kTaskStateCount> task_states_{};  // in breaker::State's order: closed, open, half_open
  bool dictionary_full_ = false;  // resolve() runs on the control thread only
};

// What a finished request tells the metrics, label ids resolved (pipeline/request_end.cpp fills it).
struct RequestSample {
  std::uint16_t route = 0, agent = 0, operation = 0, tool = 0, target_agent = 0;
  bool has_route = false, allowed = false, forwarded = false;
  bool tool_call = false, delegation = false;
  std::optional<http::ErrorCode> reason;
  unsigned status = 0;
  int depth = -1;  // of the scope it ran under; -1: none
  int budget_kind = -1;  // guard::BudgetKind of the budget that refused it; -1: none
  std::uint64_t duration_ns = 0;
  std::uint64_t upstream_ns = 0;  // 0: never forwarded
};

void record_request(const RequestSample& s);
void record_scope_opened(std::uint16_t agent, int depth);
void record_reload(bool ok);
// Plans (docs/plans.md): a new deviation; a plan whose last task ended.
void record_plan_deviation(plan::DeviationKind kind);
void record_plan_finished(std::int64_t duration_us);
// A breaker of a route entered state `to` (breaker::State as an int).
void record_breaker_transition(std::uint16_t route, int to);
// An attempt retried (`reason`: pipeline::RetryReason as an int).
void record_retry(std::uint16_t route, int reason);
// The state of every breaker of a snapshot, per route and per endpoint: at start and reload, so
// that each has a series from the start, and before every scrape.
struct Snapshot;
void record_breaker_states(const Snapshot& snapshot);
// A reload from `running` to `next`: the breaker series of routes and endpoints that no longer have
// breakers go to 0 (closed, not ejected), so that no alert fires on a breaker that is gone.
void retire_breaker_series(const Snapshot& running, const Snapshot& next);
// One policy decision (the deciding rule, or the default) and the shadow rules that would have
// decided otherwise: scopegate_policy_decisions_total{rule,decision,mode}.
void record_policy_decision(const MetricLabels& labels, const policy::Decision& d);

// Gauges and counters kept elsewhere (the audit writer's statistics, the scope registry), copied
// into the registry just before a scrape renders it.
void sample_before_scrape(Services& services);

}  // namespace scopegate::runtime
