#include "pipeline/request_end.hpp"

#include "runtime/services.hpp"
#include "pipeline/audit_stages.hpp"
#include "pipeline/endpoints.hpp"
#include "pipeline/guards.hpp"
#include "pipeline/llm.hpp"
#include "pipeline/plans.hpp"

namespace scopegate::pipeline {

namespace {

void record_metrics(runtime::Services&, const RequestSummary& summary) { runtime::record_request(summary.metrics); }

// What runs when a request ends, in order. One line per observer.
constexpr RequestObserver kRequestObservers[] = {
    &audit_request,   // the request's record, or after a write-ahead record its outcome (docs/audit.md)
    &record_metrics,  // docs/protocol.md §8
    &settle_budget,   // what it spent of its chain's budgets, by what its record says (pipeline/guards.cpp)
    &record_breaker,  // what the upstream did, for the route's circuit breaker (pipeline/endpoints.cpp)
    &settle_plan,     // the plan task it ran under or carried: its requests, and how a carried one ended (docs/plans.md)
    &record_llm,      // a model call's tokens, cost and latency (docs/llm.md)
};

// The request as label ids: every value comes from the config or a fixed list, never from the
// request's own bytes (an undeclared tool is "other").
void sample_metrics(const RequestContext& x, const RequestSummary& summary, runtime::RequestSample& s) {
  const auto& m = runtime::GatewayMetrics::instance();
  const auto& labels = x.snapshot.metric_labels;
  auto now = Clock::now();
  s.agent = x.snapshot.agent_label(x.agent);
  s.operation = m.operation(x.operation);
  s.allowed = summary.facts.allowed;
  s.forwarded = x.forwarded;
  s.reason = x.reason;
  s.status = x.status;
  if (x.budget_exhausted) s.budget_kind = static_cast<int>(*x.budget_exhausted);
  s.duration_ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - x.started).count());
  if (x.forwarded) {
    s.upstream_ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - x.upstream_started).count());
  }
  if (x.token) s.depth = static_cast<int>(x.token->depth());
  if (!x.route) return;
  std::size_t index = x.snapshot.route_index(*x.route);
  s.has_route = index < labels.routes.size();
  if (!s.has_route) return;
  s.route = labels.routes[index];
  if (x.operation == "execute_tool") {
    s.tool_call = true;
    s.tool = labels.tool(index, x.tool);
  }
  // A delegation: a message to a sub-agent's route (to its target agent), or POST /v1/scopes
  // opening a child for another agent (its action is agent:<target>), refused or not.
  if (x.delegates) {
    s.delegation = true;
    s.target_agent = x.snapshot.agent_label(x.snapshot.agents.by_id(x.route->target_agent));
  } else if (x.route->kind == config::RouteKind::scopes && x.action.starts_with("agent:")) {
    s.delegation = true;
    s.target_agent = x.snapshot.agent_label(x.snapshot.agents.by_id(std::string_view(x.action).substr(6)));
  }
}

}  // namespace

