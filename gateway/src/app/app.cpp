#include "app/app.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <openssl/sha.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

#include "clock/steady.hpp"
#include "admin/admin.hpp"
#include "runtime/gateway_metrics.hpp"
#include "runtime/plan_reports.hpp"
#include "clock/unix_clock.hpp"
#include "audit/chain.hpp"
#include "crypto/hex.hpp"
#include "delegation/revocation_file.hpp"
#include "guard/budget_replay.hpp"
#include "plan/replay.hpp"
#include "listener/listener.hpp"
#include "listener/tls.hpp"
#include "log/log.hpp"

namespace scopegate::app {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

using clock::steady_ns;

namespace {

std::string to_string(const tcp::endpoint& e) {
  auto a = e.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(e.port());
}

bool listen_on(tcp::acceptor& acceptor, const tcp::endpoint& endpoint, bool reuse_port, std::string& error) {
  boost::system::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && reuse_port) {
    int one = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      ec.assign(errno, boost::system::system_category());
    }
  }
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) error = ec.message();
  return !ec;
}

// SO_REUSEPORT lets this process's workers share a port, but it would just as well let a second
// gateway (same user) join a port the first one serves, and the kernel would split the traffic
// between the two without a word. A socket bound without it finds out first: it cannot bind while
// anyone listens there. (Closed at once; the workers' acceptors bind right after.)
bool nobody_listens_on(asio::io_context& io, const tcp::endpoint& endpoint, std::string& error) {
  tcp::acceptor probe(io);
  boost::system::error_code ec;
  probe.open(endpoint.protocol(), ec);
  if (!ec) probe.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) probe.bind(endpoint, ec);
  if (ec == asio::error::address_in_use) {
    error = "the address is in use (another process listens there; SO_REUSEPORT would share it)";
  } else if (ec) {
    error = ec.message();
  }
  return !ec;
}
}  // namespace

App::App(std::string config_path, std::shared_ptr<const Snapshot> initial)
    : Control(std::move(initial)), config_path_(std::move(config_path)) {
  for (unsigned i = 0; i < snapshot_->config.workers; ++i) workers_.push_back(std::make_unique<runtime::Worker>(*this));
}

App::~App() = default;

bool App::bind_listeners() {
  const auto& cfg = snapshot_->config;
  for (const auto& l : cfg.listeners) {
    listener::ListenerRuntime runtime{l, nullptr, {}, listeners_.size()};
    if (l.tls) {
      std::string error;
      runtime.tls = listener::make_server_context(*l.tls, error);
      if (!runtime.tls) {
        log::error("cannot load TLS material", {{"listener", l.name}, {"error", error}});
        return false;
      }
    }
    boost::system::error_code ec;
    auto address = asio::ip::make_address(l.address, ec);
    if (ec) {
      log::error("invalid listener address", {{"listener", l.name}, {"address", l.address}});
      return false;
    }
    // Every worker gets its own acceptor on the same port (SO_REUSEPORT): the kernel spreads
    // connections and no accept lock is shared. Port 0 binds once, then the rest reuse the port.
    tcp::endpoint endpoint(address, l.port);
    if (std::string error; l.port != 0 && !nobody_listens_on(control_, endpoint, error)) {
      log::error("cannot listen", {{"listener", l.name}, {"address", to_string(endpoint)}, {"error", error}});
      return false;
    }
    for (auto& w : workers_) {
      auto& acceptor = w->acceptors().emplace_back(w->io());
      std::string error;
      if (!listen_on(acceptor, endpoint, true, error)) {
        log::error("cannot listen", {{"listener", l.name}, {"address", to_string(endpoint)}, {"error", error}});
        return false;
      }
      endpoint = acceptor.local_endpoint();
    }
    runtime.bound = endpoint;
    log::info("listening", {{"listener", l.name}, {"address", to_string(endpoint)}, {"tls", l.tls ? "true" : "false"}});
    listeners_.push_back(std::move(runtime));
  }
  return true;
}

