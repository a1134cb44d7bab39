// The policy engine, table-driven: each case is a policy, a request's facts, the expected decision
// and the expected deciding rule (docs/policies.md).
#include "policy/policy.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <string>
#include <vector>

// The tables name only the facts a case is about (designated initializers); the rest keep Req's
// defaults on purpose, which -Wextra would otherwise report for every row.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace {

using scopegate::policy::Decision;
using scopegate::policy::Facts;
using scopegate::policy::LoadError;
using scopegate::policy::PolicySet;

// A request written out in full, owning its strings; facts() gives the views the engine reads.
struct Req {
  std::string agent = "researcher";
  std::string principal = "user:alice";
  std::string delegator;
  std::string root_agent;
  std::vector<std::string> ancestors;
  int depth = -1;
  std::string route = "search";
  std::string kind = "mcp";
  std::string method = "POST";
  std::string action = "tool:search";
  std::string mcp_method = "tools/call";
  std::vector<std::string> datasets;
  std::string classification;
  std::string objective;
  std::string args;
  std::string content_type = "application/json";
  std::int64_t now = 1704103200;  // Monday 2024-01-01 10:00 UTC

  std::vector<std::string_view> ancestor_views;
  Facts facts() {
    ancestor_views.assign(ancestors.begin(), ancestors.end());
    Facts f;
    f.agent = agent;
    f.principal = principal;
    f.delegator = delegator;
    f.root_agent = root_agent;
    f.ancestors = ancestor_views;
    f.depth = depth;
    f.route = route;
    f.kind = kind;
    f.method = method;
    f.action = action;
    f.mcp_method = mcp_method;
    f.datasets = datasets;
    f.classification = classification;
    f.objective = objective;
    f.arguments_json = args;
    f.content_type = content_type;
    f.now = now;
    return f;
  }
};

// Unix seconds on weekday `day` (0 Monday .. 6 Sunday) of the first week of 2024, at hh:mm UTC.
constexpr std::int64_t at(int day, int hh, int mm) { return 1704067200 + day * 86400 + hh * 3600 + mm * 60; }

std::shared_ptr<const PolicySet> load(std::vector<std::pair<std::string, std::string>> files) {
  auto result = scopegate::policy::load_policy_texts(files);
  if (auto* errors = std::get_if<std::vector<LoadError>>(&result)) {
    for (const auto& e : *errors) MESSAGE(e.to_string());
    FAIL("the policy does not load");
  }
  return std::get<std::shared_ptr<const PolicySet>>(result);
}

std::string shadow_text(const Decision& d) {
  std::string out;
  for (const auto& hit : d.shadow_hits()) {
    out += (out.empty() ? "" : ",") + std::string(hit.rule) + "=" + (hit.would_allow ? "allow" : "deny");
  }
  return out;
}

struct Case {
  const char* name;
  const char* policy;  // everything after "version: 1"
  Req req;
  bool allow;
  const char* rule;          // the deciding rule, "" for the default
  const char* shadow = "";   // reported shadow hits: id=allow|deny, comma-separated
};

void run(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto set = load({{"case.yaml", std::string("version: 1\n") + c.policy}});
    Req req = c.req;
    Decision d = set->evaluate(req.facts());
    CHECK(d.allow == c.allow);
    CHECK(d.rule == std::string_view(c.rule));
    CHECK(shadow_text(d) == c.shadow);
    // explain() agrees: the deciding rule matched, and no rule outside the index's candidates did.
    for (const auto& t : set->explain(req.facts())) {
      CAPTURE(t.rule);
      CAPTURE(t.why);
      if (t.rule == c.rule) CHECK(t.matched);
      if (!t.candidate) CHECK_FALSE(t.matched);
    }
  }
}

// Shorthands for one-rule policies.
#define PERMIT(cond) "default: deny\nrules:\n  - id: p\n    effect: permit\n    when: " cond "\n"
#define FORBID(cond) "default: allow\nrules:\n  - id: f\n    effect: forbid\n    when: " cond "\n"

}  // namespace

