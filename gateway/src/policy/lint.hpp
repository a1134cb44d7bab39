// Rules that load but can never do anything, found when `scopegate check` loads them with their
// config (docs/policies.md, "Warnings"). Warnings, not errors: a set that has them still loads and
// decides as written. Each finding is proven from the rules and the config alone; a rule the checks
// cannot be sure about is not reported.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/loader.hpp"
#include "policy/policy.hpp"

namespace scopegate::policy {

// What the config declares, that conditions name.
struct Vocabulary {
  std::set<std::string, std::less<>> routes;    // route names (the caller adds the gateway's own, scopegate:scopes)
  std::set<std::string, std::less<>> agents;    // agent ids
  std::set<std::string, std::less<>> datasets;  // every dataset a route's or a tool's label names
};

Vocabulary vocabulary_of(const config::Config& config);

// Findings in file order, each naming the rule's file and line, its key path and its id:
//  - a route, agent (agent, delegator, root_agent, ancestors) or dataset name the config does not
//    declare, in `when` (saying so when the condition can then never hold) or in `unless`;
//  - depth bounds no depth satisfies (ge: 3 with le: 1, eq: 2 with lt: 2);
//  - a permit that never decides (or, in shadow mode, is never reported) because an enforce forbid
//    without `unless` matches every request it matches: each condition of the forbid's `when` is
//    also in the permit's `when`, holding for everything the permit's does (the same or a wider
//    set of names, depth range, level, ...). A forbid beats a permit wherever each is in the set.
std::vector<config::ConfigError> lint(const PolicySet& set, const Vocabulary& known);

}  // namespace scopegate::policy