int App::run() {
  // Start-up order (docs/operations.md): the config was loaded and checked (cli), then every
  // check that can refuse the start runs before the first data port is bound, so a gateway that
  // cannot serve never takes a share of the traffic.
  // 1. Revocations made before a restart hold again before the first request is accepted.
  if (const auto& file = snapshot_->config.token.revocations_file; !file.empty()) {
    delegation::Revocations kept;
    std::string error;
    std::int64_t now = clock::unix_now();
    if (!delegation::load_revocations(file, now, kept, error)) {
      log::error("cannot load the revocations file", {{"error", error}});
      return 1;
    }
    for (const auto& r : kept) scopes_.revoke(r.id, r.until);
    log::info("revocations loaded", {{"file", file}, {"revoked", std::to_string(kept.size())}});
    // In fleet mode they are published again once Redis is reached: one made while Redis was away,
    // and still pending when this node stopped, reaches the fleet all the same.
    for (const auto& r : kept) revocations_from_file_.emplace_back(r.id, r.until);
  }
  // 1b. Fleet mode (docs/fleet.md): the node's link to the fleet's Redis, and its budgets spent
  //     from leases. Made before the budget counters are rebuilt (they are rebuilt into it); started
  //     once the audit log is open, since a revocation it learns is recorded.
  if (const auto& fleet = snapshot_->config.fleet; fleet.enabled) {
    fleet_ = std::make_unique<fleet::Node>(fleet, snapshot_->config.node,
                                           [this](const std::string& id, std::int64_t until, bool record) {
                                             apply_fleet_revocation(id, until, record);
                                           });
    auto store = std::make_unique<fleet::FleetBudgetStore>(*fleet_);
    fleet_budgets_ = store.get();
    budgets_ = std::move(store);
    fleet_->on_tick = [this] { fleet_budgets_->return_idle(steady_ns()); };
    fleet_->queue_revocations(std::move(revocations_from_file_));
  }
  // 2. The audit directory: its lock says one gateway per directory, and a second one stops here
  //    naming the holder, before it reads or writes a byte of the log or binds a port. Recovery
  //    runs next, also before any port is bound: a damaged log stops the start, not the traffic.
  if (const auto& audit = snapshot_->config.audit; !audit.dir.empty()) {
    try {
      writer_ = std::make_unique<audit::Writer>(audit, snapshot_->config.node);
    } catch (const std::exception& e) {
      log::error("cannot open the audit log", {{"error", e.what()}});
      return 1;
    }
    sink_ = std::make_unique<audit::WriterSink>(*writer_);
    log::info("audit log open", {{"dir", audit.dir}, {"durability", config::to_string(audit.durability)}});
    replay_budgets();
    replay_plans();
  }
  runtime::record_breaker_states(*snapshot_);  // every breaker has its series from the start
  if (fleet_) {
    std::string error;
    if (!fleet_->start(error)) {
      log::error("cannot start fleet mode", {{"error", error}});
      return 1;
    }
    log::info("fleet mode: connecting to Redis", {{"node", snapshot_->config.node},
                                                  {"redis", snapshot_->config.fleet.redis.url}});
  }

  // 3. The admin listener, bound without SO_REUSEPORT: a second gateway on the same config (with
  //    no audit directory to lock) fails here, before it could share the data port.
  const auto& admin_cfg = snapshot_->config.admin;
  tcp::acceptor admin_acceptor(control_);
  {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(admin_cfg.address, ec);
    std::string error = ec ? ec.message() : "";
    if (ec || !listen_on(admin_acceptor, tcp::endpoint(address, admin_cfg.port), false, error)) {
      log::error("cannot listen (admin)", {{"address", admin_cfg.address + ":" + std::to_string(admin_cfg.port)},
                                           {"error", error}});
      return 1;
    }
    log::info("listening", {{"listener", "admin"}, {"address", to_string(admin_acceptor.local_endpoint())}});
  }

  // 4. The data listeners, last; nothing is accepted until every one of them is bound.
  if (!bind_listeners()) return 1;

  asio::co_spawn(control_, admin::serve(*this, admin_acceptor), asio::detached);
  schedule_scope_sweep();
  schedule_plan_clock();
  policy_watch_ = std::make_unique<PolicyWatch>(control_, [this] { reload_policy_files(); });
  policy_watch_->follow(snapshot_->config.policies);
  health_checks_ = std::make_unique<HealthChecks>(control_, *this);
  health_checks_->start(snapshot_);

  for (std::size_t w = 0; w < workers_.size(); ++w) {
    auto& worker = *workers_[w];
    for (std::size_t i = 0; i < listeners_.size(); ++i) {
      asio::co_spawn(worker.io(), listener::accept_loop(worker, worker.acceptors()[i], listeners_[i]), asio::detached);
    }
    asio::post(worker.io(), [&worker] { worker.start(); });
  }

  std::vector<std::thread> threads;
  for (auto& w : workers_) {
    threads.emplace_back([&io = w->io()] {
      io.run();
    });
  }

  asio::signal_set signals(control_, SIGINT, SIGTERM, SIGHUP);
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      reload_config(audit::ReloadTrigger::signal);
    } else if (!draining()) {
      log::info("shutting down: draining in-flight requests",
                {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                 {"drain_ms", std::to_string(snapshot()->config.timeouts.drain.count())}});
      // The admin listener stays up while draining, so load balancers see /readyz turn 503.
      begin_shutdown();
    } else {
      log::warn("second shutdown signal: closing every connection now");
      for (auto& w : workers_) asio::post(w->io(), [&w = *w] { w.force_close(); });
    }
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);
  log::info("ready", {{"node", snapshot_->config.node},
                      {"workers", std::to_string(workers_.size())},
                      {"routes", std::to_string(snapshot_->config.routes.size())}});

  control_.run();
  for (auto& t : threads) t.join();
  if (fleet_) {
    // After the workers: no request waits on it any more. What this node holds unspent of every
    // budget goes back to the fleet first (the other nodes need not wait for its leases to expire).
    fleet_budgets_->return_idle(steady_ns(), true);
    fleet_->stop();
  }
  // Every request has finished and reported: the writer drains its queue and fsyncs.
  if (writer_) writer_->stop();
  log::info("stopped");
  return exit_code_;
}

