#include "audit/writer.hpp"

#include "metrics/registry.hpp"


#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <unordered_map>
#include <stdexcept>

#include <simdjson.h>

#include "audit/recovery.hpp"
#include "audit/segments.hpp"
#include "audit/verify.hpp"
#include "json/write.hpp"
#include "log/log.hpp"

namespace scopegate::audit {

namespace {

using namespace std::chrono_literals;
constexpr auto kRetryEvery = 250ms;
constexpr auto kDiskCheckEvery = 1s;
constexpr std::size_t kWriteChunk = 1 << 20;
constexpr auto kPollEvery = 1ms;
constexpr unsigned kNapAfter = 200;      // ~200 ms without records
constexpr std::size_t kWakeAt = 1024;    // queued records that wake a polling writer early
// What a record costs beyond its members (the fixed head, seq, ts, prev and hash), for the byte bound.
constexpr std::uint64_t kRecordOverhead = 256;

std::uint64_t entry_bytes(const Entry& e) { return e.members.size() + kRecordOverhead; }

}  // namespace

Writer::Writer(const config::Audit& settings, std::string node) : settings_(settings), node_(std::move(node)) {
  admit_limit_ = settings_.queue_records - settings_.queue_records / 8;
  admit_bytes_ = settings_.queue_bytes - settings_.queue_bytes / 8;
  // The signing key is read before the log is touched: a key that cannot be used stops the start.
  if (!settings_.checkpoints.dir.empty()) {
    checkpoints_ = std::make_unique<Checkpointer>(settings_.checkpoints, node_, stats_.checkpoints);
    settings_.checkpoints.private_key_pem.clear();
  }
  recover();
  thread_ = std::thread([this] { run(); });
}


void Writer::stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (checkpoints_) checkpoints_->stop();  // writes the checkpoint sealed at the end
  if (fd_ >= 0) ::close(fd_);
  if (dir_fd_ >= 0) ::close(dir_fd_);
  fd_ = dir_fd_ = -1;
  journal_.reset();  // (the directory lock is held until the writer is destroyed)
}

Writer::~Writer() {
  stop();
  if (lock_fd_ >= 0) ::close(lock_fd_);
  if (dir_lock_fd_ >= 0) ::close(dir_lock_fd_);
}

bool Writer::submit(Entry& e) {
  if (state_.load(std::memory_order_acquire) != State::ok && e.durability == config::Durability::strict) return false;
  bool wake = false;
  std::uint64_t bytes = entry_bytes(e);
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= settings_.queue_records || queued_bytes_ + bytes > settings_.queue_bytes || stop_) {
      stats_.dropped.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    // The journal copy is made under the same lock, so its order is the queue's order and the
    // writer's durable mark can be a single offset. Every record is copied, whatever its
    // durability: then the log's last records are all journal records (or the writer's own),
    // which is what lets a restart tell the ones already written.
    if (journal_) {
      auto at_us = std::chrono::duration_cast<std::chrono::microseconds>(e.at.time_since_epoch()).count();
      e.journal_end = journal_->append(static_cast<unsigned>(e.event), at_us, e.members);
      if (e.journal_end == 0) {
        journal_full_.store(true, std::memory_order_release);
        stats_.dropped.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
    }
    queued_bytes_ += bytes;
    stats_.queue_bytes.store(queued_bytes_, std::memory_order_relaxed);
    // A futex wake per record would cost more than writing it: the writer polls every
    // kPollEvery while traffic flows, and is woken only from a nap, for a strict record (it must
    // not wait) or when a batch is already large.
    wake = napping_ || e.durability == config::Durability::strict || queue_.size() + 1 >= kWakeAt;
    queue_.push_back(std::move(e));
    stats_.queue_depth.store(queue_.size(), std::memory_order_relaxed);
  }
  if (wake) wake_.notify_one();
  return true;
}

