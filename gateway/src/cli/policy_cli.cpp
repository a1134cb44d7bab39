#include "cli/policy_cli.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <charconv>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "app/snapshot.hpp"
#include "audit/chain.hpp"
#include "audit/query.hpp"
#include "clock/unix_clock.hpp"
#include "config/loader.hpp"
#include "delegation/grants.hpp"
#include "delegation/token.hpp"
#include "json/strict.hpp"
#include "json/write.hpp"
#include "policy/request_facts.hpp"
#include "protocol/jsonrpc.hpp"

namespace scopegate::cli {

namespace {

// The decision is the exit status, so that a script can ask "would this be allowed?".
constexpr int kAllowed = 0;
constexpr int kDenied = 1;
constexpr int kUsageError = 2;  // also a config or policy error, an unknown route, a bad token

constexpr const char* kPolicyUsage = R"(Usage: scopegate policy explain --config FILE --route R
         (--token TOKEN | --agent A [--depth N] [--ancestor X ...] [--principal P] [--delegator D]
                                    [--root-agent R] [--objective TEXT])
         [--action X] [--args JSON] [--method M] [--mcp-method M] [--content-type CT] [--at TIME]
         [--format table|json]

Loads FILE and its policies as `scopegate check` does, describes one request to route R as the
gateway would see it, and prints the policies' decision, the deciding rule (or "default"), its
reason, the shadow rules that would have decided otherwise, the facts the request was judged on,
and for every rule in file order whether the index offered it (candidate), whether it matched,
and why. Nothing is sent anywhere.

Who asks:
  --token TOKEN      a dst1 token, verified with FILE's keys at --at (or now): the agent is its
                     actor; principal, depth, chain and objective come from it. A token that does
                     not verify is an error.
  --agent A          the calling agent (a configured agent id), with its scope described by:
  --depth N          the scope's depth (root = 0). Left out with --ancestor: their number; left
                     out with neither: the request has no scope (as on a route with access open
                     or authenticated without a token; a scoped route refuses that before policies)
  --ancestor X       the actor of a scope above, root first: repeat it, N times
  --root-agent R     the root's actor, --delegator D the actor of the scope just above: checked
                     against --ancestor; without it they stand for the chain at depth 1 and 2
  --principal P      on whose behalf (user:alice): required with a scope
  --objective TEXT   the scope's objective (a token's own, or the nearest one above: what the
                     policies see)

What is asked (the route's kind decides what a request there can be):
  --route R          a route of FILE, or scopegate:scopes for POST /v1/scopes
  --action X         http, agent and a2a routes: their one action (tool:<route>, agent:<target>),
                     the default. mcp: tool:NAME, resource:URI or prompt:NAME (the MCP method
                     follows from it), or any action with --mcp-method. scopegate:scopes: agent:ID
                     for a scope opened for another agent (left out: a root, or one for the caller)
  --mcp-method M     mcp routes: the JSON-RPC method; initialize, ping, */list... have no action
  --args JSON        mcp tools/call: the call's arguments
  --method M         the HTTP method: POST, or the route's first method when it matches only others
  --content-type CT  default application/json where the gateway reads a JSON body (POST to mcp,
                     a2a and scopegate:scopes), else none
  --at TIME          RFC 3339 UTC (2026-11-21T10:00:00Z): when the request is made; default now

  --format F         table (default) or json

A note says when the gateway would refuse the request before the policies are asked (the scope is
deeper than the agent may act, the grants do not cover the action); the decision is still the
policies' own.

Exit status: 0 the policies allow the request, 1 they deny it, 2 a usage error, a config or policy
error (each as FILE:LINE: KEY: MESSAGE on stderr), an unknown route or agent, a token that does not
verify, or a request the gateway could never see as described (an action the route cannot have,
contradicting flags, a scoped route without a scope).
)";

constexpr std::string_view kFlags[] = {"--config", "--token",   "--agent",  "--principal",  "--depth",
                                       "--delegator", "--root-agent", "--ancestor", "--objective", "--route",
                                       "--action", "--args", "--method", "--mcp-method", "--content-type",
                                       "--at",     "--format"};

struct Options {
  std::map<std::string, std::string, std::less<>> values;
  std::vector<std::string> ancestors;  // --ancestor, in order
  bool help = false;
  std::string error;

