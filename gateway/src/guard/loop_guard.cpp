#include "guard/loop_guard.hpp"

#include <algorithm>
#include <cstring>

#include "delegation/hmac.hpp"

namespace scopegate::guard {

CallFingerprint fingerprint_call(std::string_view scope, std::string_view action, std::string_view canonical_args) {
  // Each part after its length, hashed in place (no copy of the arguments on every call).
  std::uint64_t lengths[3] = {scope.size(), action.size(), canonical_args.size()};
  auto length = [&](int i) { return std::string_view(reinterpret_cast<const char*>(&lengths[i]), sizeof lengths[i]); };
  auto digest = delegation::sha256({length(0), scope, length(1), action, length(2), canonical_args});
  CallFingerprint out{};
  std::memcpy(out.data(), digest.data(), out.size());
  return out;
}

void LoopGuard::drop_oldest(Shard& shard) {
  const Started& oldest = shard.order.front();
  if (auto it = shard.calls.find(oldest.call); it != shard.calls.end() && it->second.first_ns == oldest.first_ns) {
    shard.calls.erase(it);
  }
  shard.order.pop_front();
}

void LoopGuard::forget_ended(Shard& shard, const LoopSettings& settings, std::int64_t now_ns) {
  while (!shard.order.empty() && now_ns - shard.order.front().first_ns >= settings.window_ns) drop_oldest(shard);
}

std::optional<std::int64_t> LoopGuard::count(const CallFingerprint& call, const LoopSettings& settings,
                                             std::int64_t now_ns) {
  if (settings.max_repeats == 0) return std::nullopt;
  Shard& shard = shards_[call[15] % kShards];
  std::lock_guard lock(shard.mutex);
  forget_ended(shard, settings, now_ns);
  auto it = shard.calls.find(call);
  if (it == shard.calls.end()) {
    std::size_t cap = std::max<std::size_t>(1, settings.max_entries / kShards);
    while (shard.calls.size() >= cap && !shard.order.empty()) drop_oldest(shard);
    shard.calls.emplace(call, Entry{now_ns, 1});
    shard.order.push_back(Started{call, now_ns});
    return std::nullopt;
  }
  Entry& e = it->second;
  if (now_ns - e.first_ns >= settings.window_ns) {
    // The window of the first call has passed (a clock read out of order, or a window made
    // shorter by a reload, kept it): this one starts a new one.
    e = Entry{now_ns, 1};
    shard.order.push_back(Started{call, now_ns});
    return std::nullopt;
  }
  if (e.count < settings.max_repeats) {
    ++e.count;
    return std::nullopt;
  }
  return e.first_ns + settings.window_ns - now_ns;
}

std::size_t LoopGuard::size() const {
  std::size_t n = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    n += shard.calls.size();
  }
  return n;
}

}  // namespace scopegate::guard
