// Start-up recovery of a node's audit log (docs/audit.md, "Start and recovery"): the whole chain is
// followed; damage anywhere refuses the start, for operators to judge; only a torn tail of the last
// segment (a crash mid-write) is the writer's to repair: copied aside under recovered/, cut off,
// and described for the audit.recovery record. Then the crash journal's records that the log does
// not hold are found, to be written again.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "audit/chain.hpp"
#include "audit/journal.hpp"

namespace scopegate::audit {

struct RecoveredLog {
  std::uint64_t last_seq = 0;  // 0: the node has no record yet
  Digest last_hash = kGenesis;
  std::string recovery_members;   // the audit.recovery record's members when a tail was cut, else empty
  std::deque<std::string> tail;   // "event\0members" of the last records (as many as asked for)
};

// Recovers `node`'s chain in `dir` (whose descriptor is `dir_fd`). Throws std::runtime_error naming
// the first bad seq when the log is damaged other than by a torn tail, or when it cannot be read.
RecoveredLog recover_log(const std::string& dir, int dir_fd, const std::string& node, std::size_t tail_records);

// Drops from `unwritten` the journal entries the log already holds (the recovered tail, matched as a
// multiset) and those that do not read as records (counted in `damaged`).
void drop_written(std::vector<Journal::Unwritten>& unwritten, const std::deque<std::string>& tail,
                  std::size_t& damaged);

}  // namespace scopegate::audit