TEST_CASE("policy: who asks (agent, principal, delegator, root agent, ancestors, depth)") {
  run({
      {"agent listed", PERMIT("{agent: [researcher, writer]}"), {}, true, "p"},
      {"agent not listed", PERMIT("{agent: [writer]}"), {}, false, ""},
      {"principal prefix", PERMIT("{principal: [\"user:*\"]}"), {}, true, "p"},
      {"principal prefix misses", PERMIT("{principal: [\"service:*\"]}"), {}, false, ""},
      {"delegator matches", PERMIT("{delegator: [planner]}"), {.delegator = "planner", .depth = 1}, true, "p"},
      {"delegator at a root scope (none)", PERMIT("{delegator: [planner]}"), {.depth = 0}, false, ""},
      {"root agent matches", PERMIT("{root_agent: [orchestrator]}"), {.root_agent = "orchestrator"}, true, "p"},
      {"root agent differs", PERMIT("{root_agent: [orchestrator]}"), {.root_agent = "intruder"}, false, ""},
      {"ancestors any: one present", PERMIT("{ancestors: {any: [orchestrator, auditor]}}"),
       {.ancestors = {"orchestrator", "planner"}, .depth = 2}, true, "p"},
      {"ancestors any: none present", PERMIT("{ancestors: {any: [auditor]}}"),
       {.ancestors = {"orchestrator", "planner"}, .depth = 2}, false, ""},
      {"ancestors all: every one present", PERMIT("{ancestors: {all: [orchestrator, planner]}}"),
       {.ancestors = {"orchestrator", "planner"}, .depth = 2}, true, "p"},
      {"ancestors all: one missing", PERMIT("{ancestors: {all: [orchestrator, planner]}}"),
       {.ancestors = {"orchestrator"}, .depth = 1}, false, ""},
      {"ancestors none: absent", FORBID("{ancestors: {none: [orchestrator]}}"),
       {.ancestors = {"rogue"}, .depth = 1}, false, "f"},
      {"ancestors none: present", FORBID("{ancestors: {none: [orchestrator]}}"),
       {.ancestors = {"orchestrator"}, .depth = 1}, true, ""},
      {"ancestors none: no scope at all", FORBID("{ancestors: {none: [orchestrator]}}"), {}, false, "f"},
      {"depth le 1 at 1", PERMIT("{depth: {le: 1}}"), {.depth = 1}, true, "p"},
      {"depth le 1 at 2", PERMIT("{depth: {le: 1}}"), {.depth = 2}, false, ""},
      {"depth with no scope does not hold", PERMIT("{depth: {ge: 0}}"), {.depth = -1}, false, ""},
      {"depth ge 1 and lt 3 at 2", PERMIT("{depth: {ge: 1, lt: 3}}"), {.depth = 2}, true, "p"},
      {"depth ge 1 and lt 3 at 3", PERMIT("{depth: {ge: 1, lt: 3}}"), {.depth = 3}, false, ""},
      {"depth eq 0 at 0", PERMIT("{depth: {eq: 0}}"), {.depth = 0}, true, "p"},
      {"depth gt 0 at 0", PERMIT("{depth: {gt: 0}}"), {.depth = 0}, false, ""},
  });
}

