// What a route's circuit breaker costs per request (issue 14; target ≤ 100 ns): admitting a request
// while closed and recording its success, the path every request on a healthy route takes.
#include <benchmark/benchmark.h>

#include <array>
#include <random>

#include "breaker/breaker.hpp"
#include "breaker/concurrency.hpp"
#include "upstream/balancer.hpp"
#include "upstream/retry.hpp"

namespace {

using namespace scopegate;

void BM_breaker_admit_and_record_success(benchmark::State& state) {
  breaker::Breaker b;
  breaker::Settings s;
  s.failure_ratio = 0.5;  // the window is counted too
  std::int64_t now = 0;
  for (auto _ : state) {
    auto a = b.admit(s, now);
    auto t = b.record(s, false, a.probe, now, 0);
    benchmark::DoNotOptimize(t);
    now += 1000;
  }
}
BENCHMARK(BM_breaker_admit_and_record_success);

// A route's concurrency limit below its max_inflight, the path of every request on a route that is
// not saturated: take a slot (a compare-exchange), give it back (a load and a subtraction). Run
// with --benchmark_threads=2 too: the count is one cache line every worker touches.
void BM_breaker_concurrency_slot(benchmark::State& state) {
  static breaker::ConcurrencyLimiter limiter({1024, 16});
  for (auto _ : state) {
    bool taken = limiter.try_acquire();
    benchmark::DoNotOptimize(taken);
    if (taken) limiter.release();
  }
}
BENCHMARK(BM_breaker_concurrency_slot)->Threads(1)->Threads(2);

// A request on a route with three endpoints, each with a breaker (docs/resilience.md): every
// endpoint asked whether it would admit, the power of two choices over their outstanding counts,
// the chosen one's breaker admits, its count goes up and down, the retry budget counts the request,
// and its success is recorded. Everything pipeline/endpoints.cpp does on a healthy route.
void BM_breaker_choose_endpoint_and_record(benchmark::State& state) {
  std::array<breaker::Breaker, 3> breakers;
  std::array<std::atomic<std::uint32_t>, 3> outstanding{};
  upstream::RetryBudget budget;
  breaker::Settings s;
  s.failure_ratio = 0.5;
  std::mt19937_64 random(1);
  std::int64_t now = 0;
  for (auto _ : state) {
    std::array<upstream::Candidate, 3> candidates;
    for (std::size_t e = 0; e < 3; ++e) {
      benchmark::DoNotOptimize(breakers[e].may_admit(s, now));
      candidates[e] = {outstanding[e].load(std::memory_order_relaxed), 1};
    }
    std::size_t chosen = upstream::choose_endpoint(candidates, random(), random());
    auto a = breakers[chosen].admit(s, now);
    outstanding[chosen].fetch_add(1, std::memory_order_relaxed);
    budget.begin_request();
    auto t = breakers[chosen].record(s, false, a.probe, now, 0);
    benchmark::DoNotOptimize(t);
    budget.end_request();
    outstanding[chosen].fetch_sub(1, std::memory_order_relaxed);
    now += 1000;
  }
}
BENCHMARK(BM_breaker_choose_endpoint_and_record);

}  // namespace
