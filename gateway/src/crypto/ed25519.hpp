// Ed25519 keys for signing the audit log's checkpoints (docs/audit.md, "Signed checkpoints"): read
// from PEM, made fresh, and used to sign and verify, over OpenSSL's EVP interface. The lowest layer
// that needs them: the config loader checks a key at load, the audit writer signs, the CLI verifies.
// Messages about a key name where it came from and what is wrong, never its bytes.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct evp_pkey_st;

namespace scopegate::crypto {

class Ed25519Key {
 public:
  // A private key in PEM (PKCS#8 "PRIVATE KEY", unencrypted), or nullopt with `why`.
  static std::optional<Ed25519Key> from_private_pem(std::string_view pem, std::string& why);
  // A public key in PEM (SubjectPublicKeyInfo "PUBLIC KEY"), or nullopt with `why`.
  static std::optional<Ed25519Key> from_public_pem(std::string_view pem, std::string& why);
  // A new private key from OpenSSL's random generator; throws std::runtime_error if that fails.
  static Ed25519Key generate();

  bool has_private() const { return has_private_; }
  // The 64-byte signature of `message`. Private keys only; throws std::runtime_error if OpenSSL fails.
  std::string sign(std::string_view message) const;
  bool verify(std::string_view message, std::string_view signature) const;
  // Lower-case hex SHA-256 of the raw 32-byte public key: names the key in what it signed.
  const std::string& key_id() const { return key_id_; }

  std::string private_pem() const;  // PKCS#8, unencrypted
  std::string public_pem() const;

 private:
  Ed25519Key(std::shared_ptr<evp_pkey_st> key, bool has_private);
  std::shared_ptr<evp_pkey_st> key_;  // shared: copies of a key are the same immutable key
  bool has_private_ = false;
  std::string key_id_;
};

}  // namespace scopegate::crypto
