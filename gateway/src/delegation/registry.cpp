#include "delegation/registry.hpp"

#include <mutex>

namespace scopegate::delegation {

bool ScopeRegistry::insert_locked(const ScopeRecord& scope) {
  auto [it, inserted] = scopes_.try_emplace(scope.id, Entry{scope, {}});
  if (!inserted) return false;
  if (!scope.parent.empty()) {
    if (auto parent = scopes_.find(scope.parent); parent != scopes_.end()) parent->second.children.push_back(scope.id);
  }
  return true;
}

std::vector<ScopeRecord> ScopeRegistry::observe(const VerifiedToken& token) {
  {
    std::shared_lock lock(mutex_);
    if (scopes_.contains(token.current().sid)) return {};  // the common case: seen before
  }
  std::vector<ScopeRecord> fresh;
  std::unique_lock lock(mutex_);
  for (std::size_t i = 0; i < token.scopes.size(); ++i) {
    if (scopes_.contains(token.scopes[i].sid)) continue;
    ScopeRecord record = scope_record(token, i);
    insert_locked(record);
    fresh.push_back(std::move(record));
  }
  return fresh;
}

bool ScopeRegistry::open(const ScopeRecord& scope) {
  std::unique_lock lock(mutex_);
  return insert_locked(scope);
}

std::vector<ScopeRegistry::Revocation> ScopeRegistry::revoke(std::string_view id, std::int64_t forget_after) {
  std::vector<Revocation> newly;
  std::unique_lock lock(mutex_);
  std::vector<std::string> pending{std::string(id)};
  while (!pending.empty()) {
    std::string current = std::move(pending.back());
    pending.pop_back();
    std::int64_t until = forget_after;
    if (auto it = scopes_.find(current); it != scopes_.end()) {
      until = it->second.record.exp;
      pending.insert(pending.end(), it->second.children.begin(), it->second.children.end());
    }
    if (revoked_.try_emplace(current, until).second) newly.push_back({std::move(current), until});
  }
  revoked_count_.store(revoked_.size(), std::memory_order_release);
  return newly;
}

std::optional<std::string> ScopeRegistry::revoked_in(const VerifiedToken& token) const {
  if (revoked_count_.load(std::memory_order_acquire) == 0) return std::nullopt;
  std::shared_lock lock(mutex_);
  for (const auto& s : token.scopes) {
    if (revoked_.contains(s.sid)) return s.sid;
  }
  return std::nullopt;
}

std::optional<ScopeRegistry::View> ScopeRegistry::find(std::string_view id) const {
  std::shared_lock lock(mutex_);
  auto it = scopes_.find(std::string(id));
  if (it == scopes_.end()) return std::nullopt;
  View view{it->second.record, revoked_.contains(it->first), {}};
  for (const auto& child : it->second.children) {
    if (auto c = scopes_.find(child); c != scopes_.end()) view.children.push_back(c->second.record);
  }
  return view;
}

std::size_t ScopeRegistry::sweep(std::int64_t now, std::int64_t grace_s) {
  std::unique_lock lock(mutex_);
  std::size_t removed = 0;
  for (auto it = scopes_.begin(); it != scopes_.end();) {
    if (it->second.record.exp + grace_s < now) {
      it = scopes_.erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  std::erase_if(revoked_, [&](const auto& entry) { return entry.second + grace_s < now; });
  revoked_count_.store(revoked_.size(), std::memory_order_release);
  return removed;
}

std::size_t ScopeRegistry::size() const {
  std::shared_lock lock(mutex_);
  return scopes_.size();
}

}  // namespace scopegate::delegation
