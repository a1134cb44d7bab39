#include "pipeline/scope_stages.hpp"

#include <chrono>
#include <charconv>

#include "app/app.hpp"
#include "auth/agents.hpp"
#include "delegation/grants.hpp"
#include "delegation/registry.hpp"
#include "http/request_id.hpp"
#include "protocol/jsonrpc.hpp"

namespace scopegate::pipeline {

using http::ErrorCode;
using http::Violation;

namespace {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool agent_ceiling_allows(const config::Agent& agent, std::string_view action) {
  for (const auto& g : agent.grants) {
    if (delegation::pattern_matches(g, action)) return true;
  }
  return false;
}

std::string join(const delegation::Grants& g) {
  std::string out;
  for (const auto& p : g) out += (out.empty() ? "" : ", ") + p;
  return out.empty() ? "nothing" : out;
}

}  // namespace

void scan_inbound_headers(RequestContext& x) {
  auto& in = x.inbound;
  std::string_view credential = x.snapshot.config.listeners[x.info.listener].credential_header;
  for (const auto& f : x.parser.get()) {
    std::string_view name = f.name_string();
    std::string_view value = f.value();
    if (http::iequals_ascii(name, credential)) {
      in.credential = value;
      ++in.credentials;
      continue;
    }
    // Dispatch on length first: most fields are none of these and cost one comparison.
    switch (name.size()) {
      case 7:
        if (http::iequals_ascii(name, "baggage")) ++in.baggage;
        break;
      case 8:
        if (http::iequals_ascii(name, "Mcp-Name")) in.mcp_name = value, in.has_mcp_name = true;
        break;
      case 10:
        if (http::iequals_ascii(name, "Mcp-Method")) in.mcp_method = value, in.has_mcp_method = true;
        break;
      case 11:
        if (http::iequals_ascii(name, "traceparent")) in.traceparent = value;
        break;
      case 12:
        if (http::iequals_ascii(name, "X-Request-Id")) in.request_id = value;
        break;
      case 16:
        if (http::iequals_ascii(name, "Delegation-Token")) in.token = value, ++in.tokens;
        break;
      case 17:
        if (http::iequals_ascii(name, "Delegation-Grants")) ++in.grants;
        break;
      case 20:
        if (http::iequals_ascii(name, "Delegation-Objective")) in.objective = value, in.has_objective = true;
        break;
      default: break;
    }
  }
}

Verdict authenticate(RequestContext& x) {
  const auto& listener = x.snapshot.config.listeners[x.info.listener];
  std::string_view name = listener.credential_header;
  if (x.inbound.credentials > 1) {
    return Violation{ErrorCode::unauthenticated, "more than one " + std::string(name) + " header"};
  }
  if (x.inbound.credentials == 1) {
    auto key = auth::credential_key(name, x.inbound.credential);
    x.agent = x.snapshot.agents.by_key(key);
    if (!x.agent) return Violation{ErrorCode::unauthenticated, "the agent credential is not valid"};
    return std::nullopt;
  }
  if (!x.info.certificate_subject.empty()) x.agent = x.snapshot.agents.by_subject(x.info.certificate_subject);
  return std::nullopt;
}

Verdict require_agent(RequestContext& x) {
  if (x.route->access == config::Access::open || x.agent) return std::nullopt;
  const auto& listener = x.snapshot.config.listeners[x.info.listener];
  return Violation{ErrorCode::unauthenticated,
                   "this route needs an agent credential (" + listener.credential_header + " header" +
                       (listener.tls && !listener.tls->client_ca.empty() ? " or a client certificate)" : ")")};
}

namespace {

// The one Delegation-Token presented, verified (MAC chain, expiry, audience; or found in the
// worker's cache of tokens verified before) and presented by its own actor, x.agent; or why not.
// Changes nothing but the cache.
std::variant<std::shared_ptr<const delegation::VerifiedToken>, Violation> presented_token(RequestContext& x) {
  const auto& settings = x.snapshot.config.token;
  std::string_view text = x.inbound.token;
  std::int64_t now = unix_now();
  auto skew = std::chrono::duration_cast<std::chrono::seconds>(settings.clock_skew).count();
  auto& cache = x.worker.tokens();
  auto token = cache.find(text, x.snapshot.id);
  if (!token) {
    delegation::VerifyOptions options{settings.audience, now, skew};
    auto result = delegation::verify(text, x.snapshot.keyring, options);
    if (auto* error = std::get_if<delegation::TokenError>(&result)) {
      if (*error == delegation::TokenError::expired) return Violation{ErrorCode::token_expired, "the token has expired"};
      return Violation{ErrorCode::token_invalid, std::string("the token is not valid (") + to_string(*error) + ")"};
    }
    token = std::make_shared<const delegation::VerifiedToken>(std::move(std::get<delegation::VerifiedToken>(result)));
    cache.insert(text, x.snapshot.id, token);
  } else if (now > token->expires + skew) {
    return Violation{ErrorCode::token_expired, "the token has expired"};
  }
  if (token->current().agt != x.agent->id) {
    // A stolen token is useless without its actor's own credential.
    return Violation{ErrorCode::token_invalid, "the token's scope belongs to another agent"};
  }
  return token;
}

// What else x.token must pass: the agent's depth limit and revocation. The request runs under the
// scope from here on, refused or not, so scopes seen for the first time are recorded and reported.
std::optional<Violation> admit_scope(RequestContext& x) {
  const auto& settings = x.snapshot.config.token;
  // A token minted offline is held to the same limits as one this gateway minted.
  if (int limit = std::min(x.agent->max_depth, settings.max_depth); x.token->depth() > limit) {
    return Violation{ErrorCode::depth_exceeded, "the scope is at depth " + std::to_string(x.token->depth()) +
                                                    ", deeper than this agent may act (" + std::to_string(limit) + ")"};
  }
  auto& app = x.worker.app();
  if (auto revoked = app.scopes().revoked_in(*x.token)) {
    return Violation{ErrorCode::scope_revoked, "scope " + *revoked + " has been revoked"};
  }
  for (const auto& fresh : app.scopes().observe(*x.token)) {
    app.sink().scope_opened(fresh, audit::Opening::first_seen, x.request_id);
  }
  return std::nullopt;
}

}  // namespace

Verdict verify_scope(RequestContext& x) {
  x.scope_checked = true;
  // An open route runs under no scope: a token sent there is stripped like any Delegation-* header.
  if (x.route && x.route->access == config::Access::open) return std::nullopt;
  std::size_t count = x.inbound.tokens;
  if (count == 0) {
    if (x.route && x.route->access == config::Access::scoped) {
      return Violation{ErrorCode::token_invalid, "this route needs a Delegation-Token"};
    }
    return std::nullopt;
  }
  if (count > 1) return Violation{ErrorCode::token_invalid, "more than one Delegation-Token header"};
  if (!x.agent) return Violation{ErrorCode::unauthenticated, "a Delegation-Token needs an agent credential"};
  auto verified = presented_token(x);
  if (auto* v = std::get_if<Violation>(&verified)) return *v;
  x.token = std::move(std::get<std::shared_ptr<const delegation::VerifiedToken>>(verified));
  return admit_scope(x);
}

void attribute_refusal(RequestContext& x) {
  if (x.token || x.scope_checked) return;  // verify_scope's verdict stands where it ran
  // While the log cannot keep records, a refusal is only counted (audit.unavailable): nothing to
  // attribute, and no first-seen scope.open may add to a backlog.
  if (auto* writer = x.worker.app().audit_writer(); writer && !writer->accepting()) return;
  if (!x.agent) (void)authenticate(x);  // refused before the credential was read (framing, spoofing)
  if (!x.agent || x.inbound.tokens != 1) return;
  if (x.route && x.route->access == config::Access::open) return;  // runs under no scope, as verify_scope says
  auto verified = presented_token(x);
  auto* token = std::get_if<std::shared_ptr<const delegation::VerifiedToken>>(&verified);
  if (!token) return;  // a token that does not verify names no scope
  x.token = std::move(*token);
  // Its verdict is not the client's (the refusal is already decided); as in verify_scope, a token
  // too deep or revoked still names the scope it was presented for.
  admit_scope(x);
}

bool needs_body(const RequestContext& x) {
  auto kind = x.route->kind;
  if (x.method != bhttp::verb::post) return false;
  return kind == config::RouteKind::mcp || kind == config::RouteKind::a2a;
}

Verdict check_protocol_method(const RequestContext& x) {
  auto kind = x.route->kind;
  if (kind != config::RouteKind::mcp && kind != config::RouteKind::a2a) return std::nullopt;
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
                       std::string(kind == config::RouteKind::mcp ? "an MCP" : "an A2A") +
                           " route takes POST, GET and DELETE only"};
  }
}

