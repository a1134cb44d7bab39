// The gateway's metric families (metrics/families.hpp) and their cells, and the label values they
// use. One Registry per process, shared by every worker: writers update cells with relaxed atomics;
// a scrape (metrics/exposition.hpp) reads them on the admin thread.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "metrics/cells.hpp"
#include "metrics/families.hpp"
#include "metrics/labels.hpp"

namespace scopegate::metrics {

enum class Family : std::size_t {
#define SCOPEGATE_FAMILY_ENUM(id, type, labels, buckets, capacity, help) id,
  SCOPEGATE_METRIC_FAMILIES(SCOPEGATE_FAMILY_ENUM)
#undef SCOPEGATE_FAMILY_ENUM
};

enum class Type { counter, gauge, histogram };
enum class Layout { none, latency, duration, depth, nano };

struct FamilyInfo {
  std::string_view id;      // the name after "scopegate_"
  Type type;
  std::string_view labels;  // comma-separated
  Layout layout;
  std::size_t capacity;
  std::string_view help;
};

inline constexpr FamilyInfo kFamilies[] = {
#define SCOPEGATE_FAMILY_INFO(id, type, labels, buckets, capacity, help) \
  {#id, Type::type, labels, Layout::buckets, capacity, help},
    SCOPEGATE_METRIC_FAMILIES(SCOPEGATE_FAMILY_INFO)
#undef SCOPEGATE_FAMILY_INFO
};
inline constexpr std::size_t kFamilyCount = std::size(kFamilies);

const FamilyInfo& info(Family f);
// The label names of a family, in key order.
std::vector<std::string_view> label_names(const FamilyInfo& f);

class Registry {
 public:
  Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  LabelDictionary& labels() { return labels_; }
  const LabelDictionary& labels() const { return labels_; }

  // The series of a counter or gauge family (ValueCell), or of a histogram family.
  ValueCell& value(Family f, Key key) { return values_[index(f)]->cell(key); }
  HistogramCell& histogram(Family f, Key key) { return histograms_[index(f)]->cell(key); }
  const Buckets& buckets(Family f) const { return buckets_[index(f)]; }

  void add(Family f, Key key, std::int64_t n = 1) { value(f, key).value.fetch_add(n, std::memory_order_relaxed); }
  void set(Family f, Key key, std::int64_t v) { value(f, key).value.store(v, std::memory_order_relaxed); }
  // `value` in the family's units: nanoseconds for latency, a plain number for depth.
  void observe(Family f, Key key, std::uint64_t value) { histogram(f, key).observe(buckets(f), value); }

  // A family with nothing to report in this process (the audit families without an audit log) is
  // left out of the exposition rather than shown at zero.
  void set_absent(Family f, bool absent) { absent_[index(f)].store(absent, std::memory_order_relaxed); }
  bool absent(std::size_t family) const { return absent_[family].load(std::memory_order_relaxed); }

  const CellTable<ValueCell>* values(Family f) const { return values_[index(f)].get(); }
  const CellTable<HistogramCell>* histograms(Family f) const { return histograms_[index(f)].get(); }

 private:
  static constexpr std::size_t index(Family f) { return static_cast<std::size_t>(f); }

  LabelDictionary labels_;
  std::array<std::unique_ptr<CellTable<ValueCell>>, kFamilyCount> values_;
  std::array<std::unique_ptr<CellTable<HistogramCell>>, kFamilyCount> histograms_;
  std::array<Buckets, kFamilyCount> buckets_{};
  std::array<std::atomic<bool>, kFamilyCount> absent_{};
};

// Bucket layouts: a proxy's latencies from 100 µs to 60 s (in nanoseconds), and scope depths.
Buckets latency_buckets();
Buckets duration_buckets();  // 1 s to 1 day (in nanoseconds): how long plans run
Buckets depth_buckets();

}  // namespace scopegate::metrics
