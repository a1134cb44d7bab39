#include "guard/loop_guard.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "delegation/hmac.hpp"

namespace scopegate::guard {

namespace {

void append_part(std::string& out, std::string_view part) {
  std::uint64_t n = part.size();
  char length[sizeof n];
  std::memcpy(length, &n, sizeof n);
  out.append(length, sizeof n);
  out.append(part);
}

}  // namespace

CallFingerprint fingerprint_call(std::string_view scope, std::string_view action, std::string_view canonical_args) {
  std::string bytes;
  bytes.reserve(3 * sizeof(std::uint64_t) + scope.size() + action.size() + canonical_args.size());
  append_part(bytes, scope);
  append_part(bytes, action);
  append_part(bytes, canonical_args);
  auto digest = delegation::sha256(bytes);
  CallFingerprint out{};
  std::memcpy(out.data(), digest.data(), out.size());
  return out;
}

void LoopGuard::make_room(Shard& shard, const LoopSettings& settings, std::int64_t now_ns) {
  std::size_t cap = std::max<std::size_t>(1, settings.max_entries / kShards);
  if (shard.calls.size() < cap) return;
  if (now_ns >= shard.next_expiry_ns) {
    std::int64_t next = std::numeric_limits<std::int64_t>::max();
    std::erase_if(shard.calls, [&](const auto& item) {
      std::int64_t end = item.second.first_ns + settings.window_ns;
      if (end <= now_ns) return true;
      next = std::min(next, end);
      return false;
    });
    shard.next_expiry_ns = next;
  }
  if (shard.calls.size() >= cap) shard.calls.erase(shard.calls.begin());
}

std::optional<std::int64_t> LoopGuard::count(const CallFingerprint& call, const LoopSettings& settings,
                                             std::int64_t now_ns) {
  if (settings.max_repeats == 0) return std::nullopt;
  Shard& shard = shards_[call[15] % kShards];
  std::lock_guard lock(shard.mutex);
  auto it = shard.calls.find(call);
  if (it == shard.calls.end()) {
    make_room(shard, settings, now_ns);
    shard.calls.emplace(call, Entry{now_ns, 1});
    shard.next_expiry_ns = std::min(shard.next_expiry_ns, now_ns + settings.window_ns);
    return std::nullopt;
  }
  Entry& e = it->second;
  if (now_ns - e.first_ns >= settings.window_ns) {
    e = Entry{now_ns, 1};  // the window of the first call has passed: this one starts a new one
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
