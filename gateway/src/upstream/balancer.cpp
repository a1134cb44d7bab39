#include "upstream/balancer.hpp"

namespace scopegate::upstream {

namespace {

// A candidate drawn with a chance proportional to its weight, `skip` left out (its weight does not
// count). A route has at most 64 endpoints, so a linear walk is the fast way.
std::size_t draw_weighted(std::span<const Candidate> c, std::uint64_t random, std::size_t skip) {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (i != skip) total += c[i].weight;
  }
  std::uint64_t point = random % total;
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (i == skip) continue;
    if (point < c[i].weight) return i;
    point -= c[i].weight;
  }
  return c.size() - 1;  // not reached: the points cover [0, total)
}

}  // namespace

std::size_t choose_endpoint(std::span<const Candidate> c, std::uint64_t first, std::uint64_t second) {
  if (c.size() == 1) return 0;
  std::size_t a = draw_weighted(c, first, c.size());
  std::size_t b = draw_weighted(c, second, a);
  // Fewer outstanding per unit of weight wins: a/wa < b/wb, compared without division. A tie goes
  // to the first draw, which is itself random.
  std::uint64_t load_a = std::uint64_t{c[a].outstanding} * c[b].weight;
  std::uint64_t load_b = std::uint64_t{c[b].outstanding} * c[a].weight;
  return load_b < load_a ? b : a;
}

}  // namespace scopegate::upstream
