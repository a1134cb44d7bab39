// What this node knows about scopes: every scope it opened or first saw in a valid token, their
// parent/child links, and revocations. Shared by all workers; reads (one per request) take a
// shared lock, writes (a scope first seen or opened, a revocation) an exclusive one.
//
// Revocation does not depend on knowing descendants: a token carries its whole chain of scope
// ids, and a token is refused when any of them is revoked. So a descendant minted elsewhere,
// or offline, is refused too. Entries are forgotten once the scope has expired (a token cannot
// outlive its scope's expiry), which bounds memory by the scopes live at one time.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "delegation/scope.hpp"

namespace scopegate::delegation {

class ScopeRegistry {
 public:
  // Records every scope of the token this node has not seen yet; returns those (root first),
  // so the caller can report them as opened ("first seen").
  std::vector<ScopeRecord> observe(const VerifiedToken& token);

  // Records a scope this node minted. Returns false if the id was already known.
  bool open(const ScopeRecord& scope);

  struct Revocation {
    std::string id;
    std::int64_t until = 0;  // Unix seconds after which no token for it can be valid any more
  };
  // Revokes a scope and every descendant this node knows of; returns those newly revoked (the
  // scope first). An id never seen is revoked all the same (a token from another node may name
  // it), kept until `forget_after`.
  std::vector<Revocation> revoke(std::string_view id, std::int64_t forget_after);

  // The first scope of the token's chain that is revoked, if any.
  std::optional<std::string> revoked_in(const VerifiedToken& token) const;

  struct View {
    ScopeRecord record;
    bool revoked = false;
    std::vector<ScopeRecord> children;
  };
  std::optional<View> find(std::string_view id) const;

  // Forgets scopes (and revocations) whose expiry is more than `grace_s` before `now`.
  std::size_t sweep(std::int64_t now, std::int64_t grace_s);

  std::size_t size() const;

 private:
  struct Entry {
    ScopeRecord record;
    std::vector<std::string> children;
  };
  bool insert_locked(const ScopeRecord& scope);

  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, Entry> scopes_;
  std::unordered_map<std::string, std::int64_t> revoked_;  // id → when it may be forgotten
  std::atomic<std::size_t> revoked_count_{0};               // lets the common case skip the lock
};

}  // namespace scopegate::delegation
