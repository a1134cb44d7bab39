#include "delegation/token.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <simdjson.h>

#include <algorithm>
#include <set>

#include "http/errors.hpp"

namespace scopegate::delegation {

namespace {

constexpr std::size_t kMaxTokenBytes = 8 * 1024;
constexpr std::size_t kMaxBlocks = 16;
constexpr std::size_t kEndorsementBytes = 16;
constexpr std::string_view kPrefix = "dst1";
constexpr std::string_view kKeyGenerator = "dst1-key-generator";

Mac hmac(std::string_view key, std::string_view message) {
  Mac out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), out.data(), &len);
  return out;
}

std::string_view as_view(const Mac& m) { return {reinterpret_cast<const char*>(m.data()), m.size()}; }

std::string endorsement(const Mac& k0, const Mac& previous_tag, std::string_view json) {
  std::string message(as_view(previous_tag));
  message += json;
  Mac full = hmac(as_view(k0), message);
  return std::string(reinterpret_cast<const char*>(full.data()), kEndorsementBytes);
}

void append_string(std::string& out, std::string_view s) {
  out += '"';
  http::append_json_escaped(out, s);
  out += '"';
}

void append_field(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":";
  append_string(out, value);
}

void append_list(std::string& out, std::string_view key, const std::vector<std::string>& items) {
  out += ",\"";
  out += key;
  out += "\":[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    append_string(out, items[i]);
  }
  out += ']';
}

void append_int(std::string& out, std::string_view key, std::int64_t value) {
  out += ",\"";
  out += key;
  out += "\":";
  out += std::to_string(value);
}

// A block as decoded from the token, before the MAC chain is checked.
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
    static const std::set<std::string_view> root_keys = {"v", "t", "kid", "sid", "sub", "agt",
                                                         "scp", "obj", "aud", "iat", "exp"};
    static const std::set<std::string_view> child_keys = {"t", "sid", "par", "agt", "scp", "obj", "iat", "exp"};
    const auto& allowed = is_root ? root_keys : child_keys;
    std::set<std::string_view> seen;
    auto& s = out.scope;
    for (auto [key, value] : object) {
      if (!allowed.count(key) || !seen.insert(key).second) {
        fail(TokenError::unknown_block);
        continue;
      }
      std::string_view text;
      bool bad = false;
      if (key == "v") {
        std::int64_t v = 0;
        bad = value.get_int64().get(v) || v != 1;
      } else if (key == "iat") {
        bad = value.get_int64().get(s.iat);
      } else if (key == "exp") {
        bad = value.get_int64().get(s.exp);
      } else if (key == "scp") {
        bad = !read_strings(value, s.scp);
      } else if (key != "t") {
        bad = value.get_string().get(text) != simdjson::SUCCESS;
        if (!bad) {
          if (key == "kid") s.kid = text;
          else if (key == "sid") s.sid = text;
          else if (key == "par") s.par = text;
          else if (key == "sub") s.sub = text;
          else if (key == "agt") s.agt = text;
          else if (key == "obj") s.obj = text;
          else if (key == "aud") s.aud = text;
        }
      }
      if (bad) fail(TokenError::malformed);
    }
    for (auto required : {"sid", "agt", "scp", "iat", "exp"}) {
      if (!seen.count(required)) fail(TokenError::malformed);
    }
    if (is_root) {
      for (auto required : {"v", "kid", "sub", "aud"}) {
        if (!seen.count(required)) fail(TokenError::malformed);
      }
    } else if (!seen.count("par")) {
      fail(TokenError::malformed);
    }
  } else if (type == "c" && !is_root) {
    std::set<std::string_view> seen;
    for (auto [key, value] : object) {
      if ((key != "t" && key != "scp" && key != "exp") || !seen.insert(key).second) {
        fail(TokenError::unknown_block);
        continue;
      }
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
  for (std::size_t i = 1; i + 1 < parts.size(); ++i) {
    auto part = parts[i];
    auto tilde = part.find('~');
    auto json = base64url_decode(part.substr(0, tilde));
    if (!json || json->empty()) return std::nullopt;
    RawBlock block{std::move(*json), std::nullopt};
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
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v = value(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  // Canonical encodings only: the unused low bits of the last character must be zero.
  if (bits > 0 && (buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

Mac derive_k0(const Secret& key) { return hmac(kKeyGenerator, as_view(key)); }

Keyring make_keyring(const config::TokenSettings& settings) {
  Keyring keyring;
  for (const auto& k : settings.keys) {
    Secret s{};
    std::copy_n(k.secret.begin(), std::min(k.secret.size(), s.size()), s.begin());
    keyring.keys[k.kid] = s;
  }
  keyring.signing_kid = settings.signing_kid;
  return keyring;
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
  for (std::size_t i = 0; i < raw.size(); ++i) {
    auto block = parse_block(raw[i].json, i == 0);
    if (!block) return TokenError::malformed;
    if (i == 0 && !block->is_scope) return TokenError::malformed;
    parsed.push_back(std::move(*block));
  }

  // The MAC chain first: nothing in a block is believed before the tag checks out.
  auto key = keys.keys.find(parsed[0].scope.kid);
  if (key == keys.keys.end()) return TokenError::unknown_kid;
  Mac k0 = derive_k0(key->second);
  Mac t = hmac(as_view(k0), raw[0].json);
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
      if (block.caveat.scp) out.grant_sets.push_back(*block.caveat.scp);
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
  Mac tag = hmac(as_view(derive_k0(key->second)), json);
  return std::string(kPrefix) + "." + base64url_encode(json) + "." + base64url_encode(as_view(tag));
}

std::optional<std::string> mint_child(const Keyring& keys, std::string_view parent_token, const VerifiedToken& parent,
                                      const ScopeBlock& child) {
  auto key = keys.keys.find(parent.root().kid);
  auto last_dot = parent_token.rfind('.');
  if (key == keys.keys.end() || last_dot == std::string_view::npos) return std::nullopt;
  std::string json = child_block_json(child);
  Mac k0 = derive_k0(key->second);
  std::string endorsed = endorsement(k0, parent.tag, json);
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
