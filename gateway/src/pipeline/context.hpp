// Everything one request carries through the pipeline stages.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <array>
#include <chrono>
#include <optional>
#include <string>

#include "delegation/scope.hpp"
#include "delegation/scope_request.hpp"
#include "delegation/stamp.hpp"
#include "delegation/token.hpp"
#include "guard/budget.hpp"
#include "http/any_stream.hpp"
#include "http/errors.hpp"
#include "llm/request.hpp"
#include "llm/usage_reader.hpp"
#include "plan/plan.hpp"
#include "policy/policy.hpp"
#include "protocol/a2a_answer.hpp"
#include "protocol/mcp_outcome.hpp"
#include "runtime/snapshot.hpp"
#include "runtime/worker.hpp"

namespace scopegate::pipeline {

class UpstreamSlot;

namespace bhttp = boost::beast::http;
using Clock = std::chrono::steady_clock;

struct ClientInfo {
  boost::asio::ip::tcp::endpoint peer;
  std::string peer_address;  // peer.address() as text, made once per connection
  bool tls = false;
  std::size_t listener = 0;          // index into config.listeners (fixed until restart)
  std::string certificate_subject;   // of a verified client certificate (mTLS); else empty
};

// The request headers the stages read, found in one pass over the fields: a lookup by name in
// Beast's field set compares case-insensitively character by character, and the stages would
// make a dozen of them per request.
struct InboundHeaders {
  std::string_view request_id;
  std::string_view credential;
  unsigned credentials = 0;
  std::string_view token;
  unsigned tokens = 0;
  std::string_view objective;
  bool has_objective = false;
  unsigned grants = 0;  // Delegation-Grants headers; read with equal_range when there are any
  std::string_view task;  // Delegation-Task: the plan task a delegation carries
  unsigned tasks = 0;
  std::string_view traceparent;
  unsigned baggage = 0;
  std::string_view mcp_method, mcp_name;
  bool has_mcp_method = false, has_mcp_name = false;
};

struct RequestContext;

// Sees each piece of a response body in order, each right after it was written to the client; the
// last call has `last` set and comes just before its piece is written (its piece may be empty: the
// end of a chunked body), because the request's record is handed over then and what the tap read
// belongs in it. For accounting that reads the answer as it passes, an SSE stream event by event:
// an LLM call's usage (pipeline/llm.cpp). The state it keeps belongs in the RequestContext.
using ResponseTap = void (*)(RequestContext& x, std::string_view piece, bool last);

struct RequestContext {
  RequestContext(runtime::Worker& w, const runtime::Snapshot& s, http::AnyStream& c, boost::beast::flat_buffer& b,
                 const ClientInfo& i, runtime::SessionHandle& h)
      : worker(w), snapshot(s), client(c), client_buffer(b), info(i), handle(h) {}

  runtime::Worker& worker;
  const runtime::Snapshot& snapshot;
  http::AnyStream& client;
  boost::beast::flat_buffer& client_buffer;
  const ClientInfo& info;
  runtime::SessionHandle& handle;

  bhttp::request_parser<bhttp::buffer_body> parser;
  std::string request_id;
  const config::Route* route = nullptr;

  // Facts about the request as the client sent it, taken before hygiene rewrites the header.
  bhttp::verb method = bhttp::verb::unknown;
  unsigned version = 11;
  bool client_keep_alive = false;
  bool expect_continue = false;
  bool has_body = false;
  bool body_consumed = true;  // false while request body bytes may still be unread on the socket
  std::optional<std::uint64_t> content_length;
  std::string_view host;  // as sent (points into the parsed header), for Forwarded and preserve_host
  InboundHeaders inbound;

  Clock::time_point started = Clock::now();
  Clock::time_point deadline = Clock::time_point::max();  // route's request_total, if on

  // The request body, when a stage had to read it whole (MCP/A2A JSON-RPC, POST /v1/scopes).
  // Forwarded from here with a Content-Length instead of being streamed.
  std::string body;
  bool body_buffered = false;
  bool continue_sent = false;  // the gateway already answered Expect: 100-continue

  // Who is calling and under which scope (delegation stages).
  const config::Agent* agent = nullptr;
  std::shared_ptr<const delegation::VerifiedToken> token;  // shared with the worker's token cache
  bool scope_checked = false;  // verify_scope ran: its verdict on the token stands (attribute_refusal)
  delegation::TraceContext trace;

  // What the request does: the action checked against grants ("" for housekeeping).
  std::string action;
  std::string_view operation = "http";
  std::string tool, resource, mcp_method;
  std::string task_id, context_id;  // A2A
  std::string objective;            // Delegation-Objective (decoded) or the A2A message text
  bool delegates = false;           // a delegation: a child scope is minted for the route's agent
  std::optional<delegation::ScopeRequest> scope_request;  // POST /v1/scopes: what to open
  // Canonical JSON of what a call says (an MCP tool's name and arguments, a resource's uri, an A2A
  // message's parts: protocol/jsonrpc.hpp): what makes two calls the same for the loop guard.
  // Read only while the guard is on.
  std::string call_content;

  // The access policies' decision (pipeline/policies.cpp), and what it was computed from that the
  // context did not already hold (its views point into the snapshot's policy set and here).
  std::optional<policy::Decision> policy;
  std::string policy_arguments;  // canonical JSON of an MCP tool call's arguments, when a rule reads them
  std::vector<std::string> policy_datasets;

