#include "pipeline/delegate.hpp"

#include "clock/unix_clock.hpp"
#include "runtime/gateway_metrics.hpp"
#include "runtime/services.hpp"
#include "delegation/mint.hpp"
#include "delegation/registry.hpp"
#include "http/request_id.hpp"
#include "pipeline/plans.hpp"

namespace scopegate::pipeline {

using http::ErrorCode;
using http::Violation;

std::variant<ChildScope, Violation> open_child_scope(RequestContext& x, const config::Agent& target,
                                                    const delegation::Grants& ceiling,
                                                    const std::optional<delegation::Grants>& requested,
                                                    std::string_view objective, std::int64_t ttl_s) {
  std::string sid = http::make_uuid_v7();
  delegation::ChildMint in{x.snapshot.keyring, x.snapshot.config.token, x.inbound.token, *x.token, target,
                           x.agent->id, ceiling, requested, objective, ttl_s, clock::unix_now(), sid,
                           x.carried_task};
  auto minted = delegation::mint_child_scope(in);
  if (auto* refused = std::get_if<delegation::MintRefusal>(&minted)) {
    return Violation{refused->code, std::move(refused->message)};
  }
  auto& out = std::get<ChildScope>(minted);
  // Recorded and reported before the request that opened it goes any further (docs/protocol.md §3).
  x.worker.app().scopes().open(out.record);
  report_scope_opened(x, out.record, audit::Opening::minted);
  return std::move(out);
}

void report_scope_opened(RequestContext& x, const delegation::ScopeRecord& scope, audit::Opening how) {
  x.worker.app().sink().scope_opened(scope, how, x.request_id);
  runtime::record_scope_opened(x.snapshot.agent_label(x.snapshot.agents.by_id(scope.actor)), scope.depth);
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
    std::string why;
    if (!delegation::parse_grant_list(joined, *requested, &why)) {
      return Violation{ErrorCode::bad_request, "Delegation-Grants: " + why};
    }
  }
  auto ttl = std::chrono::duration_cast<std::chrono::seconds>(x.snapshot.config.token.delegation_ttl).count();
  // The route's ceiling ∩ the target agent's ceiling, on top of the caller's own rights.
  auto minted = open_child_scope(x, *target, delegation::intersect(x.route->grants, target->grants), requested,
                                 x.objective, ttl);
  if (auto* v = std::get_if<Violation>(&minted)) return *v;
  auto& child = std::get<ChildScope>(minted);
  x.child = std::move(child.record);
  x.child_token = std::move(child.token);
  start_carried_task(x);
  return std::nullopt;
}

}  // namespace scopegate::pipeline
