// Choosing among a route's endpoints, the retry budget and the backoff (docs/resilience.md), with
// the random draws passed in.
#include "upstream/balancer.hpp"
#include "upstream/retry.hpp"

#include <doctest/doctest.h>

#include <array>
#include <random>
#include <vector>

using namespace scopegate::upstream;

TEST_CASE("balancer: of the two drawn, the one with fewer requests in flight per unit of weight wins") {
  std::array<Candidate, 2> c{Candidate{5, 1}, Candidate{1, 1}};
  // Whatever the order of the draws, the less loaded endpoint gets the request.
  CHECK(choose_endpoint(c, 0, 0) == 1);
  CHECK(choose_endpoint(c, 1, 0) == 1);
  std::array<Candidate, 2> weighted{Candidate{4, 4}, Candidate{2, 1}};  // 1 per unit against 2
  CHECK(choose_endpoint(weighted, 0, 0) == 0);
  CHECK(choose_endpoint(weighted, 4, 0) == 0);
  std::array<Candidate, 1> one{Candidate{100, 1}};
  CHECK(choose_endpoint(one, 7, 9) == 0);
}

TEST_CASE("balancer: the two draws are distinct endpoints, drawn by weight") {
  // Equal load: the first draw wins the tie, so the first draw's distribution shows through.
  std::array<Candidate, 3> c{Candidate{0, 1}, Candidate{0, 2}, Candidate{0, 1}};
  std::array<int, 3> wins{};
  for (std::uint64_t r = 0; r < 4; ++r) ++wins[choose_endpoint(c, r, 0)];
  CHECK(wins == std::array<int, 3>{1, 2, 1});
  // The second draw never lands on the first: with two candidates it is always the other one.
  std::array<Candidate, 2> two{Candidate{3, 1}, Candidate{3, 1}};
  for (std::uint64_t r = 0; r < 8; ++r) {
    std::array<Candidate, 2> loaded = two;
    loaded[r % 2].outstanding = 9;  // the first draw is the loaded one: the other must win
    CHECK(choose_endpoint(loaded, r, r * 7) == 1 - r % 2);
  }
}

TEST_CASE("balancer: under load the endpoints' shares follow their weights and stay balanced") {
  std::vector<Candidate> c{{0, 1}, {0, 1}, {0, 2}};
  std::mt19937_64 random(42);
  std::array<int, 3> chosen{};
  // Requests arrive and each stays for 8 arrivals: outstanding counts go up and down as they would.
  std::vector<std::size_t> in_flight;
  for (int i = 0; i < 40'000; ++i) {
    auto k = choose_endpoint(c, random(), random());
    ++chosen[k];
    ++c[k].outstanding;
    in_flight.push_back(k);
    if (in_flight.size() > 8) {
      --c[in_flight.front()].outstanding;
      in_flight.erase(in_flight.begin());
    }
  }
  // The weight-2 endpoint takes about half, the others a quarter each.
  CHECK(chosen[2] > 17'000);
  CHECK(chosen[2] < 23'000);
  CHECK(chosen[0] > 8'000);
  CHECK(chosen[1] > 8'000);
}

TEST_CASE("retry budget: retries in flight stay within the share of active requests, or the minimum") {
  RetryBudget budget;
  for (int i = 0; i < 10; ++i) budget.begin_request();
  // 20 % of 10 is 2, below the minimum of 3: three retries, not a fourth.
  CHECK(budget.try_begin_retry(0.2, 3));
  CHECK(budget.try_begin_retry(0.2, 3));
  CHECK(budget.try_begin_retry(0.2, 3));
  CHECK_FALSE(budget.try_begin_retry(0.2, 3));
  budget.end_retry();
  CHECK(budget.try_begin_retry(0.2, 3));
  for (int i = 0; i < 40; ++i) budget.begin_request();  // 50 active: 10 may be retrying
  int granted = 0;
  while (budget.try_begin_retry(0.2, 3)) ++granted;
  CHECK(granted == 7);  // 3 already in flight
  CHECK(budget.retrying() == 10);
  RetryBudget none;
  CHECK_FALSE(none.try_begin_retry(0.5, 0));  // nothing active, no minimum: no retry
}

TEST_CASE("backoff: full jitter under a ceiling that doubles up to the cap") {
  constexpr std::int64_t ms = 1'000'000;
  CHECK(backoff_ns(0, 25 * ms, 250 * ms, 99) == 0);
  CHECK(backoff_ns(1, 25 * ms, 250 * ms, 0) == 0);
  CHECK(backoff_ns(1, 25 * ms, 250 * ms, ~0ull) <= 25 * ms);
  CHECK(backoff_ns(1, 25 * ms, 250 * ms, 25 * ms) == 25 * ms);  // the ceiling itself can be drawn
  CHECK(backoff_ns(2, 25 * ms, 250 * ms, 50 * ms) == 50 * ms);
  CHECK(backoff_ns(3, 25 * ms, 250 * ms, 100 * ms) == 100 * ms);
  CHECK(backoff_ns(5, 25 * ms, 250 * ms, 250 * ms) == 250 * ms);  // 400 ms capped at 250
  CHECK(backoff_ns(5, 25 * ms, 250 * ms, 250 * ms + 1) == 0);      // draws wrap within [0, cap]
  CHECK(backoff_ns(4'000'000'000u, 25 * ms, 250 * ms, 250 * ms) == 250 * ms);  // no overflow
}
