// Label values as small ids. Every value a label can take comes from the config (routes, agents,
// declared tools) or from a fixed list (operations, error codes, events), so the set is bounded
// by construction; values are interned when a config snapshot is built or at start, never on the
// request path. Id 0 is "other": anything past the capacity, and values no list declares.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "metrics/cells.hpp"

namespace scopegate::metrics {

class LabelDictionary {
 public:
  static constexpr std::uint16_t kOther = 0;
  static constexpr std::size_t kCapacity = kMaxId + 1;

  LabelDictionary();
  LabelDictionary(const LabelDictionary&) = delete;
  LabelDictionary& operator=(const LabelDictionary&) = delete;

  // The id of `value`, interned if new (under a lock: call it while building a snapshot, not per
  // request); kOther once the dictionary is full.
  std::uint16_t intern(std::string_view value);
  // The value of an id that a cell key holds. Lock-free: an id is published (through the snapshot
  // and the cell's key) only after its value was written, and a value never moves.
  std::string_view value(std::uint16_t id) const;

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::uint16_t> ids_;
  std::unique_ptr<std::string[]> values_;
  std::atomic<std::size_t> size_{0};
};

}  // namespace scopegate::metrics