bool Writer::accepting() const {
  return state_.load(std::memory_order_acquire) == State::ok && !low_disk_.load(std::memory_order_acquire) &&
         !journal_full_.load(std::memory_order_acquire) &&
         stats_.queue_depth.load(std::memory_order_relaxed) < admit_limit_ &&
         stats_.queue_bytes.load(std::memory_order_relaxed) < admit_bytes_;
}

void Writer::count_refusal(std::string_view reason) {
  auto now = std::chrono::system_clock::now();
  std::lock_guard lock(tally_mutex_);
  auto it = tally_.by_reason.find(reason);
  if (it == tally_.by_reason.end()) it = tally_.by_reason.emplace(std::string(reason), 0).first;
  ++it->second;
  if (tally_.total++ == 0) tally_.first = now;
  tally_.last = now;
  tally_total_.store(tally_.total, std::memory_order_relaxed);
  stats_.refusals_folded.fetch_add(1, std::memory_order_relaxed);
}

std::string Writer::unavailable_reason() const {
  if (state_.load(std::memory_order_acquire) != State::ok) {
    std::lock_guard lock(reason_mutex_);
    return "the audit log cannot be written (" + reason_ + ")";
  }
  if (low_disk_.load(std::memory_order_acquire)) return "free disk space is below audit.disk_reserve";
  if (journal_full_.load(std::memory_order_acquire)) return "the audit journal is full (the log is behind)";
  if (stats_.queue_depth.load(std::memory_order_relaxed) >= admit_limit_ ||
      stats_.queue_bytes.load(std::memory_order_relaxed) >= admit_bytes_) {
    return "the audit queue is full";
  }
  return "";
}

// ---- start: recovery -------------------------------------------------------------------------

// One writer per directory: a second gateway started on the same config would otherwise write a
// segment into the live chain (and the journal) before failing on a port. The lock is taken before
// anything is read or written, and held until the process ends; the file says who holds it.
void Writer::lock_directory() {
  // The lock is on the directory itself: a lock file alone is released for good when someone
  // deletes it (a tmp cleaner, an operator clearing a "stale lock"), and a second writer would then
  // fork the chain. The file only names the holder.
  dir_lock_fd_ = ::openat(dir_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_lock_fd_ < 0) throw std::runtime_error(errno_text("audit.dir " + settings_.dir));
  lock_fd_ = ::openat(dir_fd_, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (lock_fd_ < 0) throw std::runtime_error(errno_text("audit.dir " + settings_.dir + "/lock"));
  if (::flock(dir_lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    char holder[256] = {};
    ssize_t n = ::pread(lock_fd_, holder, sizeof holder - 1, 0);
    std::string who = n > 0 ? std::string(holder, static_cast<std::size_t>(n)) : std::string("another process");
    while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
    throw std::runtime_error("audit.dir " + settings_.dir + " is in use by " + who +
                             ": one gateway per audit directory (give each its own audit.dir and node)");
  }
  std::string me = "pid " + std::to_string(::getpid()) + " (node " + node_ + ")\n";
  if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, me.data(), me.size(), 0) < 0) {
    throw std::runtime_error(errno_text("audit.dir " + settings_.dir + "/lock"));
  }
}