App::ReloadOutcome App::reload_config(audit::ReloadTrigger trigger) {
  auto outcome = [&]() -> ReloadOutcome {
    auto loaded = config::load_file(config_path_);
    std::shared_ptr<Snapshot> next;
    if (loaded.config) next = build_snapshot(std::move(*loaded.config), loaded.errors);
    if (!next) return refuse(loaded.errors, trigger);
    const auto& old_cfg = snapshot()->config;
    const auto& new_cfg = next->config;
    if (new_cfg.audit != old_cfg.audit || new_cfg.node != old_cfg.node) {
      // The writer owns the directory, the chain and its thread for the life of the process.
      return refuse({{config_path_, 0, "", "audit settings and node change only on restart"}}, trigger);
    }
    if (!(new_cfg.fleet == old_cfg.fleet)) {
      // The fleet's connections, leases and subscription live for the life of the process.
      return refuse({{config_path_, 0, "fleet", "fleet settings change only on restart"}}, trigger);
    }
    bool listeners_changed = new_cfg.listeners.size() != old_cfg.listeners.size() ||
                             new_cfg.workers != old_cfg.workers || new_cfg.admin.port != old_cfg.admin.port ||
                             new_cfg.admin.address != old_cfg.admin.address;
    for (std::size_t i = 0; !listeners_changed && i < new_cfg.listeners.size(); ++i) {
      const auto& a = new_cfg.listeners[i];
      const auto& b = old_cfg.listeners[i];
      listeners_changed = a.address != b.address || a.port != b.port || a.tls.has_value() != b.tls.has_value();
    }
    if (listeners_changed) {
      log::warn("listeners, admin address and workers change only on restart; the running ones are kept");
    }
    return publish(std::move(next), trigger);
  }();
  // The watches follow the running `policies:` list, and are set again on paths that came back.
  if (policy_watch_) policy_watch_->follow(snapshot()->config.policies);
  return outcome;
}

