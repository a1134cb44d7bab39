// `scopegate audit verify --checkpoints DIR --public-key FILE`: what the signed checkpoints say of
// the logs (docs/audit.md, "Signed checkpoints"). Every checkpoint must be in the exact form the
// gateway writes and signed by a key given; its record must be in its node's log with the hash it
// signed (else the log was rewritten), and each log must reach its newest checkpoint (else records
// were cut from its end). The chain itself is verified as before (verify.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/checkpoint.hpp"
#include "audit/verify.hpp"
#include "crypto/ed25519.hpp"

namespace scopegate::audit {

struct CheckpointProblem {
  std::uint64_t seq = 0;  // the first seq the problem is about
  std::string file;       // the checkpoint file
  std::string why;
};

struct CheckpointFile {
  Checkpoint checkpoint;
  std::string path;
};

// One node's checkpoints and what they showed.
struct NodeCheckpoints {
  std::string node;
  std::uint64_t files = 0;                    // checkpoint files found
  std::vector<CheckpointFile> valid;          // in the gateway's form and signed by a key given, by seq
  std::optional<std::uint64_t> uncovered;     // records of the log after the newest checkpoint
  std::optional<CheckpointProblem> problem;   // the first found
};

// Reads PEM public keys, one per file. False (with `error`) when one cannot be read or is not Ed25519.
bool read_public_keys(const std::vector<std::string>& files, std::vector<crypto::Ed25519Key>& out, std::string& error);

class CheckpointCheck {
 public:
  // Reads every node's checkpoints in `dir` (<dir>/<node>/<seq>.json) and checks each one's form
  // and signature. False (with `error`) when the directory or a file in it cannot be read.
  bool read(const std::string& dir, std::vector<crypto::Ed25519Key> keys, std::string& error);
  // The seqs whose hashes the chain verification is to note (verify_directories' `watch`).
  std::map<std::string, std::vector<std::uint64_t>> seqs() const;
  // Holds the checkpoints against the chains followed. A node with checkpoints but no log gets a
  // report of its own in `chains`, broken: its whole log is missing.
  void compare(std::vector<ChainReport>& chains);

  bool intact() const;
  // Whether `node` has at least one checkpoint signed by a key given: a log with none has nothing
  // that proves its end, whatever its chain says.
  bool covers(std::string_view node) const;

  // For `audit verify`: the top-level `,"checkpoints":{…}` member, a node's own `,"checkpoints":{…}`
  // (schema/audit-verify.schema.json), and the lines of the table.
  void append_json(std::string& out) const;
  void append_node_json(std::string& out, std::string_view node) const;
  std::string node_line(std::string_view node) const;
  std::string summary_line() const;

 private:
  std::string dir_;
  std::vector<crypto::Ed25519Key> keys_;
  std::map<std::string, NodeCheckpoints, std::less<>> nodes_;
};

}  // namespace scopegate::audit
