// The warnings of `scopegate check` about rules that can never do anything (policy/lint.hpp): one
// case per kind, and the look-alikes that must not warn.
#include "policy/lint.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

using scopegate::policy::LoadError;
using scopegate::policy::PolicySet;

// Routes search (http, datasets web-index) and hr (mcp, route dataset hr, tool hr.lookup adding
// payroll); agents planner, researcher and writer.
scopegate::config::Config sample_config() {
  scopegate::config::Config c;
  scopegate::config::Route search;
  search.name = "search";
  search.data.datasets = {"web-index"};
  scopegate::config::Route hr;
  hr.name = "hr";
  hr.kind = scopegate::config::RouteKind::mcp;
  hr.data.datasets = {"hr"};
  hr.tools["hr.lookup"].datasets = {"payroll"};
  c.routes = {search, hr};
  for (const char* id : {"planner", "researcher", "writer"}) {
    scopegate::config::Agent a;
    a.id = id;
    c.agents.push_back(a);
  }
  return c;
}

// The warnings for one policy file (rules only: "version: 1\ndefault: allow\nrules:\n" is added).
std::vector<std::string> warnings(const std::string& rules) {
  auto loaded = scopegate::policy::load_policy_texts({{"p.yaml", "version: 1\ndefault: allow\nrules:\n" + rules}});
  if (auto* errors = std::get_if<std::vector<LoadError>>(&loaded)) {
    for (const auto& e : *errors) MESSAGE(e.to_string());
    FAIL("the policy does not load");
  }
  auto known = scopegate::policy::vocabulary_of(sample_config());
  known.routes.insert("scopegate:scopes");
  std::vector<std::string> out;
  for (const auto& w : lint(*std::get<std::shared_ptr<const PolicySet>>(loaded), known)) out.push_back(w.to_string());
  return out;
}

}  // namespace

TEST_CASE("policy lint: an unknown route names the file, the line, the key and the rule") {
  auto w = warnings(R"(  - id: typo
    effect: forbid
    when: {route: [serch]}
)");
  REQUIRE(w.size() == 1);
  CHECK(w[0] == "p.yaml:4: rules[0].when.route: rule 'typo': no route 'serch' in the config (routes: hr, "
                "scopegate:scopes, search): the rule can never match");
}

TEST_CASE("policy lint: unknown agents as agent, delegator, root agent and ancestors") {
  auto w = warnings(R"(  - id: a
    effect: forbid
    when: {agent: [reseacher]}
  - id: d
    effect: forbid
    when: {delegator: [plannr, planner]}
  - id: r
    effect: forbid
    when: {root_agent: [nobody]}
  - id: anc
    effect: forbid
    when: {ancestors: {all: [planner, ghost]}}
)");
  REQUIRE(w.size() == 4);
  CHECK(w[0].find("rules[0].when.agent: rule 'a': no agent 'reseacher' in the config") != std::string::npos);
  CHECK(w[0].ends_with("the rule can never match"));
  // One name of two is known: the rule can still match, and the warning does not say otherwise.
  CHECK(w[1].find("rules[1].when.delegator: rule 'd': no agent 'plannr' in the config") != std::string::npos);
  CHECK_FALSE(w[1].ends_with("the rule can never match"));
  CHECK(w[2].find("rules[2].when.root_agent: rule 'r': no agent 'nobody' in") != std::string::npos);
  // all: one agent that never acts is enough.
  CHECK(w[3].find("rules[3].when.ancestors.all: rule 'anc': no agent 'ghost' in") != std::string::npos);
  CHECK(w[3].ends_with("the rule can never match"));
}

TEST_CASE("policy lint: a dataset no route or tool declares") {
  auto w = warnings(R"(  - id: ds
    effect: forbid
    when: {datasets: {any: [hr-db]}}
)");
  REQUIRE(w.size() == 1);
  CHECK(w[0] == "p.yaml:4: rules[0].when.datasets.any: rule 'ds': no dataset 'hr-db' in the config (datasets: hr, "
                "payroll, web-index): the rule can never match");
}

TEST_CASE("policy lint: depth bounds that exclude each other") {
  auto w = warnings(R"(  - id: ge-le
    effect: forbid
    when: {depth: {ge: 3, le: 1}}
  - id: eq-lt
    effect: forbid
    when: {depth: {eq: 2, lt: 2}}
  - id: in-unless
    effect: forbid
    when: {action: ["tool:*"]}
    unless: {depth: {gt: 4, lt: 5}}
)");
  REQUIRE(w.size() == 3);
  CHECK(w[0] == "p.yaml:4: rules[0].when.depth: rule 'ge-le': no depth satisfies le: 1, ge: 3: the rule can never "
                "match");
  CHECK(w[1].find("rules[1].when.depth: rule 'eq-lt': no depth satisfies eq: 2, lt: 2") != std::string::npos);
  CHECK(w[2].find("rules[2].unless.depth: rule 'in-unless'") != std::string::npos);
  CHECK(w[2].ends_with("the unless never holds"));
}

