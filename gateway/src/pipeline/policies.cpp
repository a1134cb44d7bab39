#include "pipeline/policies.hpp"

#include <array>

#include "clock/unix_clock.hpp"
#include "runtime/gateway_metrics.hpp"

namespace scopegate::pipeline {

namespace {

constexpr std::size_t kMaxAncestors = 32;

}  // namespace

Verdict check_policies(RequestContext& x) {
  const policy::PolicySet* set = x.snapshot.policies.get();
  if (!set) return Verdict::next();
  const auto& req = x.parser.get();
  policy::Facts f;
  std::array<std::string_view, kMaxAncestors> ancestors{};
  if (x.agent) f.agent = x.agent->id;
  if (x.token) {
    const auto& scopes = x.token->scopes;
    f.principal = x.token->root().sub;
    f.root_agent = x.token->root().agt;
    f.depth = x.token->depth();
    // The scope's objective: its own, or the nearest one above it.
    for (auto it = scopes.rbegin(); it != scopes.rend() && f.objective.empty(); ++it) f.objective = it->obj;
    std::size_t above = scopes.size() - 1;
    if (above > 0) f.delegator = scopes[above - 1].agt;
    std::size_t n = std::min(above, kMaxAncestors);
    for (std::size_t i = 0; i < n; ++i) ancestors[i] = scopes[i].agt;
    f.ancestors = {ancestors.data(), n};
  }
  f.route = x.route->name;
  f.kind = config::to_string(x.route->kind);
  f.method = req.method_string();
  f.action = x.action;
  f.mcp_method = x.mcp_method;
  // What the request touches: the route's label, and the tool's on top of it.
  const config::DataLabel* tool_label = nullptr;
  if (!x.tool.empty()) {
    if (auto it = x.route->tools.find(x.tool); it != x.route->tools.end()) tool_label = &it->second;
  }
  const auto& route_datasets = x.route->data.datasets;
  if (tool_label && !tool_label->datasets.empty() && !route_datasets.empty()) {
    x.policy_datasets = route_datasets;
    x.policy_datasets.insert(x.policy_datasets.end(), tool_label->datasets.begin(), tool_label->datasets.end());
    f.datasets = x.policy_datasets;
  } else {
    f.datasets = tool_label && !tool_label->datasets.empty() ? tool_label->datasets : route_datasets;
  }
  f.classification = tool_label && !tool_label->classification.empty() ? tool_label->classification
                                                                        : x.route->data.classification;
  f.arguments_json = x.policy_arguments;  // MCP tools/call, read by classification (canonical JSON)
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
