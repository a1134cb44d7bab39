#include "metrics/labels.hpp"

#include <chrono>

namespace scopegate::metrics {

std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

LabelDictionary::LabelDictionary() : values_(std::make_unique<std::string[]>(kCapacity)) {
  values_[kOther] = "other";
  ids_.emplace("other", kOther);
  size_.store(1, std::memory_order_release);
}

std::uint16_t LabelDictionary::intern(std::string_view value) {
  std::lock_guard lock(mutex_);
  if (auto it = ids_.find(std::string(value)); it != ids_.end()) return it->second;
  std::size_t n = size_.load(std::memory_order_relaxed);
  if (n >= kCapacity) return kOther;
  values_[n] = value;
  auto id = static_cast<std::uint16_t>(n);
  ids_.emplace(std::string(value), id);
  size_.store(n + 1, std::memory_order_release);
  return id;
}

std::string_view LabelDictionary::value(std::uint16_t id) const {
  if (id >= size_.load(std::memory_order_acquire)) return "other";
  return values_[id];
}

}  // namespace scopegate::metrics