TEST_CASE("policy: what is asked (route, kind, method, action, MCP method, data)") {
  run({
      {"route listed", PERMIT("{route: [search, hr]}"), {}, true, "p"},
      {"route not listed", PERMIT("{route: [hr]}"), {}, false, ""},
      {"kind", PERMIT("{kind: [mcp]}"), {}, true, "p"},
      {"method", PERMIT("{method: [GET]}"), {}, false, ""},
      {"action exact", PERMIT("{action: [\"tool:search\"]}"), {}, true, "p"},
      {"action prefix", PERMIT("{action: [\"tool:sea*\"]}"), {}, true, "p"},
      {"action prefix of another kind", PERMIT("{action: [\"prompt:*\"]}"), {}, false, ""},
      {"action star", PERMIT("{action: [\"*\"]}"), {.action = "resource:file:///x"}, true, "p"},
      {"housekeeping has no action", PERMIT("{action: [\"*\"]}"), {.action = "", .mcp_method = "tools/list"}, false,
       ""},
      {"mcp method prefix", PERMIT("{mcp_method: [\"tools/*\"]}"), {}, true, "p"},
      {"mcp method exact misses", PERMIT("{mcp_method: [initialize]}"), {}, false, ""},
      {"scopes endpoint: opening a scope for agent:x", FORBID("{kind: [scopes], action: [\"agent:x\"]}"),
       {.route = "scopegate:scopes", .kind = "scopes", .method = "POST", .action = "agent:x", .mcp_method = ""},
       false, "f"},
      {"scopes endpoint: another agent", FORBID("{kind: [scopes], action: [\"agent:x\"]}"),
       {.route = "scopegate:scopes", .kind = "scopes", .method = "POST", .action = "agent:y", .mcp_method = ""},
       true, ""},
      {"datasets any", PERMIT("{datasets: {any: [hr, legal]}}"), {.datasets = {"finance", "hr"}}, true, "p"},
      {"datasets any misses", PERMIT("{datasets: {any: [legal]}}"), {.datasets = {"finance", "hr"}}, false, ""},
      {"datasets all", PERMIT("{datasets: {all: [hr, finance]}}"), {.datasets = {"finance", "hr"}}, true, "p"},
      {"datasets all, one missing", PERMIT("{datasets: {all: [hr, finance]}}"), {.datasets = {"hr"}}, false, ""},
      {"classification above", FORBID("{classification: {at_least: confidential}}"), {.classification = "restricted"},
       false, "f"},
      {"classification equal", FORBID("{classification: {at_least: confidential}}"),
       {.classification = "confidential"}, false, "f"},
      {"classification below", FORBID("{classification: {at_least: confidential}}"), {.classification = "internal"},
       true, ""},
      {"unlabelled is below public", FORBID("{classification: {at_least: public}}"), {.classification = ""}, true,
       ""},
  });
}

TEST_CASE("policy: why (objective contains and glob, case-insensitive)") {
  run({
      {"contains, other case", PERMIT("{objective: {contains: \"TICKET-\"}}"), {.objective = "fix ticket-12 today"},
       true, "p"},
      {"contains misses", PERMIT("{objective: {contains: ticket-}}"), {.objective = "fix the build"}, false, ""},
      {"no objective", PERMIT("{objective: {contains: ticket-}}"), {.objective = ""}, false, ""},
      {"glob with ? and *", PERMIT("{objective: {glob: \"*ticket-??*\"}}"), {.objective = "See TICKET-42 now"},
       true, "p"},
      {"glob misses (one digit)", PERMIT("{objective: {glob: \"*ticket-??\"}}"), {.objective = "ticket-4"}, false,
       ""},
      {"glob anchors both ends", PERMIT("{objective: {glob: \"ticket*\"}}"), {.objective = "a ticket"}, false, ""},
  });
}

