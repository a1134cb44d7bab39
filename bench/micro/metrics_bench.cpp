// What the metrics cost: recording one finished request (every family a tool call on an http route
// touches: requests, request and upstream latency, tool calls and tool latency, scope depth), and
// one scrape of a registry with 50 routes × 20 agents. Targets (issue 12): at most 100 ns per
// request recorded; a scrape under 10 ms.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "metrics/exposition.hpp"
#include "metrics/registry.hpp"
#include "runtime/gateway_metrics.hpp"

namespace {

using namespace scopegate;

// A config of `routes` http routes and `agents` agents, its label ids resolved as a snapshot's are.
runtime::MetricLabels labels_for(int routes, int agents) {
  config::Config c;
  for (int i = 0; i < routes; ++i) {
    config::Route r;
    r.name = "route-" + std::to_string(i);
    c.routes.push_back(r);
  }
  for (int i = 0; i < agents; ++i) {
    config::Agent a;
    a.id = "agent-" + std::to_string(i);
    c.agents.push_back(a);
  }
  return runtime::GatewayMetrics::instance().resolve(c);
}

void BM_record_request(benchmark::State& state) {
  auto labels = labels_for(50, 20);
  auto& m = runtime::GatewayMetrics::instance();
  runtime::RequestSample s;
  s.has_route = true;
  s.allowed = true;
  s.forwarded = true;
  s.tool_call = true;
  s.operation = m.operation("execute_tool");
  s.status = 200;
  s.depth = 2;
  std::size_t i = 0;
  for (auto _ : state) {
    // A different route and agent each time, as a busy gateway sees them.
    s.route = labels.routes[i % 50];
    s.tool = s.route;
    s.agent = labels.agents[i % 20];
    s.duration_ns = 1'000'000 + i % 4096;
    s.upstream_ns = 900'000 + i % 4096;
    runtime::record_request(s);
    ++i;
  }
}
BENCHMARK(BM_record_request);

void BM_scrape_50_routes_20_agents(benchmark::State& state) {
  metrics::Registry r;
  auto& l = r.labels();
  std::vector<std::uint16_t> routes, agents;
  for (int i = 0; i < 50; ++i) routes.push_back(l.intern("route-" + std::to_string(i)));
  for (int i = 0; i < 20; ++i) agents.push_back(l.intern("agent-" + std::to_string(i)));
  auto op = l.intern("execute_tool"), allow = l.intern("allow"), deny = l.intern("deny");
  auto ok = l.intern("2xx"), refused = l.intern("grant_exceeded");
  for (auto route : routes) {
    for (auto agent : agents) {
      r.add(metrics::Family::requests_total, metrics::pack(route, agent, op, allow, ok), 100);
      r.add(metrics::Family::requests_total, metrics::pack(route, agent, op, deny, refused), 3);
      r.add(metrics::Family::tool_calls_total, metrics::pack(route, route, agent, allow), 100);
    }
    r.observe(metrics::Family::request_duration_seconds, metrics::pack(route), 1'000'000);
    r.observe(metrics::Family::upstream_duration_seconds, metrics::pack(route), 900'000);
    r.observe(metrics::Family::tool_duration_seconds, metrics::pack(route, route), 900'000);
  }
  std::string out;
  for (auto _ : state) {
    out.clear();
    metrics::render(r, metrics::Format::text_0_0_4, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["bytes"] = static_cast<double>(out.size());
}
BENCHMARK(BM_scrape_50_routes_20_agents)->Unit(benchmark::kMillisecond);

}  // namespace
