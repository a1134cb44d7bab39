// Following a node's hash chain record by record (docs/protocol.md §6): `scopegate audit verify`, the
// evidence behind `query never`, and the writer's recovery at start all use this one checker.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/chain.hpp"
#include "audit/segments.hpp"

namespace scopegate::audit {

struct ChainProblem {
  std::uint64_t seq = 0;  // the first seq that is not as it should be
  std::string file;
  std::uint64_t line = 0;  // 1-based line in `file`
  std::string why;
};

// `,"problem":{"seq":…,"file":…,"line":…,"why":…}` (schema/query-common.schema.json#/$defs/problem).
void append_problem_json(std::string& out, const ChainProblem& p);

class ChainVerifier {
 public:
  explicit ChainVerifier(std::string node) : node_(std::move(node)) {}

  // Continue after a record checked elsewhere (the writer's recovery reads earlier segments
  // only at their boundaries).
  void resume_after(std::uint64_t seq, std::string_view hash);
  // Take the first record's seq and prev as given (for a chain whose start was archived).
  void accept_any_start() { any_start_ = true; }
  void begin_segment(const SegmentFile& segment);
  // One complete line. Fills `head` when the line has a readable head (even if the chain is
  // already broken, so a query can still use the record). Returns whether the line is sound.
  bool feed(std::string_view line, std::uint64_t line_no, RecordHead& head);
  // After a segment's last complete line: bytes after the last newline are a torn write.
  void end_segment(std::uint64_t torn_bytes, std::uint64_t torn_line);
  void fail(std::uint64_t seq, std::uint64_t line, std::string why);
  // Remember the hash of each of these seqs (ascending) as the chain passes it: what signed
  // checkpoints say of the log is compared with that (checkpoint_verify.hpp).
  void watch(std::vector<std::uint64_t> seqs);
  const std::map<std::uint64_t, Digest>& watched() const { return watched_; }

  const std::string& node() const { return node_; }
  const std::optional<ChainProblem>& problem() const { return problem_; }
  bool intact() const { return !problem_; }
  std::uint64_t records() const { return records_; }
  std::uint64_t first_seq() const { return first_seq_; }
  std::uint64_t last_seq() const { return last_seq_; }
  const Digest& last_hash() const { return last_hash_; }
  std::uint64_t expected_seq() const { return records_ == 0 ? 1 : last_seq_ + 1; }

 private:
  std::string node_;
  std::string file_;
  std::uint64_t segment_first_seq_ = 0;
  std::uint64_t segment_records_ = 0;
  std::uint64_t records_ = 0;
  std::uint64_t first_seq_ = 0, last_seq_ = 0;
  Digest last_hash_ = kGenesis;
  std::optional<ChainProblem> problem_;
  bool any_start_ = false;
  std::vector<std::uint64_t> watch_;
  std::map<std::uint64_t, Digest> watched_;
};

// Feeds every line of `segment` to `chain`, then reports its torn tail, if any; adds the file's
// size to `bytes`. False (with `error`) when the file cannot be read.
bool follow_segment(ChainVerifier& chain, const SegmentFile& segment, std::uint64_t& bytes, std::string& error);

struct ChainReport {
  std::string node;
  std::uint64_t records = 0, first_seq = 0, last_seq = 0;
  std::uint64_t segments = 0, bytes = 0;
  Digest last_hash = kGenesis;  // compare with a copy kept elsewhere: the chain cannot show a cut end
  std::optional<ChainProblem> problem;
  std::map<std::uint64_t, Digest> watched;  // the hashes of the seqs asked for, as the log has them
};

// Verifies every node's chain found in `dirs` (one node's segments may be spread over several,
// e.g. the live directory and an archive), noting the hashes of the seqs in `watch` (per node).
// Returns false (with `error`) when one cannot be read.
bool verify_directories(const std::vector<std::string>& dirs, std::vector<ChainReport>& out, std::string& error,
                        const std::map<std::string, std::vector<std::uint64_t>>& watch = {});

}  // namespace scopegate::audit