TEST_CASE("policy: with what (arguments)") {
  run({
      {"equals string", FORBID("{arguments: [{pointer: /employee_id, equals: \"*\"}]}"),
       {.args = R"({"employee_id":"*"})"}, false, "f"},
      {"equals string differs", FORBID("{arguments: [{pointer: /employee_id, equals: \"*\"}]}"),
       {.args = R"({"employee_id":"E1"})"}, true, ""},
      {"equals number", FORBID("{arguments: [{pointer: /limit, equals: 100}]}"), {.args = R"({"limit":100})"}, false,
       "f"},
      {"equals number as a float", FORBID("{arguments: [{pointer: /limit, equals: 100}]}"),
       {.args = R"({"limit":100.0})"}, false, "f"},
      {"a quoted number is a string", FORBID("{arguments: [{pointer: /limit, equals: \"100\"}]}"),
       {.args = R"({"limit":100})"}, true, ""},
      {"equals bool", FORBID("{arguments: [{pointer: /force, equals: true}]}"), {.args = R"({"force":true})"},
       false, "f"},
      {"equals bool differs", FORBID("{arguments: [{pointer: /force, equals: true}]}"),
       {.args = R"({"force":false})"}, true, ""},
      {"equals null", FORBID("{arguments: [{pointer: /owner, equals: null}]}"), {.args = R"({"owner":null})"}, false,
       "f"},
      {"in", FORBID("{arguments: [{pointer: /mode, in: [drop, 2, false]}]}"), {.args = R"({"mode":2})"}, false, "f"},
      {"in misses", FORBID("{arguments: [{pointer: /mode, in: [drop, 2]}]}"), {.args = R"({"mode":"keep"})"}, true,
       ""},
      {"prefix", FORBID("{arguments: [{pointer: /path, prefix: /etc/}]}"), {.args = R"({"path":"/etc/passwd"})"},
       false, "f"},
      {"prefix on a non-string", FORBID("{arguments: [{pointer: /path, prefix: \"1\"}]}"), {.args = R"({"path":12})"},
       true, ""},
      {"glob (case-sensitive)", FORBID("{arguments: [{pointer: /q, glob: \"*DROP*\"}]}"),
       {.args = R"({"q":"x; drop table"})"}, true, ""},
      {"glob matches", FORBID("{arguments: [{pointer: /q, glob: \"*DROP*\"}]}"), {.args = R"({"q":"x; DROP t"})"},
       false, "f"},
      {"max_length within", PERMIT("{arguments: [{pointer: /q, max_length: 3}]}"), {.args = R"({"q":"éab"})"}, true,
       "p"},
      {"max_length exceeded", PERMIT("{arguments: [{pointer: /q, max_length: 3}]}"), {.args = R"({"q":"abcd"})"},
       false, ""},
      {"matches RE2", PERMIT("{arguments: [{pointer: /employee_id, matches: \"^E[0-9]+$\"}]}"),
       {.args = R"({"employee_id":"E123"})"}, true, "p"},
      {"matches RE2 misses", PERMIT("{arguments: [{pointer: /employee_id, matches: \"^E[0-9]+$\"}]}"),
       {.args = R"({"employee_id":"E*"})"}, false, ""},
      {"nested pointer", FORBID("{arguments: [{pointer: /filter/0/name, equals: ssn}]}"),
       {.args = R"({"filter":[{"name":"ssn"}]})"}, false, "f"},
      {"missing pointer does not hold", FORBID("{arguments: [{pointer: /employee_id, equals: x}]}"),
       {.args = R"({"other":"x"})"}, true, ""},
      {"no arguments at all", PERMIT("{arguments: [{pointer: /q, max_length: 10}]}"), {.args = ""}, false, ""},
      {"every item must hold", FORBID("{arguments: [{pointer: /a, equals: 1}, {pointer: /b, equals: 2}]}"),
       {.args = R"({"a":1,"b":3})"}, true, ""},
  });
}

TEST_CASE("policy: content type and time windows") {
  run({
      {"content type with parameters", PERMIT("{content_type: [application/json]}"),
       {.content_type = "application/json; charset=utf-8"}, true, "p"},
      {"content type case", PERMIT("{content_type: [Application/JSON]}"), {.content_type = "APPLICATION/json"}, true,
       "p"},
      {"content type differs", PERMIT("{content_type: [application/json]}"), {.content_type = "text/plain"}, false,
       ""},
      {"inside a day window", PERMIT("{time: {after: \"09:00\", before: \"17:00\"}}"), {.now = at(0, 9, 0)}, true,
       "p"},
      {"before is exclusive", PERMIT("{time: {after: \"09:00\", before: \"17:00\"}}"), {.now = at(0, 17, 0)}, false,
       ""},
      {"window wraps past midnight, late", FORBID("{time: {after: \"22:00\", before: \"06:00\"}}"),
       {.now = at(1, 23, 30)}, false, "f"},
      {"window wraps past midnight, early", FORBID("{time: {after: \"22:00\", before: \"06:00\"}}"),
       {.now = at(2, 5, 59)}, false, "f"},
      {"window wraps past midnight, midday", FORBID("{time: {after: \"22:00\", before: \"06:00\"}}"),
       {.now = at(2, 12, 0)}, true, ""},
      {"weekend days on a Saturday", FORBID("{time: {days: [sat, sun]}}"), {.now = at(5, 12, 0)}, false, "f"},
      {"weekend days on a Wednesday", FORBID("{time: {days: [sat, sun]}}"), {.now = at(2, 12, 0)}, true, ""},
      {"days and hours together", PERMIT("{time: {after: \"08:00\", before: \"18:00\", days: [mon, tue]}}"),
       {.now = at(1, 8, 0)}, true, "p"},
  });
}

TEST_CASE("policy: precedence, unless, shadow rules and defaults") {
  const char* two_forbids = R"(default: deny
rules:
  - id: p-all
    effect: permit
    when: {agent: [researcher]}
  - id: f-first
    effect: forbid
    when: {action: ["tool:*"]}
  - id: f-second
    effect: forbid
    when: {route: [search]}
)";
  const char* unless = R"(default: allow