void Writer::recover() {
  std::error_code ec;
  std::filesystem::create_directories(settings_.dir, ec);
  if (ec) throw std::runtime_error("audit.dir " + settings_.dir + ": " + ec.message());
  dir_fd_ = ::open(settings_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0) throw std::runtime_error(errno_text("audit.dir " + settings_.dir));
  lock_directory();

  // The batch journal (journal.hpp): what it holds past its durable mark may be missing from the log.
  std::vector<Journal::Unwritten> unwritten;
  if (settings_.journal_bytes > 0) {
    std::filesystem::create_directories(settings_.dir + "/journal", ec);
    if (ec) throw std::runtime_error("audit.dir " + settings_.dir + "/journal: " + ec.message());
    journal_ = std::make_unique<Journal>(settings_.dir + "/journal/" + node_ + ".journal", settings_.journal_bytes);
    if (!journal_->set_aside().empty()) {
      log::error("audit: the journal was damaged (its size does not match its header); it was set aside, and "
                 "records of a crash before this start may be missing from the log",
                 {{"moved_to", journal_->set_aside()}});
    }
    unwritten = journal_->unwritten();
  }
  RecoveredLog recovered = recover_log(settings_.dir, dir_fd_, node_, unwritten.size());
  if (recovered.last_seq > 0) {
    last_seq_ = recovered.last_seq;
    last_hash_ = recovered.last_hash;
  }
  // What was copied to the journal but not marked durable: the part the log already holds (its
  // last records) is dropped; the rest is written now, after segment.start.
  if (journal_) {
    std::size_t damaged = 0;
    drop_written(unwritten, recovered.tail, damaged);
    if (damaged > 0) {
      log::error("audit: journal entries that do not read as records were skipped",
                 {{"entries", std::to_string(damaged)}, {"journal", journal_->path()}});
    }
    if (!unwritten.empty()) {
      log::warn("audit: records of a process that stopped unexpectedly were written from the journal",
                {{"records", std::to_string(unwritten.size())}, {"journal", journal_->path()}});
    }
  }
  open_segment("start", recovered.recovery_members, unwritten);
  if (journal_) journal_->forget_unwritten();
}

