// The audit journal: why a process crash cannot lose a batch record (docs/audit.md, "Durability").
//
// In batch mode the writer thread writes and fsyncs records in groups, some milliseconds after the
// request path handed them over. A crash in between (kill -9, an abort) would lose records of
// requests whose responses the clients already had. So every batch record is also copied into
// this journal, a file mapped into memory, before the client is sent the end of its response: a
// store into a shared mapping is in the kernel's page cache at once, and survives the process.
// The writer marks how far the log has been fsynced; a restart writes what lies beyond that mark
// and is not in the log yet. Only a power loss (or a kernel crash) before the kernel writes the
// page back can lose the last records, as with any batch fsync.
//
// A ring of entries in one preallocated file (so a store into the mapping never meets a full disk).
// Each entry carries its logical offset, which only grows; an entry is valid where its offset is
// the one expected there, so a stale entry of an earlier lap, or one half written when the process
// died, ends the scan. The offset is stored last, with release ordering.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace scopegate::audit {

class Journal {
 public:
  struct Unwritten {
    unsigned event = 0;      // audit::Event
    std::int64_t at_us = 0;  // when the record was made (its ts)
    std::string members;
  };

  // Opens `path`, creating and preallocating it with room for `capacity` bytes of entries.
  // Throws std::runtime_error with a message for operators.
  Journal(std::string path, std::uint64_t capacity);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // At start, before any append: the entries past the mark, oldest first.
  std::vector<Unwritten> unwritten() const;
  // At start, once those are in the log and fsynced: the mark moves past them.
  void forget_unwritten();

  // Appends one entry; returns its end offset (> 0), or 0 when the ring has no room (the log is
  // that far behind). Callers serialise appends (the writer's queue lock).
  std::uint64_t append(unsigned event, std::int64_t at_us, std::string_view members);
  // Writer thread: the log holds, fsynced, every entry that ends at or before `end`.
  void mark_durable(std::uint64_t end);

  const std::string& path() const { return path_; }
  // Where a damaged journal found at start was moved (empty if none was).
  const std::string& set_aside() const { return set_aside_; }

 private:
  struct Header;
  struct EntryHead;
  Header& header() const;
  bool header_matches(std::uint64_t file_size) const;
  std::uint64_t scan_end() const;

  std::string path_;
  std::string set_aside_;
  std::uint64_t capacity_ = 0;  // bytes of the entry area
  int fd_ = -1;
  char* map_ = nullptr;
  std::size_t map_size_ = 0;
  char* area_ = nullptr;
  std::uint64_t head_ = 0;  // logical offset of the next entry (appending thread)
};

}  // namespace scopegate::audit