namespace {

std::optional<Violation> classify_mcp(RequestContext& x) {
  if (!x.body_buffered) return std::nullopt;  // GET (the SSE stream) and DELETE (end of session)
  std::string why;
  auto call = protocol::parse_mcp(x.body, why);
  if (!call) return Violation{ErrorCode::bad_request, "MCP request: " + why};
  x.mcp_method = call->method;
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
    call = protocol::parse_a2a_rest(x.body, verb, why);
  } else {
    call = protocol::parse_a2a_jsonrpc(x.body, why);
  }
  if (!call) return Violation{ErrorCode::bad_request, "A2A request: " + why};
  x.task_id = call->task_id;
  x.context_id = call->context_id;
  x.delegates = call->sends_message;
  if (x.delegates) {
    x.operation = "invoke_agent";
    if (x.objective.empty()) x.objective = delegation::cut_utf8(call->text, delegation::kMaxObjectiveBytes);
  }
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
  }
  return std::nullopt;
}

Verdict check_grants(RequestContext& x) {
  if (x.action.empty() || !x.token) return std::nullopt;  // housekeeping, or a route that needs no scope
  if (!x.token->allows(x.action)) {
    return Violation{ErrorCode::grant_exceeded, "the scope does not grant " + x.action};
  }
  if (!agent_ceiling_allows(*x.agent, x.action)) {
    return Violation{ErrorCode::grant_exceeded, "agent " + x.agent->id + " may never " + x.action};
  }
  return std::nullopt;
}