rules:
  - id: only-search
    effect: forbid
    when: {agent: [researcher], action: ["tool:*"]}
    unless: {action: ["tool:search"]}
)";
  const char* shadows = R"(default: deny
rules:
  - id: s-forbid
    effect: forbid
    mode: shadow
    when: {action: ["tool:*"]}
  - id: s-permit
    effect: permit
    mode: shadow
    when: {agent: [researcher]}
  - id: permit-search
    effect: permit
    when: {action: ["tool:search"]}
  - id: forbid-delete
    effect: forbid
    when: {action: ["tool:delete"]}
)";
  run({
      {"forbid wins over an earlier permit", two_forbids, {}, false, "f-first"},
      {"the first forbid in file order decides", two_forbids, {.route = "search", .action = "tool:x"}, false,
       "f-first"},
      {"a later forbid decides when the first does not match", two_forbids, {.action = "prompt:p"}, false,
       "f-second"},
      {"permit when no forbid matches", two_forbids, {.route = "other", .action = "prompt:p"}, true, "p-all"},
      {"unless holds: the rule does not match", unless, {}, true, ""},
      {"unless does not hold: the rule matches", unless, {.action = "tool:delete"}, false, "only-search"},
      {"unless does not hold for another agent either way", unless, {.agent = "writer", .action = "tool:delete"},
       true, ""},
      {"shadow forbid reported against an allow", shadows, {.agent = "writer"}, true, "permit-search",
       "s-forbid=deny"},
      {"shadow forbid not reported against an enforce deny", shadows, {.agent = "writer", .action = "tool:delete"},
       false, "forbid-delete"},
      {"shadow permit reported against a default deny", shadows, {.action = "prompt:p"}, false, "", "s-permit=allow"},
      {"shadow permit and forbid both match a default deny", shadows, {.action = "tool:other"}, false, "",
       "s-permit=allow"},
      {"shadow permit not reported against an enforce forbid", shadows, {.action = "tool:delete"}, false,
       "forbid-delete"},
      {"default allow", "default: allow\nrules:\n  - id: x\n    effect: forbid\n    when: {agent: [nobody]}\n", {},
       true, ""},
      {"default deny when unsaid", "rules:\n  - id: x\n    effect: permit\n    when: {agent: [nobody]}\n", {}, false,
       ""},
  });
}

TEST_CASE("policy: files in order, an empty set allows, default reasons") {
  auto empty = load({});
  Req req;
  Decision d = empty->evaluate(req.facts());
  CHECK(d.allow);
  CHECK(d.rule == "");
  CHECK(d.reason == "allowed by default");

  auto set = load({{"a.yaml", "version: 1\nrules:\n  - id: a-forbid\n    effect: forbid\n    when: {route: [search]}\n"
                              "    reason: no searching today\n"},
                   {"b.yaml", "version: 1\ndefault: deny\nrules:\n  - id: b-forbid\n    effect: forbid\n"
                              "    when: {agent: [researcher]}\n  - id: b-permit\n    effect: permit\n"
                              "    when: {agent: [writer]}\n"}});
  d = set->evaluate(req.facts());
  CHECK_FALSE(d.allow);
  CHECK(d.rule == "a-forbid");
  CHECK(d.reason == "no searching today");
  req.route = "hr";
  d = set->evaluate(req.facts());
  CHECK(d.rule == "b-forbid");
  CHECK(d.reason == "forbidden by policy rule 'b-forbid'");
  req.agent = "other";
  d = set->evaluate(req.facts());
  CHECK_FALSE(d.allow);
  CHECK(d.reason == "no rule permits it");
  REQUIRE(set->files().size() == 2);
  CHECK(set->files()[0].rules == 1);
  CHECK(set->files()[1].sha256_hex.size() == 64);
  CHECK(set->rules()[2].location == "b.yaml:7");
}

