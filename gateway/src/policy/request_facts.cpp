#include "policy/request_facts.hpp"

#include <simdjson.h>

#include <algorithm>

#include "json/strict.hpp"

namespace scopegate::policy {

std::span<const std::string_view> chain_of(const delegation::VerifiedToken& token, ChainBuffer& buffer) {
  std::size_t n = std::min(token.scopes.size(), buffer.size());
  for (std::size_t i = 0; i < n; ++i) buffer[i] = token.scopes[i].agt;
  return {buffer.data(), n};
}

void set_chain_facts(Facts& f, std::span<const std::string_view> chain) {
  if (chain.empty()) return;
  f.root_agent = chain.front();
  f.delegator = chain.size() > 1 ? chain[chain.size() - 2] : std::string_view();
  f.ancestors = chain.first(chain.size() - 1);
  f.depth = static_cast<int>(chain.size()) - 1;
}

void set_scope_facts(Facts& f, const delegation::VerifiedToken& token, ChainBuffer& buffer) {
  set_chain_facts(f, chain_of(token, buffer));
  f.depth = token.depth();
  f.principal = token.root().sub;
  f.objective = {};
  for (auto it = token.scopes.rbegin(); it != token.scopes.rend() && f.objective.empty(); ++it) f.objective = it->obj;
}

void set_route_facts(Facts& f, const config::Route& route, std::string_view tool, std::vector<std::string>& merged) {
  f.route = route.name;
  f.kind = config::to_string(route.kind);
  const config::DataLabel* tool_label = nullptr;
  if (!tool.empty()) {
    if (auto it = route.tools.find(tool); it != route.tools.end()) tool_label = &it->second;
  }
  const auto& route_datasets = route.data.datasets;
  if (tool_label && !tool_label->datasets.empty() && !route_datasets.empty()) {
    merged = route_datasets;
    merged.insert(merged.end(), tool_label->datasets.begin(), tool_label->datasets.end());
    f.datasets = merged;
  } else {
    f.datasets = tool_label && !tool_label->datasets.empty() ? tool_label->datasets : route_datasets;
  }
  f.classification = tool_label && !tool_label->classification.empty() ? tool_label->classification
                                                                        : route.data.classification;
}

}  // namespace scopegate::policy