  // The guards (pipeline/guards.cpp): a refusal's rule ("rate_limit:<id>", "loop_guard",
  // "budget:<kind>") and how long waiting would take, and what the request spent of its chain's
  // budgets, settled when it ends.
  std::string guard_rule;
  std::int64_t retry_after_s = 0;  // > 0: sent as Retry-After
  guard::Charge budget_spent;
  bool budget_reserved = false;
  std::optional<guard::BudgetKind> budget_exhausted;  // the budget that refused it

  // The endpoint chosen for the request (pipeline/endpoints.cpp), counted in its outstanding
  // requests until the request ends; the endpoints tried (bits by index); the retries made. Its
  // circuit breaker, when the route has breakers (a probe while half-open).
  // The route whose endpoints serve it: its own, or its fallback route while its own are unavailable
  // (`on_unavailable: fallback`); the policies, grants and timeouts stay those of `route`.
  const config::Route* serving_route = nullptr;
  const runtime::Endpoint* endpoint = nullptr;
  const runtime::Endpoint* last_endpoint = nullptr;  // kept after the request left it, for the record
  std::uint64_t endpoints_tried = 0;                 // of serving_route's endpoints
  std::uint32_t retries = 0;
  upstream::RetryBudget* active_in = nullptr;        // the retry budget it counts in as an active request
  upstream::RetryBudget* retry_held = nullptr;       // the budget that granted the current attempt's retry
  breaker::Breaker* breaker = nullptr;  // the endpoint's
  bool breaker_probe = false;
  // A tool call on an mcp route with breakers per tool: the tool's breaker, which admitted it first.
  const runtime::ToolBreaker* tool_breaker = nullptr;
  bool tool_probe = false;
  // Serving from the fallback route: the slot of its concurrency limit it holds (given back when
  // the request ends).
  breaker::ConcurrencyLimiter* fallback_limiter = nullptr;
  metrics::ValueCell* fallback_gauge = nullptr;
  UpstreamSlot* upstream_slot = nullptr;  // the slot of the route's own limit (pipeline/concurrency.hpp)
  // What the MCP server answered, read as the response is relayed, for a breaker that counts
  // JSON-RPC or tool errors (protocol/mcp_outcome.hpp).
  bool reads_mcp_outcome = false;
  // The current attempt's connect or first-byte timeout was shortened by the request's own deadline
  // (request_total), which earlier attempts had spent part of.
  bool phase_cut_short = false;
  std::optional<protocol::McpOutcomeScanner> mcp_scanner;
  protocol::McpOutcome mcp_outcome = protocol::McpOutcome::unknown;

  // Plans (pipeline/plans.cpp): the plan task the request ran under (its scope is bound to it), the
  // one it carries (a delegation naming it), or the one it asks about (A2A GetTask or a stream for
  // the A2A task a carrying delegation left unfinished). Empty task with a plan: a delegation from
  // a plan's scope that named no task.
  enum class PlanRole { none, under, carries, follows };
  PlanRole plan_role = PlanRole::none;
  std::string plan_id, plan_task;
  std::string carried_task;                 // "<plan>/<task>" as named: the child token carries it
  std::optional<plan::PlanSpec> plan_spec;  // POST /v1/plans: the plan to register
  // What the sub-agent answered about the task, read as the response is relayed (A2A routes).
  bool plan_reads_answer = false;
  std::optional<protocol::A2aAnswerScanner> a2a_scanner;
  protocol::A2aAnswer a2a_answer;
  bool a2a_read = false;

  // LLM calls (pipeline/llm.cpp): the model the body asks for (its action is model:<name>), and
  // the usage read from the response as it passes (through response_tap), with when its first
  // piece went out.
  std::string model;
  bool llm_stream = false;  // the call asked for its answer as server-sent events
  // What the budgets hold for it while it runs (llm::estimated_tokens), settled to what it used.
  std::uint64_t reserve_tokens = 0, reserve_cost = 0;
  std::optional<llm::UsageReader> usage_reader;
  Clock::time_point first_piece_at{};

  // A delegation's child scope and token.
  std::optional<delegation::ScopeRecord> child;
  std::string child_token;

  // Header lines stamped on the forwarded request, and the inbound names they replace.
  std::string stamped;
  std::array<std::string_view, 6> replaced{};
  std::size_t replaced_count = 0;

  // How durable the request's audit record must be, and where it stands: strict routes commit it
  // before forwarding (what became of the request follows in a request.outcome record) or,
  // whole, before refusing.
  config::Durability durability = config::Durability::batch;
  enum class Recorded { not_yet, before_forward, whole };
  Recorded recorded = Recorded::not_yet;
  bool ended = false;  // the end-of-request observers ran (end_request)

  // Outcome, for the stages that watch every request (audit and metrics).
  bool forwarded = false;                 // the upstream received (part of) the request
  Clock::time_point upstream_started{};   // when its head went upstream
  bool counted_inflight = false;          // in scopegate_inflight_requests until the request ends
  std::optional<http::ErrorCode> reason;  // the gateway answered with this error
  unsigned status = 0;
  // Set when the response was cut after its head went out (docs/audit.md, "outcome"): the status
  // was sent, but the body did not arrive whole.
  std::string_view outcome;  // "", "upstream_cut" or "client_cut"
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;

  // Null unless the request's route needs it: the relay then pays one pointer test per piece.
  ResponseTap response_tap = nullptr;
};

}  // namespace scopegate::pipeline