namespace {
bool same_files(const policy::PolicySet* a, const policy::PolicySet* b) {
  auto fa = a ? a->files() : std::span<const policy::FileInfo>();
  auto fb = b ? b->files() : std::span<const policy::FileInfo>();
  return std::equal(fa.begin(), fa.end(), fb.begin(), fb.end(), [](const auto& x, const auto& y) {
    return x.path == y.path && x.sha256_hex == y.sha256_hex;
  });
}

// Whether every file of a set just loaded still holds the bytes it was loaded from. A file that
// changed while the set was being read (an operator's script replacing several files) may have
// given a set that was never on disk at once; its change is an event that reloads again.
bool still_on_disk(const policy::PolicySet* set) {
  if (!set) return true;
  for (const auto& file : set->files()) {
    std::ifstream in(file.path, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    std::string text = bytes.str();
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
    if (!in || crypto::to_hex(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest)) !=
                   file.sha256_hex) {
      return false;
    }
  }
  return true;
}
}  // namespace

// A change on disk reloads the policies alone: the new snapshot is built from the running config
// with the policy files read again, rather than from the config file as SIGHUP does. The event
// says only that a policy file changed; an edit of the config file in progress must not be
// applied behind the operator's back, nor a config file broken for the moment block a policy fix.
// It still goes through build_snapshot, the one way a snapshot is built, so the new snapshot is
// whole and swapped in one step: every request is decided by the old set or the new one, never a
// part of each. (Like any build, it reads the routes' TLS files again; secrets and the rest come
// from the running config as they were resolved.)
void App::reload_policy_files() {
  if (draining()) return;
  auto running = snapshot();
  std::vector<config::ConfigError> errors;
  auto next = build_snapshot(running->config, errors);
  if (!next) {
    refuse(errors, audit::ReloadTrigger::file);
    return;
  }
  // Saved unchanged, touched, a temporary file come and gone: no policy file's bytes changed, so
  // there is nothing to reload and nothing to record. (After a refusal there is: the running set
  // is again what the files say, and the log should say so.)
  if (!last_reload_refused_ && same_files(next->policies.get(), running->policies.get())) {
    log::debug("policy files touched, their content unchanged: nothing to reload");
    return;
  }
  if (!still_on_disk(next->policies.get())) {
    log::debug("policy files changed while being read: the change reloads them again");
    return;
  }
  publish(std::move(next), audit::ReloadTrigger::file);
}

namespace {

// A reload keeps what a route's endpoints have learnt (docs/resilience.md, "Reloads"): an endpoint
// of a route that keeps its name, at the same host and port, shares its state object with the
// running snapshot: its breaker, and its count of requests in flight (those admitted under the
// running snapshot end on the same object). A breaker added by the reload starts closed.
void carry_over_upstream_state(const Snapshot& running, Snapshot& next) {
  for (std::size_t i = 0; i < next.config.routes.size(); ++i) {
    const auto& route = next.config.routes[i];
    for (std::size_t j = 0; j < running.config.routes.size(); ++j) {
      const auto& old = running.config.routes[j];
      if (old.name != route.name) continue;
      const auto& from = running.upstreams[j];
      auto& to = next.upstreams[i];
      to.retry_budget = from.retry_budget;
      for (auto& tool : to.tool_breakers) {
        for (const auto& previous : from.tool_breakers) {
          if (previous.tool == tool.tool) tool.breaker = previous.breaker;
        }
      }
      for (auto& endpoint : to.endpoints) {
        for (const auto& previous : from.endpoints) {
          if (previous.label != endpoint.label) continue;
          endpoint.state = previous.state;
          // A breaker the running config did not have starts closed, whatever an older config left in
          // it (no request under the running snapshot touches it).
          if (to.has_breaker && !from.has_breaker) endpoint.state->breaker.reset();
        }
      }
    }
  }
}

}  // namespace

