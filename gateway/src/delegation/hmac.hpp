// HMAC-SHA256 (RFC 2104) over OpenSSL's SHA-256 block functions, with the key's inner and outer
// states computed once. A dst1 token of n blocks costs n chain MACs plus one endorsement per
// child block; through OpenSSL 3's EVP interface each MAC paid more in provider bookkeeping
// (fetches, locks, allocations) than in hashing, which put verification at ~22 µs for a depth-4
// token. The block functions run the same SHA-NI code without that overhead.
#pragma once

#include <openssl/sha.h>

#include <array>
#include <initializer_list>
#include <string_view>

namespace scopegate::delegation {

using Mac = std::array<unsigned char, 32>;

class HmacKey {
 public:
  HmacKey() = default;
  explicit HmacKey(std::string_view key);
  // HMAC(key, a || b).
  Mac mac(std::string_view a, std::string_view b = {}) const;

 private:
  SHA256_CTX inner_{};  // after absorbing key ^ ipad
  SHA256_CTX outer_{};  // after absorbing key ^ opad
};

inline Mac hmac_sha256(std::string_view key, std::string_view message) { return HmacKey(key).mac(message); }

// Plain SHA-256, by the same route (agent keys are hashed on every request).
Mac sha256(std::string_view bytes);
// SHA-256 of the parts one after the other, without joining them first.
Mac sha256(std::initializer_list<std::string_view> parts);

}  // namespace scopegate::delegation
