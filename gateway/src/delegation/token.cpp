#include "delegation/token.hpp"

#include <openssl/crypto.h>
#include <simdjson.h>

#include <algorithm>
#include <set>

#include "delegation/hmac.hpp"
#include "json/write.hpp"

namespace scopegate::delegation {

namespace {

constexpr std::size_t kMaxTokenBytes = 8 * 1024;
constexpr std::size_t kMaxBlocks = 16;
constexpr std::size_t kEndorsementBytes = 16;
constexpr std::string_view kPrefix = "dst1";
constexpr std::string_view kKeyGenerator = "dst1-key-generator";

Mac hmac(std::string_view key, std::string_view message) { return hmac_sha256(key, message); }

std::string_view as_view(const Mac& m) { return {reinterpret_cast<const char*>(m.data()), m.size()}; }

std::string endorsement(const HmacKey& k0, const Mac& previous_tag, std::string_view json) {
  Mac full = k0.mac(as_view(previous_tag), json);
  return std::string(reinterpret_cast<const char*>(full.data()), kEndorsementBytes);
}

using json::append_field;
using json::append_int;
using json::append_list;
using json::append_string;

// A block as decoded from the token, before the MAC chain is checked.
// 0..63 for the base64url alphabet, 0xff for anything else.
constexpr std::array<unsigned char, 256> kBase64urlValues = [] {
  std::array<unsigned char, 256> t{};
  t.fill(0xff);
  for (int i = 0; i < 26; ++i) {
    t['A' + i] = static_cast<unsigned char>(i);
    t['a' + i] = static_cast<unsigned char>(26 + i);
  }
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<unsigned char>(52 + i);
  t['-'] = 62;
  t['_'] = 63;
  return t;
}();

// Decodes into `out`, leaving `spare` bytes of capacity past the end (simdjson parses in place
// when a buffer has its padding; otherwise it copies).
bool base64url_decode_into(std::string_view text, std::string& out, std::size_t spare) {
  if (text.size() % 4 == 1) return false;
  std::size_t full = text.size() / 4, rest = text.size() % 4;
  out.reserve(text.size() * 3 / 4 + spare);
  out.resize(text.size() * 3 / 4);
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  const auto* src = reinterpret_cast<const unsigned char*>(text.data());
  for (std::size_t i = 0; i < full; ++i, src += 4, dst += 3) {
    unsigned a = kBase64urlValues[src[0]], b = kBase64urlValues[src[1]], c = kBase64urlValues[src[2]],
             d = kBase64urlValues[src[3]];
    if ((a | b | c | d) & 0xc0) return false;  // 0xff marks a character outside the alphabet
    std::uint32_t v = (a << 18) | (b << 12) | (c << 6) | d;
    dst[0] = static_cast<unsigned char>(v >> 16);
    dst[1] = static_cast<unsigned char>(v >> 8);
    dst[2] = static_cast<unsigned char>(v);
  }
  if (rest > 0) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < rest; ++i) {
      unsigned x = kBase64urlValues[src[i]];
      if (x & 0xc0) return false;
      v = (v << 6) | x;
    }
    // Canonical encodings only: the unused low bits of the last character must be zero.
    int unused = rest == 2 ? 4 : 2;
    if (v & ((1u << unused) - 1)) return false;
    v >>= unused;
    if (rest == 3) *dst++ = static_cast<unsigned char>(v >> 8);
    *dst++ = static_cast<unsigned char>(v);
  }
  return true;
}

struct RawBlock {
  std::string json;
  std::optional<std::string> endorsement;
};

// A block's meaning. `error` is set when the block is well-formed JSON but not a valid block;
// it is reported only after the MAC chain checks out (a forged token learns nothing more).
struct ParsedBlock {
  bool is_scope = false;
  ScopeBlock scope;
  Caveat caveat;
  std::optional<TokenError> error;
};

simdjson::dom::parser& json_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

bool read_strings(simdjson::dom::element e, std::vector<std::string>& out) {
  simdjson::dom::array array;
  if (e.get_array().get(array)) return false;
  for (auto item : array) {
    std::string_view s;
    if (item.get_string().get(s)) return false;
    out.emplace_back(s);
  }
  return true;
}

// Parses one block's JSON; nullopt when it is not JSON (or not an object with a known "t").
// Block keys as bits, so that checking "known, not repeated, all required present" needs no set.
enum KeyBit : unsigned {
  kV = 1u << 0, kT = 1u << 1, kKid = 1u << 2, kSid = 1u << 3, kPar = 1u << 4, kSub = 1u << 5, kAgt = 1u << 6,
  kScp = 1u << 7, kObj = 1u << 8, kAud = 1u << 9, kIat = 1u << 10, kExp = 1u << 11, kTsk = 1u << 12,
};
constexpr unsigned kRootKeys = kV | kT | kKid | kSid | kSub | kAgt | kScp | kObj | kAud | kIat | kExp;
// `tsk` (the plan task a delegation carries) only on child blocks: a plan belongs to a scope, so
// the scope a task runs in is always delegated.
constexpr unsigned kChildKeys = kT | kSid | kPar | kAgt | kScp | kObj | kIat | kExp | kTsk;