  bool has(std::string_view flag) const { return values.find(flag) != values.end(); }
  const std::string& get(std::string_view flag) const {
    static const std::string kNone;
    auto it = values.find(flag);
    return it == values.end() ? kNone : it->second;
  }
};

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 3; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      o.help = true;
      continue;
    }
    std::optional<std::string> value;
    if (auto eq = flag.find('='); flag.starts_with("--") && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    if (std::find(std::begin(kFlags), std::end(kFlags), flag) == std::end(kFlags)) {
      o.error = flag.starts_with("-") ? "unknown option '" + flag + "'" : "unexpected argument '" + flag + "'";
      return o;
    }
    if (!value) {
      if (i + 1 >= argc) {
        o.error = "option " + flag + " needs a value";
        return o;
      }
      value = argv[++i];
    }
    if (flag == "--ancestor") {
      o.ancestors.push_back(std::move(*value));
    } else if (!o.values.emplace(flag, std::move(*value)).second) {
      o.error = "option " + flag + " is given twice";
      return o;
    }
  }
  return o;
}

// "2026-11-21T10:00:00Z" (or a date alone, or with a fraction) → Unix seconds.
std::optional<std::int64_t> unix_seconds(std::string_view text) {
  auto canonical = audit::canonical_time(text, false);  // YYYY-MM-DDTHH:MM:SS.ffffffZ
  if (!canonical) return std::nullopt;
  auto number = [&](std::size_t at, std::size_t n) {
    int v = 0;
    std::from_chars(canonical->data() + at, canonical->data() + at + n, v);
    return v;
  };
  using namespace std::chrono;
  year_month_day date{year(number(0, 4)), month(static_cast<unsigned>(number(5, 2))),
                      day(static_cast<unsigned>(number(8, 2)))};
  int h = number(11, 2), m = number(14, 2), s = number(17, 2);
  if (!date.ok() || h > 23 || m > 59 || s > 60) return std::nullopt;
  return sys_days(date).time_since_epoch().count() * 86400 + h * 3600 + m * 60 + s;
}

std::string rfc3339(std::int64_t unix) {
  std::string ts = audit::format_timestamp(std::chrono::system_clock::time_point(std::chrono::seconds(unix)));
  // Whole seconds: the microseconds are always zero here.
  if (auto dot = ts.find('.'); dot != std::string::npos) ts = ts.substr(0, dot) + "Z";
  return ts;
}

template <class Range, class Name>
std::string names_of(const Range& items, Name&& name) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + std::string(name(item));
  return out.empty() ? "none" : out;
}

// One request as the gateway would see it: everything the facts point into lives here.
struct Request {
  const config::Route* route = nullptr;
  const config::Agent* agent = nullptr;
  std::optional<delegation::VerifiedToken> token;
  policy::ChainBuffer token_chain{};
  bool has_scope = false;
  std::vector<std::string> chain;  // described by flags: the ancestors, then the agent
  std::vector<std::string_view> chain_views;
  std::string principal, objective;
  std::string method, action, mcp_method, tool, arguments, content_type;
  std::vector<std::string> merged_datasets;
  std::int64_t now = 0;
  std::vector<std::string> notes;  // what else the gateway would do with it (a grant refusal)
  policy::Facts facts;
};