std::variant<ChildScope, Violation> mint_child_scope(RequestContext& x, const config::Agent& target,
                                                    const delegation::Grants& ceiling,
                                                    const std::optional<delegation::Grants>& requested,
                                                    std::string_view objective, std::int64_t ttl_s) {
  const auto& settings = x.snapshot.config.token;
  const auto& parent = *x.token;
  int depth = parent.depth() + 1;
  int limit = std::min(target.max_depth, settings.max_depth);
  if (depth > limit) {
    return Violation{ErrorCode::depth_exceeded, "a scope for " + target.id + " would be at depth " +
                                                    std::to_string(depth) + ", deeper than allowed (" +
                                                    std::to_string(limit) + ")"};
  }
  // What the agent may get: the caller's rights ∩ the ceiling. Asking for more is refused, never
  // trimmed silently: the caller learns exactly what it may not pass on.
  delegation::Grants available = delegation::intersect(delegation::intersect_all(parent.grant_sets), ceiling);
  if (requested) {
    for (const auto& g : *requested) {
      if (!delegation::set_covers(available, g)) {
        return Violation{ErrorCode::grant_exceeded, "cannot delegate " + g + " to " + target.id +
                                                        " (at most: " + join(available) + ")"};
      }
    }
  }
  std::int64_t now = unix_now();
  delegation::ScopeBlock block;
  block.sid = http::make_uuid_v7();
  block.par = parent.current().sid;
  block.agt = target.id;
  block.scp = requested ? *requested : available;
  block.obj = objective;
  block.iat = now;
  block.exp = std::min(now + ttl_s, parent.expires);  // never beyond the parent's expiry
  auto minted = delegation::mint_child(x.snapshot.keyring, x.inbound.token, parent, block);
  if (!minted) return Violation{ErrorCode::token_invalid, "the token's key is no longer configured"};
  if (minted->size() > 8192 || std::count(minted->begin(), minted->end(), '.') > 17) {
    return Violation{ErrorCode::depth_exceeded, "the child token would exceed dst1's limits (16 blocks, 8 KiB)"};
  }

  ChildScope out;
  auto& r = out.record;
  r.id = block.sid;
  r.parent = block.par;
  r.root = parent.root().sid;
  r.depth = depth;
  for (const auto& s : parent.scopes) r.path += s.sid + "/";
  r.path += r.id;
  r.principal = parent.root().sub;
  r.actor = target.id;
  r.delegator = x.agent->id;
  r.objective = block.obj;
  r.grants = std::move(block.scp);
  r.iat = block.iat;
  r.exp = block.exp;
  out.token = std::move(*minted);
  // Recorded and reported before the request that opened it goes any further (docs/protocol.md §3).
  x.worker.app().scopes().open(r);
  x.worker.app().sink().scope_opened(r, audit::Opening::minted, x.request_id);
  return out;
}

