// Verified tokens, remembered per worker. An agent runs many calls under one token, and a
// depth-4 token costs ~7 µs to verify (ten HMACs, six JSON blocks) against ~1 µs to look up.
// Entries are keyed by the token's full text (a token differing in any byte, an endorsement
// included, is verified afresh) and by the config snapshot whose keyring verified them, so a
// reload that rotates keys starts over. Expiry and revocation are not cached: the caller checks
// both on every request. Bounded: when full, the cache is emptied and refills with what is used.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "delegation/token.hpp"

namespace scopegate::delegation {

class TokenCache {
 public:
  explicit TokenCache(std::size_t capacity = 1024) : capacity_(capacity) {}

  std::shared_ptr<const VerifiedToken> find(std::string_view token, std::uint64_t snapshot_id);
  void insert(std::string_view token, std::uint64_t snapshot_id, std::shared_ptr<const VerifiedToken> verified);

 private:
  std::size_t capacity_;
  std::uint64_t snapshot_id_ = 0;
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::shared_ptr<const VerifiedToken>, Hash, std::equal_to<>> entries_;
};

}  // namespace scopegate::delegation