// --depth, --ancestor, --root-agent, --delegator: the chain of actors, root first, the agent last,
// as a token at that depth would carry it. A chain the flags leave open, or contradict, is an error:
// an explanation over made-up ancestors would mislead.
std::optional<std::string> describe_chain(const Options& o, Request& r) {
  const auto& ancestors = o.ancestors;
  std::size_t depth = ancestors.size();
  if (o.has("--depth")) {
    const std::string& text = o.get("--depth");
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), depth);
    if (ec != std::errc() || end != text.data() + text.size() || depth > 1000) {
      return "--depth is the scope's depth, an integer from 0 (a root), got '" + text + "'";
    }
  }
  std::vector<std::string> above = ancestors;
  const std::string& root = o.get("--root-agent");
  const std::string& delegator = o.get("--delegator");
  if (above.empty() && depth == 1 && (o.has("--root-agent") || o.has("--delegator"))) {
    if (o.has("--root-agent") && o.has("--delegator") && root != delegator) {
      return "at depth 1 the root agent and the delegator are one agent, not '" + root + "' and '" + delegator + "'";
    }
    above = {o.has("--root-agent") ? root : delegator};
  } else if (above.empty() && depth == 2 && o.has("--root-agent") && o.has("--delegator")) {
    above = {root, delegator};
  }
  if (above.size() != depth) {
    return "a scope at depth " + std::to_string(depth) + " has " + std::to_string(depth) +
           " scope(s) above it: name their actors, root first, with --ancestor (got " +
           std::to_string(ancestors.size()) + ")";
  }
  r.chain = above;
  r.chain.push_back(r.agent->id);
  if (o.has("--root-agent") && r.chain.front() != root) {
    return "--root-agent '" + root + "' is not the chain's root, '" + r.chain.front() + "'";
  }
  if (o.has("--delegator")) {
    if (depth == 0) return "a root scope (depth 0) has no delegator";
    if (r.chain[r.chain.size() - 2] != delegator) {
      return "--delegator '" + delegator + "' is not the actor just above the scope, '" +
             r.chain[r.chain.size() - 2] + "'";
    }
  }
  r.chain_views.assign(r.chain.begin(), r.chain.end());
  return std::nullopt;
}

// Who asks: the agent and its scope, from a verified token or from the flags.
std::optional<std::string> describe_caller(const Options& o, const runtime::Snapshot& s, Request& r) {
  const config::Route& route = *r.route;
  bool open = route.access == config::Access::open;
  constexpr std::string_view kScopeFlags[] = {"--depth", "--principal", "--delegator", "--root-agent", "--objective"};
  bool scope_flags = !o.ancestors.empty() ||
                     std::any_of(std::begin(kScopeFlags), std::end(kScopeFlags), [&](auto f) { return o.has(f); });
  auto agent_list = [&] { return names_of(s.config.agents, [](const config::Agent& a) { return a.id; }); };

  if (o.has("--token")) {
    if (scope_flags) return "--token carries the scope: leave out --depth, --ancestor, --principal and the rest";
    if (open) return "route " + route.name + " is open: it runs under no scope, and a token sent there is stripped";
    delegation::VerifyOptions options;
    options.audience = s.config.token.audience;
    options.skew_s = s.config.token.clock_skew.count() / 1000;
    options.now = r.now;
    auto verified = delegation::verify(o.get("--token"), s.keyring, options);
    if (auto* e = std::get_if<delegation::TokenError>(&verified)) {
      return "the token does not verify with the keys of " + o.get("--config") + " at " + rfc3339(r.now) + ": " +
             delegation::to_string(*e);
    }
    r.token = std::move(std::get<delegation::VerifiedToken>(verified));
    const std::string& actor = r.token->current().agt;
    r.agent = s.agents.by_id(actor);
    if (!r.agent) return "the token's actor '" + actor + "' is no agent of the config (agents: " + agent_list() + ")";
    if (o.has("--agent") && o.get("--agent") != actor) {
      return "the token's actor is '" + actor + "': the gateway refuses it from '" + o.get("--agent") +
             "' (401 token_invalid)";
    }
    r.has_scope = true;
    return std::nullopt;
  }

  if (o.has("--agent")) {
    r.agent = s.agents.by_id(o.get("--agent"));
    if (!r.agent) return "no agent '" + o.get("--agent") + "' in the config (agents: " + agent_list() + ")";
  } else if (!open) {
    return "who asks? give --token TOKEN, or --agent A (route " + route.name + " needs an agent)";
  }
  if (open && scope_flags) {
    return "route " + route.name + " is open: it runs under no scope, so --depth, --ancestor, --principal and the "
           "rest do not apply";
  }
  if (!o.has("--depth") && o.ancestors.empty()) {
    if (scope_flags) return "--principal, --objective, --delegator and --root-agent describe a scope: give its --depth";
  } else {
    if (auto why = describe_chain(o, r)) return why;
    if (!o.has("--principal")) return "a scope has a principal: give --principal (user:alice, service:nightly)";
    r.principal = o.get("--principal");
    r.objective = o.get("--objective");
    r.has_scope = true;
  }
  if (!r.has_scope && route.access == config::Access::scoped) {
    return "route " + route.name + " needs a Delegation-Token (access scoped): give --token, or the scope with "
           "--depth, --ancestor and --principal";
  }
  return std::nullopt;
}

