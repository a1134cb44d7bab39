#include "pipeline/verification.hpp"

#include "clock/unix_clock.hpp"
#include "runtime/services.hpp"
#include "delegation/grants.hpp"
#include "delegation/mint.hpp"
#include "delegation/registry.hpp"
#include "pipeline/authentication.hpp"
#include "pipeline/delegate.hpp"

namespace scopegate::pipeline {

using http::ErrorCode;
using http::Violation;

namespace {

bool agent_ceiling_allows(const config::Agent& agent, std::string_view action) {
  for (const auto& g : agent.grants) {
    if (delegation::pattern_matches(g, action)) return true;
  }
  return false;
}

// The one Delegation-Token presented, verified (MAC chain, expiry, audience; or found in the
// worker's cache of tokens verified before) and presented by its own actor, x.agent; or why not.
// Changes nothing but the cache.
std::variant<std::shared_ptr<const delegation::VerifiedToken>, Violation> presented_token(RequestContext& x) {
  const auto& settings = x.snapshot.config.token;
  std::string_view text = x.inbound.token;
  std::int64_t now = clock::unix_now();
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

// Fleet mode (docs/fleet.md, "Revocations"): a node that has not yet loaded the fleet's
// revocations serves no token (it would not know which are revoked). While it is out of touch
// with them the last set it knew holds; with fleet.revocations.strict, a token whose newest scope
// was minted after the moment that set was last known complete is refused too, since nothing
// says it was not revoked since.
std::optional<Violation> check_fleet_revocations(RequestContext& x, const fleet::Node& node) {
  if (!node.synced_once()) {
    x.retry_after_s = 1;
    return Violation{ErrorCode::overloaded, "this gateway node has not loaded the fleet's revocations yet; retry in 1 s"};
  }
  if (!node.settings().revocations_strict || node.in_sync()) return std::nullopt;
  std::int64_t newest = 0;
  for (const auto& scope : x.token->scopes) newest = std::max(newest, scope.iat);
  if (newest <= node.current_as_of()) return std::nullopt;
  x.retry_after_s = 1;
  return Violation{ErrorCode::overloaded,
                   "this gateway node cannot reach the fleet's revocations, and the scope was opened after it last "
                   "could (fleet.revocations.strict); retry in 1 s"};
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
  if (auto* node = app.fleet()) {
    if (auto v = check_fleet_revocations(x, *node)) return v;
  }
  for (const auto& fresh : app.scopes().observe(*x.token)) {
    report_scope_opened(x, fresh, audit::Opening::first_seen);
  }
  return std::nullopt;
}

}  // namespace

Verdict verify_scope(RequestContext& x) {
  x.scope_checked = true;
  // An open route runs under no scope: a token sent there is stripped like any Delegation-* header.
  if (x.route->access == config::Access::open) return std::nullopt;
  std::size_t count = x.inbound.tokens;
  if (count == 0) {
    if (x.route->access == config::Access::scoped) {
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

}  // namespace scopegate::pipeline
