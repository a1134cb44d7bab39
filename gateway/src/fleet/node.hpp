// This gateway as one node of a fleet (docs/fleet.md): its own thread, two connections to the
// fleet's Redis (one for commands, one subscribed to revocations), and what the rest of the gateway
// asks of them. Revocations: every revocation any node makes is applied here within one publish
// (pub/sub), and the whole set is loaded again whenever the subscription is (re)made, before the
// node counts as in sync. Leases: slices of budgets and rate limits taken with one atomic script
// each, so that requests spend locally and Redis is asked once a slice. Nothing on a worker waits
// for Redis except a request whose lease has run out.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"

namespace scopegate::fleet {

class RedisConnection;

// Counters for the metrics (runtime/gateway_metrics.cpp copies them at each scrape).
#define SCOPEGATE_FLEET_STATS(X)                                                                     \
  X(store_errors)          /* commands that failed: no connection, a late reply, an error reply */ \
  X(revocations_published) /* revocations of this node written to Redis and published */           \
  X(revocations_received)  /* revocations of other nodes applied here */                           \
  X(budget_leases)         /* budget leases asked for */                                            \
  X(budget_leases_short)   /* ... of which Redis granted less than asked (the fleet's budget is near its end) */ \
  X(rate_leases)           /* rate-limit leases asked for */                                        \
  X(rate_leases_short)     /* ... of which the fleet's bucket held less than asked */               \
  X(unavailable_refusals)  /* requests refused because the store could not be reached */            \
  X(local_fallbacks)       /* decisions taken on local limits alone while the store was unreachable */

struct Stats {
#define SCOPEGATE_FLEET_STAT_FIELD(name) std::atomic<std::uint64_t> name{0};
  SCOPEGATE_FLEET_STATS(SCOPEGATE_FLEET_STAT_FIELD)
#undef SCOPEGATE_FLEET_STAT_FIELD
};

// A budget lease: what this node holds of the budget after the call (its spending and its leases,
// as Redis counts them) and the fleet's total taken of it. `failed` when Redis could not be asked.
struct BudgetLease {
  bool failed = false;
  std::uint64_t held = 0, total = 0;
  std::uint64_t before = 0;  // on a first lease: what the node held before and counts as spent now
};

// A rate-limit lease: tokens given, and when none were, how long until the fleet's bucket holds one.
struct RateLease {
  bool failed = false;
  std::uint64_t granted = 0;
  std::int64_t wait_ns = 0;
};

class Node {
 public:
  // A revocation made by another node, to apply here (the registry, and when `record` the audit
  // record: not for the set taken whole at start).
  using ApplyRevocation = std::function<void(const std::string& id, std::int64_t until, bool record)>;

  Node(config::Fleet settings, std::string node_name, ApplyRevocation apply);
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  ~Node();

  // Starts the fleet thread; returns at once. An unusable TLS setting is the one error here.
  bool start(std::string& error);
  void stop();

  const config::Fleet& settings() const { return settings_; }
  Stats& stats() { return stats_; }

  // The command connection is up.
  bool connected() const { return connected_.load(std::memory_order_acquire); }
  // The revocation set is current: subscribed, and the full set loaded since.
  bool in_sync() const { return in_sync_.load(std::memory_order_acquire); }
  // Ever in sync since start (readiness: a node serves no token before it has the set once).
  bool synced_once() const { return synced_once_.load(std::memory_order_acquire); }
  // Unix seconds up to which the revocation set is known complete: now while in sync, else the
  // last moment the subscription was seen alive.
  std::int64_t current_as_of() const;
  // Why the store is not usable, for /readyz and the log ("" while it is).
  std::string trouble() const;

  // Writes revocations to the fleet's set and publishes them. Those that cannot be written now are
  // kept and written when Redis is back; the answer says whether all were written now.
  boost::asio::awaitable<bool> publish_revocations(std::vector<std::pair<std::string, std::int64_t>> revoked);

  // Revocations to write and publish once Redis is reached (those of the revocations file at start,
  // which may include some still pending when this node last stopped). Before start() only.
  void queue_revocations(std::vector<std::pair<std::string, std::int64_t>> revoked);

  // Takes a budget lease: tells Redis what this node has spent of the budget (`used`: what it
  // spent beyond its leases is charged), and is granted up to `want` more while the fleet's total
  // stays within `limit`. The key expires at `expires`.
  // `first`: this process's first lease of the budget (what Redis says the node held is then spent).
  boost::asio::awaitable<BudgetLease> lease_budget(std::string scope, std::string kind, std::uint64_t used,
                                                   std::uint64_t want, std::uint64_t limit, std::int64_t expires,
                                                   bool first);
  // Tells Redis what this node has spent of a budget, beyond what it held (a response's bytes,
  // tokens or cost, known after the fact), without waiting; `done` gets the answer (failed or not)
  // on the fleet thread.
  void report_budget(std::string scope, std::string kind, std::uint64_t used, std::uint64_t limit,
                     std::int64_t expires, std::function<void(const BudgetLease&)> done);
  // Gives back what this node holds of the budget beyond what it has spent (`used`).
  void return_budget(std::string scope, std::string kind, std::uint64_t used);

  // Takes up to `want` tokens from the fleet's bucket `key` (rate tokens a second, up to burst).
  boost::asio::awaitable<RateLease> lease_rate(std::string key, std::uint64_t want, double rate, double burst);

  // Called on the fleet thread about once a second while the command connection is up (the
  // budget store gives idle leases back from it). Set before start().
  std::function<void()> on_tick;

 private:
  // Runs `task` on the fleet thread and resumes the caller on its own executor.
  template <class T>
  boost::asio::awaitable<T> on_fleet_thread(boost::asio::awaitable<T> task);

  boost::asio::awaitable<void> keep_commands();
  boost::asio::awaitable<void> keep_subscription();
  boost::asio::awaitable<bool> load_revocations();
  boost::asio::awaitable<void> flush_pending();
  boost::asio::awaitable<void> give_back(std::string budget_key, std::uint64_t used);
  boost::asio::awaitable<BudgetLease> lease(std::string budget_key, std::uint64_t used, std::uint64_t want,
                                            std::uint64_t limit, std::int64_t expires, bool first);
  void apply_message(std::string_view payload);
  std::string key(std::string_view suffix) const { return settings_.redis.key_prefix + std::string(suffix); }
  // Pub/sub channels are not per database: the channel names the database, so fleets sharing one
  // Redis on different databases with the same key_prefix do not hear each other.
  std::string channel() const { return key("db" + std::to_string(settings_.redis.db) + ":revocations"); }
  void set_trouble(std::string why);

  config::Fleet settings_;
  std::string node_name_;
  ApplyRevocation apply_;
  std::string instance_;  // this process, in the claim on the node's name
  Stats stats_;
  boost::asio::io_context io_{1};
  std::thread thread_;
  std::shared_ptr<void> tls_;  // the ssl::context for rediss://
  RedisConnection* commands_ = nullptr;  // fleet thread only; null while down
  std::atomic<bool> connected_{false}, subscribed_{false}, in_sync_{false}, synced_once_{false};
  std::atomic<std::int64_t> current_as_of_{0};
  std::atomic<bool> stopping_{false};
  mutable std::mutex trouble_mutex_;
  std::string trouble_ = "not connected yet";
  std::vector<std::pair<std::string, std::int64_t>> pending_;  // fleet thread only
  bool flushing_ = false;                                       // fleet thread only
};

}  // namespace scopegate::fleet
