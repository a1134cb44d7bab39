#include "audit/checkpoint.hpp"

#include <simdjson.h>

#include <algorithm>

#include "audit/segments.hpp"
#include "crypto/hex.hpp"
#include "json/write.hpp"

namespace scopegate::audit {

namespace {

constexpr std::string_view kSuffix = ".json";

bool is_lower_hex(std::string_view s, std::size_t size) {
  return s.size() == size &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

std::string signed_bytes(const Checkpoint& c) {
  namespace json = scopegate::json;
  std::string out = "{\"v\":1";
  json::append_field(out, "node", c.node);
  json::append_key(out, "seq");
  out += std::to_string(c.seq);
  json::append_field(out, "hash", c.hash);
  json::append_field(out, "ts", c.ts);
  json::append_field(out, "segment", c.segment);
  json::append_field(out, "key_id", c.key_id);
  out += '}';
  return out;
}

std::string checkpoint_text(const Checkpoint& c) {
  std::string out = signed_bytes(c);
  out.pop_back();  // the closing brace: sig goes last, outside what it signs
  scopegate::json::append_field(out, "sig", c.sig);
  out += "}\n";
  return out;
}

void sign(Checkpoint& c, const crypto::Ed25519Key& key) {
  c.key_id = key.key_id();
  c.sig = crypto::to_hex(key.sign(signed_bytes(c)));
}

bool signed_by(const Checkpoint& c, const crypto::Ed25519Key& key) {
  if (c.key_id != key.key_id()) return false;
  auto sig = crypto::from_hex(c.sig);
  return sig && key.verify(signed_bytes(c), *sig);
}

std::optional<Checkpoint> parse_checkpoint(std::string_view text, std::string& why) {
  simdjson::padded_string padded(text);
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (parser.parse(padded).get(object)) {
    why = "not a JSON object";
    return std::nullopt;
  }
  Checkpoint c;
  std::uint64_t version = 0;
  auto text_of = [&](const char* key, std::string& out) {
    std::string_view value;
    if (object[key].get(value)) {
      why = std::string("no string \"") + key + "\"";
      return false;
    }
    out = value;
    return true;
  };
  if (object["v"].get(version) || version != 1) {
    why = "not a version 1 checkpoint";
    return std::nullopt;
  }
  if (object["seq"].get(c.seq)) {
    why = "no integer \"seq\"";
    return std::nullopt;
  }
  if (!text_of("node", c.node) || !text_of("hash", c.hash) || !text_of("ts", c.ts) ||
      !text_of("segment", c.segment) || !text_of("key_id", c.key_id) || !text_of("sig", c.sig)) {
    return std::nullopt;
  }
  if (!is_lower_hex(c.hash, 64) || !is_lower_hex(c.key_id, 64) || !is_lower_hex(c.sig, 128)) {
    why = "hash, key_id or sig is not lower-case hex of the right length";
    return std::nullopt;
  }
  // Only the exact bytes the gateway writes: a member added, reordered or spaced differently would
  // let two readers see two checkpoints behind one signature.
  if (checkpoint_text(c) != text) {
    why = "not in the exact form the gateway writes (edited?)";
    return std::nullopt;
  }
  return c;
}

std::string checkpoint_file_name(std::uint64_t seq) { return seq_digits(seq) + std::string(kSuffix); }

std::optional<std::uint64_t> checkpoint_file_seq(std::string_view name) {
  if (!name.ends_with(kSuffix)) return std::nullopt;
  return parse_seq_digits(name.substr(0, name.size() - kSuffix.size()));
}

}  // namespace scopegate::audit