void summarize(RequestContext& x, RequestSummary& out) {
  auto& f = out.facts;
  f.request_id = x.request_id;
  // Every request record joins the agent's trace, refusals made before stamping included: the
  // trace the request came with continues (or one starts) here, as stamping would have done.
  if (x.trace.empty()) x.trace = delegation::continue_trace(x.inbound.traceparent);
  f.trace_id = x.trace.trace_id();
  f.span_id = x.trace.span_id();
  if (x.token) {
    const auto& current = x.token->current();
    f.scope.id = current.sid;
    f.scope.parent = current.par;
    f.scope.root = x.token->root().sid;
    f.scope.depth = x.token->depth();
    delegation::append_scope_path(out.scope_path, *x.token, x.token->scopes.size() - 1);
    f.scope.path = out.scope_path;
    f.principal = x.token->root().sub;
  }
  if (x.agent) f.agent = x.agent->id;
  if (x.child) {
    f.child_scope = x.child->id;
    f.target_agent = x.child->actor;
  }
  if (x.route) {
    f.route = x.route->name;
    // The endpoint of its last attempt; a request refused before one was chosen names the route's
    // upstream when it has only one.
    if (x.last_endpoint) {
      f.upstream = x.last_endpoint->upstream->url;
      f.endpoint = x.last_endpoint->label;
    } else if (x.route->upstreams.size() == 1) {
      f.upstream = x.route->upstreams.front().url;
    }
    f.retries = x.retries;
    if (x.serving_route) f.fallback = x.serving_route->name;
    f.route_label = &x.route->data;
    if (!x.tool.empty()) {
      if (auto it = x.route->tools.find(x.tool); it != x.route->tools.end()) f.tool_label = &it->second;
    }
  }
  if (x.policy) {
    f.rule = x.policy->rule;
    f.shadow = x.policy->shadow_hits();
  }
  if (!x.guard_rule.empty()) f.rule = x.guard_rule;  // a guard refused it, after the policies allowed it
  if (x.token) {
    const auto& scopes = x.token->scopes;
    out.budget_chain_size = std::min(scopes.size(), out.budget_chain.size());
    for (std::size_t i = 0; i < out.budget_chain_size; ++i) {
      // With each scope's limits: a store shared by a fleet tells Redis at once what a response
      // spent beyond this node's lease of a limit (fleet/budget_store.hpp).
      const config::BudgetLimits& limits = x.snapshot.config.budgets.for_agent(scopes[i].agt);
      out.budget_chain[i] = guard::ChainScope{scopes[i].sid, limits.any() ? &limits : nullptr, x.token->expires_at[i]};
    }
    out.budget_reserved = x.budget_reserved;
    out.budget_spent = x.budget_spent;
  }
  out.route = x.route;
  out.tool_breaker = x.tool_breaker;
  out.tool_probe = x.tool_probe;
  if (x.tool_breaker) out.tool_settings = &x.snapshot.breaker_settings[x.snapshot.route_index(*x.route)];
  out.mcp_outcome = x.mcp_outcome;
  out.reading_answer = x.reads_mcp_outcome;
  out.timeout_not_theirs = x.retries > 0 && x.phase_cut_short;
  if (x.breaker && x.endpoint) {
    const config::Route& serving = x.serving_route ? *x.serving_route : *x.route;
    std::size_t serving_index = x.snapshot.route_index(serving);
    out.breaker = x.breaker;
    out.endpoint = x.endpoint;
    out.breaker_route = &serving;
    out.breaker_route_label = x.snapshot.metric_labels.routes[serving_index];
    out.breaker_settings = &x.snapshot.breaker_settings[serving_index];
    out.breaker_probe = x.breaker_probe;
  }
  f.operation = x.operation;
  f.action = x.action;
  f.tool = x.tool;
  f.resource = x.resource;
  f.mcp_method = x.mcp_method;
  f.task_id = x.task_id;
  f.context_id = x.context_id;
  f.plan = x.plan_id;
  f.task = x.plan_task;
  out.plan_role = x.plan_role;
  out.child_opened = x.child.has_value();
  out.forwarded = x.forwarded;
  if (x.route) out.route_kind = x.route->kind;
  if (x.a2a_read) out.a2a_answer = &x.a2a_answer;
  const auto& req = x.parser.get();
  if (x.method != bhttp::verb::unknown || x.parser.is_header_done()) {
    f.method = req.method_string();
    f.path = req.target();
  }
  // Forwarded, or answered by the gateway's own endpoint (POST /v1/scopes) without an error.
  f.allowed = x.forwarded || (!x.reason && x.status >= 200 && x.status < 400);
  if (x.reason) f.reason = http::to_string(*x.reason);
  f.status = x.status;
  f.outcome = x.outcome;
  f.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - x.started).count();
  f.bytes_in = x.bytes_in;
  f.bytes_out = x.bytes_out;
  f.durability = x.durability;
  out.reason = x.reason;
  out.recorded = x.recorded;
  summarize_llm(x, out);
  sample_metrics(x, out, out.metrics);
}

void end_request(RequestContext& x) {
  if (x.ended) return;
  x.ended = true;
  RequestSummary summary;
  summarize(x, summary);
  auto& app = x.worker.app();
  for (RequestObserver observe : kRequestObservers) observe(app, summary);
}

}  // namespace scopegate::pipeline
