// Ed25519 keys as the audit checkpoints use them, checked against RFC 8032's own test vector.
#include "crypto/ed25519.hpp"
#include "crypto/hex.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace scopegate;

namespace {

// RFC 8032 §7.1, test 1: the secret key 9d61b19d…7f60 as PKCS#8 PEM, and its signature of the empty
// message. Ed25519 is deterministic, so the bytes must match.
constexpr const char* kRfcPrivatePem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";
constexpr const char* kRfcSignature =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0"
    "595bbe24655141438e7a100b";
// SHA-256 of its raw public key d75a9801…511a.
constexpr const char* kRfcKeyId = "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9";

constexpr const char* kP256PrivatePem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgwN6MVDawWn+zk1Kw\n"
    "h6Bm3McSp+2M9ad5X7HUCUG0w/ChRANCAAQsj4rymZVfmrQEVcE83HDumr3gaEKk\n"
    "tsV6DkW6AQekbQyUin7oUeyL6kQV7ytoehDb/9leq/hsTXGILo2hVJD7\n"
    "-----END PRIVATE KEY-----\n";

crypto::Ed25519Key rfc_key() {
  std::string why;
  auto key = crypto::Ed25519Key::from_private_pem(kRfcPrivatePem, why);
  REQUIRE_MESSAGE(key, why);
  return *key;
}

}  // namespace

TEST_CASE("ed25519: the RFC 8032 key signs as the RFC says, its id is the SHA-256 of the public key") {
  auto key = rfc_key();
  CHECK(key.has_private());
  CHECK(crypto::to_hex(key.sign("")) == kRfcSignature);
  CHECK(key.key_id() == kRfcKeyId);
  std::string why;
  auto pub = crypto::Ed25519Key::from_public_pem(key.public_pem(), why);
  REQUIRE(pub);
  CHECK_FALSE(pub->has_private());
  CHECK(pub->key_id() == kRfcKeyId);
  CHECK(pub->verify("", *crypto::from_hex(kRfcSignature)));
  CHECK_FALSE(pub->verify("x", *crypto::from_hex(kRfcSignature)));
  auto again = crypto::Ed25519Key::from_private_pem(key.private_pem(), why);
  REQUIRE(again);
  CHECK(again->key_id() == kRfcKeyId);
}

TEST_CASE("ed25519: other keys and other text are refused, with a reason and without the key") {
  std::string why;
  CHECK_FALSE(crypto::Ed25519Key::from_private_pem(kP256PrivatePem, why));
  CHECK(why.find("not Ed25519") != std::string::npos);
  CHECK(why.find("MIGH") == std::string::npos);
  CHECK_FALSE(crypto::Ed25519Key::from_private_pem("not a key", why));
  CHECK_FALSE(why.empty());
  CHECK_FALSE(crypto::Ed25519Key::from_public_pem(kRfcPrivatePem, why));  // a private key is not a public one
  auto fresh = crypto::Ed25519Key::generate();
  CHECK(fresh.key_id() != kRfcKeyId);
  CHECK(fresh.key_id().size() == 64);
}

TEST_CASE("hex: bytes to lower-case hex and back") {
  CHECK(crypto::to_hex(std::string("\x00\x9f\xff", 3)) == "009fff");
  CHECK(crypto::from_hex("009FfF") == std::string("\x00\x9f\xff", 3));
  CHECK_FALSE(crypto::from_hex("abc"));
  CHECK_FALSE(crypto::from_hex("zz"));
}