App::ReloadOutcome App::publish(std::shared_ptr<Snapshot> next, audit::ReloadTrigger trigger) {
  auto current = snapshot();
  // Rate limits keep their levels: a reload neither refills a bucket nor empties one.
  if (next->rate_limiter && current->rate_limiter) next->rate_limiter->inherit(*current->rate_limiter, steady_ns());
  carry_over_upstream_state(*current, *next);
  // A concurrency limiter stays with its route's name, its count intact (docs/resilience.md).
  share_concurrency_limiters(*next, *current);
  {
    std::lock_guard lock(snapshot_mutex_);
    snapshot_ = next;
  }
  runtime::retire_breaker_series(*current, *next);
  runtime::record_breaker_states(*next);
  // The checkers follow the snapshot: those of the running one stop, the new one's start.
  if (health_checks_) health_checks_->start(next);
  auto generation = generation_.fetch_add(1, std::memory_order_acq_rel) + 1;
  last_reload_refused_ = false;
  std::size_t policy_files = next->policies ? next->policies->files().size() : 0;
  log::info("config reloaded", {{"file", config_path_},
                                {"trigger", std::string(audit::to_string(trigger))},
                                {"generation", std::to_string(generation)},
                                {"routes", std::to_string(next->config.routes.size())},
                                {"policy_files", std::to_string(policy_files)}});
  sink().config_reloaded({trigger, true, generation, next->policies.get(), {}});
  runtime::record_reload(true);
  return {true, "reloaded generation " + std::to_string(generation)};
}

// Budgets survive a restart (guard/budget_replay.hpp): every scope still alive was opened within
// token.max_ttl (and the clock skew), so the records of that stretch hold all it spent.
void App::replay_budgets() {
  const auto& cfg = snapshot_->config;
  auto horizon = std::chrono::system_clock::now() - cfg.token.max_ttl - cfg.token.clock_skew;
  std::int64_t expires = clock::unix_now() +
                         std::chrono::duration_cast<std::chrono::seconds>(cfg.token.max_ttl + cfg.token.clock_skew).count();
  auto started = std::chrono::steady_clock::now();
  auto stats = guard::replay_budgets(cfg.audit.dir, cfg.node, audit::format_timestamp(horizon), expires, *budgets_);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  if (!stats.error.empty()) {
    log::error("budget counters could not be rebuilt whole from the audit log", {{"error", stats.error}});
  }
  log::info("budget counters rebuilt from the audit log",
            {{"records", std::to_string(stats.records)}, {"spending", std::to_string(stats.charged)},
             {"segments_skipped", std::to_string(stats.segments_skipped)},
             {"scopes", std::to_string(budgets_->size())}, {"ms", std::to_string(ms)}});
}

// Plans survive a restart the same way (plan/replay.hpp): those whose scope is still alive are
// rebuilt from this node's records, so their bound scopes are checked as before rather than refused.
void App::replay_plans() {
  const auto& cfg = snapshot_->config;
  auto horizon = std::chrono::system_clock::now() - cfg.token.max_ttl - cfg.token.clock_skew;
  std::string error;
  auto plans = plan::replay_live(cfg.audit.dir, cfg.node, audit::format_timestamp(horizon), runtime::plan_now_us(), error);
  if (!error.empty()) log::error("plans could not be rebuilt from the audit log", {{"error", error}});
  std::size_t n = plans.size(), unfinished = 0;
  for (auto& p : plans) {
    unfinished += !p.finished();
    plans_.restore(std::move(p));
  }
  if (n > 0) {
    log::info("plans rebuilt from the audit log",
              {{"plans", std::to_string(n)}, {"unfinished", std::to_string(unfinished)}});
  }
}

App::ReloadOutcome App::refuse(const std::vector<config::ConfigError>& errors, audit::ReloadTrigger trigger) {
  std::vector<std::string> lines;
  std::string message;
  for (const auto& e : errors) {
    lines.push_back(e.to_string());
    log::error("config error", {{"error", lines.back()}});
    message += (message.empty() ? "" : "; ") + lines.back();
  }
  log::warn("reload rejected: the running config is kept", {{"file", config_path_},
                                                              {"trigger", std::string(audit::to_string(trigger))},
                                                              {"errors", std::to_string(errors.size())}});
  last_reload_refused_ = true;
  auto running = snapshot();
  sink().config_reloaded({trigger, false, generation(), running->policies.get(), lines});
  runtime::record_reload(false);
  return {false, message};
}

