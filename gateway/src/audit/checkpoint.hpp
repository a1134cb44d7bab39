// A signed checkpoint of the audit log (docs/audit.md, "Signed checkpoints";
// schema/audit-checkpoint.schema.json): the seq and hash of one durable record, signed with
// Ed25519, kept in a file of its own away from the log. The hash chain makes the record's hash
// stand for every record before it, so a checkpoint proves the log's whole prefix up to its seq:
// a log that ends earlier was cut, and one whose record has another hash was rewritten.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/ed25519.hpp"

namespace scopegate::audit {

struct Checkpoint {
  std::string node;
  std::uint64_t seq = 0;  // the last durable record when it was sealed
  std::string hash;       // that record's hash (64 hex)
  std::string ts;         // when it was sealed (RFC 3339 UTC, microseconds)
  std::string segment;    // the segment file that holds the record
  std::string key_id;     // SHA-256 of the signing key's raw public key (64 hex)
  std::string sig;        // Ed25519 over signed_bytes() (128 hex)
};

// The bytes the signature covers: the checkpoint as JSON without `sig`, keys in this order and no
// whitespace: {"v":1,"node":…,"seq":…,"hash":…,"ts":…,"segment":…,"key_id":…}
std::string signed_bytes(const Checkpoint& c);
// The file's whole text: the signed bytes with `,"sig":"…"` as the last member, then a newline.
std::string checkpoint_text(const Checkpoint& c);
// Sets key_id and sig.
void sign(Checkpoint& c, const crypto::Ed25519Key& key);
bool signed_by(const Checkpoint& c, const crypto::Ed25519Key& key);

// A checkpoint file's text, accepted only in the exact form checkpoint_text() writes (so every
// reader sees the bytes that were signed); nullopt with `why` otherwise. The signature is not checked.
std::optional<Checkpoint> parse_checkpoint(std::string_view text, std::string& why);

// `<seq, 20 digits>.json`, so that a node's checkpoints list in seq order; nullopt for another name.
std::string checkpoint_file_name(std::uint64_t seq);
std::optional<std::uint64_t> checkpoint_file_seq(std::string_view name);

}  // namespace scopegate::audit