// An MCP call as a JSON-RPC body, read back by the gateway's own parser (protocol/jsonrpc.hpp), so
// that the action and arguments are the ones the gateway would take from such a request.
std::optional<std::string> describe_mcp_call(const Options& o, Request& r) {
  const std::string& action = o.get("--action");
  std::string_view kind = std::string_view(action).substr(0, action.find(':'));
  std::string_view target =
      action.find(':') == std::string::npos ? "" : std::string_view(action).substr(kind.size() + 1);
  std::string method = o.get("--mcp-method");
  if (method.empty()) {
    if (kind == "tool") method = "tools/call";
    else if (kind == "resource") method = "resources/read";
    else if (kind == "prompt") method = "prompts/get";
    else if (o.has("--action")) return "--action " + action + ": give the MCP method with --mcp-method";
    else return "an MCP request: give --action tool:NAME (resource:URI, prompt:NAME) or --mcp-method M";
  }
  std::string body = R"({"jsonrpc":"2.0","id":1,"method":)";
  json::append_string(body, method);
  body += R"(,"params":{)";
  std::string_view sep = "";
  if ((kind == "tool" || kind == "prompt" || kind == "resource") && !target.empty()) {
    body += kind == "resource" ? R"("uri":)" : R"("name":)";
    json::append_string(body, target);
    sep = ",";
  }
  if (o.has("--args")) body += std::string(sep) + R"("arguments":)" + o.get("--args");
  body += "}}";
  body.reserve(body.size() + json::kPadding);
  std::string why;
  // Read as classification reads a live call, arguments included (canonical JSON, when a rule reads them).
  auto call = protocol::parse_mcp(body, why, protocol::ParseWants{.arguments = true});
  if (!call) return "the MCP call does not read as the gateway reads one (400 bad_request): " + why;
  r.mcp_method = call->method;
  // As pipeline/classification.cpp names what an MCP call does.
  switch (protocol::classify(*call)) {
    case protocol::McpAction::tool:
      if (call->name.empty()) return method + " needs the tool's name: --action tool:NAME";
      r.action = "tool:" + call->name;
      r.tool = call->name;
      r.arguments = std::move(call->arguments);
      break;
    case protocol::McpAction::resource:
      if (call->uri.empty()) return method + " needs the resource: --action resource:URI";
      r.action = "resource:" + call->uri;
      break;
    case protocol::McpAction::prompt:
      if (call->name.empty()) return method + " needs the prompt's name: --action prompt:NAME";
      r.action = "prompt:" + call->name;
      break;
    case protocol::McpAction::housekeeping: break;
    case protocol::McpAction::other: r.action = "route:" + r.route->name; break;
  }
  if (o.has("--action") && action != r.action) {
    return "MCP " + method + " on route " + r.route->name + " is " +
           (r.action.empty() ? std::string("no action (housekeeping)") : "the action " + r.action) + ", not " + action;
  }
  if (o.has("--args") && r.tool.empty()) return "--args: only tools/call carries arguments";
  return std::nullopt;
}

