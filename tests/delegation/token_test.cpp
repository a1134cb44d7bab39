#include "delegation/token.hpp"
#include "test_keys.hpp"

#include <doctest/doctest.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>

using namespace scopegate::delegation;

namespace {

constexpr std::int64_t kIat = 1767225600;
constexpr std::int64_t kExp = 1767229200;

Keyring contract_keys() { return testing::example_keys(); }

std::string hex(const Mac& m) {
  std::string out;
  char b[3];
  for (auto c : m) {
    std::snprintf(b, sizeof b, "%02x", c);
    out += b;
  }
  return out;
}

ScopeBlock contract_root() {
  ScopeBlock r;
  r.kid = "k1";
  r.sid = "0193a6f0-0000-7000-8000-000000000001";
  r.sub = "user:alice";
  r.agt = "planner";
  r.scp = {"tool:*", "agent:*"};
  r.aud = "scopegate";
  r.iat = kIat;
  r.exp = kExp;
  return r;
}

ScopeBlock child_of(const VerifiedToken& parent, std::string sid, std::string agent, std::vector<std::string> scp) {
  ScopeBlock c;
  c.sid = std::move(sid);
  c.par = parent.current().sid;
  c.agt = std::move(agent);
  c.scp = std::move(scp);
  c.obj = "find papers on delegation";
  c.iat = kIat + 10;
  c.exp = kExp - 600;
  return c;
}

VerifyOptions at(std::int64_t now) {
  VerifyOptions o;
  o.now = now;
  return o;
}

VerifiedToken ok(const VerifyResult& r) {
  if (auto* e = std::get_if<TokenError>(&r)) FAIL("token rejected: " << to_string(*e));
  return std::get<VerifiedToken>(r);
}

TokenError rejected(const VerifyResult& r) {
  REQUIRE_MESSAGE(std::holds_alternative<TokenError>(r), "token was accepted");
  return std::get<TokenError>(r);
}

// Replaces the i-th dot-separated part of a token.
std::string with_part(const std::string& token, std::size_t index, const std::string& part) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    auto dot = token.find('.', start);
    parts.push_back(token.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  parts.at(index) = part;
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? "." : "") + parts[i];
  return out;
}

}  // namespace

TEST_CASE("the worked example of docs/protocol.md §2 is a vector") {
  auto keys = contract_keys();
  CHECK(hex(derive_k0(keys.keys["k1"])) == "42897f61ab01ae3653fdfe984f2544de34b66dd7b1f3a0bb26ca6d851cc9797b");
  CHECK(root_block_json(contract_root()) ==
        R"({"v":1,"t":"d","kid":"k1","sid":"0193a6f0-0000-7000-8000-000000000001","sub":"user:alice","agt":"planner","scp":["tool:*","agent:*"],"aud":"scopegate","iat":1767225600,"exp":1767229200})");
  auto token = mint_root(keys, contract_root());
  REQUIRE(token);
  CHECK(token->substr(token->rfind('.') + 1) == "RTm509phXKmHiwrnT95z3GJHW5_qD9CqOMqWPc-Bt4I");

  auto v = ok(verify(*token, keys, at(kIat + 60)));
  CHECK(v.depth() == 0);
  CHECK(v.current().agt == "planner");
  CHECK(v.root().sub == "user:alice");
  CHECK(v.allows("tool:search"));
  CHECK(v.allows("agent:researcher"));
  CHECK_FALSE(v.allows("resource:file:///etc/passwd"));
}