// Scopes are forgotten a while after they expire: no token for them can be accepted any more
// (the grace covers clock skew), so neither their records nor their revocations are needed.
void App::schedule_scope_sweep() {
  if (!scope_sweep_) scope_sweep_ = std::make_unique<asio::steady_timer>(control_);
  scope_sweep_->expires_after(std::chrono::seconds(60));
  scope_sweep_->async_wait([this](boost::system::error_code ec) {
    if (ec || draining()) return;
    std::int64_t now = clock::unix_now();
    auto skew = std::chrono::duration_cast<std::chrono::seconds>(snapshot()->config.token.clock_skew);
    if (auto n = scopes_.sweep(now, skew.count() + 60)) log::debug("expired scopes forgotten", {{"count", std::to_string(n)}});
    if (auto n = budgets_->forget_expired(now - skew.count() - 60)) {
      log::debug("budget counters of expired scopes forgotten", {{"count", std::to_string(n)}});
    }
    schedule_scope_sweep();
  });
}

// Plan tasks whose deadline passes with no action fail at their deadline, and plans whose scope
// expired are forgotten: looked at four times a second, a lock and a walk over the plans held.
void App::schedule_plan_clock() {
  if (!plan_clock_) plan_clock_ = std::make_unique<asio::steady_timer>(control_);
  plan_clock_->expires_after(std::chrono::milliseconds(250));
  plan_clock_->async_wait([this](boost::system::error_code ec) {
    if (ec || draining()) return;
    runtime::PlanReports reports(*this);
    plans_.advance(runtime::plan_now_us(), reports);
    schedule_plan_clock();
  });
}

// A revocation another node made, learnt from the fleet (docs/fleet.md): applied to this node's
// registry, and recorded in its log once (the same revocation heard again changes nothing). The set
// taken whole at start is not recorded, as the revocations file is not.
void App::apply_fleet_revocation(const std::string& id, std::int64_t until, bool record) {
  auto view = scopes_.find(id);
  auto revoked = scopes_.revoke(id, until);
  if (revoked.empty() || !record) return;
  std::vector<std::string> ids;
  for (const auto& r : revoked) ids.push_back(r.id);
  sink().scope_revoked(view ? &view->record : nullptr, id, ids, "fleet");
}

void App::begin_shutdown() {
  if (scope_sweep_) scope_sweep_->cancel();
  if (plan_clock_) plan_clock_->cancel();
  if (policy_watch_) policy_watch_->stop();
  if (health_checks_) health_checks_->stop();
  draining_ = true;
  for (auto& w : workers_) asio::post(w->io(), [&w = *w] { w.begin_drain(); });
  auto deadline = std::chrono::steady_clock::now() + snapshot()->config.timeouts.drain;
  wait_for_drain(deadline);
}

// Polls until every client connection has closed or the drain deadline passed, then stops.
void App::wait_for_drain(std::chrono::steady_clock::time_point deadline) {
  auto timer = std::make_shared<asio::steady_timer>(control_, std::chrono::milliseconds(20));
  timer->async_wait([this, timer, deadline](boost::system::error_code) {
    bool drained = connections.load() == 0;
    if (!drained && std::chrono::steady_clock::now() < deadline) {
      wait_for_drain(deadline);
      return;
    }
    if (!drained) {
      log::warn("drain deadline passed: closing the remaining connections",
                {{"connections", std::to_string(connections.load())}});
    }
    for (auto& w : workers_) {
      asio::post(w->io(), [&w = *w] {
        w.force_close();
        // The requests whose sockets were just closed resume with an error and end, writing their
        // audit records (cut), before the loop stops: a moment for them, not an unbounded wait.
        auto grace = std::make_shared<asio::steady_timer>(w.io(), std::chrono::milliseconds(200));
        grace->async_wait([&w, grace](boost::system::error_code) { w.io().stop(); });
      });
    }
    control_.stop();
  });
}

}  // namespace scopegate::app