// What is asked: method, action, MCP method, arguments and content type, as the route's kind makes
// them (pipeline/classification.cpp); a request the gateway would refuse before policies is an error.
std::optional<std::string> describe_action(const Options& o, const runtime::Snapshot& s, Request& r) {
  const config::Route& route = *r.route;
  const auto& methods = route.match.methods;
  r.method = o.has("--method") ? o.get("--method")
             : methods.empty() || std::find(methods.begin(), methods.end(), "POST") != methods.end() ? "POST"
                                                                                                      : methods.front();
  if (!methods.empty() && std::find(methods.begin(), methods.end(), r.method) == methods.end()) {
    return "route " + route.name + " matches only " + names_of(methods, [](const auto& m) { return m; }) + ", not " +
           r.method;
  }
  auto kind = route.kind;
  bool json_rpc = kind == config::RouteKind::mcp || kind == config::RouteKind::a2a;
  if (json_rpc && r.method != "POST" && r.method != "GET" && r.method != "DELETE") {
    return "an " + std::string(config::to_string(kind)) + " route takes POST, GET and DELETE only (405)";
  }
  bool reads_body = r.method == "POST" && (json_rpc || kind == config::RouteKind::scopes);
  r.content_type = o.has("--content-type") ? o.get("--content-type") : reads_body ? "application/json" : "";
  if (kind != config::RouteKind::mcp && (o.has("--mcp-method") || o.has("--args"))) {
    return "--mcp-method and --args describe MCP calls: route " + route.name + " is of kind " +
           config::to_string(kind);
  }
  const std::string& action = o.get("--action");
  switch (kind) {
    case config::RouteKind::http:
    case config::RouteKind::agent:
    case config::RouteKind::a2a: {
      r.action = kind == config::RouteKind::http ? "tool:" + route.name : "agent:" + route.target_agent;
      if (kind == config::RouteKind::http) r.tool = route.name;
      if (o.has("--action") && action != r.action) {
        return "every request on route " + route.name + " (kind " + config::to_string(kind) + ") is the action " +
               r.action + ", not " + action;
      }
      return std::nullopt;
    }
    case config::RouteKind::mcp:
      if (!reads_body) {
        if (o.has("--action") || o.has("--mcp-method") || o.has("--args")) {
          return "a " + r.method + " on an MCP route carries no JSON-RPC call (only POST bodies are read): it has "
                 "no action";
        }
        return std::nullopt;
      }
      return describe_mcp_call(o, r);
    case config::RouteKind::scopes: {
      if (!o.has("--action")) return std::nullopt;
      if (!action.starts_with("agent:")) return "POST /v1/scopes is the action agent:ID, or none: not " + action;
      std::string_view target = std::string_view(action).substr(6);
      if (!s.agents.by_id(target)) return "no agent '" + std::string(target) + "' to open a scope for (400)";
      if (!r.has_scope) return "opening a root scope (no token) is no action: leave --action out";
      if (target == r.agent->id) return "a scope for the caller itself is no action: leave --action out";
      r.action = action;
      return std::nullopt;
    }
    case config::RouteKind::plans:
      if (o.has("--action")) return "the plans endpoints are no action: leave --action out";
      return std::nullopt;
    case config::RouteKind::llm:
      // A model call is the action model:<name> (its body's "model"); other endpoints of the API are
      // the route's own action.
      if (!o.has("--action")) return std::nullopt;
      if (!action.starts_with("model:") && action != "route:" + route.name) {
        return "a request on an llm route is the action model:NAME (a model call) or route:" + route.name +
               " (another endpoint of the API), not " + action;
      }
      r.action = action;
      return std::nullopt;
  }
  return std::nullopt;
}

