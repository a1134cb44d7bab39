// The writer's side of signed checkpoints (docs/audit.md, "Signed checkpoints"). The writer thread
// asks due() after each batch and seals the last durable record when it is time: signing takes a
// few tens of microseconds there. Files are written by a thread of this class's own, so a slow or
// unreachable checkpoint directory (a network share) never holds up the log; only the newest
// checkpoint waits to be written, since each one proves everything an earlier one would.
// A checkpoint that cannot be written is logged (at most once a minute while it lasts), counted
// and tried again; the gateway keeps serving.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>

#include "audit/checkpoint.hpp"
#include "config/config.hpp"

namespace scopegate::audit {

struct CheckpointStats {
  std::atomic<std::uint64_t> sealed{0};
  std::atomic<std::uint64_t> written{0};
  std::atomic<std::uint64_t> failures{0};    // attempts to write one that failed
  std::atomic<std::uint64_t> superseded{0};  // replaced by a newer one before they were written
};

class Checkpointer {
 public:
  using Steady = std::chrono::steady_clock;
  enum class Due { no, now, after_sync };

  // Reads the key; throws std::runtime_error naming its source (never its bytes) if it is unusable.
  Checkpointer(const config::Checkpoints& settings, std::string node, CheckpointStats& stats);
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Writer thread. Whether the log, fsynced up to `durable_seq` and written up to `last_seq`, is
  // due a checkpoint: `now` after every_records durable records; after `every`, or when `force`d
  // (shutdown), `after_sync` if the records since the last one are not all fsynced yet.
  Due due(std::uint64_t durable_seq, std::uint64_t last_seq, Steady::time_point now, bool force) const;
  // Writer thread. Signs a checkpoint of durable record `seq` and hands it to the file thread;
  // nothing when `seq` has one already.
  void seal(std::uint64_t seq, std::string_view hash, std::string_view segment);

  // Writes the checkpoint still waiting, if any (once), and joins the thread. Safe to call twice.
  void stop();

 private:
  struct Job {
    std::uint64_t seq = 0;
    std::string text;
  };
  enum class Stored { ok, failed, refused };

  void run(std::stop_token stop);
  Stored store(const Job& job, std::string& error);
  void note(Stored result, const Job& job, const std::string& error);

  config::Checkpoints settings_;
  std::string node_;
  std::string node_dir_;
  crypto::Ed25519Key key_;
  CheckpointStats& stats_;

  // The writer thread's own.
  std::uint64_t sealed_seq_ = 0;
  Steady::time_point sealed_at_ = Steady::now();

  // Shared with the file thread.
  std::mutex mutex_;
  std::condition_variable_any wake_;  // (woken by a stop request too)
  std::optional<Job> pending_;
  bool fresh_ = false;  // pending_ was not tried yet

  // The file thread's own.
  Steady::time_point retry_at_{};
  Steady::time_point failure_logged_{};
  std::uint64_t failures_unlogged_ = 0;
  bool failing_ = false;
  std::jthread thread_;  // last: stopped and joined before the rest goes
};

}  // namespace scopegate::audit
