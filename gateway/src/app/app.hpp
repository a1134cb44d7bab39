// The application: worker threads, the control thread (signals, admin endpoint, reloads), the
// current config snapshot, and graceful shutdown.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "app/snapshot.hpp"
#include "app/worker.hpp"
#include "audit/sink.hpp"
#include "audit/writer.hpp"
#include "delegation/registry.hpp"
#include "listener/runtime.hpp"

namespace scopegate::app {

class App {
 public:
  App(std::string config_path, std::shared_ptr<const Snapshot> initial);
  ~App();

  // Binds, serves until SIGTERM/SIGINT and the drain, then returns the process exit code.
  int run();

  std::shared_ptr<const Snapshot> snapshot() const;
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  struct ReloadOutcome {
    bool ok = false;
    std::string message;
  };
  // Loads the config file again; on success swaps the snapshot, else keeps the running one.
  ReloadOutcome reload();

  bool draining() const { return draining_.load(std::memory_order_relaxed); }

  // Scopes this node opened or has seen, and revocations; shared by every worker.
  delegation::ScopeRegistry& scopes() { return scopes_; }
  // Where requests and scope events are reported (the audit writer, the log).
  audit::FactSink& sink() { return *sink_; }
  // The audit writer, or null when no audit.dir is configured (nothing to fail closed on).
  audit::Writer* audit_writer() { return writer_.get(); }
  // Where admin queries over the audit log run (one at a time), off the control thread.
  boost::asio::thread_pool& query_pool() { return query_pool_; }

  // Open client connections across all workers (for limits.max_connections and draining).
  std::atomic<std::size_t> connections{0};

 private:
  bool bind_listeners();
  void begin_shutdown();
  void wait_for_drain(std::chrono::steady_clock::time_point deadline);
  void schedule_scope_sweep();

  std::string config_path_;
  mutable std::mutex snapshot_mutex_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::atomic<std::uint64_t> generation_{1};
  std::atomic<bool> draining_{false};
  delegation::ScopeRegistry scopes_;
  std::unique_ptr<audit::Writer> writer_;  // before sink_, which refers to it
  std::unique_ptr<audit::FactSink> sink_ = std::make_unique<audit::LogSink>();

  boost::asio::io_context control_{1};
  boost::asio::thread_pool query_pool_{1};  // after control_: joined before it is destroyed
  std::unique_ptr<boost::asio::steady_timer> scope_sweep_;  // after control_: destroyed before it
  std::vector<listener::ListenerRuntime> listeners_;
  std::vector<std::unique_ptr<Worker>> workers_;
  int exit_code_ = 0;
};

}  // namespace scopegate::app