// A new segment begins with segment.start (and, after a recovery, audit.recovery); the file and
// the directory are fsynced before anything else is written to it.
void Writer::open_segment(std::string_view reason, const std::string& recovery_members,
                          const std::vector<Journal::Unwritten>& replay) {
  std::string name = segment_name(node_, last_seq_ + 1);
  int fd = ::openat(dir_fd_, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) throw std::runtime_error(errno_text("audit segment " + settings_.dir + "/" + name));
  std::string out;
  std::string members = ",\"segment\":\"" + name + "\",\"cause\":\"" + std::string(reason) + "\"";
  if (!segment_.empty()) members += ",\"previous_segment\":\"" + segment_ + "\"";
  if (!replay.empty()) members += ",\"replayed\":" + std::to_string(replay.size());
  auto now = std::chrono::system_clock::now();
  Digest hash = last_hash_;
  std::uint64_t seq = last_seq_;
  auto seal_one = [&](Event event, const std::string& m) {
    hash = seal(out, ++seq, format_timestamp(now), node_, to_string(event), m, hash);
  };
  seal_one(Event::segment_start, members);
  if (!recovery_members.empty()) seal_one(Event::audit_recovery, recovery_members);
  for (const auto& r : replay) {
    auto at = std::chrono::system_clock::time_point(std::chrono::microseconds(r.at_us));
    hash = seal(out, ++seq, format_timestamp(at), node_, to_string(static_cast<Event>(r.event)), r.members, hash);
    stats_.records[r.event].fetch_add(1, std::memory_order_relaxed);
  }
  if (!write_all(fd, out.data(), out.size()) || ::fsync(fd) != 0 || ::fsync(dir_fd_) != 0) {
    std::string why = errno_text("audit segment " + name);
    ::close(fd);
    ::unlinkat(dir_fd_, name.c_str(), 0);
    throw std::runtime_error(why);
  }
  stats_.records[static_cast<std::size_t>(Event::segment_start)].fetch_add(1, std::memory_order_relaxed);
  if (!recovery_members.empty()) {
    stats_.records[static_cast<std::size_t>(Event::audit_recovery)].fetch_add(1, std::memory_order_relaxed);
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  segment_ = std::move(name);
  segment_opened_ = Steady::now();
  written_ = durable_ = out.size();
  last_seq_ = durable_seq_ = seq;
  last_hash_ = durable_hash_ = hash;
}

// ---- the writer thread -----------------------------------------------------------------------

Writer::Steady::time_point Writer::next_wakeup() const {
  auto at = Steady::now() + kDiskCheckEvery;
  if (state_.load() != State::ok) at = std::min(at, retry_at_);
  if (unsynced_batch_ > 0) at = std::min(at, first_unsynced_ + settings_.fsync_interval);
  return at;  // (rotation by age waits for the next record: an idle segment is left as it is)
}

void Writer::run() {
  std::vector<Entry> batch;
  for (;;) {
    bool stopping = false;
    {
      std::unique_lock lock(mutex_);
      if (queue_.empty() && !stop_) {
        // Polling while records flow; after kNapAfter empty polls, a nap until woken.
        napping_ = idle_polls_ >= kNapAfter;
        auto until = napping_ ? next_wakeup() : std::min(next_wakeup(), Steady::now() + kPollEvery);
        wake_.wait_until(lock, until, [&] { return !queue_.empty() || stop_; });
        napping_ = false;
      }
      idle_polls_ = queue_.empty() ? idle_polls_ + 1 : 0;
      batch.swap(queue_);
      queued_bytes_ = 0;
      stats_.queue_depth.store(0, std::memory_order_relaxed);
      stats_.queue_bytes.store(0, std::memory_order_relaxed);
      stopping = stop_;
    }
    auto now = Steady::now();
    check_disk(now);
    if (state_.load() != State::ok) {
      for (auto& e : batch) {
        if (e.durability == config::Durability::strict) complete(e, false);
        else keep_pending(std::move(e));
      }
      batch.clear();
      if (now >= retry_at_ || stopping) try_recover(now);
      if (stopping) {
        if (state_.load() != State::ok && !pending_.empty()) {
          stats_.dropped.fetch_add(pending_.size(), std::memory_order_relaxed);
          log::error("audit: records lost at exit: the log could not be written",
                     {{"records", std::to_string(pending_.size())}});
        }
        return;
      }
      continue;
    }
    // An outage is over once requests are admitted again: its record goes first.
    if (outage_over()) {
      if (auto record = take_outage_record()) batch.insert(batch.begin(), std::move(*record));
    }
    if (!batch.empty()) write_entries(batch);
    batch.clear();
    bool drained = false;  // (once stopping, nothing more is queued)
    if (stopping) {
      std::lock_guard lock(mutex_);
      drained = queue_.empty();
    }
    if (state_.load() == State::ok) {
      maybe_sync(Steady::now(), stopping);
      maybe_checkpoint(Steady::now(), drained);  // at the end, one of the last record
    }
    if (drained) return;
  }
}

void Writer::seal_into(std::string& out, Event event, std::chrono::system_clock::time_point at,
                       std::string_view members) {
  // Records of the same second share the formatted date; only the microseconds change.
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(at.time_since_epoch()).count();
  std::int64_t second = us / 1'000'000;
  if (second != ts_cache_second_) {
    ts_cache_ = format_timestamp(at);
    ts_cache_second_ = second;
  } else {
    char frac[8];
    std::snprintf(frac, sizeof frac, "%06lld", static_cast<long long>(us % 1'000'000));
    ts_cache_.replace(20, 6, frac, 6);
  }
  last_hash_ = seal(out, ++last_seq_, ts_cache_, node_, to_string(event), members, last_hash_);
  stats_.records[static_cast<std::size_t>(event)].fetch_add(1, std::memory_order_relaxed);
}

void Writer::write_entries(std::vector<Entry>& batch) {
  buffer_.clear();
  auto now = Steady::now();
  std::size_t i = 0;
  for (; i < batch.size(); ++i) {
    auto& e = batch[i];
    // Rotation by size or age happens as records arrive: an idle segment is left as it is.
    if (written_ + buffer_.size() >= settings_.segment_max_bytes || now - segment_opened_ >= settings_.segment_max_age) {
      if (!flush_buffer() || !rotate()) break;
    }
    seal_into(buffer_, e.event, e.at, e.members);
    if (e.durability == config::Durability::batch && unsynced_batch_++ == 0) first_unsynced_ = now;
    if (e.durability == config::Durability::strict) unsynced_strict_ = true;
    unsynced_.push_back(std::move(e));
    // A long batch is written in pieces (bounded memory) and fsynced every fsync_records.
    if (buffer_.size() >= kWriteChunk && !flush_buffer()) {
      ++i;
      break;
    }
    if (unsynced_batch_ >= settings_.fsync_records && (!flush_buffer() || !sync())) {
      ++i;
      break;
    }
  }
  if (i == batch.size()) flush_buffer();
  // After a failure, the entries not sealed yet wait with the others for the retry.
  for (; i < batch.size(); ++i) {
    if (batch[i].durability == config::Durability::strict) complete(batch[i], false);
    else keep_pending(std::move(batch[i]));
  }
}

// Records held while the log cannot be written are bounded like the queue, in count and bytes.
void Writer::keep_pending(Entry&& e) {
  std::uint64_t bytes = entry_bytes(e);
  if (pending_.size() >= settings_.queue_records || pending_bytes_ + bytes > settings_.queue_bytes) {
    stats_.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  pending_bytes_ += bytes;
  pending_.push_back(std::move(e));
}

bool Writer::flush_buffer() {
  if (buffer_.empty()) return true;
  if (!write_all(fd_, buffer_.data(), buffer_.size())) {
    enter_failure(errno_text("write " + segment_));
    return false;
  }
  written_ += buffer_.size();
  buffer_.clear();
  return true;
}

bool Writer::rotate() {
  if (!sync()) return false;
  if (checkpoints_) checkpoints_->seal(durable_seq_, view(durable_hash_), segment_);  // the segment's end
  try {
    open_segment("rotation", "");
  } catch (const std::exception& e) {
    enter_failure(e.what());
    return false;
  }
  log::info("audit: new segment", {{"segment", segment_}});
  return true;
}

void Writer::maybe_sync(Steady::time_point now, bool force) {
  bool due = unsynced_strict_ || unsynced_batch_ >= settings_.fsync_records ||
             (unsynced_batch_ > 0 && now - first_unsynced_ >= settings_.fsync_interval) ||
             unsynced_.size() >= settings_.fsync_records;  // bounds what is kept for a re-write
  if (due || (force && written_ > durable_)) sync();
}

// After the batch's write (and fsync, where one was due): a checkpoint only ever names a record
// that is fsynced, so no crash or power loss can leave a checkpoint ahead of the log.
void Writer::maybe_checkpoint(Steady::time_point now, bool force) {
  if (!checkpoints_) return;
  switch (checkpoints_->due(durable_seq_, last_seq_, now, force)) {
    case Checkpointer::Due::no:
      return;
    case Checkpointer::Due::after_sync:
      if (!sync()) return;
      break;
    case Checkpointer::Due::now:
      break;
  }
  checkpoints_->seal(durable_seq_, view(durable_hash_), segment_);
}

bool Writer::sync() {
  if (written_ == durable_ && unsynced_.empty()) return true;
  auto start = Steady::now();
  if (::fdatasync(fd_) != 0) {
    enter_failure(errno_text("fsync " + segment_));
    return false;
  }
  auto took = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Steady::now() - start).count());
  stats_.fsyncs.fetch_add(1, std::memory_order_relaxed);
  stats_.fsync_nanoseconds.fetch_add(took, std::memory_order_relaxed);
  static const metrics::Buckets buckets = metrics::latency_buckets();
  stats_.fsync_latency.observe(buckets, took);
  durable_ = written_;
  durable_seq_ = last_seq_;
  durable_hash_ = last_hash_;
  std::uint64_t journaled = 0;
  for (auto& e : unsynced_) {
    if (e.done) complete(e, true);
    journaled = std::max(journaled, e.journal_end);
  }
  if (journal_ && journaled > 0) {
    journal_->mark_durable(journaled);
    journal_full_.store(false, std::memory_order_release);
  }
  unsynced_.clear();
  unsynced_batch_ = 0;
  unsynced_strict_ = false;
  return true;
}

