// Where the pipeline hands the facts each request and each scope event produce (docs/protocol.md §6).
// The stages only describe what happened; a sink decides what to keep. The audit writer (its own
// thread, a bounded queue, the hash chain) is one sink; the operational log is another. A sink
// is called on the event loop: it must copy what it keeps and return at once.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "delegation/scope.hpp"
#include "llm/usage.hpp"
#include "policy/policy.hpp"

namespace scopegate::audit {

struct ScopeRef {
  std::string_view id, parent, root, path;
  int depth = -1;  // -1: the request ran under no scope (open routes, rejected before the token)
};

// One request, proxied or rejected. Views stay valid only during the call.
struct RequestFacts {
  std::string_view request_id, trace_id, span_id;
  ScopeRef scope;
  std::string_view principal;
  std::string_view agent;         // the authenticated caller; empty when there is none
  std::string_view target_agent;  // delegations
  std::string_view child_scope;   // delegations: the scope minted for the target agent
  std::string_view route;
  std::string_view operation;     // execute_tool, invoke_agent, read_resource, http
  std::string_view action;        // the action string checked against grants, if any
  std::string_view tool, resource, mcp_method;
  std::string_view task_id, context_id;  // A2A
  std::string_view method, path, upstream;
  std::string_view endpoint;      // host:port of the endpoint of its last attempt
  std::uint32_t retries = 0;      // attempts after the first (pipeline/endpoints.cpp)
  std::string_view fallback;      // the route whose endpoints served it, its own being unavailable
  const config::DataLabel* route_label = nullptr;  // datasets and classification of the route...
  const config::DataLabel* tool_label = nullptr;   // ...and of the MCP tool called, if labelled
  bool allowed = false;           // forwarded to the upstream
  bool ahead = false;             // strict: recorded before forwarding, so the outcome is not known
  config::Durability durability = config::Durability::batch;
  std::string_view reason;        // the error code when the gateway answered itself
  std::string_view rule;           // the policy rule that decided, if one did
  std::span<const policy::ShadowHit> shadow;  // shadow rules that would have decided otherwise
  std::string_view plan, task;    // the plan task it ran under, or carried (docs/plans.md)
  std::string_view model;         // an LLM call: the model asked for (docs/llm.md)
  const llm::Usage* usage = nullptr;  // ...and what its response reported, when it was read
  std::uint64_t cost = 0;         // ...at the configured price, in pico-units (0 for an unpriced model)
  unsigned status = 0;
  std::string_view outcome;       // upstream_cut, client_cut; empty when the response went out whole
  double duration_ms = 0;
  std::uint64_t bytes_in = 0, bytes_out = 0;
};

// A breaker's transition (docs/resilience.md): the breaker of a route's endpoint, or of a tool.
struct BreakerFacts {
  std::string_view route;
  std::string_view endpoint;  // host:port; empty for a tool's breaker
  std::string_view tool;      // per-tool breakers: the tool ("other" for undeclared tools)
  std::string_view from, to, cause;
};

// Plans (docs/plans.md). Views stay valid only during the call.
struct PlanOpenFacts {
  std::string_view plan, request_id;
  ScopeRef scope;                  // the scope it was registered for
  std::string_view principal, agent;
  std::string_view spec_members;   // ,"goal":...,"mode":...,"tasks":[...] (plan::append_spec_members)
  std::string_view started, expires;
};

struct PlanTaskFacts {
  std::string_view plan, task, from, to, cause, scope, blocked_by, request_id, at;
};

struct PlanDeviationFacts {
  std::string_view plan, task, kind, scope, agent, action, request_id, at;
  bool enforced = false;
};

enum class Opening { minted, first_seen };  // opened by this node, or learnt from a valid token

// What set a reload off: SIGHUP, POST /v1/reload, or a policy file changing on disk.
enum class ReloadTrigger { signal, admin, file };

constexpr std::string_view to_string(ReloadTrigger t) {
  switch (t) {
    case ReloadTrigger::signal: return "signal";
    case ReloadTrigger::admin: return "admin";
    case ReloadTrigger::file: return "file";
  }
  return "signal";
}

// One reload tried, applied or refused (a policy.reload record). Views stay valid only during the call.
struct ReloadFacts {
  ReloadTrigger trigger = ReloadTrigger::signal;
  bool applied = false;
  std::uint64_t generation = 0;  // the config generation running after it
  // The policy set in force after it: the new one, or the one a refusal kept running; null when
  // the config names no policies.
  const policy::PolicySet* policies = nullptr;
  std::span<const std::string> errors;  // refused: why, each "file:line: key: message" as check prints it
};

class FactSink {
 public:
  virtual ~FactSink() = default;
  virtual void request(const RequestFacts& facts) = 0;
  // What became of a request whose record was committed before it was forwarded (strict): its
  // status, duration, bytes out and outcome, known only now.
  virtual void request_outcome(const RequestFacts& facts) = 0;
  // Called before the request that opened (or first used) the scope is forwarded.
  virtual void scope_opened(const delegation::ScopeRecord& scope, Opening how, std::string_view request_id) = 0;
  // `record` is null when this node never saw the scope.
  virtual void scope_revoked(const delegation::ScopeRecord* record, std::string_view scope,
                             std::span<const std::string> revoked, std::string_view by) = 0;
  // A reload was tried (SIGHUP, POST /v1/reload, a policy file changed): applied, or why it was refused.
  virtual void config_reloaded(const ReloadFacts& facts) = 0;
  // A circuit breaker changed state (closed, half_open, open).
  virtual void breaker_transition(const BreakerFacts& facts) = 0;
  // A plan was registered; one of its tasks changed state; execution departed from it.
  virtual void plan_opened(const PlanOpenFacts& facts) = 0;
  virtual void plan_task(const PlanTaskFacts& facts) = 0;
  virtual void plan_deviation(const PlanDeviationFacts& facts) = 0;
};

// Writes facts to the operational log at debug level: the sink when no audit.dir is configured.
class LogSink final : public FactSink {
 public:
  void request(const RequestFacts& facts) override;
  void request_outcome(const RequestFacts& facts) override;
  void scope_opened(const delegation::ScopeRecord& scope, Opening how, std::string_view request_id) override;
  void scope_revoked(const delegation::ScopeRecord* record, std::string_view scope,
                     std::span<const std::string> revoked, std::string_view by) override;
  void config_reloaded(const ReloadFacts& facts) override;
  void breaker_transition(const BreakerFacts& facts) override;
  void plan_opened(const PlanOpenFacts& facts) override;
  void plan_task(const PlanTaskFacts& facts) override;
  void plan_deviation(const PlanDeviationFacts& facts) override;
};

class Writer;

// Hands every fact to the audit writer's queue as a record (and to the debug log).
class WriterSink final : public FactSink {
 public:
  explicit WriterSink(Writer& writer) : writer_(writer) {}
  void request(const RequestFacts& facts) override;
  void request_outcome(const RequestFacts& facts) override;
  void scope_opened(const delegation::ScopeRecord& scope, Opening how, std::string_view request_id) override;
  void scope_revoked(const delegation::ScopeRecord* record, std::string_view scope,
                     std::span<const std::string> revoked, std::string_view by) override;
  void config_reloaded(const ReloadFacts& facts) override;
  void breaker_transition(const BreakerFacts& facts) override;
  void plan_opened(const PlanOpenFacts& facts) override;
  void plan_task(const PlanTaskFacts& facts) override;
  void plan_deviation(const PlanDeviationFacts& facts) override;

 private:
  Writer& writer_;
  LogSink log_;
};

}  // namespace scopegate::audit