TEST_CASE("policy: 500 rules on other routes are not even looked at") {
  std::string text = "version: 1\nrules:\n";
  for (int i = 0; i < 500; ++i) {
    text += "  - id: r" + std::to_string(i) + "\n    effect: permit\n    when: {route: [route" + std::to_string(i) +
            "]}\n";
  }
  text += "  - id: tool-rule\n    effect: forbid\n    when: {action: [\"tool:sea*\"]}\n";
  text += "  - id: exact-rule\n    effect: forbid\n    when: {action: [\"tool:x\"]}\n";
  auto set = load({{"many.yaml", text}});
  Req req;
  req.route = "route7";
  auto traces = set->explain(req.facts());
  auto candidates = std::count_if(traces.begin(), traces.end(), [](const auto& t) { return t.candidate; });
  CHECK(candidates == 2);  // r7 and tool-rule
  Decision d = set->evaluate(req.facts());
  CHECK(d.rule == "tool-rule");
  req.action = "tool:x";
  d = set->evaluate(req.facts());
  CHECK(d.rule == "exact-rule");
  req.action = "resource:x";
  d = set->evaluate(req.facts());
  CHECK(d.allow);
  CHECK(d.rule == "r7");
}

TEST_CASE("policy: explain says why a rule did not match") {
  auto set = load({{"e.yaml", "version: 1\nrules:\n  - id: deep\n    effect: permit\n    when: {depth: {le: 1}}\n"
                              "  - id: args\n    effect: permit\n"
                              "    when: {arguments: [{pointer: /id, matches: \"^E[0-9]+$\"}]}\n"}});
  Req req;
  req.depth = 3;
  req.args = R"({"id":"*"})";
  auto traces = set->explain(req.facts());
  REQUIRE(traces.size() == 2);
  CHECK(traces[0].why == "when.depth: depth 3 fails le 1");
  CHECK(traces[0].location == "e.yaml:3");
  CHECK(traces[1].why == "when.arguments[0]: /id does not match '^E[0-9]+$'");
}

TEST_CASE("policy: shadow hits beyond the fixed array are counted") {
  std::string text = "version: 1\ndefault: allow\nrules:\n";
  for (int i = 0; i < 10; ++i) {
    text += "  - id: s" + std::to_string(i) +
            "\n    effect: forbid\n    mode: shadow\n    when: {agent: [researcher]}\n";
  }
  auto set = load({{"s.yaml", text}});
  Req req;
  Decision d = set->evaluate(req.facts());
  CHECK(d.allow);
  CHECK(d.shadow_count == scopegate::policy::kMaxShadowHits);
  CHECK(d.shadow_dropped == 10 - scopegate::policy::kMaxShadowHits);
  CHECK(d.shadow_hits()[0].rule == "s0");
}

namespace {

std::vector<std::string> load_errors(std::vector<std::pair<std::string, std::string>> files) {
  auto result = scopegate::policy::load_policy_texts(files);
  std::vector<std::string> out;
  if (auto* errors = std::get_if<std::vector<LoadError>>(&result)) {
    for (const auto& e : *errors) out.push_back(e.to_string());
  }
  return out;
}

}  // namespace