// What refuses a request before the policies are asked (pipeline/verification.cpp: the depth
// limit in admit_scope, then check_grants): said, so that an "allow" here is not read as "the
// gateway forwards it". Revocations are this node's memory, which explain does not have.
void note_refusals(const runtime::Snapshot& s, Request& r) {
  if (!r.has_scope || !r.agent) return;
  int depth = r.token ? r.token->depth() : static_cast<int>(r.chain.size()) - 1;
  if (int limit = std::min(r.agent->max_depth, s.config.token.max_depth); depth > limit) {
    r.notes.push_back("the scope is at depth " + std::to_string(depth) + ", deeper than agent " + r.agent->id +
                      " may act (" + std::to_string(limit) +
                      "): the gateway refuses the request (403 depth_exceeded) before the policies are asked");
  }
  if (r.action.empty()) return;
  if (r.token && !r.token->allows(r.action)) {
    r.notes.push_back("the token's grants do not cover " + r.action +
                      ": the gateway refuses the request (403 grant_exceeded) before the policies are asked");
  }
  bool ceiling = std::any_of(r.agent->grants.begin(), r.agent->grants.end(),
                             [&](const std::string& g) { return delegation::pattern_matches(g, r.action); });
  if (!ceiling) {
    r.notes.push_back("agent " + r.agent->id + "'s grants in the config do not cover " + r.action +
                      ": the gateway refuses the request (403 grant_exceeded) before the policies are asked");
  }
}

void build_facts(Request& r) {
  policy::Facts& f = r.facts;
  if (r.agent) f.agent = r.agent->id;
  if (r.token) {
    policy::set_scope_facts(f, *r.token, r.token_chain);
  } else if (r.has_scope) {
    policy::set_chain_facts(f, r.chain_views);
    f.principal = r.principal;
    f.objective = r.objective;
  }
  policy::set_route_facts(f, *r.route, r.tool, r.merged_datasets);
  f.method = r.method;
  f.action = r.action;
  f.mcp_method = r.mcp_method;
  f.arguments_json = r.arguments;
  f.content_type = r.content_type;
  f.now = r.now;
}

struct Outcome {
  policy::Decision decision;
  std::vector<policy::RuleTrace> traces;
  std::string location;  // of the deciding rule
};

std::string shadow_decision(const policy::ShadowHit& h) { return h.would_allow ? "allow" : "deny"; }

void print_json(const Request& r, const Outcome& out) {
  const policy::Facts& f = r.facts;
  const policy::Decision& d = out.decision;
  std::string s = R"({"decision":)";
  json::append_string(s, d.allow ? "allow" : "deny");
  json::append_field(s, "rule", d.rule.empty() ? "default" : d.rule);
  if (!out.location.empty()) json::append_field(s, "location", out.location);
  json::append_field(s, "reason", d.reason);
  json::append_key(s, "shadow");
  s += '[';
  for (std::size_t i = 0; i < d.shadow_count; ++i) {
    s += i ? R"(,{"rule":)" : R"({"rule":)";
    json::append_string(s, d.shadow[i].rule);
    json::append_field(s, "decision", shadow_decision(d.shadow[i]));
    s += '}';
  }
  s += ']';
  json::append_int(s, "shadow_dropped", static_cast<std::int64_t>(d.shadow_dropped));
  json::append_list(s, "notes", r.notes);
  json::append_key(s, "request");
  s += R"({"agent":)";
  json::append_string(s, f.agent);
  json::append_field(s, "principal", f.principal);
  json::append_key(s, "depth");
  s += f.depth < 0 ? "null" : std::to_string(f.depth);
  json::append_field(s, "root_agent", f.root_agent);
  json::append_field(s, "delegator", f.delegator);
  json::append_list(s, "ancestors", f.ancestors);
  json::append_field(s, "objective", f.objective);
  json::append_field(s, "route", f.route);
  json::append_field(s, "kind", f.kind);
  json::append_field(s, "method", f.method);
  json::append_field(s, "action", f.action);
  json::append_field(s, "mcp_method", f.mcp_method);
  json::append_list(s, "datasets", f.datasets);
  json::append_field(s, "classification", f.classification);
  json::append_key(s, "arguments");
  s += f.arguments_json.empty() ? std::string_view("null") : f.arguments_json;  // minified by the gateway's parser
  json::append_field(s, "content_type", f.content_type);
  json::append_field(s, "at", rfc3339(f.now));
  s += "}";
  json::append_key(s, "rules");
  s += '[';
  for (std::size_t i = 0; i < out.traces.size(); ++i) {
    const auto& t = out.traces[i];
    s += i ? R"(,{"id":)" : R"({"id":)";
    json::append_string(s, t.rule);
    json::append_field(s, "location", t.location);
    json::append_field(s, "effect", t.forbid ? "forbid" : "permit");
    json::append_field(s, "mode", t.shadow ? "shadow" : "enforce");
    s += R"(,"candidate":)";
    s += t.candidate ? "true" : "false";
    s += R"(,"matched":)";
    s += t.matched ? "true" : "false";
    json::append_field(s, "why", t.why);
    s += '}';
  }
  s += "]}";
  std::cout << s << "\n";
}

