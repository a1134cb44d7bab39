#include "metrics/registry.hpp"

namespace scopegate::metrics {

const FamilyInfo& info(Family f) { return kFamilies[static_cast<std::size_t>(f)]; }

std::vector<std::string_view> label_names(const FamilyInfo& f) {
  std::vector<std::string_view> out;
  std::string_view rest = f.labels;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    out.push_back(rest.substr(0, comma));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return out;
}

Buckets latency_buckets() {
  // Seconds: 0.0001 0.00025 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60.
  constexpr std::uint64_t us = 1'000;
  constexpr std::uint64_t bounds[] = {100 * us,     250 * us,     500 * us,       1'000 * us,    2'500 * us,
                                      5'000 * us,   10'000 * us,  25'000 * us,    50'000 * us,   100'000 * us,
                                      250'000 * us, 500'000 * us, 1'000'000 * us, 2'500'000 * us, 5'000'000 * us,
                                      10'000'000 * us, 30'000'000 * us, 60'000'000 * us};
  Buckets b;
  for (auto v : bounds) b.bounds[b.count++] = v;
  b.per_unit = 1e9;
  return b;
}

Buckets duration_buckets() {
  // Seconds: 1 5 15 30 60 120 300 600 1800 3600 7200 14400 43200 86400.
  constexpr std::uint64_t s = 1'000'000'000;
  Buckets b;
  for (std::uint64_t v : {1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400}) {
    b.bounds[b.count++] = v * s;
  }
  b.per_unit = 1e9;
  return b;
}

Buckets depth_buckets() {
  Buckets b;
  for (std::uint64_t v : {0, 1, 2, 3, 4, 5, 6, 8}) b.bounds[b.count++] = v;
  b.per_unit = 1.0;
  return b;
}

Registry::Registry() {
  for (std::size_t i = 0; i < kFamilyCount; ++i) {
    const auto& f = kFamilies[i];
    static_assert(kMaxLabels == 5);
    if (f.type == Type::histogram) {
      histograms_[i] = std::make_unique<CellTable<HistogramCell>>(f.capacity);
      buckets_[i] = f.layout == Layout::depth      ? depth_buckets()
                    : f.layout == Layout::duration ? duration_buckets()
                                                   : latency_buckets();
    } else {
      values_[i] = std::make_unique<CellTable<ValueCell>>(f.capacity);
    }
  }
}

}  // namespace scopegate::metrics
