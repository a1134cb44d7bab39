#include "pipeline/policies.hpp"

#include "clock/unix_clock.hpp"
#include "policy/request_facts.hpp"
#include "runtime/gateway_metrics.hpp"

namespace scopegate::pipeline {

Verdict check_policies(RequestContext& x) {
  const policy::PolicySet* set = x.snapshot.policies.get();
  if (!set) return Verdict::next();
  const auto& req = x.parser.get();
  // Built by the functions `scopegate policy explain` uses too (policy/request_facts.hpp), so an
  // explanation sees the facts a live request has.
  policy::Facts f;
  policy::ChainBuffer chain{};
  if (x.agent) f.agent = x.agent->id;
  if (x.token) policy::set_scope_facts(f, *x.token, chain);
  policy::set_route_facts(f, *x.route, x.tool, x.policy_datasets);
  f.method = req.method_string();
  f.action = x.action;
  f.mcp_method = x.mcp_method;
  f.arguments_json = x.policy_arguments;  // MCP tools/call: canonical JSON, read by classification
  f.content_type = req[bhttp::field::content_type];
  f.now = clock::unix_now();

  x.policy = set->evaluate(f);
  const policy::Decision& d = *x.policy;
  runtime::record_policy_decision(x.snapshot.metric_labels, d);
  if (d.allow) return Verdict::next();
  // Written for the agent's model: what was refused, by which rule, and the rule's reason.
  std::string what = x.action.empty() ? "this request on route " + x.route->name : std::string(x.action);
  std::string message = d.rule.empty() ? what + " is refused: " + std::string(d.reason)
                                       : what + " is refused by policy rule " + std::string(d.rule) + ": " +
                                             std::string(d.reason);
  return http::Violation{http::ErrorCode::policy_denied, std::move(message)};
}

}  // namespace scopegate::pipeline