// A failed write or fsync means nothing since the last good fsync can be trusted to be on disk
// (after a failed fsync the kernel may have dropped those pages). So the file is cut back to the
// last durable byte, the chain goes back to the last durable record, and the records are kept
// to be written again, not assumed written. Strict requests waiting on them are refused.
void Writer::enter_failure(std::string why) {
  stats_.write_errors.fetch_add(1, std::memory_order_relaxed);
  if (state_.load() == State::ok) {
    log::error("audit: cannot write the audit log; audited requests get 503 audit_unavailable until it recovers",
               {{"error", why}, {"segment", segment_}});
    begin_outage(why);
  }
  {
    std::lock_guard lock(reason_mutex_);
    reason_ = std::move(why);
  }
  state_.store(State::failed, std::memory_order_release);
  (void)::ftruncate(fd_, static_cast<off_t>(durable_));  // again at each retry if this fails
  written_ = durable_;
  last_seq_ = durable_seq_;
  last_hash_ = durable_hash_;
  std::vector<Entry> retry;
  for (auto& e : unsynced_) {
    if (e.durability == config::Durability::strict) complete(e, false);  // refused, so never forwarded
    else retry.push_back(std::move(e));
  }
  unsynced_.clear();
  unsynced_batch_ = 0;
  unsynced_strict_ = false;
  buffer_.clear();
  retry.insert(retry.end(), std::make_move_iterator(pending_.begin()), std::make_move_iterator(pending_.end()));
  pending_.clear();
  pending_bytes_ = 0;
  for (auto& e : retry) keep_pending(std::move(e));
  retry_at_ = Steady::now() + kRetryEvery;
}