TEST_CASE("delegation chains: children, caveats, depth") {
  auto keys = contract_keys();
  auto root_token = *mint_root(keys, contract_root());
  auto root = ok(verify(root_token, keys, at(kIat)));
  auto child_token = *mint_child(keys, root_token, root,
                                 child_of(root, "0193a6f0-0000-7000-8000-000000000002", "researcher", {"tool:search", "tool:fetch"}));
  auto child = ok(verify(child_token, keys, at(kIat + 20)));
  CHECK(child.depth() == 1);
  CHECK(child.current().agt == "researcher");
  CHECK(child.current().par == root.current().sid);
  CHECK(child.current().obj == "find papers on delegation");
  CHECK(child.allows("tool:search"));
  CHECK_FALSE(child.allows("agent:x"));  // not granted to the child
  CHECK(child.expires == kExp - 600);

  auto grand_token = *mint_child(keys, child_token, child,
                                 child_of(child, "0193a6f0-0000-7000-8000-000000000003", "fetcher", {"tool:*"}));
  auto grand = ok(verify(grand_token, keys, at(kIat + 20)));
  CHECK(grand.depth() == 2);
  // A child asking for tool:* still holds only what every ancestor holds.
  CHECK(grand.allows("tool:fetch"));
  CHECK_FALSE(grand.allows("tool:delete"));

  SUBCASE("a caveat narrows, and cannot widen") {
    Caveat narrow;
    narrow.scp = std::vector<std::string>{"tool:fetch"};
    narrow.exp = kIat + 100;
    auto narrowed = ok(verify(*attenuate(grand_token, narrow), keys, at(kIat + 20)));
    CHECK(narrowed.allows("tool:fetch"));
    CHECK_FALSE(narrowed.allows("tool:search"));
    CHECK(narrowed.expires == kIat + 100);
    CHECK(narrowed.depth() == 2);
    Caveat wide;
    wide.scp = std::vector<std::string>{"*"};
    auto widened = ok(verify(*attenuate(*attenuate(grand_token, narrow), wide), keys, at(kIat + 20)));
    CHECK_FALSE(widened.allows("tool:search"));
  }
}

TEST_CASE("rejections: tampering, dropped and unendorsed blocks, wrong parent") {
  auto keys = contract_keys();
  auto root_token = *mint_root(keys, contract_root());
  auto root = ok(verify(root_token, keys, at(kIat)));
  auto child_token = *mint_child(keys, root_token, root,
                                 child_of(root, "0193a6f0-0000-7000-8000-000000000002", "researcher", {"tool:search"}));

  SUBCASE("a tampered byte anywhere") {
    for (std::size_t i = 5; i < child_token.size(); i += 7) {
      std::string t = child_token;
      t[i] = t[i] == 'A' ? 'B' : 'A';
      if (t == child_token) continue;
      CHECK_MESSAGE(std::holds_alternative<TokenError>(verify(t, keys, at(kIat))), "byte ", i);
    }
  }
  SUBCASE("an edited grant list with a recomputed tag is caught by the endorsement") {
    // Without k0 a holder cannot re-endorse; recomputing only the tag chain is not enough.
    std::string forged_json = child_block_json(child_of(root, "0193a6f0-0000-7000-8000-000000000002", "researcher", {"*"}));
    auto json_part = base64url_encode(forged_json);
    auto parts_end = child_token.rfind('.');
    auto block_start = child_token.rfind('.', parts_end - 1) + 1;
    std::string original_block = child_token.substr(block_start, parts_end - block_start);
    std::string endorsement = original_block.substr(original_block.find('~'));
    std::string forged = child_token.substr(0, block_start) + json_part + endorsement + child_token.substr(parts_end);
    CHECK(rejected(verify(forged, keys, at(kIat))) == TokenError::bad_endorsement);
  }
  SUBCASE("a dropped block") {
    auto last = child_token.rfind('.');
    auto prev = child_token.rfind('.', last - 1);
    std::string dropped = child_token.substr(0, prev) + child_token.substr(last);
    CHECK(rejected(verify(dropped, keys, at(kIat))) == TokenError::bad_tag);
  }
  SUBCASE("an unendorsed d block appended by a holder") {
    ScopeBlock rogue = child_of(root, "0193a6f0-0000-7000-8000-0000000000ff", "rogue", {"tool:*"});
    // The holder can extend the tag chain (it has the tag) but not endorse: emulate with attenuate's
    // chain step by appending the d block as if it were a caveat.
    auto last = root_token.rfind('.');
    auto tag = *base64url_decode(root_token.substr(last + 1));
    std::string json = child_block_json(rogue);
    unsigned char next[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), tag.data(), static_cast<int>(tag.size()), reinterpret_cast<const unsigned char*>(json.data()),
         json.size(), next, &len);
    std::string appended = root_token.substr(0, last) + "." + base64url_encode(json) + "." +
                           base64url_encode(std::string_view(reinterpret_cast<char*>(next), 32));
    CHECK(rejected(verify(appended, keys, at(kIat))) == TokenError::bad_endorsement);
  }
  SUBCASE("a d block whose par is not the previous sid") {
    auto wrong = child_of(root, "0193a6f0-0000-7000-8000-000000000002", "researcher", {"tool:search"});
    wrong.par = "0193a6f0-0000-7000-8000-00000000dead";
    auto t = *mint_child(keys, root_token, root, wrong);
    CHECK(rejected(verify(t, keys, at(kIat))) == TokenError::parent_mismatch);
  }
}

