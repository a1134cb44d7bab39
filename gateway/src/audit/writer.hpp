// The audit writer (docs/protocol.md §6): the request path hands it a record's members through a
// bounded queue and returns; one thread numbers, chains, batches, writes and fsyncs them, rotates
// segments and, at start, recovers the directory. It fails closed: while it cannot keep records
// safely, accepting() is false and the pipeline answers audited requests 503 audit_unavailable.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "audit/chain.hpp"
#include "audit/checkpointer.hpp"
#include "audit/journal.hpp"
#include "audit/events.hpp"
#include "config/config.hpp"
#include "metrics/cells.hpp"

namespace scopegate::audit {

// Called on the writer thread once a strict record is durable (true) or cannot be (false); it
// must hand over to its own thread and return.
using Completion = std::function<void(bool)>;



struct Entry {
  Event event = Event::request;
  std::chrono::system_clock::time_point at = std::chrono::system_clock::now();
  std::string members;  // `,"key":value` members after the fixed head
  config::Durability durability = config::Durability::batch;
  Completion done;  // strict only
  std::uint64_t journal_end = 0;  // batch: where its copy in the journal ends (0: not journaled)
};

// What the writer has done, for /readyz and the metrics of docs/protocol.md §8. Read with relaxed loads.
struct WriterStats {
  std::array<std::atomic<std::uint64_t>, kEventCount> records{};
  std::atomic<std::uint64_t> write_errors{0};
  std::atomic<std::uint64_t> dropped{0};  // refused by a full queue, or lost at exit while failing
  std::atomic<std::uint64_t> fsyncs{0};
  std::atomic<std::uint64_t> fsync_nanoseconds{0};
  metrics::HistogramCell fsync_latency;  // in metrics::latency_buckets()
  std::atomic<std::uint64_t> queue_depth{0};
  std::atomic<std::uint64_t> queue_bytes{0};
  std::atomic<std::uint64_t> refusals_folded{0};  // refusals counted into audit.unavailable records
  CheckpointStats checkpoints;                     // signed checkpoints (audit.checkpoints)
};

class Writer {
 public:
  // Recovers `settings.dir` for `node` (see docs/audit.md), opens a new segment and starts the
  // thread. Throws std::runtime_error with a message for operators when the log cannot be used.
  Writer(const config::Audit& settings, std::string node);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Writes what is queued, fsyncs and joins the thread. Safe to call twice.
  void stop();

  // Takes `e` unless the queue is full or the writer is failing; otherwise leaves it untouched.
  bool submit(Entry& e);
  // Whether audited requests may proceed: not failing, disk above the reserve, queue not near full.
  bool accepting() const;
  // Why not, for the 503's message and the log.
  std::string unavailable_reason() const;
  // A refusal made while !accepting(): counted by reason and written as part of one
  // audit.unavailable record when the log is healthy again, instead of one record each (a backlog
  // of refusals would otherwise outgrow the very space whose lack caused them).
  void count_refusal(std::string_view reason);

  const WriterStats& stats() const { return stats_; }
  const std::string& node() const { return node_; }
  const std::string& dir() const { return settings_.dir; }
  std::size_t queue_capacity() const { return settings_.queue_records; }

 private:
  enum class State : int { ok, failed };
  using Steady = std::chrono::steady_clock;

  void lock_directory();
  void recover();
  void open_segment(std::string_view reason, const std::string& recovery_members,
                    const std::vector<Journal::Unwritten>& replay = {});
  void run();
  void write_entries(std::vector<Entry>& batch);
  bool flush_buffer();
  bool rotate();
  bool sync();
  void maybe_sync(Steady::time_point now, bool force);
  void maybe_checkpoint(Steady::time_point now, bool force);
  void enter_failure(std::string why);
  void try_recover(Steady::time_point now);
  bool outage_over() const;
  void begin_outage(std::string_view cause);
  std::optional<Entry> take_outage_record();
  void keep_pending(Entry&& e);
  void check_disk(Steady::time_point now);
  void complete(Entry& e, bool ok);
  void seal_into(std::string& out, Event event, std::chrono::system_clock::time_point at, std::string_view members);
  Steady::time_point next_wakeup() const;

  config::Audit settings_;
  std::string node_;
  WriterStats stats_;

  // Shared with the request path.
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Entry> queue_;
  bool stop_ = false;
  bool napping_ = false;     // the writer waits to be woken (no traffic for a while)
  unsigned idle_polls_ = 0;  // (writer thread, under mutex_)
  std::atomic<State> state_{State::ok};
  std::atomic<bool> low_disk_{false};
  std::unique_ptr<Journal> journal_;    // batch records, copied under mutex_ as they are queued
  std::unique_ptr<Checkpointer> checkpoints_;  // signs the durable end now and then; null when off
  std::atomic<bool> journal_full_{false};
  mutable std::mutex reason_mutex_;
  std::string reason_;
  std::size_t admit_limit_ = 0;  // accepting() turns false above this depth, before the queue is full
  std::uint64_t admit_bytes_ = 0;  // ...or above this many queued bytes
  std::uint64_t queued_bytes_ = 0;  // (under mutex_)

  // Refusals made while the log was unavailable, folded into one audit.unavailable record.
  struct Tally {
    std::map<std::string, std::uint64_t, std::less<>> by_reason;
    std::uint64_t total = 0;
    std::chrono::system_clock::time_point first{}, last{};
  };
  mutable std::mutex tally_mutex_;
  Tally tally_;
  std::atomic<std::uint64_t> tally_total_{0};  // lets the writer skip the lock when nothing was counted

  // The writer thread's own.
  int dir_fd_ = -1;
  int lock_fd_ = -1;      // <dir>/lock: names the holder (pid, node) for the refusal message
  int dir_lock_fd_ = -1;  // flock on the directory itself: one writer per directory, even if the file goes
  int fd_ = -1;
  std::string segment_;  // current segment's file name
  Steady::time_point segment_opened_{};
  std::uint64_t written_ = 0;   // bytes in the current segment
  std::uint64_t durable_ = 0;   // ...of which fsynced
  std::uint64_t last_seq_ = 0, durable_seq_ = 0;
  Digest last_hash_ = kGenesis, durable_hash_ = kGenesis;
  std::vector<Entry> unsynced_;  // written since the last good fsync: written again if it fails
  std::vector<Entry> pending_;   // taken back after a failure, to write once the cause clears
  std::uint64_t pending_bytes_ = 0;
  // The current outage (a failed write or fsync, or free disk below the reserve), if any.
  bool in_outage_ = false;
  std::chrono::system_clock::time_point outage_since_{};
  std::string outage_cause_;
  std::size_t unsynced_batch_ = 0;
  bool unsynced_strict_ = false;
  Steady::time_point first_unsynced_{};
  Steady::time_point retry_at_{}, disk_checked_{};
  std::uint64_t dropped_logged_ = 0;
  std::string buffer_;
  std::string ts_cache_;
  std::int64_t ts_cache_second_ = -1;
  std::thread thread_;
  bool stopped_ = false;
};

// Hands a strict `entry` to the writer; resumes on `ex` once it is durable (true) or cannot be.
boost::asio::awaitable<bool> commit(Writer& writer, Entry entry, boost::asio::any_io_executor ex);

}  // namespace scopegate::audit