bool has_control_character(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

unsigned key_bit(std::string_view k) {
  static constexpr std::pair<std::string_view, KeyBit> kKeys[] = {
      {"v", kV},     {"t", kT},     {"kid", kKid}, {"sid", kSid}, {"par", kPar}, {"sub", kSub},
      {"agt", kAgt}, {"scp", kScp}, {"obj", kObj}, {"aud", kAud}, {"iat", kIat}, {"exp", kExp},
      {"tsk", kTsk}};
  for (const auto& [name, bit] : kKeys) {
    if (name == k) return bit;
  }
  return 0;
}

std::optional<ParsedBlock> parse_block(const std::string& json, bool is_root) {
  simdjson::dom::element doc;
  if (json_parser().parse(json).get(doc)) return std::nullopt;
  simdjson::dom::object object;
  if (doc.get_object().get(object)) return std::nullopt;
  std::string_view type;
  if (object["t"].get_string().get(type)) return std::nullopt;

  ParsedBlock out;
  auto fail = [&](TokenError e) {
    if (!out.error) out.error = e;
  };
  if (type == "d") {
    out.is_scope = true;
    const unsigned allowed = is_root ? kRootKeys : kChildKeys;
    unsigned seen = 0;
    auto& s = out.scope;
    for (auto [key, value] : object) {
      unsigned bit = key_bit(key);
      if (!(allowed & bit) || (seen & bit)) {
        fail(TokenError::unknown_block);
        continue;
      }
      seen |= bit;
      std::string_view text;
      bool bad = false;
      switch (bit) {
        case kV: {
          std::int64_t v = 0;
          bad = value.get_int64().get(v) || v != 1;
          break;
        }
        case kIat: bad = value.get_int64().get(s.iat); break;
        case kExp: bad = value.get_int64().get(s.exp); break;
        case kScp: bad = !read_strings(value, s.scp); break;
        case kT: break;
        default:
          bad = value.get_string().get(text) != simdjson::SUCCESS;
          // Ids, principal and agent are stamped into upstream headers as they are: a control
          // character in one (a token minted elsewhere with the same key) would split a header.
          if (!bad && bit != kObj) bad = has_control_character(text);
          if (bad) break;
          switch (bit) {
            case kKid: s.kid = text; break;
            case kSid: s.sid = text; break;
            case kPar: s.par = text; break;
            case kSub: s.sub = text; break;
            case kAgt: s.agt = text; break;
            case kObj: s.obj = text; break;
            case kAud: s.aud = text; break;
            case kTsk: s.tsk = text; break;
            default: break;
          }
      }
      if (bad) fail(TokenError::malformed);
    }
    unsigned required = kSid | kAgt | kScp | kIat | kExp | (is_root ? kV | kKid | kSub | kAud : kPar);
    if ((seen & required) != required) fail(TokenError::malformed);
  } else if (type == "c" && !is_root) {
    unsigned seen = 0;
    for (auto [key, value] : object) {
      unsigned bit = key_bit(key);
      if (!((kT | kScp | kExp) & bit) || (seen & bit)) {
        fail(TokenError::unknown_block);
        continue;
      }
      seen |= bit;
      if (key == "scp") {
        std::vector<std::string> scp;
        if (!read_strings(value, scp)) fail(TokenError::malformed);
        out.caveat.scp = std::move(scp);
      } else if (key == "exp") {
        std::int64_t exp = 0;
        if (value.get_int64().get(exp)) fail(TokenError::malformed);
        out.caveat.exp = exp;
      }
    }
    if (!out.caveat.scp && !out.caveat.exp) fail(TokenError::malformed);
  } else {
    out.error = TokenError::unknown_block;
  }
  return out;
}

// Splits "dst1.<block>....<tag>" into decoded blocks and the tag.
std::optional<std::pair<std::vector<RawBlock>, std::string>> split_token(std::string_view token, TokenError& error) {
  error = TokenError::malformed;
  if (token.size() > kMaxTokenBytes) {
    error = TokenError::too_large;
    return std::nullopt;
  }
  std::vector<std::string_view> parts;
  parts.reserve(kMaxBlocks + 2);
  std::size_t start = 0;
  while (true) {
    auto dot = token.find('.', start);
    parts.push_back(token.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (parts.size() < 3 || parts.front() != kPrefix) return std::nullopt;
  if (parts.size() - 2 > kMaxBlocks) {
    error = TokenError::too_large;
    return std::nullopt;
  }
  std::vector<RawBlock> blocks;
  blocks.reserve(parts.size() - 2);
  for (std::size_t i = 1; i + 1 < parts.size(); ++i) {
    auto part = parts[i];
    auto tilde = part.find('~');
    RawBlock block;
    if (!base64url_decode_into(part.substr(0, tilde), block.json, simdjson::SIMDJSON_PADDING) || block.json.empty()) {
      return std::nullopt;
    }
    if (tilde != std::string_view::npos) {
      auto e = base64url_decode(part.substr(tilde + 1));
      if (!e) return std::nullopt;
      block.endorsement = std::move(*e);
    }
    blocks.push_back(std::move(block));
  }
  auto tag = base64url_decode(parts.back());
  if (!tag || tag->size() != sizeof(Mac)) return std::nullopt;
  return std::pair{std::move(blocks), std::move(*tag)};
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    unsigned v = byte(i) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string out;
  if (!base64url_decode_into(text, out, 0)) return std::nullopt;
  return out;
}

Mac derive_k0(const Secret& key) { return hmac(kKeyGenerator, as_view(key)); }

Keyring make_keyring(const config::TokenSettings& settings) {
  Keyring keyring;
  for (const auto& k : settings.keys) {
    Secret s{};
    std::copy_n(k.secret.begin(), std::min(k.secret.size(), s.size()), s.begin());
    keyring.keys[k.kid] = s;
    keyring.k0s.emplace(k.kid, HmacKey(as_view(derive_k0(s))));
  }
  keyring.signing_kid = settings.signing_kid;
  return keyring;
}

const HmacKey& Keyring::k0(std::string_view kid, const Secret& secret) const {
  if (auto it = k0s.find(kid); it != k0s.end()) return it->second;
  // A keyring filled in by hand (tests, tools): derived on each use, valid until the next.
  thread_local HmacKey derived;
  derived = HmacKey(as_view(derive_k0(secret)));
  return derived;
}

std::optional<std::vector<std::string>> decode_blocks(std::string_view token) {
  TokenError ignored;
  auto split = split_token(token, ignored);
  if (!split) return std::nullopt;
  std::vector<std::string> out;
  for (auto& block : split->first) {
    // Unverified bytes: pass on only what is a JSON object, so callers may embed it in JSON.
    simdjson::dom::element doc;
    simdjson::dom::object object;
    if (json_parser().parse(block.json).get(doc) || doc.get_object().get(object)) return std::nullopt;
    out.push_back(std::move(block.json));
  }
  return out;
}

const char* to_string(TokenError e) {
  switch (e) {
    case TokenError::malformed: return "malformed";
    case TokenError::too_large: return "too_large";
    case TokenError::unknown_kid: return "unknown_kid";
    case TokenError::bad_tag: return "bad_tag";
    case TokenError::bad_endorsement: return "bad_endorsement";
    case TokenError::parent_mismatch: return "parent_mismatch";
    case TokenError::unknown_block: return "unknown_block";
    case TokenError::expired: return "expired";
    case TokenError::audience: return "audience";
  }
  return "malformed";
}

bool VerifiedToken::allows(std::string_view action) const {
  if (grant_sets.empty()) return false;
  return std::all_of(grant_sets.begin(), grant_sets.end(), [&](const std::vector<std::string>& set) {
    return std::any_of(set.begin(), set.end(), [&](const std::string& p) { return pattern_matches(p, action); });
  });
}

VerifyResult verify(std::string_view token, const Keyring& keys, const VerifyOptions& options) {
  TokenError split_error;
  auto split = split_token(token, split_error);
  if (!split) return split_error;
  auto& [raw, tag] = *split;

  std::vector<ParsedBlock> parsed;
  parsed.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    auto block = parse_block(raw[i].json, i == 0);
    if (!block) return TokenError::malformed;
    if (i == 0 && !block->is_scope) return TokenError::malformed;
    parsed.push_back(std::move(*block));
  }

  // The MAC chain first: nothing in a block is believed before the tag checks out.
  auto key = keys.keys.find(parsed[0].scope.kid);
  if (key == keys.keys.end()) return TokenError::unknown_kid;
  const HmacKey& k0 = keys.k0(key->first, key->second);
  Mac t = k0.mac(raw[0].json);
  if (raw[0].endorsement) return TokenError::malformed;
  for (std::size_t i = 1; i < raw.size(); ++i) {
    if (parsed[i].is_scope) {
      if (!raw[i].endorsement || raw[i].endorsement->size() != kEndorsementBytes) return TokenError::bad_endorsement;
      std::string expected = endorsement(k0, t, raw[i].json);
      if (CRYPTO_memcmp(expected.data(), raw[i].endorsement->data(), kEndorsementBytes) != 0) {
        return TokenError::bad_endorsement;
      }
    } else if (raw[i].endorsement) {
      return TokenError::malformed;
    }
    t = hmac(as_view(t), raw[i].json);
  }
  if (CRYPTO_memcmp(t.data(), tag.data(), t.size()) != 0) return TokenError::bad_tag;

  VerifiedToken out;
  // Sized once: growing these would move every decoded block again.
  out.scopes.reserve(parsed.size());
  out.grant_sets.reserve(parsed.size());
  out.grant_sets_at.reserve(parsed.size());
  out.expires_at.reserve(parsed.size());
  out.tag = t;
  out.expires = INT64_MAX;
  for (auto& block : parsed) {
    if (block.error) return *block.error;
    if (block.is_scope) {
      if (!out.scopes.empty() && block.scope.par != out.scopes.back().sid) return TokenError::parent_mismatch;
      out.grant_sets.push_back(block.scope.scp);
      out.expires = std::min(out.expires, block.scope.exp);
      out.grant_sets_at.push_back(out.grant_sets.size());
      out.expires_at.push_back(out.expires);
      out.scopes.push_back(std::move(block.scope));
    } else {
      if (block.caveat.scp) out.grant_sets.push_back(std::move(*block.caveat.scp));
      if (block.caveat.exp) out.expires = std::min(out.expires, *block.caveat.exp);
    }
  }
  if (out.root().aud != options.audience) return TokenError::audience;
  if (options.now > out.expires + options.skew_s) return TokenError::expired;
  return out;
}

std::string root_block_json(const ScopeBlock& r) {
  std::string out = R"({"v":1,"t":"d")";
  append_field(out, "kid", r.kid);
  append_field(out, "sid", r.sid);
  append_field(out, "sub", r.sub);
  append_field(out, "agt", r.agt);
  append_list(out, "scp", r.scp);
  if (!r.obj.empty()) append_field(out, "obj", r.obj);
  append_field(out, "aud", r.aud);
  append_int(out, "iat", r.iat);
  append_int(out, "exp", r.exp);
  out += '}';
  return out;
}

std::string child_block_json(const ScopeBlock& c) {
  std::string out = R"({"t":"d")";
  append_field(out, "sid", c.sid);
  append_field(out, "par", c.par);
  append_field(out, "agt", c.agt);
  append_list(out, "scp", c.scp);
  if (!c.obj.empty()) append_field(out, "obj", c.obj);
  if (!c.tsk.empty()) append_field(out, "tsk", c.tsk);
  append_int(out, "iat", c.iat);
  append_int(out, "exp", c.exp);
  out += '}';
  return out;
}

std::string caveat_json(const Caveat& c) {
  std::string out = R"({"t":"c")";
  if (c.scp) append_list(out, "scp", *c.scp);
  if (c.exp) append_int(out, "exp", *c.exp);
  out += '}';
  return out;
}

std::optional<std::string> mint_root(const Keyring& keys, const ScopeBlock& root) {
  auto key = keys.keys.find(root.kid);
  if (key == keys.keys.end()) return std::nullopt;
  std::string json = root_block_json(root);
  Mac tag = keys.k0(key->first, key->second).mac(json);
  return std::string(kPrefix) + "." + base64url_encode(json) + "." + base64url_encode(as_view(tag));
}

std::optional<std::string> mint_child(const Keyring& keys, std::string_view parent_token, const VerifiedToken& parent,
                                      const ScopeBlock& child) {
  auto key = keys.keys.find(parent.root().kid);
  auto last_dot = parent_token.rfind('.');
  if (key == keys.keys.end() || last_dot == std::string_view::npos) return std::nullopt;
  std::string json = child_block_json(child);
  std::string endorsed = endorsement(keys.k0(key->first, key->second), parent.tag, json);
  Mac tag = hmac(as_view(parent.tag), json);
  return std::string(parent_token.substr(0, last_dot)) + "." + base64url_encode(json) + "~" +
         base64url_encode(endorsed) + "." + base64url_encode(as_view(tag));
}

std::optional<std::string> attenuate(std::string_view token, const Caveat& caveat) {
  auto last_dot = token.rfind('.');
  if (!token.starts_with(kPrefix) || last_dot == std::string_view::npos) return std::nullopt;
  auto tag = base64url_decode(token.substr(last_dot + 1));
  if (!tag || tag->size() != sizeof(Mac)) return std::nullopt;
  std::string json = caveat_json(caveat);
  Mac next = hmac(*tag, json);
  return std::string(token.substr(0, last_dot)) + "." + base64url_encode(json) + "." + base64url_encode(as_view(next));
}

}  // namespace scopegate::delegation
