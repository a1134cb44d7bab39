// dst1 delegation tokens (docs/protocol.md §2): self-contained, unforgeable, attenuable.
//
//   token = "dst1" 1*("." block) "." tag         every part base64url without padding
//   block = b64u(json) ["~" b64u(endorsement)]
//   k0    = HMAC(key = "dst1-key-generator", msg = K[kid])
//   t0    = HMAC(k0, json0);  t_i = HMAC(t_{i-1}, json_i);  tag = t_n
//   endorsement_i = HMAC(k0, t_{i-1} || json_i)[0..16)   on every "d" block after the first
//
// A "d" block opens a scope and needs k0 (only the gateway can add one); a "c" block narrows
// grants or expiry and needs only the previous tag (any holder can add one, offline).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/config.hpp"
#include "delegation/hmac.hpp"
#include "delegation/grants.hpp"

namespace scopegate::delegation {

using Secret = std::array<unsigned char, 32>;

std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

// Root keys by kid. Several may be present (rotation); new tokens use `signing_kid`.
struct Keyring {
  std::map<std::string, Secret, std::less<>> keys;
  std::string signing_kid;
  // k0 of each key, keyed for HMAC, made once by make_keyring (or on demand otherwise).
  std::map<std::string, HmacKey, std::less<>> k0s;

  const HmacKey& k0(std::string_view kid, const Secret& secret) const;
};

Keyring make_keyring(const config::TokenSettings& settings);

// k0 for a root key: HMAC-SHA256(key = "dst1-key-generator", msg = K).
Mac derive_k0(const Secret& key);

// One "d" block: a scope. Root-only fields are empty on child blocks.
struct ScopeBlock {
  std::string sid;
  std::string par;        // the previous d block's sid; empty at the root
  std::string agt;        // the agent acting in this scope
  std::vector<std::string> scp;
  std::string obj;        // objective, optional
  std::int64_t iat = 0;
  std::int64_t exp = 0;
  // root only
  std::string kid;
  std::string sub;        // principal
  std::string aud;
  // child blocks only
  std::string tsk;        // "<plan id>/<task id>": the plan task this scope carries (docs/plans.md)
};

// One "c" block: a restriction any holder may append.
struct Caveat {
  std::optional<std::vector<std::string>> scp;
  std::optional<std::int64_t> exp;
};

enum class TokenError {
  malformed,          // not dst1 syntax, bad base64url, bad JSON, missing or mistyped field
  too_large,          // over 8 KiB or 16 blocks
  unknown_kid,
  bad_tag,
  bad_endorsement,    // a d block after the first without a valid endorsement
  parent_mismatch,    // a d block whose par is not the previous d block's sid
  unknown_block,      // a block type or key this version does not know
  expired,
  audience,           // aud is not this gateway's audience
};
const char* to_string(TokenError e);

struct VerifiedToken {
  std::vector<ScopeBlock> scopes;                     // root first; back() is the acting scope
  std::vector<std::vector<std::string>> grant_sets;   // every scp, d and c blocks, in order
  std::int64_t expires = 0;                           // the earliest exp
  // Per scope: how many grant sets, and which expiry, were in force when its d block was added
  // (caveats a holder appended later narrow the token, not the scope as it was opened).
  std::vector<std::size_t> grant_sets_at;
  std::vector<std::int64_t> expires_at;
  Mac tag{};

  const ScopeBlock& root() const { return scopes.front(); }
  const ScopeBlock& current() const { return scopes.back(); }
  int depth() const { return static_cast<int>(scopes.size()) - 1; }
  // The effective rights are the intersection of every grant set: an action is allowed when some
  // pattern of every set matches it.
  bool allows(std::string_view action) const;
  // The plan task ("<plan>/<task>") the acting scope works under: the nearest scope up the chain
  // bound to one; empty when none is.
  std::string_view plan_task() const {
    for (auto it = scopes.rbegin(); it != scopes.rend(); ++it) {
      if (!it->tsk.empty()) return it->tsk;
    }
    return {};
  }
};

struct VerifyOptions {
  std::string_view audience = "scopegate";
  std::int64_t now = 0;     // Unix seconds
  std::int64_t skew_s = 30; // tolerated clock skew
};

using VerifyResult = std::variant<VerifiedToken, TokenError>;
VerifyResult verify(std::string_view token, const Keyring& keys, const VerifyOptions& options);

// Minting, for the gateway (and `scopegate token mint`). nullopt when the kid is unknown.
std::optional<std::string> mint_root(const Keyring& keys, const ScopeBlock& root);
// Opens a child scope under a verified parent token (needs k0 of the parent's kid).
std::optional<std::string> mint_child(const Keyring& keys, std::string_view parent_token, const VerifiedToken& parent,
                                      const ScopeBlock& child);
// Appends a restriction; needs nothing but the token itself. nullopt if `token` is not dst1 syntax.
std::optional<std::string> attenuate(std::string_view token, const Caveat& caveat);

// The blocks' JSON as carried, without verifying anything (for `scopegate token inspect`).
// nullopt when the token is not dst1 syntax or a block is not a JSON object.
std::optional<std::vector<std::string>> decode_blocks(std::string_view token);

// The exact JSON bytes the gateway writes for a block (they are MAC'd as written).
std::string root_block_json(const ScopeBlock& root);
std::string child_block_json(const ScopeBlock& child);
std::string caveat_json(const Caveat& caveat);

}  // namespace scopegate::delegation
