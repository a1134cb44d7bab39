// What the plan check costs per action (issue 15; target ≤ 2 µs under a bound scope, nothing
// without a plan): the registry's check of an approved action under a running task, and the test
// every other request pays (no plan anywhere near it: one atomic load).
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>

#include "plan/plan.hpp"
#include "plan/registry.hpp"

namespace {

using namespace scopegate;

struct Quiet final : plan::Reporter {
  void opened(const plan::PlanRun&, std::string_view) override {}
  void changed(const plan::PlanRun&, const plan::TaskChange&) override {}
  void deviated(const plan::PlanRun&, const plan::Deviation&) override {}
  void finished(const plan::PlanRun&) override {}
};

std::int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

// A plan of 16 tasks in a chain, each approving four patterns; the last one running.
std::string sixteen_tasks() {
  std::string body = R"({"mode":"enforce","tasks":[)";
  for (int i = 0; i < 16; ++i) {
    if (i) body += ',';
    body += R"({"id":"t)" + std::to_string(i) + R"(","agent":"researcher","actions":["tool:search","tool:fetch*",)"
            R"("resource:file:///reports/*","tool:calc_)" + std::to_string(i) + R"("],"deadline_s":3600)";
    if (i) body += R"(,"depends_on":["t)" + std::to_string(i - 1) + R"("])";
    body += '}';
  }
  return body + "]}";
}

void BM_plan_check_action_under_a_bound_scope(benchmark::State& state) {
  plan::Registry registry;
  Quiet quiet;
  // Other plans on the node: the lookup is by plan id.
  std::string body = sixteen_tasks();
  body.reserve(body.size() + 64);
  std::string why;
  for (int p = 0; p < 100; ++p) {
    auto spec = plan::parse_plan(body, why);
    std::string id = "0193a6f0-0000-7000-8000-" + std::to_string(100000000000 + p);
    registry.open(id, std::move(*spec), {"scope-" + std::to_string(p), "planner", "user:alice", "root-" + std::to_string(p)}, now_us(),
                  now_us() + 3'600'000'000, "r", quiet);
    for (int t = 0; t < 15; ++t) registry.finish(id, "t" + std::to_string(t), plan::TaskState::completed, "api", "", "r", now_us(), quiet);
    registry.start(id, "t15", "child-" + std::to_string(p), "delegation", "r", now_us(), quiet);
  }
  std::string bound = "0193a6f0-0000-7000-8000-100000000050/t15";
  plan::Act act{"researcher", "tool:fetch_page", "child-50", "01a2299d-0000-7000-8000-000000000001"};
  for (auto _ : state) {
    auto check = registry.check_action(bound, act, now_us(), quiet);
    benchmark::DoNotOptimize(check);
  }
}
BENCHMARK(BM_plan_check_action_under_a_bound_scope);

void BM_plan_check_no_plan(benchmark::State& state) {
  plan::Registry registry;
  for (auto _ : state) benchmark::DoNotOptimize(registry.active());
}
BENCHMARK(BM_plan_check_no_plan);

}  // namespace
