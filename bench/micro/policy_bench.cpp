// What the access policies and the guards cost per request (issue 13): evaluating a set of 10, 50 and
// 500 rules for a request that a handful of them concern (target: at most 1 µs with 500), one with
// a rule that reads the tool's arguments; and the guards: a rate limit's bucket, the loop guard's
// fingerprint and count, and spending a budget along a chain of three scopes.
#include <benchmark/benchmark.h>

#include <string>
#include <variant>
#include <vector>

#include "guard/budget.hpp"
#include "guard/loop_guard.hpp"
#include "guard/rate_limiter.hpp"
#include "policy/policy.hpp"

namespace {

using namespace scopegate;

// A realistic set of `n` rules spread over 50 routes and 200 tools: most name a route or an exact
// tool (so the index files them away from a given request), a few apply to every request (by agent,
// depth, objective), one reads arguments when asked.
std::string rules_yaml(int n, bool with_arguments) {
  std::string y = "version: 1\ndefault: allow\nrules:\n";
  for (int i = 0; i < n; ++i) {
    std::string id = "rule-" + std::to_string(i);
    switch (i % 10) {
      case 0:
        y += "  - id: " + id + "\n    effect: forbid\n    when:\n      agent: [agent-" + std::to_string(i % 20) +
             "]\n      depth: {ge: " + std::to_string(2 + i % 3) + "}\n      action: [\"tool:t" +
             std::to_string(i % 200) + "\"]\n";
        break;
      case 1:
        y += "  - id: " + id + "\n    effect: forbid\n    mode: shadow\n    when:\n      route: [route-" +
             std::to_string(i % 50) + "]\n      objective: {contains: \"delete\"}\n";
        break;
      case 2:
        y += "  - id: " + id + "\n    effect: forbid\n    when:\n      classification: {at_least: restricted}\n"
             "      route: [route-" + std::to_string(i % 50) + "]\n    unless:\n      depth: {le: 1}\n";
        break;
      default:
        y += "  - id: " + id + "\n    effect: forbid\n    when:\n      action: [\"tool:t" + std::to_string(i % 200) +
             "\"]\n      ancestors: {any: [agent-" + std::to_string(i % 20) + "]}\n";
        break;
    }
  }
  if (with_arguments) {
    y += "  - id: args\n    effect: forbid\n    when:\n      action: [\"tool:t7\"]\n    unless:\n      arguments:\n"
         "        - pointer: /employee_id\n          matches: \"^E[0-9]+$\"\n";
  }
  return y;
}

std::shared_ptr<const policy::PolicySet> load(int n, bool with_arguments) {
  auto r = policy::load_policy_texts({{"bench.yaml", rules_yaml(n, with_arguments)}});
  if (auto* errors = std::get_if<std::vector<policy::LoadError>>(&r)) {
    throw std::runtime_error(errors->front().to_string());
  }
  return std::get<std::shared_ptr<const policy::PolicySet>>(r);
}

void BM_policy_evaluate(benchmark::State& state) {
  auto set = load(static_cast<int>(state.range(0)), false);
  std::vector<std::string_view> ancestors{"agent-3", "agent-1"};
  std::vector<std::string> datasets{"web-index"};
  policy::Facts f;
  f.agent = "agent-5";
  f.principal = "user:alice";
  f.root_agent = "agent-3";
  f.delegator = "agent-1";
  f.ancestors = ancestors;
  f.depth = 2;
  f.route = "route-7";
  f.kind = "mcp";
  f.method = "POST";
  f.action = "tool:t7";
  f.mcp_method = "tools/call";
  f.datasets = datasets;
  f.classification = "internal";
  f.objective = "summarise the weekly report";
  f.now = 1'800'000'000;
  for (auto _ : state) {
    auto d = set->evaluate(f);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_policy_evaluate)->Arg(10)->Arg(50)->Arg(500);

void BM_policy_evaluate_with_arguments(benchmark::State& state) {
  auto set = load(static_cast<int>(state.range(0)), true);
  policy::Facts f;
  f.agent = "agent-5";
  f.depth = 1;
  f.route = "route-7";
  f.kind = "mcp";
  f.method = "POST";
  f.action = "tool:t7";
  f.arguments_json = R"({"employee_id":"E1042","fields":["name","team"]})";
  for (auto _ : state) {
    auto d = set->evaluate(f);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_policy_evaluate_with_arguments)->Arg(500);

void BM_rate_limit_take(benchmark::State& state) {
  std::vector<config::Agent> agents(20);
  for (int i = 0; i < 20; ++i) agents[i].id = "agent-" + std::to_string(i);
  std::vector<std::string> routes;
  for (int i = 0; i < 50; ++i) routes.push_back("route-" + std::to_string(i));
  std::vector<config::RateLimit> limits(2);
  limits[0].id = "per-agent";
  limits[0].rate = 1e9;
  limits[0].burst = 1e9;
  limits[1].id = "per-pair";
  limits[1].per = config::RateLimit::Per::agent_route;
  limits[1].rate = 1e9;
  limits[1].burst = 1e9;
  guard::RateLimiter rl(limits, agents, routes);
  std::int64_t now = 0;
  int i = 0;
  for (auto _ : state) {
    auto r = rl.take(i % 20, static_cast<std::size_t>(i % 50), now += 1000);
    benchmark::DoNotOptimize(r);
    ++i;
  }
}
BENCHMARK(BM_rate_limit_take);

void BM_loop_guard_count(benchmark::State& state) {
  guard::LoopGuard g;
  guard::LoopSettings s{5, 60'000'000'000, 100'000};
  std::string args = R"({"employee_id":"E1042","fields":["name","team"]})";
  std::int64_t now = 0;
  int i = 0;
  for (auto _ : state) {
    auto call = guard::fingerprint_call("01935f3e-7a2c-7c78-a5a7-5b4fb0d317c5", "tool:hr.lookup",
                                        args + std::to_string(i++ % 1000));
    auto r = g.count(call, s, now += 1000);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_loop_guard_count);

void BM_budget_try_spend_and_settle(benchmark::State& state) {
  guard::MemoryBudgetStore store;
  config::BudgetLimits limits;
  limits.max_actions = 1'000'000'000;
  limits.max_bytes_out = 1ull << 50;
  std::vector<guard::ChainScope> chain{{"01935f3e-0000-7000-8000-000000000000", &limits, 1'900'000'000},
                                       {"01935f3e-0000-7000-8000-000000000001", &limits, 1'900'000'000},
                                       {"01935f3e-0000-7000-8000-000000000002", nullptr, 1'900'000'000}};
  guard::Charge action{1, 0, 0};
  for (auto _ : state) {
    auto e = store.try_spend(chain, action);
    benchmark::DoNotOptimize(e);
    store.settle(chain, action, guard::Charge{1, 0, 512});
  }
}
BENCHMARK(BM_budget_try_spend_and_settle);

}  // namespace
