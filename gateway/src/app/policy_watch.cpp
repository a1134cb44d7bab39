#include "app/policy_watch.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <sys/inotify.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "http/use_tuple.hpp"
#include "log/log.hpp"

namespace scopegate::app {

namespace asio = boost::asio;

namespace {

// Everything that can change what a path holds: a directory's entries (created, deleted, renamed
// in or out); a file's bytes, once its writer closes it (not each write of a half-written file);
// its permissions; and the watched inode itself going away or moving.
constexpr std::uint32_t kMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB |
                                IN_DELETE_SELF | IN_MOVE_SELF;

// The directory holding a path and the path's name in it: "policies/" and "policies" are the same
// directory, and a bare name is held by ".".
std::pair<std::string, std::string> holder_and_name(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  std::filesystem::path p(path);
  std::string holder = p.parent_path().string();
  return {holder.empty() ? "." : holder, p.filename().string()};
}

std::string error_text(int error) { return std::error_code(error, std::generic_category()).message(); }

}  // namespace

PolicyWatch::PolicyWatch(asio::io_context& control, std::function<void()> on_change)
    : control_(control), on_change_(std::move(on_change)), inotify_(control), timer_(control) {}

PolicyWatch::~PolicyWatch() { stop(); }

void PolicyWatch::follow(std::vector<std::string> paths) {
  if (stopped_) return;
  paths_ = std::move(paths);
  if (!inotify_.is_open() && !unavailable_ && !paths_.empty()) {
    int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
      unavailable_ = true;
      log::warn("policy files are not watched: inotify is unavailable; SIGHUP and POST /v1/reload still reload them",
                {{"error", error_text(errno)}});
      return;
    }
    inotify_.assign(fd);
  }
  if (!inotify_.is_open()) return;
  // A watch set only now may have missed a change made since the files were last read (at start,
  // or by the reload that changed the list): one more look settles it, and costs nothing when
  // the files are as they were.
  if (sync()) changed();
  if (!reading_) {
    reading_ = true;
    asio::co_spawn(control_, read_events(), asio::detached);
  }
}

void PolicyWatch::stop() {
  stopped_ = true;
  timer_.cancel();
  boost::system::error_code ec;
  inotify_.close(ec);  // removes every watch and ends read_events()
}

bool PolicyWatch::sync() {
  int fd = inotify_.native_handle();
  std::map<int, std::set<std::string>> next;
  bool added = false;
  auto watch = [&](const std::string& path, const std::string& name) {
    int wd = ::inotify_add_watch(fd, path.c_str(), kMask);
    if (wd < 0) return errno;
    added = added || !watches_.contains(wd);
    next[wd].insert(name);
    return 0;
  };
  for (const auto& path : paths_) {
    auto [holder, name] = holder_and_name(path);
    int held = watch(holder, name);
    // The path itself may be missing for now (deleted, or between a directory's removal and its
    // return): the watch on its holder sees it come back.
    int self = watch(path, "");
    int error = held != 0 ? held : (self == ENOENT ? 0 : self);
    if (error == 0) {
      unwatchable_.erase(path);
    } else if (unwatchable_.insert(path).second) {
      log::warn("cannot watch a policy path: its changes reload only on SIGHUP or POST /v1/reload",
                {{"path", path}, {"error", error_text(error)}});
    }
  }
  // inotify gives the same descriptor for the same inode, so a watch kept is not lost for a moment.
  for (const auto& [wd, names] : watches_) {
    if (!next.contains(wd)) ::inotify_rm_watch(fd, wd);
  }
  watches_ = std::move(next);
  return added;
}

bool PolicyWatch::relevant(int wd, std::uint32_t mask, const char* name) const {
  if (mask & IN_Q_OVERFLOW) return true;  // events were lost: any of them may have mattered
  if (mask & IN_IGNORED) return false;    // the watch is gone; what removed it had its own event
  auto it = watches_.find(wd);
  if (it == watches_.end()) return false;  // a watch given up since
  if (name == nullptr || *name == '\0') return true;  // the watched file or directory itself
  return it->second.contains("") || it->second.contains(name);
}

asio::awaitable<void> PolicyWatch::read_events() {
  // Room for many events at once; one event is at most sizeof(inotify_event) + NAME_MAX + 1.
  char buf[16 * 1024];
  while (!stopped_) {
    auto [ec, n] = co_await inotify_.async_read_some(asio::buffer(buf), http::use_tuple);
    if (ec) {
      if (ec != asio::error::operation_aborted) {
        log::warn("policy files are no longer watched; SIGHUP and POST /v1/reload still reload them",
                  {{"error", ec.message()}});
      }
      break;
    }
    if (read(buf, n)) changed();
  }
  reading_ = false;
}

bool PolicyWatch::read(const char* buf, std::size_t n) {
  bool any = false;
  for (std::size_t at = 0; at + sizeof(inotify_event) <= n;) {
    inotify_event event;
    std::memcpy(&event, buf + at, sizeof event);
    const char* name = event.len ? buf + at + sizeof(inotify_event) : nullptr;
    any = relevant(event.wd, event.mask, name) || any;
    if (event.mask & IN_IGNORED) watches_.erase(event.wd);
    at += sizeof(inotify_event) + event.len;
  }
  return any;
}

void PolicyWatch::changed() {
  debounce_.event(Debounce::Clock::now());
  // One wait at a time: a burst of thousands of events only moves the debounce's deadline, and a
  // wait that ends before the deadline waits again.
  if (!armed_) arm();
}

void PolicyWatch::arm() {
  auto due = debounce_.due();
  if (!due || stopped_) return;
  armed_ = true;
  timer_.expires_at(*due);
  timer_.async_wait([this](boost::system::error_code ec) {
    armed_ = false;
    if (ec || stopped_) return;
    if (!debounce_.take(Debounce::Clock::now())) {
      arm();
      return;
    }
    // Watches first, then the reload reads the files: a change made while it reads is an event
    // that asks for another reload, never a change missed.
    sync();
    on_change_();
  });
}

}  // namespace scopegate::app
