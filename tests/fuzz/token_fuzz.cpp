// dst1 tokens (docs/protocol.md §2, delegation/token.hpp): the Delegation-Token header an agent sends.
//
// A mutated token almost never carries a valid MAC, so verification would stop at the tag check
// and never reach the block rules behind it. So each input is verified as given (what a forger
// gets), and also signed with the fixed test key (what the gateway itself, or a holder adding a
// caveat, could produce), which carries the blocks through the whole verifier:
// - dst1 text is re-signed: its blocks chained again, endorsed where they carried an endorsement;
// - any other input is read as the blocks' JSON, one per line, the root first; a line that starts
//   with '~' is endorsed (as a "d" block after the first must be). The fuzzer then mutates JSON,
//   not base64url.
// The key is the worked example of docs/protocol.md §2: kid k1, bytes 00..1f.
//
// Beyond "no crash": a token that verifies keeps its invariants (parent links, depth, expiry);
// a caveat only ever narrows it; what the gateway mints from it (a re-minted root, a child, an
// attenuated copy) verifies again with the same strings, whatever bytes they hold.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "delegation/hmac.hpp"
#include "delegation/token.hpp"
#include "fuzz_support.hpp"

namespace {

using namespace scopegate;
using namespace scopegate::delegation;

constexpr std::int64_t kNow = 1767226000;  // inside the worked example's iat..exp
constexpr std::size_t kEndorsementBytes = 16;

Secret key_bytes(unsigned char first) {
  Secret s{};
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<unsigned char>(first + i);
  return s;
}

const Keyring& test_keys() {
  static const Keyring keys = [] {
    config::TokenSettings settings;
    for (auto [kid, first] : {std::pair{"k1", 0x00}, {"k2", 0x20}}) {
      Secret s = key_bytes(static_cast<unsigned char>(first));
      settings.keys.push_back({kid, std::string(s.begin(), s.end())});
    }
    settings.signing_kid = "k1";
    return make_keyring(settings);
  }();
  return keys;
}

const VerifyOptions kOptions{.audience = "scopegate", .now = kNow, .skew_s = 30};

std::string_view as_view(const Mac& m) { return {reinterpret_cast<const char*>(m.data()), m.size()}; }

struct Block {
  std::string json;
  bool endorsed = false;
};

// A token of `blocks` chained under k1, with a fresh tag. Empty for no blocks or too many to matter.
std::string sign(const std::vector<Block>& blocks) {
  if (blocks.empty() || blocks.size() > 40) return {};
  static const HmacKey k0(as_view(derive_k0(key_bytes(0x00))));
  std::string out = "dst1";
  Mac tag{};
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const auto& b = blocks[i];
    out += '.';
    out += base64url_encode(b.json);
    if (i == 0) {
      tag = k0.mac(b.json);
      continue;
    }
    if (b.endorsed) {
      Mac endorsement = k0.mac(as_view(tag), b.json);
      out += '~';
      out += base64url_encode(as_view(endorsement).substr(0, kEndorsementBytes));
    }
    tag = hmac_sha256(as_view(tag), b.json);
  }
  out += '.';
  out += base64url_encode(as_view(tag));
  return out;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    auto at = text.find(separator, start);
    parts.push_back(text.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return parts;
    start = at + 1;
  }
}

// The blocks of dst1 text (empty when it does not have dst1's outline or a block is not base64url).
std::vector<Block> blocks_of_token(std::string_view token) {
  auto parts = split(token, '.');
  if (parts.size() < 3 || parts.front() != "dst1") return {};
  std::vector<Block> blocks;
  for (std::size_t i = 1; i + 1 < parts.size(); ++i) {
    auto tilde = parts[i].find('~');
    auto json = base64url_decode(parts[i].substr(0, tilde));
    if (!json) return {};
    blocks.push_back({std::move(*json), tilde != std::string_view::npos});
  }
  return blocks;
}

// The blocks written as JSON lines; '~' first on a line asks for an endorsement.
std::vector<Block> blocks_of_lines(std::string_view text) {
  std::vector<Block> blocks;
  for (auto line : split(text, '\n')) {
    bool endorsed = line.starts_with('~');
    if (endorsed) line.remove_prefix(1);
    blocks.push_back({std::string(line), endorsed});
  }
  return blocks;
}

bool accepted_or_too_large(const VerifyResult& r) {
  return std::holds_alternative<VerifiedToken>(r) || std::get<TokenError>(r) == TokenError::too_large;
}

// Actions to compare rights with: fixed ones, and every grant the token names.
std::vector<std::string> probe_actions(const VerifiedToken& v) {
  std::vector<std::string> out = {"tool:search", "tool:", "agent:researcher", "resource:file:///x", "*", ""};
  for (const auto& set : v.grant_sets) {
    for (const auto& g : set) {
      if (out.size() < 64) out.push_back(g);
    }
  }
  return out;
}

