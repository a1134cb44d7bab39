// The application: worker threads, the control thread (signals, admin endpoint, reloads), the
// current config snapshot, and graceful shutdown. It is the top of the runtime: it starts the
// listeners and the admin endpoint.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "admin/admin.hpp"
#include "app/health_checks.hpp"
#include "app/policy_watch.hpp"
#include "app/snapshot.hpp"
#include "audit/sink.hpp"
#include "listener/runtime.hpp"
#include "runtime/services.hpp"
#include "runtime/worker.hpp"

namespace scopegate::app {

// The shared services (snapshot, scopes, sink, connection count) are runtime::Services, which the
// workers, stages and sessions see; admin::Control adds what the admin endpoint may ask (reload, the
// query pool); App adds what only the process owner does.
class App : public admin::Control {
 public:
  App(std::string config_path, std::shared_ptr<const Snapshot> initial);
  ~App();

  // Binds, serves until SIGTERM/SIGINT and the drain, then returns the process exit code.
  int run();

  // POST /v1/reload: loads the config file again; on success swaps the snapshot, else keeps the
  // running one.
  ReloadOutcome reload() override { return reload_config(audit::ReloadTrigger::admin); }

  // Where admin queries over the audit log run (one at a time), off the control thread.
  boost::asio::thread_pool& query_pool() override { return query_pool_; }

 private:
  bool bind_listeners();
  void begin_shutdown();
  void wait_for_drain(std::chrono::steady_clock::time_point deadline);
  void schedule_scope_sweep();
  void schedule_plan_clock();
  void replay_plans();
  void replay_budgets();
  void apply_fleet_revocation(const std::string& id, std::int64_t until, bool record);

  // Reloads, each on the control thread and so one at a time; every one is a policy.reload record.
  ReloadOutcome reload_config(audit::ReloadTrigger trigger);  // SIGHUP, POST /v1/reload
  void reload_policy_files();                                 // a policy file changed on disk
  ReloadOutcome publish(std::shared_ptr<Snapshot> next, audit::ReloadTrigger trigger);
  ReloadOutcome refuse(const std::vector<config::ConfigError>& errors, audit::ReloadTrigger trigger);

  std::string config_path_;
  boost::asio::io_context control_{1};
  boost::asio::thread_pool query_pool_{1};  // after control_: joined before it is destroyed
  std::unique_ptr<boost::asio::steady_timer> scope_sweep_;  // after control_: destroyed before it
  std::unique_ptr<boost::asio::steady_timer> plan_clock_;   // deadlines of plan tasks (docs/plans.md)
  std::unique_ptr<PolicyWatch> policy_watch_;                // after control_: destroyed before it
  std::unique_ptr<HealthChecks> health_checks_;              // after control_: destroyed before it
  // The latest reload was refused: the next one from disk is recorded even if the policy files are
  // the running ones again, so the log does not end on the refusal.
  bool last_reload_refused_ = false;
  std::vector<listener::ListenerRuntime> listeners_;
  std::vector<std::pair<std::string, std::int64_t>> revocations_from_file_;  // fleet mode: published at start
  std::vector<std::unique_ptr<runtime::Worker>> workers_;
  int exit_code_ = 0;
};

}  // namespace scopegate::app