// Healthy again only once proven: the outage's own audit.unavailable record is written and
// fsynced before any request is admitted. (Declaring success first and writing after let requests
// through in the gap, and their records were lost when the write failed again.)
void Writer::try_recover(Steady::time_point now) {
  retry_at_ = now + kRetryEvery;
  if (low_disk_.load()) return;
  if (::ftruncate(fd_, static_cast<off_t>(durable_)) != 0 || ::fdatasync(fd_) != 0) return;
  auto proof = take_outage_record();  // always one: the outage began with the failure
  buffer_.clear();
  seal_into(buffer_, proof->event, proof->at, proof->members);
  if (!write_all(fd_, buffer_.data(), buffer_.size()) || ::fdatasync(fd_) != 0) {
    std::string why = errno_text("write " + segment_);
    (void)::ftruncate(fd_, static_cast<off_t>(durable_));
    last_seq_ = durable_seq_;
    last_hash_ = durable_hash_;
    stats_.records[static_cast<std::size_t>(Event::audit_unavailable)].fetch_sub(1, std::memory_order_relaxed);
    buffer_.clear();
    begin_outage(why);  // a new window: the record of the one that ended is kept, below
    {
      std::lock_guard lock(reason_mutex_);
      reason_ = std::move(why);
    }
    // That record (and the refusals it counts) waits with the held records, first in line.
    pending_.insert(pending_.begin(), std::move(*proof));
    pending_bytes_ += entry_bytes(pending_.front());
    return;
  }
  written_ += buffer_.size();
  durable_ = written_;
  durable_seq_ = last_seq_;
  durable_hash_ = last_hash_;
  buffer_.clear();
  state_.store(State::ok, std::memory_order_release);
  std::vector<Entry> again = std::move(pending_);
  pending_.clear();
  pending_bytes_ = 0;
  write_entries(again);
  if (state_.load() == State::ok && sync()) {
    log::info("audit: the audit log is writable again; audited requests proceed", {{"segment", segment_}});
  }
}

bool Writer::outage_over() const {
  return (in_outage_ || tally_total_.load(std::memory_order_relaxed) > 0) && accepting();
}

