// The storage of metrics: cells the request path updates without a lock or an allocation, found
// by a packed integer key (label values interned once into small ids, metrics/labels.hpp), in
// tables of fixed capacity allocated when the gateway starts. A scrape reads the same cells with
// relaxed loads from another thread; it never blocks a writer.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace scopegate::metrics {

// A cell's labels: up to five label value ids (12 bits each) packed into one integer. All ids
// zero is the "other" series, where combinations go once a table is full.
using Key = std::uint64_t;
inline constexpr int kMaxLabels = 5;
inline constexpr unsigned kIdBits = 12;
inline constexpr std::uint16_t kMaxId = (1u << kIdBits) - 1;
inline constexpr Key kEmptyKey = ~Key{0};  // never a packed key: the top bits of those are zero
inline constexpr Key kOtherKey = 0;

constexpr Key pack(std::span<const std::uint16_t> ids) {
  Key k = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) k |= Key{ids[i]} << (kIdBits * i);
  return k;
}
constexpr Key pack(std::uint16_t a, std::uint16_t b = 0, std::uint16_t c = 0, std::uint16_t d = 0,
                   std::uint16_t e = 0) {
  std::array<std::uint16_t, 5> ids{a, b, c, d, e};
  return pack(std::span<const std::uint16_t>(ids));
}
constexpr std::uint16_t unpack(Key k, int position) {
  return static_cast<std::uint16_t>((k >> (kIdBits * position)) & kMaxId);
}

// Bucket upper bounds of a histogram, in integer units (nanoseconds for durations), and how many
// units make one of the exposition's (1e9 for seconds: a division, so 30 s prints as 30.0).
struct Buckets {
  static constexpr std::size_t kMax = 24;
  std::array<std::uint64_t, kMax> bounds{};
  std::size_t count = 0;
  double per_unit = 1.0;

  // The bucket an observation falls in: the first bound not below it (Prometheus's `le`), or
  // `count` for +Inf.
  std::size_t index(std::uint64_t value) const {
    return static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.begin() + count, value) -
                                    bounds.begin());
  }
};

// One histogram series: a count per bucket (not cumulative: the scrape adds them up, so the
// buckets it prints always agree with the count it prints) and the sum in units.
struct HistogramCell {
  std::array<std::atomic<std::uint64_t>, Buckets::kMax + 1> counts{};
  std::atomic<std::uint64_t> sum{0};

  void observe(const Buckets& b, std::uint64_t value) {
    counts[b.index(value)].fetch_add(1, std::memory_order_relaxed);
    sum.fetch_add(value, std::memory_order_relaxed);
  }
};

// A counter or gauge series.
struct ValueCell {
  std::atomic<std::int64_t> value{0};
};

// A fixed-capacity, insert-only hash table of cells: linear probing, a slot claimed by a
// compare-and-swap on its key, never freed. A lookup of a key already present is a few loads; a
// new key costs one CAS (and one clock read, for OpenMetrics' _created). When the table is three
// quarters full, new keys share the "other" cell (kOtherKey), so memory stays what it was at start.
template <class Cell>
class CellTable {
 public:
  explicit CellTable(std::size_t capacity) {
    std::size_t n = 16;
    while (n < capacity * 4 / 3 + 1) n <<= 1;
    mask_ = n - 1;
    limit_ = n * 3 / 4;
    slots_ = std::make_unique<Slot[]>(n);
    (void)cell(kOtherKey);  // always present, so a full table can fall back on it
  }

  Cell& cell(Key key) {
    for (std::size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      Key seen = s.key.load(std::memory_order_acquire);
      if (seen == key) return s.cell;
      if (seen != kEmptyKey) continue;
      // A slot is reserved before it is claimed, so that racing inserts never pass the limit and
      // a quarter of the slots always stays empty (every probe ends).
      if (used_.fetch_add(1, std::memory_order_relaxed) >= limit_ && key != kOtherKey) {
        used_.fetch_sub(1, std::memory_order_relaxed);
        return cell(kOtherKey);
      }
      if (s.key.compare_exchange_strong(seen, key, std::memory_order_acq_rel)) {
        s.created_ms.store(now_ms(), std::memory_order_relaxed);
        return s.cell;
      }
      used_.fetch_sub(1, std::memory_order_relaxed);
      if (seen == key) return s.cell;  // another thread claimed this slot for the same key
    }
  }

  // Every series present: f(key, cell, created_ms). Slots claimed after the call began may or may
  // not be visited.
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i <= mask_; ++i) {
      const Slot& s = slots_[i];
      Key k = s.key.load(std::memory_order_acquire);
      if (k != kEmptyKey) f(k, s.cell, s.created_ms.load(std::memory_order_relaxed));
    }
  }

  std::size_t size() const { return used_.load(std::memory_order_relaxed); }
  std::size_t capacity() const { return limit_; }

 private:
  struct Slot {
    std::atomic<Key> key{kEmptyKey};
    std::atomic<std::int64_t> created_ms{0};
    Cell cell;
  };

  static std::size_t hash(Key k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return static_cast<std::size_t>(k);
  }
  static std::int64_t now_ms();

  std::unique_ptr<Slot[]> slots_;
  std::size_t mask_ = 0;
  std::size_t limit_ = 0;
  std::atomic<std::size_t> used_{0};
};

std::int64_t unix_now_ms();

template <class Cell>
std::int64_t CellTable<Cell>::now_ms() {
  return unix_now_ms();
}

}  // namespace scopegate::metrics