TEST_CASE("policy: load errors name the file, the line and the key path") {
  struct ErrorCase {
    const char* name;
    const char* text;
    const char* error;
  };
  const char* head = "version: 1\nrules:\n  - id: r\n    effect: forbid\n";
  const ErrorCase cases[] = {
      {"unknown comparator", "    when:\n      depth: {leq: 1}\n",
       "hr.yaml:6: rules[0].when.depth.leq: unknown key (expected eq, le, ge, lt, gt)"},
      {"unknown condition", "    when:\n      agnet: [a]\n",
       "hr.yaml:6: rules[0].when.agnet: unknown key (expected agent, principal, delegator, root_agent, ancestors, "
       "depth, route, kind, method, action, mcp_method, datasets, classification, objective, arguments, "
       "content_type, time)"},
      {"bad action pattern", "    when:\n      action: [\"tools:*\"]\n",
       "hr.yaml:6: rules[0].when.action[0]: unknown action kind 'tools' in grant pattern 'tools:*'; did you mean "
       "'tool:*'?"},
      {"bad RE2", "    when:\n      arguments:\n        - pointer: /id\n          matches: \"(unclosed\"\n",
       "hr.yaml:8: rules[0].when.arguments[0].matches: not an RE2 pattern: missing ): (unclosed"},
      {"wrong type", "    when:\n      agent: researcher\n", "hr.yaml:6: rules[0].when.agent: expected a list"},
      {"empty list", "    when:\n      agent: []\n",
       "hr.yaml:6: rules[0].when.agent: must not be an empty list (leave the condition out to match everything)"},
      {"no when", "    reason: x\n", "hr.yaml:3: rules[0]: missing when: a rule needs at least one condition"},
      {"depth not a number", "    when:\n      depth: {le: one}\n",
       "hr.yaml:6: rules[0].when.depth.le: expected an integer from 0 to 1000, got 'one'"},
      {"lower-case method", "    when:\n      method: [get]\n",
       "hr.yaml:6: rules[0].when.method[0]: HTTP methods are upper-case; did you mean 'GET'?"},
      {"bad time", "    when:\n      time: {after: \"25:00\"}\n",
       "hr.yaml:6: rules[0].when.time.after: expected a time of day HH:MM from 00:00 to 23:59 (UTC), got '25:00'"},
      {"unknown classification", "    when:\n      classification: {at_least: secret}\n",
       "hr.yaml:6: rules[0].when.classification.at_least: unknown classification 'secret' (expected public, "
       "internal, confidential, restricted)"},
      {"unknown kind", "    when:\n      kind: [grpc]\n",
       "hr.yaml:6: rules[0].when.kind[0]: unknown kind 'grpc' (expected http, mcp, agent, a2a, scopes, plans, llm)"},
      {"duplicate key", "    when:\n      agent: [a]\n      agent: [b]\n",
       "hr.yaml:7: rules[0].when.agent: duplicate key"},
      {"two argument operators", "    when:\n      arguments: [{pointer: /a, equals: 1, prefix: x}]\n",
       "hr.yaml:6: rules[0].when.arguments[0]: expected exactly one of equals, in, prefix, glob, max_length, "
       "matches"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto errors = load_errors({{"hr.yaml", std::string(head) + c.text}});
    REQUIRE(errors.size() == 1);
    CHECK(errors[0] == c.error);
  }
  // The ids the metrics use for themselves.
  for (const char* id : {"default", "none", "other"}) {
    CAPTURE(id);
    auto errors = load_errors({{"hr.yaml", std::string("version: 1\nrules:\n  - id: ") + id +
                                              "\n    effect: forbid\n    when:\n      agent: [a]\n"}});
    REQUIRE(errors.size() == 1);
    CHECK(errors[0] == std::string("hr.yaml:3: rules[0].id: '") + id +
                           "' is reserved (the metrics use default, none and other)");
  }
}

TEST_CASE("policy: load errors across files: duplicate ids, disagreeing defaults, all collected") {
  auto errors = load_errors(
      {{"a.yaml", "version: 1\ndefault: allow\nrules:\n  - id: same\n    effect: permit\n    when: {agent: [a]}\n"},
       {"b.yaml", "version: 1\ndefault: deny\nrules:\n  - id: same\n    effect: permit\n    when: {agent: [b]}\n"
                  "  - id: another\n    effect: maybe\n    when: {agent: [b]}\n"}});
  REQUIRE(errors.size() == 3);
  CHECK(errors[0] == "b.yaml:4: rules[0].id: duplicate rule id 'same' (first at a.yaml:4)");
  CHECK(errors[1] == "b.yaml:8: rules[1].effect: expected permit or forbid");
  CHECK(errors[2] == "b.yaml:2: default: 'deny' disagrees with 'allow' in a.yaml:2; every file of a set must "
                     "say the same default, or none");
  auto yaml = load_errors({{"c.yaml", "version: 1\nrules: [\n"}});
  REQUIRE(yaml.size() == 1);
  CHECK(yaml[0].starts_with("c.yaml:"));
  auto missing = scopegate::policy::load_policy_files({"/nonexistent/p.yaml"});
  CHECK(std::holds_alternative<std::vector<LoadError>>(missing));
}

TEST_CASE("policy: the example policies in policies/ load and decide as docs/policies.md says") {
  std::vector<std::string> paths;
  for (const auto& entry : std::filesystem::directory_iterator(SCOPEGATE_POLICIES_DIR)) {
    if (entry.path().extension() == ".yaml") paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  REQUIRE(paths.size() == 5);
  auto result = scopegate::policy::load_policy_files(paths);
  if (auto* errors = std::get_if<std::vector<LoadError>>(&result)) {
    for (const auto& e : *errors) MESSAGE(e.to_string());
    FAIL("the examples do not load");
  }
  auto set = std::get<std::shared_ptr<const PolicySet>>(result);
  CHECK(set->default_allow());

  auto decide = [&](Req req) { return set->evaluate(req.facts()); };
  // restricted data only at depth <= 1
  CHECK(decide({.depth = 2, .classification = "restricted"}).rule == "restricted-data-shallow");
  CHECK(decide({.depth = 1, .classification = "restricted"}).allow);
  // researchers may only search
  CHECK(decide({.action = "tool:delete"}).rule == "researchers-only-search");
  CHECK(decide({.action = "tool:search"}).allow);
  // no delegation outside the team
  CHECK(decide({.route = "outsider", .kind = "a2a", .action = "agent:outsider", .mcp_method = ""}).rule ==
        "delegate-within-team");
  CHECK(decide({.route = "scopegate:scopes", .kind = "scopes", .action = "agent:outsider", .mcp_method = ""}).rule ==
        "delegate-within-team");
  CHECK(decide({.route = "writer", .kind = "agent", .action = "agent:writer", .mcp_method = ""}).allow);
  // no hr.lookup with a wildcard employee id
  CHECK(decide({.agent = "hr-bot", .action = "tool:hr.lookup", .args = R"({"employee_id":"E*"})"}).rule ==
        "hr-lookup-no-wildcard");
  CHECK(decide({.agent = "hr-bot", .action = "tool:hr.lookup", .args = R"({"employee_id":"E1042"})"}).allow);
  // writes need a ticket in the objective
  CHECK(decide({.agent = "writer", .action = "tool:db.write", .objective = "tidy up"}).rule ==
        "writes-need-ticket");
  CHECK(decide({.agent = "writer", .action = "tool:db.write", .objective = "Fix per TICKET-981"}).allow);
}

// Allocations on this thread while `counting` is set: evaluate() must make none (policy.hpp). The
// replacement is global to the test executable but counts nothing unless a test turns it on.
// Not under a sanitizer: AddressSanitizer brings its own operator new (the nothrow form a library
// calls included) and would report our free() of its allocation; that build checks memory, this
// one allocations.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
namespace {
thread_local bool counting = false;
thread_local std::size_t allocations = 0;
}  // namespace

void* operator new(std::size_t size) {
  if (counting) ++allocations;
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

TEST_CASE("policy: evaluate allocates nothing, arguments included once the parser is warm") {
  auto set = load({{"n.yaml", R"(version: 1
default: deny
rules:
  - id: shadow-forbid
    effect: forbid
    mode: shadow
    when: {objective: {glob: "*x*"}, depth: {ge: 0}}
  - id: args
    effect: forbid
    when: {action: ["tool:*"], arguments: [{pointer: /id, matches: "^E[0-9]+$"}, {pointer: /q, prefix: x}]}
    unless: {content_type: [text/plain]}
  - id: search
    effect: permit
    when: {route: [search], ancestors: {any: [planner]}, datasets: {all: [hr]}, time: {after: "08:00"}}
)"}});
  Req requests[3];
  requests[0].args = R"({"id":"E12","q":"yes"})";
  requests[0].ancestors = {"planner"};
  requests[0].datasets = {"hr"};
  requests[0].depth = 1;
  requests[0].objective = "a long objective with an x in it, longer than any short string";
  requests[1].args = R"({"id":"E7","q":"xy"})";
  requests[2].action = "";
  std::vector<Facts> facts;
  for (auto& r : requests) facts.push_back(r.facts());
  for (const auto& f : facts) (void)set->evaluate(f);  // warms the thread's JSON parser

  counting = true;
  allocations = 0;
  Decision d[3];
  std::size_t after[3] = {};
  for (int i = 0; i < 3; ++i) {
    d[i] = set->evaluate(facts[i]);
    after[i] = allocations;
  }
  counting = false;
  CHECK(after[0] == 0);
  CHECK(after[1] == 0);
  CHECK(after[2] == 0);
  CHECK(d[0].rule == "search");
  CHECK(shadow_text(d[0]) == "shadow-forbid=deny");
  CHECK(d[1].rule == "args");
  CHECK(d[2].rule == "");
}
#endif
