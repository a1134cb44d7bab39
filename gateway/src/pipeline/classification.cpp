#include "pipeline/classification.hpp"

#include "delegation/scope_request.hpp"
#include "pipeline/llm.hpp"
#include "pipeline/plans.hpp"
#include "protocol/jsonrpc.hpp"

namespace scopegate::pipeline {

using http::ErrorCode;
using http::Violation;

bool needs_body(const RequestContext& x) {
  auto kind = x.route->kind;
  if (x.method != bhttp::verb::post) return false;
  if (kind == config::RouteKind::plans) {  // the plan itself; ending a task takes no body
    std::string_view target = x.parser.get().target();
    return target.substr(0, target.find('?')) == kPlansPath;
  }
  if (kind == config::RouteKind::llm) {  // a model call's JSON; an upload to another endpoint streams
    return llm::operation_of(x.route->llm.api, x.parser.get().target()) != llm::Operation::other;
  }
  return kind == config::RouteKind::mcp || kind == config::RouteKind::a2a || kind == config::RouteKind::scopes;
}

Verdict check_protocol_method(const RequestContext& x) {
  auto kind = x.route->kind;
  if (kind == config::RouteKind::scopes) {
    if (x.method == bhttp::verb::post) return std::nullopt;
    return Violation{ErrorCode::method_not_allowed, "opening a scope is a mutation: use POST"};
  }
  if (kind == config::RouteKind::plans) {
    if (x.method == bhttp::verb::post) return std::nullopt;
    if (x.method == bhttp::verb::get && !x.has_body) return std::nullopt;
    return Violation{ErrorCode::method_not_allowed, "/v1/plans takes GET (without a body) and POST"};
  }
  if (kind != config::RouteKind::mcp && kind != config::RouteKind::a2a && kind != config::RouteKind::llm) return std::nullopt;
  // MCP's Streamable HTTP has POST (JSON-RPC), GET (the SSE stream) and DELETE (end of session);
  // A2A's bindings use the same three. Only POST bodies are inspected, so any other method with
  // a body would carry bytes past the gateway unread: it is refused, not forwarded.
  switch (x.method) {
    case bhttp::verb::post: return std::nullopt;
    case bhttp::verb::get:
    case bhttp::verb::delete_:
      if (!x.has_body) return std::nullopt;
      return Violation{ErrorCode::bad_request, std::string(x.parser.get().method_string()) +
                                                   " on this route carries no body (only POST bodies are read)"};
    default:
      return Violation{ErrorCode::method_not_allowed,
                       std::string(kind == config::RouteKind::mcp   ? "an MCP"
                                   : kind == config::RouteKind::a2a ? "an A2A"
                                                                    : "an LLM") +
                           " route takes POST, GET and DELETE only"};
  }
}

namespace {

// What the later stages need from the body beyond the action, read in this one pass: the tool's
// arguments when a policy looks at them, and a call's content when the loop guard counts repeats
// (a call under a scope only: the guard keys on the scope).
protocol::ParseWants wants(const RequestContext& x) {
  protocol::ParseWants w;
  w.arguments = x.snapshot.policies && x.snapshot.policies->reads_arguments();
  w.content = x.snapshot.config.loop_guard.max_repeats > 0 && x.token;
  return w;
}

std::optional<Violation> classify_mcp(RequestContext& x) {
  if (!x.body_buffered) return std::nullopt;  // GET (the SSE stream) and DELETE (end of session)
  std::string why;
  auto call = protocol::parse_mcp(x.body, why, wants(x));
  if (!call) return Violation{ErrorCode::bad_request, "MCP request: " + why};
  x.mcp_method = call->method;
  x.call_content = std::move(call->content);
  std::string_view target;
  auto kind = protocol::classify(*call);
  bool named = kind == protocol::McpAction::resource ? !call->uri.empty() : !call->name.empty();
  if ((kind == protocol::McpAction::tool || kind == protocol::McpAction::resource ||
       kind == protocol::McpAction::prompt) && !named) {
    return Violation{ErrorCode::bad_request, "MCP " + call->method + " without the name of what it acts on"};
  }
  switch (kind) {
    case protocol::McpAction::tool:
      x.operation = "execute_tool";
      x.tool = call->name;
      x.policy_arguments = std::move(call->arguments);
      x.action = "tool:" + call->name;
      target = call->name;
      break;
    case protocol::McpAction::resource:
      x.operation = "read_resource";
      x.resource = call->uri;
      x.action = "resource:" + call->uri;
      target = call->uri;
      break;
    case protocol::McpAction::prompt:
      x.action = "prompt:" + call->name;
      target = call->name;
      break;
    case protocol::McpAction::housekeeping: break;
    case protocol::McpAction::other: x.action = "route:" + x.route->name; break;
  }
  if (call->method.empty()) return std::nullopt;  // a response to the server: nothing to check
  const auto& in = x.inbound;
  if (in.has_mcp_method && in.mcp_method != call->method) {
    return Violation{ErrorCode::mcp_header_mismatch, "Mcp-Method does not match the body's method"};
  }
  if (in.has_mcp_name && in.mcp_name != target) {
    return Violation{ErrorCode::mcp_header_mismatch, "Mcp-Name does not match the body's params"};
  }
  return std::nullopt;
}

bool is_agent_card(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  return path.ends_with("/.well-known/agent-card.json") || path.ends_with("/.well-known/agent.json");
}

std::optional<Violation> classify_a2a(RequestContext& x) {
  x.action = "agent:" + x.route->target_agent;
  if (!x.body_buffered) {
    // The agent card is housekeeping. Other reads (REST GetTask, DELETE of a push config) act on
    // the agent's tasks: `agent:<target>` actions that open no scope.
    if (is_agent_card(x.parser.get().target())) x.action.clear();
    return std::nullopt;
  }
  std::string why;
  std::optional<protocol::A2aRequest> call;
  if (auto verb = protocol::a2a_rest_verb(x.parser.get().target()); !verb.empty()) {
    call = protocol::parse_a2a_rest(x.body, verb, why, wants(x));
  } else {
    call = protocol::parse_a2a_jsonrpc(x.body, why, wants(x));
  }
  if (!call) return Violation{ErrorCode::bad_request, "A2A request: " + why};
  x.task_id = call->task_id;
  x.context_id = call->context_id;
  x.call_content = std::move(call->content);
  x.delegates = call->sends_message;
  if (x.delegates) {
    x.operation = "invoke_agent";
    if (x.objective.empty()) x.objective = delegation::cut_utf8(call->text, delegation::kMaxObjectiveBytes);
  }
  return std::nullopt;
}

// POST /v1/scopes: the body says what to open. A child for another agent is the action
// `agent:<target>`, checked against the caller's scope and ceiling like a delegation on an agent
// route; a root (no token) or a narrower scope for the caller itself passes on nothing.
std::optional<Violation> classify_open_scope(RequestContext& x) {
  std::string why;
  auto request = delegation::parse_scope_request(x.body, why);
  if (!request) return Violation{ErrorCode::bad_request, why};
  if (x.token) {
    std::string_view target = request->agent.empty() ? std::string_view(x.agent->id) : request->agent;
    if (!x.snapshot.agents.by_id(target)) {
      return Violation{ErrorCode::bad_request, "no agent with id '" + std::string(target) + "'"};
    }
    if (target != x.agent->id) x.action = "agent:" + std::string(target);
  }
  x.scope_request = std::move(*request);
  return std::nullopt;
}

}  // namespace

Verdict classify_action(RequestContext& x) {
  if (x.inbound.has_objective) {
    auto decoded = delegation::decode_objective(x.inbound.objective);
    if (!decoded) {
      return Violation{ErrorCode::bad_request, "Delegation-Objective must be percent-encoded UTF-8"};
    }
    x.objective = std::move(*decoded);
  }
  switch (x.route->kind) {
    case config::RouteKind::http:
      x.operation = "execute_tool";
      x.tool = x.route->name;
      x.action = "tool:" + x.route->name;
      return std::nullopt;
    case config::RouteKind::mcp: return classify_mcp(x);
    case config::RouteKind::a2a: return classify_a2a(x);
    case config::RouteKind::agent:
      x.operation = "invoke_agent";
      x.action = "agent:" + x.route->target_agent;
      x.delegates = true;
      return std::nullopt;
    case config::RouteKind::scopes: return classify_open_scope(x);
    case config::RouteKind::llm: return classify_llm(x);
    case config::RouteKind::plans: {
      // POST /v1/plans: the plan, read once, strictly. Registering it is no action on anyone's
      // behalf: no grant to check (its tasks are checked against the scope's grants when it registers).
      if (!x.body_buffered) return std::nullopt;
      std::string why;
      auto spec = plan::parse_plan(x.body, why);
      if (!spec) return Violation{ErrorCode::bad_request, "plan: " + why};
      x.plan_spec = std::move(*spec);
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace scopegate::pipeline
