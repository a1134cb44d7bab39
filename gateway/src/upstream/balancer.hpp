// Choosing an endpoint of a route (docs/resilience.md, "Several endpoints"): the power of two
// choices over the least outstanding requests, weighted. Two endpoints are drawn, each with a
// chance proportional to its weight, and the one with fewer requests in flight per unit of weight
// gets the request. It needs no shared sorted state (each worker reads the endpoints' atomic
// counters), and it avoids the herd that "always the least loaded" causes when every worker acts
// on the same slightly stale counts. A pure function: the random draws are passed in.
#pragma once

#include <cstdint>
#include <span>

namespace scopegate::upstream {

struct Candidate {
  std::uint32_t outstanding = 0;  // requests in flight to it now
  std::uint32_t weight = 1;       // at least 1
};

// The index of the chosen candidate; `candidates` is not empty. `first` and `second` are
// independent uniform draws (any 64 bits).
std::size_t choose_endpoint(std::span<const Candidate> candidates, std::uint64_t first, std::uint64_t second);

}  // namespace scopegate::upstream
