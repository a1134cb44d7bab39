// What a route's circuit breaker costs per request (issue 14; target ≤ 100 ns): admitting a request
// while closed and recording its success, the path every request on a healthy route takes.
#include <benchmark/benchmark.h>

#include "breaker/breaker.hpp"
#include "breaker/concurrency.hpp"

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

}  // namespace