void require_same_scope(const ScopeBlock& a, const ScopeBlock& b) {
  fuzz::require(a.sid == b.sid && a.par == b.par && a.agt == b.agt && a.scp == b.scp && a.obj == b.obj &&
                    a.iat == b.iat && a.exp == b.exp,
                "a minted block reads back exactly as written");
}

// Everything that holds for a token the verifier accepted, and for what is minted from it.
void check_verified(std::string_view token, const VerifiedToken& v) {
  const auto& keys = test_keys();
  fuzz::require(!v.scopes.empty() && v.depth() == static_cast<int>(v.scopes.size()) - 1, "depth counts d blocks");
  fuzz::require(v.grant_sets.size() >= v.scopes.size(), "every d block contributes a grant set");
  fuzz::require(v.grant_sets_at.size() == v.scopes.size() && v.expires_at.size() == v.scopes.size(),
                "per-scope bookkeeping has one entry per scope");
  fuzz::require(kOptions.now <= v.expires + kOptions.skew_s, "an accepted token has not expired");
  fuzz::require(v.root().aud == kOptions.audience, "an accepted token is for this audience");
  for (std::size_t i = 1; i < v.scopes.size(); ++i) {
    fuzz::require(v.scopes[i].par == v.scopes[i - 1].sid, "each scope names its parent");
  }

  // A holder's caveat narrows, never widens.
  Caveat caveat;
  caveat.scp = std::vector<std::string>{"tool:search"};
  if (auto narrowed = attenuate(token, caveat)) {
    auto r = verify(*narrowed, keys, kOptions);
    fuzz::require(accepted_or_too_large(r), "an attenuated token still verifies");
    if (auto* n = std::get_if<VerifiedToken>(&r)) {
      for (const auto& action : probe_actions(v)) {
        if (n->allows(action)) fuzz::require(v.allows(action), "a caveat never grants more");
        if (n->allows(action)) fuzz::require(action == "tool:search", "a caveat limits to what it names");
      }
    }
  } else {
    fuzz::require(false, "a verified token can be attenuated");
  }

  // The gateway re-minting the root from its fields: same strings, through JSON escaping (which
  // may make it longer: a raw DEL byte is written as a six-character escape).
  if (auto root = mint_root(keys, v.root())) {
    auto r = verify(*root, keys, kOptions);
    fuzz::require(accepted_or_too_large(r), "a re-minted root verifies");
    if (auto* again = std::get_if<VerifiedToken>(&r)) {
      require_same_scope(again->root(), v.root());
      fuzz::require(again->root().kid == v.root().kid && again->root().sub == v.root().sub,
                    "a re-minted root keeps kid and principal");
    }
  } else {
    fuzz::require(false, "a verified root's kid is known");
  }

  // A child scope under it, carrying strings taken from the token (an objective in any script).
  ScopeBlock child;
  child.sid = v.current().sid + "/child";
  child.par = v.current().sid;
  child.agt = v.current().agt;
  child.scp = v.grant_sets.back();
  child.obj = v.current().obj;
  child.iat = kNow;
  child.exp = v.expires;
  if (auto minted = mint_child(keys, token, v, child)) {
    auto r = verify(*minted, keys, kOptions);
    fuzz::require(accepted_or_too_large(r), "a child minted under a verified token verifies");
    if (auto* c = std::get_if<VerifiedToken>(&r)) {
      fuzz::require(c->depth() == v.depth() + 1, "a child is one level deeper");
      require_same_scope(c->current(), child);
    }
  } else {
    fuzz::require(false, "a child can be minted under a verified token");
  }
}

void verify_and_check(std::string_view token) {
  auto r = verify(token, test_keys(), kOptions);
  if (auto* v = std::get_if<VerifiedToken>(&r)) check_verified(token, *v);
  else fuzz::require(std::string_view(to_string(std::get<TokenError>(r))).size() > 0, "every refusal has a name");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view token(reinterpret_cast<const char*>(data), size);

  // base64url: only canonical text decodes, and it encodes back to itself.
  if (auto bytes = base64url_decode(token)) {
    fuzz::require(base64url_encode(*bytes) == token, "base64url decoding is canonical");
  }
  fuzz::require(base64url_decode(base64url_encode(token)) == std::string(token), "base64url round-trips any bytes");

  // `scopegate token inspect`: unverified blocks are passed on only when they are JSON objects.
  if (auto blocks = decode_blocks(token)) {
    for (const auto& b : *blocks) fuzz::require(fuzz::is_valid_json(b), "an inspected block is JSON");
  }

  verify_and_check(token);
  auto blocks = token.starts_with("dst1") ? blocks_of_token(token) : blocks_of_lines(token);
  if (auto signed_token = sign(blocks); !signed_token.empty()) verify_and_check(signed_token);
  return 0;
}
