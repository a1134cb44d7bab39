// Notices when the policy files change on disk (Linux inotify) and asks for a reload, once per
// burst of changes (docs/policies.md, "Reloading"). It runs on the control thread's io_context:
// the reload it asks for runs there too, one at a time with SIGHUP and POST /v1/reload, and never
// on a worker.
//
// What is watched, for each path the config's `policies:` names:
//  - the directory that holds it, for events naming it: a file or directory created, deleted or
//    renamed into place under that name. Editors and `mv` replace a file by renaming a new one
//    over it, which a watch on the old inode alone would never see; a directory that is removed
//    and created again is seen here too.
//  - the path itself (following a symbolic link): a file rewritten in place (when its writer
//    closes it), or for a directory every file created, deleted, renamed or rewritten in it.
//    Names in a named directory are not filtered: a Kubernetes ConfigMap swaps a `..data` link,
//    not the *.yaml names. A change that leaves every policy file's bytes as they were reloads
//    nothing (the app compares SHA-256s).
// The watches are set again before each reload reads the files, so a change made while it reads
// is another event, and another reload.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "app/debounce.hpp"

namespace scopegate::app {

class PolicyWatch {
 public:
  // A burst of changes is reloaded this long after its last event, and at most kMaxWait after its first.
  static constexpr std::chrono::milliseconds kQuiet{300};
  static constexpr std::chrono::milliseconds kMaxWait{2000};

  // `on_change` is called on `control` once a burst of changes is due.
  PolicyWatch(boost::asio::io_context& control, std::function<void()> on_change);
  ~PolicyWatch();
  PolicyWatch(const PolicyWatch&) = delete;
  PolicyWatch& operator=(const PolicyWatch&) = delete;

  // From now on, watch these paths (the running config's `policies:`) and no others. Called at
  // start and after every reload, so the watches follow the list and are set again on paths
  // whose directory was removed and created since.
  void follow(std::vector<std::string> paths);

  // Stops watching (shutdown): no reload is asked for after this.
  void stop();

 private:
  boost::asio::awaitable<void> read_events();
  bool read(const char* buf, std::size_t n);  // takes in the events read; true when one matters
  bool relevant(int wd, std::uint32_t mask, const char* name) const;
  bool sync();  // sets the watches for paths_; true when one of them is new
  void changed();
  void arm();

  boost::asio::io_context& control_;
  std::function<void()> on_change_;
  boost::asio::posix::stream_descriptor inotify_;
  boost::asio::steady_timer timer_;
  Debounce debounce_{kQuiet, kMaxWait};
  std::vector<std::string> paths_;
  // Per watch descriptor, the names its events must carry to count; "" stands for any name, and
  // for the watched file or directory itself.
  std::map<int, std::set<std::string>> watches_;
  std::set<std::string> unwatchable_;  // paths whose watch failed for a reason already logged
  bool unavailable_ = false;           // inotify itself could not be had (logged once)
  bool reading_ = false;  // read_events() is running
  bool armed_ = false;    // the timer waits for the debounce
  bool stopped_ = false;
};

}  // namespace scopegate::app
