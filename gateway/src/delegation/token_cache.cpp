#include "delegation/token_cache.hpp"

namespace scopegate::delegation {

std::shared_ptr<const VerifiedToken> TokenCache::find(std::string_view token, std::uint64_t snapshot_id) {
  if (snapshot_id != snapshot_id_) return nullptr;
  auto it = entries_.find(token);
  return it == entries_.end() ? nullptr : it->second;
}

void TokenCache::insert(std::string_view token, std::uint64_t snapshot_id,
                        std::shared_ptr<const VerifiedToken> verified) {
  if (snapshot_id != snapshot_id_ || entries_.size() >= capacity_) {
    entries_.clear();
    snapshot_id_ = snapshot_id;
  }
  entries_.emplace(std::string(token), std::move(verified));
}

}  // namespace scopegate::delegation
