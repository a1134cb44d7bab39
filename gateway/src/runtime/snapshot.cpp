#include "runtime/snapshot.hpp"

#include <atomic>

namespace scopegate::runtime {

std::uint64_t Snapshot::next_id() {
  static std::atomic<std::uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

}  // namespace scopegate::runtime