Verdict open_delegation(RequestContext& x) {
  if (!x.delegates || !x.token) return std::nullopt;
  const config::Agent* target = x.snapshot.agents.by_id(x.route->target_agent);
  if (!target) return Violation{ErrorCode::policy_denied, "the route's target agent is not configured"};
  std::optional<delegation::Grants> requested;
  if (x.inbound.grants > 0) {
    std::string joined;
    auto [first, last] = x.parser.get().equal_range("Delegation-Grants");
    for (auto it = first; it != last; ++it) joined += (joined.empty() ? "" : ",") + std::string(it->value());
    requested.emplace();
    if (!delegation::parse_grant_list(joined, *requested)) {
      return Violation{ErrorCode::bad_request, "Delegation-Grants: expected a comma-separated list of grant patterns"};
    }
  }
  auto ttl = std::chrono::duration_cast<std::chrono::seconds>(x.snapshot.config.token.delegation_ttl).count();
  // The route's ceiling ∩ the target agent's ceiling, on top of the caller's own rights.
  auto minted = mint_child_scope(x, *target, delegation::intersect(x.route->grants, target->grants), requested,
                                 x.objective, ttl);
  if (auto* v = std::get_if<Violation>(&minted)) return *v;
  auto& child = std::get<ChildScope>(minted);
  x.child = std::move(child.record);
  x.child_token = std::move(child.token);
  return std::nullopt;
}

Verdict stamp_delegation_headers(RequestContext& x) {
  auto& req = x.parser.get();
  x.stamped.clear();
  x.stamped.reserve(256);
  auto replace = [&](std::string_view name) { x.replaced[x.replaced_count++] = name; };
  replace(x.snapshot.config.listeners[x.info.listener].credential_header);
  replace("traceparent");
  std::string baggage;
  if (x.token) {
    replace("baggage");
    auto [first, last] = x.inbound.baggage ? req.equal_range("baggage") : std::pair{req.end(), req.end()};
    for (auto it = first; it != last; ++it) baggage += (baggage.empty() ? "" : ",") + std::string(it->value());
  }
  delegation::StampInput in;
  in.token = x.token.get();
  in.child = x.child ? &*x.child : nullptr;
  in.child_token = x.child_token;
  in.actor = x.agent ? std::string_view(x.agent->id) : std::string_view{};
  in.stamp_objective = x.route->stamp_objective;
  in.inbound_traceparent = x.inbound.traceparent;
  in.inbound_baggage = baggage;
  x.trace = delegation::render_delegation_headers(in, x.stamped);
  if (!x.trace.continued()) replace("tracestate");  // state of a trace we did not continue means nothing
  return Verdict::next();
}

}  // namespace scopegate::pipeline
