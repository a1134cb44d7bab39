// What runs when a request ends: one list of observers, each fed one immutable summary of the
// request: the audit record, metrics, budgets, breakers, plans and LLM usage. Adding an observer is
// one function and one line in the list (request_end.cpp).
#pragma once

#include <array>
#include <optional>
#include <string>

#include "audit/sink.hpp"
#include "pipeline/context.hpp"
#include "runtime/gateway_metrics.hpp"

namespace scopegate::app {
class App;
}

namespace scopegate::pipeline {

// The request as it ended, built once from the RequestContext (summarize). `facts` holds what
// every observer reads: ids, trace, scope, agent, route, action, decision (allowed), reason,
// status, duration, bytes, outcome. Its views point into the context and into `scope_path`, so a
// summary lives no longer than the request and is neither copied nor moved.
struct RequestSummary {
  RequestSummary() = default;
  RequestSummary(const RequestSummary&) = delete;
  RequestSummary& operator=(const RequestSummary&) = delete;

  audit::RequestFacts facts;
  std::optional<http::ErrorCode> reason;  // the error the gateway answered with, as a code
  // How the request's audit record stands: a strict route's record may already be durable, whole
  // (a refusal) or ahead of forwarding (then only its outcome is still to be recorded).
  RequestContext::Recorded recorded = RequestContext::Recorded::not_yet;
  std::string scope_path;  // storage behind facts.scope.path
  runtime::RequestSample metrics;  // the same request as label ids and durations
  // The request's chain of scopes for its budgets (views into its token), and what the budget
  // stage spent ahead of it.
  std::array<guard::ChainScope, 16> budget_chain{};
  std::size_t budget_chain_size = 0;
  bool budget_reserved = false;
  guard::Charge budget_spent;
  // The breaker that let the request through, and with what settings (pipeline/endpoints.cpp).
  const config::Route* route = nullptr;
  breaker::Breaker* breaker = nullptr;
  const runtime::Endpoint* endpoint = nullptr;
  const config::Route* breaker_route = nullptr;  // the route whose endpoint served (its fallback's, perhaps)
  const runtime::ToolBreaker* tool_breaker = nullptr;  // the tool's breaker (per: tool), beside the endpoint's
  bool tool_probe = false;
  const breaker::Settings* tool_settings = nullptr;
  protocol::McpOutcome mcp_outcome = protocol::McpOutcome::unknown;
  bool reading_answer = false;      // the MCP answer was being read for a breaker
  bool timeout_not_theirs = false;  // a retry's timeout cut short by time earlier attempts spent
  std::uint16_t breaker_route_label = 0;
  const breaker::Settings* breaker_settings = nullptr;
  bool breaker_probe = false;
  // Plans (pipeline/plans.cpp): facts.plan and facts.task name the task; how the request relates to it.
  RequestContext::PlanRole plan_role = RequestContext::PlanRole::none;
  bool child_opened = false;  // a carrying delegation's child scope was minted (the task started)
  bool forwarded = false;
  config::RouteKind route_kind = config::RouteKind::http;
  const protocol::A2aAnswer* a2a_answer = nullptr;  // what an A2A agent answered, when it was read
  // An LLM call (pipeline/llm.cpp): facts.model, facts.usage and facts.cost say what it used.
  bool llm_call = false;           // a model call forwarded upstream
  llm::Usage usage;                // storage behind facts.usage
  bool priced = false;             // its model is in the price table
  std::uint16_t model_label = 0;   // its model as a metric label ("other" unless priced)
  std::uint64_t first_piece_ns = 0;  // from sending it upstream to the first piece of its answer; 0: none
};

// Fills `out` from the request. Starts the request's trace if no stage did (every record joins the
// agent's trace, refusals made before stamping included).
void summarize(RequestContext& x, RequestSummary& out);

// An end-of-request observer. It must not block: it runs on the event loop, before the last write
// of the response (see end_request).
using RequestObserver = void (*)(runtime::Services& app, const RequestSummary& summary);

// The request is over as far as the gateway decides: runs every observer once, in list order.
// Called before the last write of a response where there is one, so that a crash after the client
// saw the end of its response cannot lose the record (audit/journal.hpp: the journal is written
// before the reply); otherwise when the request ends (cut, or closed early). Later calls do nothing.
void end_request(RequestContext& x);

}  // namespace scopegate::pipeline