void print_table(const Request& r, const Outcome& out) {
  const policy::Facts& f = r.facts;
  const policy::Decision& d = out.decision;
  std::cout << "decision  " << (d.allow ? "allow" : "deny") << "\n";
  std::cout << "rule      " << (d.rule.empty() ? std::string_view("default") : d.rule);
  if (!out.location.empty()) std::cout << " (" << out.location << ")";
  std::cout << "\nreason    " << d.reason << "\n";
  for (std::size_t i = 0; i < d.shadow_count; ++i) {
    std::cout << "shadow    " << d.shadow[i].rule << " would " << shadow_decision(d.shadow[i]) << "\n";
  }
  if (d.shadow_dropped) std::cout << "shadow    ... and " << d.shadow_dropped << " more\n";
  for (const auto& note : r.notes) std::cout << "note      " << note << "\n";

  auto or_none = [](std::string_view v) { return v.empty() ? std::string("-") : std::string(v); };
  auto list = [&](const auto& items) {
    return items.empty() ? std::string("-") : names_of(items, [](const auto& v) { return std::string_view(v); });
  };
  std::cout << "\nrequest\n";
  const std::pair<const char*, std::string> rows[] = {
      {"agent", or_none(f.agent)},
      {"principal", or_none(f.principal)},
      {"depth", f.depth < 0 ? "- (no scope)" : std::to_string(f.depth)},
      {"root_agent", or_none(f.root_agent)},
      {"delegator", or_none(f.delegator)},
      {"ancestors", list(f.ancestors)},
      {"objective", or_none(f.objective)},
      {"route", std::string(f.route) + " (kind " + std::string(f.kind) + ")"},
      {"method", or_none(f.method)},
      {"action", f.action.empty() ? "- (housekeeping)" : std::string(f.action)},
      {"mcp_method", or_none(f.mcp_method)},
      {"datasets", list(f.datasets)},
      {"classification", f.classification.empty() ? "- (unlabelled)" : std::string(f.classification)},
      {"arguments", or_none(f.arguments_json)},
      {"content_type", or_none(f.content_type)},
      {"at", rfc3339(f.now)},
  };
  for (const auto& [name, value] : rows) {
    std::string label = name;
    label.resize(16, ' ');
    std::cout << "  " << label << value << "\n";
  }
  if (out.traces.empty()) return;

  std::cout << "\nrules (in file order)\n";
  const char* head[] = {"RULE", "LOCATION", "EFFECT", "MODE", "CANDIDATE", "MATCHED", "WHY"};
  std::vector<std::array<std::string, 7>> lines;
  lines.push_back({head[0], head[1], head[2], head[3], head[4], head[5], head[6]});
  for (const auto& t : out.traces) {
    lines.push_back({t.rule, t.location, t.forbid ? "forbid" : "permit", t.shadow ? "shadow" : "enforce",
                     t.candidate ? "yes" : "no", t.matched ? "yes" : "no", t.why});
  }
  std::array<std::size_t, 7> width{};
  for (const auto& l : lines) {
    for (std::size_t c = 0; c < l.size(); ++c) width[c] = std::max(width[c], l[c].size());
  }
  for (const auto& l : lines) {
    std::string text;
    for (std::size_t c = 0; c < l.size(); ++c) {
      text += l[c];
      if (c + 1 < l.size()) text += std::string(width[c] - l[c].size() + 2, ' ');
    }
    std::cout << text << "\n";
  }
}

