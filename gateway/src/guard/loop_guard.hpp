// The loop guard (docs/policies.md, "Loop guard"): a scope repeating the identical call (the same
// action with the same canonical arguments) more than `max_repeats` times within `window` of the
// first of them is in a loop. A call is known by a 16-byte fingerprint the pipeline makes; the
// guard only counts. State is bounded (max_entries, spread over shards, each with its own lock):
// an entry is dropped once its window has passed, and when the table is full of live ones the
// oldest goes (its count starts again: the budgets still bound what a loop can spend). Each shard
// keeps its windows in the order they began, so both cost O(1) a call, never a scan.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>

namespace scopegate::guard {

using CallFingerprint = std::array<std::uint8_t, 16>;

// The fingerprint of one call: the scope, the action and the canonical JSON of its arguments
// (json/canonical.hpp), each part length-prefixed so that no two splits of the same bytes meet.
CallFingerprint fingerprint_call(std::string_view scope, std::string_view action, std::string_view canonical_args);

struct LoopSettings {
  std::uint32_t max_repeats = 0;  // 0: off
  std::int64_t window_ns = 0;
  std::size_t max_entries = 100'000;
};

class LoopGuard {
 public:
  // Counts one call at `now_ns` (a steady clock). nullopt: allowed (counted); otherwise it is the
  // (max_repeats + 1)-th within the window, not counted, and the value is how long until the
  // window of the first one ends.
  std::optional<std::int64_t> count(const CallFingerprint& call, const LoopSettings& settings, std::int64_t now_ns);

  std::size_t size() const;

 private:
  struct Hash {
    std::size_t operator()(const CallFingerprint& f) const noexcept {
      std::size_t h = 0;
      for (std::size_t i = 0; i < sizeof h; ++i) h = (h << 8) | f[i];
      return h;
    }
  };
  struct Entry {
    std::int64_t first_ns = 0;
    std::uint32_t count = 0;
  };
  // A window as it began. An entry whose window started again has a newer one further back; the
  // older is stale (its first_ns no longer matches) and is dropped without effect.
  struct Started {
    CallFingerprint call;
    std::int64_t first_ns = 0;
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<CallFingerprint, Entry, Hash> calls;
    std::deque<Started> order;  // oldest first
  };
  static constexpr std::size_t kShards = 16;
  // Drops the oldest window: its entry, unless that started again since.
  static void drop_oldest(Shard& shard);
  static void forget_ended(Shard& shard, const LoopSettings& settings, std::int64_t now_ns);

  std::array<Shard, kShards> shards_;
};

}  // namespace scopegate::guard
