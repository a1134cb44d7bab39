// Per-rule hit counts (GET /v1/policies): a rule's hits are the times it decided, and for a shadow
// rule the times it was reported as a shadow hit; a rule that matched without doing either has none.
#include "policy/policy.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using scopegate::policy::Facts;
using scopegate::policy::LoadError;
using scopegate::policy::PolicySet;

std::shared_ptr<const PolicySet> load(const std::string& text) {
  auto loaded = scopegate::policy::load_policy_texts({{"hits.yaml", text}});
  if (auto* errors = std::get_if<std::vector<LoadError>>(&loaded)) {
    for (const auto& e : *errors) MESSAGE(e.to_string());
    FAIL("the policy does not load");
  }
  return std::get<std::shared_ptr<const PolicySet>>(loaded);
}

std::map<std::string, std::uint64_t> hits(const PolicySet& set) {
  std::map<std::string, std::uint64_t> out;
  for (const auto& r : set.rules()) out[r.id] = r.hits;
  return out;
}

Facts request(std::string_view agent, std::string_view action) {
  Facts f;
  f.agent = agent;
  f.route = "tools";
  f.kind = "http";
  f.method = "POST";
  f.action = action;
  return f;
}

constexpr const char* kPolicy = R"(version: 1
default: deny
rules:
  - id: no-writes
    effect: forbid
    when: {action: ["tool:write"]}
  - id: researchers
    effect: permit
    when: {agent: [researcher]}
  - id: everyone-reads
    effect: permit
    when: {action: ["tool:read"]}
  - id: watch-reads
    effect: forbid
    mode: shadow
    when: {action: ["tool:read"]}
  - id: would-allow-search
    effect: permit
    mode: shadow
    when: {action: ["tool:search"]}
)";

}  // namespace

TEST_CASE("policy hits: the deciding rule and reported shadow rules count, nothing else") {
  auto set = load(kPolicy);
  CHECK(hits(*set) == std::map<std::string, std::uint64_t>{
                          {"no-writes", 0}, {"researchers", 0}, {"everyone-reads", 0}, {"watch-reads", 0},
                          {"would-allow-search", 0}});
  // researcher writes: the forbid decides (the permit matched but did not decide).
  CHECK_FALSE(set->evaluate(request("researcher", "tool:write")).allow);
  // researcher reads: the first matching permit decides; the shadow forbid would have denied.
  CHECK(set->evaluate(request("researcher", "tool:read")).rule == "researchers");
  // writer reads: everyone-reads decides; the shadow forbid again.
  CHECK(set->evaluate(request("writer", "tool:read")).rule == "everyone-reads");
  // writer searches: the default denies; the shadow permit would have allowed.
  auto d = set->evaluate(request("writer", "tool:search"));
  CHECK(d.rule == "");
  CHECK(d.shadow_count == 1);
  // researcher searches: allowed by a permit, so the shadow permit is not reported.
  CHECK(set->evaluate(request("researcher", "tool:search")).rule == "researchers");
  CHECK(hits(*set) == std::map<std::string, std::uint64_t>{
                          {"no-writes", 1}, {"researchers", 2}, {"everyone-reads", 1}, {"watch-reads", 2},
                          {"would-allow-search", 1}});
  // explain() is for people: it counts nothing.
  (void)set->explain(request("researcher", "tool:write"));
  CHECK(hits(*set)["no-writes"] == 1);
}

TEST_CASE("policy hits: each set counts its own, from zero, and concurrent evaluations lose none") {
  auto first = load(kPolicy);
  auto second = load(kPolicy);
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) (void)first->evaluate(request("writer", "tool:write"));
    });
  }
  for (auto& t : threads) t.join();
  CHECK(hits(*first)["no-writes"] == 4 * kPerThread);
  CHECK(hits(*second)["no-writes"] == 0);
}