int explain(int argc, char** argv) {
  Options o = parse_options(argc, argv);
  if (o.help) {
    std::cout << kPolicyUsage;
    return 0;
  }
  for (auto required : {"--config", "--route"}) {
    if (o.error.empty() && !o.has(required)) o.error = std::string("missing ") + required;
  }
  const std::string format = o.has("--format") ? o.get("--format") : "table";
  if (o.error.empty() && format != "table" && format != "json") o.error = "--format is table or json";
  Request r;
  r.now = clock::unix_now();
  if (o.error.empty() && o.has("--at")) {
    if (auto at = unix_seconds(o.get("--at"))) r.now = *at;
    else o.error = "--at is an RFC 3339 UTC time such as 2026-11-21T10:00:00Z, got '" + o.get("--at") + "'";
  }
  if (!o.error.empty()) {
    std::cerr << o.error << "\n" << kPolicyUsage;
    return kUsageError;
  }

  // As `scopegate check` loads it; the token's key is needed only to verify a --token.
  auto secrets = o.has("--token") ? config::Secrets::required : config::Secrets::optional;
  auto loaded = config::load_file(o.get("--config"), {}, secrets);
  std::shared_ptr<const runtime::Snapshot> snapshot;
  if (loaded.config) snapshot = app::build_snapshot(std::move(*loaded.config), loaded.errors);
  if (!snapshot) {
    for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
    return kUsageError;
  }
  const runtime::Snapshot& s = *snapshot;

  const std::string& route_name = o.get("--route");
  auto route = std::find_if(s.config.routes.begin(), s.config.routes.end(),
                            [&](const config::Route& rt) { return rt.name == route_name; });
  r.route = route != s.config.routes.end()       ? &*route
            : route_name == s.scopes_route.name ? &s.scopes_route
            : route_name == s.plans_route.name  ? &s.plans_route
                                                : nullptr;
  if (!r.route) {
    std::cerr << "policy explain: no route '" << route_name << "' in " << o.get("--config")
              << " (routes: " << names_of(s.config.routes, [](const config::Route& rt) { return rt.name; }) << ", "
              << s.scopes_route.name << ", " << s.plans_route.name << ")\n";
    return kUsageError;
  }
  std::optional<std::string> why = describe_caller(o, s, r);
  if (!why) why = describe_action(o, s, r);
  if (why) {
    std::cerr << "policy explain: " << *why << "\n";
    return kUsageError;
  }
  note_refusals(s, r);
  build_facts(r);

  Outcome out;
  if (const policy::PolicySet* set = s.policies.get()) {
    out.decision = set->evaluate(r.facts);
    out.traces = set->explain(r.facts);
    for (const auto& t : out.traces) {
      if (t.rule == out.decision.rule) out.location = t.location;
    }
  } else {
    out.decision.allow = true;
    out.decision.reason = "no policies are configured: the policy stage allows every request";
  }
  if (format == "json") print_json(r, out);
  else print_table(r, out);
  return out.decision.allow ? kAllowed : kDenied;
}

}  // namespace

int cmd_policy(int argc, char** argv) {
  std::string verb = argc > 2 ? argv[2] : "";
  if (verb == "explain") return explain(argc, argv);
  if (verb == "--help" || verb == "-h") {
    std::cout << kPolicyUsage;
    return 0;
  }
  std::cerr << (verb.empty() ? std::string("missing the policy command") : "unknown policy command '" + verb + "'")
            << "\n" << kPolicyUsage;
  return kUsageError;
}

}  // namespace scopegate::cli
