#include "crypto/ed25519.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <stdexcept>

#include "crypto/hex.hpp"

namespace scopegate::crypto {

namespace {

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
using MdContext = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

// OpenSSL's reason for the last failure, and the queue emptied so the next call starts clean.
std::string openssl_reason() {
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "not a PEM key";
  const char* reason = ERR_reason_error_string(code);
  return reason ? reason : "unreadable";
}

// No passphrase: without a callback OpenSSL would prompt on the terminal for an encrypted key.
int no_passphrase(char*, int, int, void*) { return 0; }

Bio memory_bio(std::string_view pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* key) { return std::shared_ptr<EVP_PKEY>(key, &EVP_PKEY_free); }

std::optional<std::shared_ptr<EVP_PKEY>> only_ed25519(EVP_PKEY* key, std::string& why) {
  if (!key) {
    why = openssl_reason();
    return std::nullopt;
  }
  auto owned = own(key);
  if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    why = std::string("a ") + EVP_PKEY_get0_type_name(key) + " key, not Ed25519";
    return std::nullopt;
  }
  return owned;
}

}  // namespace

Ed25519Key::Ed25519Key(std::shared_ptr<evp_pkey_st> key, bool has_private)
    : key_(std::move(key)), has_private_(has_private) {
  unsigned char raw[32];
  std::size_t size = sizeof raw;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (EVP_PKEY_get_raw_public_key(key_.get(), raw, &size) != 1 ||
      EVP_Digest(raw, size, digest, &digest_size, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("cannot read the Ed25519 public key: " + openssl_reason());
  }
  key_id_ = to_hex({reinterpret_cast<const char*>(digest), digest_size});
}

std::optional<Ed25519Key> Ed25519Key::from_private_pem(std::string_view pem, std::string& why) {
  if (pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string_view::npos) {
    why = "the key is encrypted, and no passphrase can be given";
    return std::nullopt;
  }
  auto bio = memory_bio(pem);
  auto key = only_ed25519(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr), why);
  if (!key) return std::nullopt;
  return Ed25519Key(std::move(*key), true);
}

std::optional<Ed25519Key> Ed25519Key::from_public_pem(std::string_view pem, std::string& why) {
  auto bio = memory_bio(pem);
  auto key = only_ed25519(PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, nullptr), why);
  if (!key) return std::nullopt;
  return Ed25519Key(std::move(*key), false);
}

Ed25519Key Ed25519Key::generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!key) throw std::runtime_error("cannot generate an Ed25519 key: " + openssl_reason());
  return Ed25519Key(own(key), true);
}

// Ed25519 hashes the message itself (PureEdDSA): no digest is named, and it signs in one call.
std::string Ed25519Key::sign(std::string_view message) const {
  if (!has_private_) throw std::logic_error("signing needs the private key");
  MdContext ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  std::string signature(64, '\0');
  std::size_t size = signature.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      size != 64) {
    throw std::runtime_error("Ed25519 signing failed: " + openssl_reason());
  }
  return signature;
}

bool Ed25519Key::verify(std::string_view message, std::string_view signature) const {
  MdContext ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  bool ok = ctx && signature.size() == 64 &&
            EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                             reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  ERR_clear_error();
  return ok;
}

std::string Ed25519Key::private_pem() const {
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!has_private_ || !bio ||
      PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw std::runtime_error("cannot write the private key as PEM: " + openssl_reason());
  }
  return bio_text(bio.get());
}

std::string Ed25519Key::public_pem() const {
  Bio bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) {
    throw std::runtime_error("cannot write the public key as PEM: " + openssl_reason());
  }
  return bio_text(bio.get());
}

}  // namespace scopegate::crypto
