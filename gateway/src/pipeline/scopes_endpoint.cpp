#include "pipeline/scopes_endpoint.hpp"

#include <chrono>

#include "clock/unix_clock.hpp"
#include "delegation/grants.hpp"
#include "delegation/stamp.hpp"
#include "http/request_id.hpp"
#include "pipeline/delegate.hpp"
#include "pipeline/plans.hpp"
#include "pipeline/reply.hpp"
#include "runtime/services.hpp"

namespace scopegate::pipeline {

namespace asio = boost::asio;
using http::ErrorCode;
using http::Violation;

namespace {

constexpr std::size_t kMaxPrincipal = 256;
constexpr std::int64_t kDefaultTtl = 900;

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

struct Opened {
  delegation::ScopeRecord scope;
  std::string token;
};

// Checks the request against the caller's rights and mints the scope (recorded and reported as
// opened); a violation otherwise.
std::variant<Opened, Violation> open_scope(RequestContext& x, const delegation::ScopeRequest& r) {
  const auto& settings = x.snapshot.config.token;
  const config::Agent& caller = *x.agent;
  auto max_ttl = std::chrono::duration_cast<std::chrono::seconds>(settings.max_ttl).count();
  std::int64_t ttl = r.ttl_s.value_or(kDefaultTtl);
  if (ttl > max_ttl) {
    return Violation{ErrorCode::bad_request, "ttl_s over token.max_ttl (" + std::to_string(max_ttl) + " s)"};
  }

  if (x.token) {
    // A child, delegated by the caller to `agent` (or a narrower scope for itself). The target
    // exists and, when it is another agent, the scope and the caller's ceiling grant
    // `agent:<target>` (classify_open_scope and check_grants, before this stage).
    const auto& parent = *x.token;
    const config::Agent& target = r.agent.empty() ? caller : *x.snapshot.agents.by_id(r.agent);
    if (!r.principal.empty() && r.principal != parent.root().sub) {
      return Violation{ErrorCode::bad_request, "a child scope keeps its root's principal"};
    }
    auto child = open_child_scope(x, target, target.grants, r.grants, r.objective, ttl);
    if (auto* v = std::get_if<Violation>(&child)) return *v;
    auto& c = std::get<ChildScope>(child);
    return Opened{std::move(c.record), std::move(c.token)};
  }

  // A root.
  if (!caller.may_open_root) {
    return Violation{ErrorCode::policy_denied, "agent " + caller.id + " may not open root scopes"};
  }
  if (!r.agent.empty() && r.agent != caller.id) {
    return Violation{ErrorCode::bad_request, "a root scope is opened by the agent that acts in it: omit agent"};
  }
  if (r.principal.empty() || r.principal.size() > kMaxPrincipal || !printable(r.principal)) {
    return Violation{ErrorCode::bad_request, "a root scope needs a principal (printable, at most 256 bytes)"};
  }
  std::string sid = http::make_uuid_v7();
  delegation::RootMint in{x.snapshot.keyring, settings, caller, r.principal, r.grants, r.objective, ttl,
                          clock::unix_now(), sid};
  auto minted = delegation::mint_root_scope(in);
  if (auto* refused = std::get_if<delegation::MintRefusal>(&minted)) {
    return Violation{refused->code, std::move(refused->message)};
  }
  auto& root = std::get<delegation::MintedScope>(minted);
  Opened out{std::move(root.record), std::move(root.token)};
  const auto& s = out.scope;
  x.worker.app().scopes().open(s);
  report_scope_opened(x, s, audit::Opening::minted);
  return out;
}

}  // namespace

asio::awaitable<bool> serve_open_scope(RequestContext& x) {
  auto opened = open_scope(x, *x.scope_request);
  if (auto* v = std::get_if<Violation>(&opened)) co_return co_await reply_violation(x, *v);
  auto& [scope, token] = std::get<Opened>(opened);
  x.child = scope;
  start_carried_task(x);
  std::string body = R"({"scope":)";
  delegation::append_scope_json(body, scope);
  body += R"(,"token":")";
  body += token;  // base64url and dots: nothing to escape
  body += "\"}\n";
  co_return co_await reply_json(x, 201, std::move(body));
}

}  // namespace scopegate::pipeline