TEST_CASE("rejections: expiry with skew, audience, kid, size, unknown blocks and keys") {
  auto keys = contract_keys();
  auto token = *mint_root(keys, contract_root());
  ok(verify(token, keys, at(kExp + 30)));  // inside the default 30 s skew
  CHECK(rejected(verify(token, keys, at(kExp + 31))) == TokenError::expired);
  VerifyOptions other = at(kIat);
  other.audience = "another-gateway";
  CHECK(rejected(verify(token, keys, other)) == TokenError::audience);

  Keyring rotated;
  rotated.keys["k2"] = keys.keys["k1"];
  CHECK(rejected(verify(token, rotated, at(kIat))) == TokenError::unknown_kid);

  Caveat c;
  c.exp = kExp;
  std::string long_token = token;
  for (int i = 0; i < 16; ++i) long_token = *attenuate(long_token, c);
  CHECK(rejected(verify(long_token, keys, at(kIat))) == TokenError::too_large);  // 17 blocks
  auto big = contract_root();
  big.obj = std::string(7000, 'x');
  CHECK(rejected(verify(*mint_root(keys, big), keys, at(kIat))) == TokenError::too_large);  // > 8 KiB

  auto unknown_type = with_part(*attenuate(token, c), 2, base64url_encode(R"({"t":"x","exp":1})"));
  CHECK(std::holds_alternative<TokenError>(verify(unknown_type, keys, at(kIat))));
  // A block with a key this version does not know, correctly MAC'd, is refused as unknown.
  auto root = contract_root();
  std::string json = root_block_json(root);
  json.insert(json.size() - 1, R"(,"admin":true)");
  Mac tag{};
  unsigned int len = 0;
  auto k0 = derive_k0(keys.keys["k1"]);
  HMAC(EVP_sha256(), k0.data(), 32, reinterpret_cast<const unsigned char*>(json.data()), json.size(), tag.data(), &len);
  std::string extra_key = "dst1." + base64url_encode(json) + "." +
                          base64url_encode(std::string_view(reinterpret_cast<char*>(tag.data()), 32));
  CHECK(rejected(verify(extra_key, keys, at(kIat))) == TokenError::unknown_block);

  CHECK(rejected(verify("dst1", keys, at(kIat))) == TokenError::malformed);
  CHECK(rejected(verify("dst2.e30.AAAA", keys, at(kIat))) == TokenError::malformed);
  CHECK(rejected(verify("dst1.!!!.AAAA", keys, at(kIat))) == TokenError::malformed);
}

TEST_CASE("grant patterns and base64url") {
  CHECK(pattern_matches("*", "anything"));
  CHECK(pattern_matches("tool:*", "tool:search"));
  CHECK_FALSE(pattern_matches("tool:*", "resource:x"));
  CHECK(pattern_matches("tool:search", "tool:search"));
  CHECK_FALSE(pattern_matches("tool:search", "tool:search2"));
  for (const std::string& s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar",
                                                        std::string("\0\xff\xfe", 3)}) {
    CHECK(base64url_decode(base64url_encode(s)) == s);
  }
  CHECK(base64url_encode("\xfb\xff") == "-_8");
  CHECK_FALSE(base64url_decode("Zm9v=").has_value());
  CHECK_FALSE(base64url_decode("Zh").has_value());  // non-canonical trailing bits
  CHECK_FALSE(base64url_decode("A").has_value());
}
