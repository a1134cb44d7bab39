// Many threads incrementing and observing while another scrapes: every update is counted, no
// scrape blocks or tears a cell. Built twice: in scopegate_tests, and alone with ThreadSanitizer
// (scopegate_metrics_tsan, tests/CMakeLists.txt).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "metrics/exposition.hpp"
#include "metrics/registry.hpp"

using namespace scopegate::metrics;

TEST_CASE("metrics: concurrent increments and scrapes, totals exact at the end") {
  Registry r;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20'000;
  constexpr int kRoutes = 16;
  std::vector<std::uint16_t> routes;
  for (int i = 0; i < kRoutes; ++i) routes.push_back(r.labels().intern("route-" + std::to_string(i)));
  auto allow = r.labels().intern("allow");

  std::atomic<bool> done{false};
  std::atomic<int> scrapes{0};
  std::thread scraper([&] {
    std::string out;
    while (!done.load()) {
      out.clear();
      render(r, Format::openmetrics_1_0, out);
      scrapes.fetch_add(1);
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto route = routes[static_cast<std::size_t>((i + t) % kRoutes)];
        // New label combinations appear while the scrape runs: the table grows under it.
        r.add(Family::requests_total, pack(route, static_cast<std::uint16_t>(t + 1), 0, allow, 0));
        r.observe(Family::request_duration_seconds, pack(route), static_cast<std::uint64_t>(i) * 1000);
      }
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  scraper.join();
  CHECK(scrapes.load() > 0);

  std::int64_t requests = 0;
  r.values(Family::requests_total)->for_each([&](Key, const ValueCell& c, std::int64_t) { requests += c.value.load(); });
  CHECK(requests == std::int64_t{kThreads} * kPerThread);
  std::uint64_t observed = 0;
  r.histograms(Family::request_duration_seconds)->for_each([&](Key, const HistogramCell& c, std::int64_t) {
    for (const auto& b : c.counts) observed += b.load();
  });
  CHECK(observed == std::uint64_t{kThreads} * kPerThread);
  // Each (route, thread) pair is its own series.
  CHECK(r.values(Family::requests_total)->size() == 1 + kThreads * kRoutes);
}

// Probe (issue12-probe): the same new keys claimed by several threads at once must end in one
// slot each (the CAS-lost path of CellTable::cell), and a table filling past its limit under
// contention must neither lose an update nor hold a key twice.
TEST_CASE("metrics: threads racing to insert the same keys, and overflow under contention") {
  constexpr int kThreads = 4;
  constexpr int kKeys = 64;
  constexpr int kRounds = 200;
  for (int round = 0; round < kRounds; ++round) {
    CellTable<ValueCell> table(kKeys * 2);
    CellTable<ValueCell> small(8);  // limit well below the keys offered: most go to "other"
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        ready.fetch_add(1);
        while (ready.load() < kThreads) {
        }
        for (int k = 1; k <= kKeys; ++k) {
          table.cell(pack(static_cast<std::uint16_t>(k))).value.fetch_add(1);
          small.cell(pack(static_cast<std::uint16_t>(k))).value.fetch_add(1);
        }
      });
    }
    for (auto& th : threads) th.join();
    for (auto* tb : {&table, &small}) {
      std::vector<Key> keys;
      std::int64_t sum = 0;
      tb->for_each([&](Key k, const ValueCell& c, std::int64_t) {
        keys.push_back(k);
        sum += c.value.load();
      });
      std::sort(keys.begin(), keys.end());
      CHECK(std::adjacent_find(keys.begin(), keys.end()) == keys.end());
      CHECK(sum == std::int64_t{kThreads} * kKeys);
    }
    CHECK(table.size() == 1 + kKeys);
    CHECK(small.size() <= small.capacity() + kThreads);
  }
}