void Writer::begin_outage(std::string_view cause) {
  if (in_outage_) return;
  in_outage_ = true;
  outage_since_ = std::chrono::system_clock::now();
  outage_cause_ = cause;
}

// The audit.unavailable record of the outage that is ending: its window, its cause and the
// refusals counted meanwhile. nullopt when there was neither an outage nor a refusal.
std::optional<Entry> Writer::take_outage_record() {
  Tally tally;
  {
    std::lock_guard lock(tally_mutex_);
    tally = std::move(tally_);
    tally_ = Tally{};
    tally_total_.store(0, std::memory_order_relaxed);
  }
  if (!in_outage_ && tally.total == 0) return std::nullopt;
  auto now = std::chrono::system_clock::now();
  auto since = in_outage_ ? outage_since_ : tally.first;
  if (tally.total > 0 && tally.first < since) since = tally.first;
  Entry e;
  e.event = Event::audit_unavailable;
  e.at = now;
  auto& m = e.members;
  m = ",\"since\":\"" + format_timestamp(since) + "\",\"until\":\"" + format_timestamp(now) + "\",\"failure\":";
  scopegate::json::append_string(m, in_outage_ ? std::string_view(outage_cause_) : std::string_view("the audit queue was full"));
  m += ",\"refused\":{";
  bool first = true;
  for (const auto& [reason, count] : tally.by_reason) {
    if (!first) m += ',';
    first = false;
    scopegate::json::append_string(m, reason);
    m += ':' + std::to_string(count);
  }
  m += "},\"refused_total\":" + std::to_string(tally.total);
  in_outage_ = false;
  outage_cause_.clear();
  return e;
}

void Writer::check_disk(Steady::time_point now) {
  if (now - disk_checked_ < kDiskCheckEvery) return;
  disk_checked_ = now;
  if (auto dropped = stats_.dropped.load(std::memory_order_relaxed); dropped != dropped_logged_) {
    log::error("audit: records were lost: the queue was full or the log could not be written",
               {{"dropped_total", std::to_string(dropped)}});
    dropped_logged_ = dropped;
  }
  if (settings_.disk_reserve == 0) return;
  struct statvfs vfs {};
  if (::fstatvfs(dir_fd_, &vfs) != 0) return;
  std::uint64_t free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  bool low = free_bytes < settings_.disk_reserve;
  if (low != low_disk_.load()) {
    if (low) {
      log::error("audit: free disk below audit.disk_reserve; audited requests get 503 audit_unavailable",
                 {{"free_bytes", std::to_string(free_bytes)}, {"reserve", std::to_string(settings_.disk_reserve)}});
      begin_outage("free disk below audit.disk_reserve (" + std::to_string(free_bytes) + " bytes free)");
    } else {
      log::info("audit: free disk back above audit.disk_reserve", {{"free_bytes", std::to_string(free_bytes)}});
    }
    low_disk_.store(low, std::memory_order_release);
  }
}

void Writer::complete(Entry& e, bool ok) {
  if (!e.done) return;
  auto done = std::move(e.done);
  e.done = nullptr;
  done(ok);
}

// The waiting coroutine sleeps on a timer that never expires by itself; the writer's answer is
// posted to the coroutine's executor, which stores it and cancels the timer.
boost::asio::awaitable<bool> commit(Writer& writer, Entry entry, boost::asio::any_io_executor ex) {
  struct Wait {
    explicit Wait(const boost::asio::any_io_executor& ex) : timer(ex, boost::asio::steady_timer::time_point::max()) {}
    boost::asio::steady_timer timer;
    bool durable = false;
  };
  auto wait = std::make_shared<Wait>(ex);
  entry.done = [wait](bool ok) {
    boost::asio::post(wait->timer.get_executor(), [wait, ok] {
      wait->durable = ok;
      wait->timer.cancel();
    });
  };
  if (!writer.submit(entry)) co_return false;
  co_await wait->timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  co_return wait->durable;
}

}  // namespace scopegate::audit