TEST_CASE("policy lint: a permit that an enforce forbid always overrides") {
  auto w = warnings(R"(  - id: no-hr
    effect: forbid
    when: {route: [hr]}
  - id: hr-lookup-for-planner
    effect: permit
    when: {route: [hr], agent: [planner], action: ["tool:hr.lookup"]}
  - id: watch-hr
    effect: permit
    mode: shadow
    when: {route: [hr], depth: {le: 1}}
)");
  REQUIRE(w.size() == 2);
  CHECK(w[0] == "p.yaml:7: rules[1].when: rule 'hr-lookup-for-planner' never decides: the enforce forbid 'no-hr' "
                "(p.yaml:4), which has no unless, matches every request it matches (a forbid beats a permit)");
  CHECK(w[1].find("rules[2].when: rule 'watch-hr' (shadow) is never reported: the enforce forbid 'no-hr'") !=
        std::string::npos);
}

TEST_CASE("policy lint: a later forbid overrides an earlier permit too, and wider value sets count") {
  auto w = warnings(R"(  - id: p
    effect: permit
    when:
      agent: [researcher]
      principal: ["user:alice"]
      action: ["tool:hr.lookup"]
      depth: {ge: 2, le: 3}
      datasets: {all: [hr, payroll]}
      classification: {at_least: restricted}
      objective: {contains: "payroll report"}
      arguments: [{pointer: /id, equals: E1}, {pointer: /q, max_length: 5}]
      time: {after: "08:00", before: "18:00", days: [mon]}
  - id: f
    effect: forbid
    when:
      agent: [researcher, writer]
      principal: ["user:*"]
      action: ["tool:hr.*"]
      depth: {ge: 1}
      datasets: {any: [payroll]}
      classification: {at_least: confidential}
      objective: {contains: payroll}
      arguments: [{pointer: /id, in: [E1, E2]}, {pointer: /q, max_length: 10}]
      time: {after: "08:00", before: "18:00", days: [mon, tue]}
)");
  REQUIRE(w.size() == 1);
  CHECK(w[0].find("rule 'p' never decides: the enforce forbid 'f'") != std::string::npos);
}

TEST_CASE("policy lint: what must not warn") {
  // Known names, satisfiable depths, and forbids that do not cover the permit: an unless, shadow
  // mode, a condition the permit lacks, a narrower value set, a glob that is merely similar.
  auto w = warnings(R"(  - id: known
    effect: forbid
    when: {route: [search, hr, "scopegate:scopes"], agent: [planner], delegator: [writer], root_agent: [planner],
           ancestors: {any: [researcher]}, datasets: {all: [hr, payroll]}, depth: {ge: 1, le: 1}}
  - id: none-of-unknown
    effect: forbid
    when: {ancestors: {none: [planner]}, depth: {eq: 0, lt: 1}}
  - id: forbid-with-unless
    effect: forbid
    when: {route: [hr]}
    unless: {agent: [planner]}
  - id: shadow-forbid
    effect: forbid
    mode: shadow
    when: {route: [hr]}
  - id: narrower-forbid
    effect: forbid
    when: {route: [search], agent: [writer]}
  - id: glob-forbid
    effect: forbid
    when: {route: [search], objective: {glob: "*ticket*"}}
  - id: permit-hr
    effect: permit
    when: {route: [hr], agent: [planner, researcher]}
  - id: permit-search
    effect: permit
    when: {route: [search], agent: [writer, researcher], objective: {glob: "*ticket-*"}}
  - id: depth-wider-than-forbid
    effect: permit
    when: {route: [hr], depth: {le: 2}}
)");
  for (const auto& line : w) MESSAGE(line);
  CHECK(w.empty());
}

TEST_CASE("policy lint: the first overriding forbid is named, and a rule that never matches is not called overridden") {
  auto w = warnings(R"(  - id: narrow-forbid
    effect: forbid
    when: {route: [search], agent: [writer]}
  - id: glob-forbid
    effect: forbid
    when: {route: [search], objective: {glob: "*ticket*"}}
  - id: overridden
    effect: permit
    when: {route: [search], agent: [planner], objective: {glob: "*ticket*"}, datasets: {any: [web-index]}}
  - id: never
    effect: permit
    when: {route: [search], agent: [writer], depth: {gt: 2, le: 2}}
)");
  REQUIRE(w.size() == 2);
  CHECK(w[0].find("rule 'overridden' never decides: the enforce forbid 'glob-forbid'") != std::string::npos);
  CHECK(w[1].find("rule 'never': no depth satisfies") != std::string::npos);
}
