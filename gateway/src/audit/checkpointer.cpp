#include "audit/checkpointer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "audit/chain.hpp"
#include "audit/segments.hpp"
#include "log/log.hpp"

namespace scopegate::audit {

namespace {

using namespace std::chrono_literals;
constexpr auto kRetryEvery = 5s;
constexpr auto kLogFailuresEvery = 60s;

crypto::Ed25519Key signing_key(const config::Checkpoints& settings) {
  std::string why;
  auto key = crypto::Ed25519Key::from_private_pem(settings.private_key_pem, why);
  if (!key) throw std::runtime_error("audit.checkpoints." + settings.key_source + ": not an Ed25519 private key: " + why);
  return *key;
}

// A file descriptor closed on every path out.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Checkpointer::Checkpointer(const config::Checkpoints& settings, std::string node, CheckpointStats& stats)
    : settings_(settings),
      node_(std::move(node)),
      node_dir_(settings_.dir + "/" + node_),
      key_(signing_key(settings_)),
      stats_(stats) {
  settings_.private_key_pem.clear();  // the key lives in key_ only
  log::info("audit: signed checkpoints on", {{"dir", node_dir_},
                                              {"key_id", key_.key_id()},
                                              {"every_records", std::to_string(settings_.every_records)},
                                              {"every_ms", std::to_string(settings_.every.count())}});
  thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

Checkpointer::~Checkpointer() { stop(); }

void Checkpointer::stop() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
}

Checkpointer::Due Checkpointer::due(std::uint64_t durable_seq, std::uint64_t last_seq, Steady::time_point now,
                                   bool force) const {
  if (last_seq <= sealed_seq_) return Due::no;
  if (durable_seq > sealed_seq_ && durable_seq - sealed_seq_ >= settings_.every_records) return Due::now;
  if (force || now - sealed_at_ >= settings_.every) return durable_seq == last_seq ? Due::now : Due::after_sync;
  return Due::no;
}

void Checkpointer::seal(std::uint64_t seq, std::string_view hash, std::string_view segment) {
  if (seq <= sealed_seq_) return;
  Checkpoint c;
  c.node = node_;
  c.seq = seq;
  c.hash = hash;
  c.ts = format_timestamp(std::chrono::system_clock::now());
  c.segment = segment;
  try {
    sign(c, key_);
  } catch (const std::exception& e) {  // OpenSSL failing to sign: as a checkpoint not written
    stats_.failures.fetch_add(1, std::memory_order_relaxed);
    log::error("audit: cannot sign a checkpoint", {{"seq", std::to_string(seq)}, {"error", e.what()}});
    return;
  }
  sealed_seq_ = seq;
  sealed_at_ = Steady::now();
  stats_.sealed.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(mutex_);
    if (pending_) stats_.superseded.fetch_add(1, std::memory_order_relaxed);
    pending_ = Job{seq, checkpoint_text(c)};
    fresh_ = true;
  }
  wake_.notify_one();
}

void Checkpointer::run(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  for (;;) {
    auto fresh = [&] { return fresh_; };
    if (pending_) wake_.wait_until(lock, stop, retry_at_, fresh);  // a failed one: tried again at retry_at_
    else wake_.wait(lock, stop, fresh);
    bool stopping = stop.stop_requested();
    if (!pending_) {
      if (stopping) return;
      continue;
    }
    if (!fresh_ && !stopping && Steady::now() < retry_at_) continue;
    Job job = *pending_;
    fresh_ = false;
    lock.unlock();
    std::string error;
    Stored result = store(job, error);
    note(result, job, error);
    lock.lock();
    // A refused one is not tried again; a failed one is, unless a newer one has replaced it.
    if (result != Stored::failed && pending_ && pending_->seq == job.seq) pending_.reset();
    retry_at_ = Steady::now() + kRetryEvery;
    if (stopping) {
      if (result == Stored::failed) {
        log::error("audit: the last checkpoint could not be written before exit",
                   {{"seq", std::to_string(job.seq)}, {"dir", node_dir_}, {"error", error}});
      }
      return;
    }
  }
}

// One file per checkpoint: written under a temporary name, fsynced, renamed into place and the
// directory fsynced, so a reader sees a whole checkpoint or none. An existing checkpoint is never
// replaced: one with the same seq can only come from a chain that started again.
Checkpointer::Stored Checkpointer::store(const Job& job, std::string& error) {
  auto fail = [&](const std::string& what) {
    error = what + ": " + std::strerror(errno);
    return Stored::failed;
  };
  std::error_code ec;
  if (std::filesystem::create_directories(node_dir_, ec) && !ec) {
    Fd parent{::open(settings_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (parent.fd >= 0) ::fsync(parent.fd);  // the new node directory's entry
  }
  if (ec) {
    error = "create " + node_dir_ + ": " + ec.message();
    return Stored::failed;
  }
  Fd dir{::open(node_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (dir.fd < 0) return fail("open " + node_dir_);
  std::string name = checkpoint_file_name(job.seq);
  std::string temporary = "." + name + ".tmp";
  struct stat st {};
  if (::fstatat(dir.fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    error = node_dir_ + "/" + name + " exists and is never replaced (did this node's chain start again? "
            "move its old checkpoints aside, keeping them as evidence)";
    return Stored::refused;
  }
  {
    Fd file{::openat(dir.fd, temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
    if (file.fd < 0) return fail("create " + node_dir_ + "/" + temporary);
    if (!write_all(file.fd, job.text.data(), job.text.size()) || ::fsync(file.fd) != 0) {
      Stored s = fail("write " + node_dir_ + "/" + temporary);
      ::unlinkat(dir.fd, temporary.c_str(), 0);
      return s;
    }
  }
  if (::renameat(dir.fd, temporary.c_str(), dir.fd, name.c_str()) != 0) {
    Stored s = fail("rename to " + node_dir_ + "/" + name);
    ::unlinkat(dir.fd, temporary.c_str(), 0);
    return s;
  }
  if (::fsync(dir.fd) != 0) return fail("fsync " + node_dir_);
  return Stored::ok;
}

// Failures are counted each time and logged at once, then at most once a minute while they last.
void Checkpointer::note(Stored result, const Job& job, const std::string& error) {
  if (result == Stored::ok) {
    stats_.written.fetch_add(1, std::memory_order_relaxed);
    if (failing_) {
      log::info("audit: checkpoints are written again", {{"seq", std::to_string(job.seq)}, {"dir", node_dir_}});
    }
    failing_ = false;
    failures_unlogged_ = 0;
    return;
  }
  stats_.failures.fetch_add(1, std::memory_order_relaxed);
  auto now = Steady::now();
  if (failing_ && now - failure_logged_ < kLogFailuresEvery) {
    ++failures_unlogged_;
    return;
  }
  log::error("audit: cannot write a checkpoint; the gateway goes on, and tries again",
             {{"seq", std::to_string(job.seq)},
              {"error", error},
              {"failures_since_last_message", std::to_string(failures_unlogged_)},
              {"failures_total", std::to_string(stats_.failures.load(std::memory_order_relaxed))}});
  failing_ = true;
  failure_logged_ = now;
  failures_unlogged_ = 0;
}

}  // namespace scopegate::audit
