// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, whose per-call cost is
// what this file exists to avoid (see hmac.hpp); they remain supported and use the same code.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "delegation/hmac.hpp"

#include <openssl/crypto.h>

#include <cstring>

namespace scopegate::delegation {

namespace {
constexpr std::size_t kBlock = 64;
}

HmacKey::HmacKey(std::string_view key) {
  unsigned char k[kBlock] = {};
  if (key.size() > kBlock) {
    SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), k);
  } else {
    std::memcpy(k, key.data(), key.size());
  }
  unsigned char pad[kBlock];
  for (std::size_t i = 0; i < kBlock; ++i) pad[i] = k[i] ^ 0x36;
  SHA256_Init(&inner_);
  SHA256_Update(&inner_, pad, kBlock);
  for (std::size_t i = 0; i < kBlock; ++i) pad[i] = k[i] ^ 0x5c;
  SHA256_Init(&outer_);
  SHA256_Update(&outer_, pad, kBlock);
  OPENSSL_cleanse(k, sizeof k);
  OPENSSL_cleanse(pad, sizeof pad);
}

Mac HmacKey::mac(std::string_view a, std::string_view b) const {
  SHA256_CTX ctx = inner_;
  SHA256_Update(&ctx, a.data(), a.size());
  if (!b.empty()) SHA256_Update(&ctx, b.data(), b.size());
  Mac inner_digest;
  SHA256_Final(inner_digest.data(), &ctx);
  ctx = outer_;
  SHA256_Update(&ctx, inner_digest.data(), inner_digest.size());
  Mac out;
  SHA256_Final(out.data(), &ctx);  // what is left in ctx is a digest state, not the key
  return out;
}

Mac sha256(std::string_view bytes) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, bytes.data(), bytes.size());
  Mac out;
  SHA256_Final(out.data(), &ctx);
  return out;
}

Mac sha256(std::initializer_list<std::string_view> parts) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  for (std::string_view part : parts) SHA256_Update(&ctx, part.data(), part.size());
  Mac out;
  SHA256_Final(out.data(), &ctx);
  return out;
}

}  // namespace scopegate::delegation
