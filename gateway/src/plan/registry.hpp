// The plans this node runs (docs/plans.md), shared by every worker: registered by POST /v1/plans,
// checked on every action under a scope bound to one of their tasks, advanced by the app's timer.
// One mutex guards them all: a check is a lookup, a few comparisons and a pattern match, far shorter
// than anything else a request does. Requests under no plan never take it (active() is an atomic).
//
// What happens is handed to a Reporter while the lock is held (the audit records and metrics, which
// only copy and return), so the order of the plan.task records is the order of the changes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <array>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plan/run.hpp"

namespace scopegate::plan {

inline constexpr std::size_t kMaxActivePlans = 1024;  // unfinished plans per node
inline constexpr std::size_t kMaxHeldPlans = 4096;    // finished ones are kept, for GET, until their scope expires
inline constexpr std::size_t kMaxPlansPerRoot = 64;    // unfinished plans in one delegation tree
inline constexpr std::size_t kMaxA2aTasks = 16384;    // A2A task ids remembered, for GetTask and streams
inline constexpr std::size_t kMaxA2aTaskId = 256;     // longer ids are not remembered
inline constexpr std::size_t kMaxForgotten = 65536;   // finished plans let go of, remembered by id and mode

class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void opened(const PlanRun& plan, std::string_view request_id) = 0;
  virtual void changed(const PlanRun& plan, const TaskChange& change) = 0;
  virtual void deviated(const PlanRun& plan, const Deviation& deviation) = 0;
  virtual void finished(const PlanRun& plan) = 0;
};

// What a check concluded for the request.
struct Check {
  enum class Outcome { ok, deviation, unknown };
  Outcome outcome = Outcome::ok;
  bool refuse = false;           // enforce mode, or a task of a plan outside the caller's scope
  std::string message;           // for the client: which task, what it allows
  std::string plan, task;        // for the request's record; empty when no plan applies
  std::optional<DeviationKind> kind;
};

// A task of a plan: "<plan id>/<task id>" split.
struct TaskRef {
  std::string_view plan, task;
};
std::optional<TaskRef> split_task_ref(std::string_view text);

struct OpenRefusal {
  bool over_capacity = false;  // the node's bound (503), rather than the request (400)
  std::string message;
};

class Registry {
 public:
  // Registers a plan for `owner.scope`: refused over the node's bound or while that scope runs
  // another plan. Reports plan.open.
  std::optional<OpenRefusal> open(std::string id, PlanSpec spec, Owner owner, std::int64_t now_us,
                                   std::int64_t expires_us, std::string_view request_id, Reporter& reporter);

  // A plan rebuilt from the audit log at start (plan/replay.hpp), reported to no one: its records
  // are in the log already.
  void restore(PlanRun plan);
  // A finished plan let go of (here, or before a restart): an action under one of its tasks can no
  // longer be checked, but is known to come after the plan ended.
  void forget(std::string_view id, Mode mode);

  // Unfinished plans on this node: when 0, no delegation needs a look here.
  std::size_t active() const { return active_.load(std::memory_order_relaxed); }

  // An action under a scope whose chain carries `bound` ("<plan>/<task>", from the token).
  Check check_action(std::string_view bound, const Act& act, std::int64_t now_us, Reporter& reporter);
  // A delegation naming a task (Delegation-Task, or `task` on POST /v1/scopes). `caller_scopes`:
  // the ids of the caller's scope and its ancestors; the plan must belong to one of them.
  Check check_binding(std::string_view named, std::span<const std::string_view> caller_scopes, const Act& act,
                      std::int64_t now_us, Reporter& reporter);
  // A delegation naming no task from a scope under no task: a deviation when that scope, or one of
  // its ancestors (`chain`, the root first), runs a plan.
  Check check_unplanned(std::span<const std::string_view> chain, const Act& act, std::int64_t now_us,
                        Reporter& reporter);

  // The child scope of a binding delegation opened: its task starts running.
  void start(std::string_view plan, std::string_view task, std::string_view scope, std::string_view cause,
             std::string_view request_id, std::int64_t now_us, Reporter& reporter);
  // A task ended. False when there is no such plan or task.
  bool finish(std::string_view plan, std::string_view task, TaskState to, std::string_view cause,
              std::string_view scope, std::string_view request_id, std::int64_t now_us, Reporter& reporter);
  // Whether a caller whose scope chain is `chain` (the root first) may end the task through the API:
  // the plan's own scope may end any task, a task's own scope (or one below it) that task. Why not, else.
  struct EndRefusal {
    bool unknown = false;  // no such plan or task (404), rather than not this caller's to end (403)
    std::string message;
  };
  std::optional<EndRefusal> may_end(std::string_view plan, std::string_view task,
                                    std::span<const std::string_view> chain) const;
  // A request carrying the task ended.
  void note_request(std::string_view plan, std::string_view task, bool tool_call, std::int64_t duration_us);

  // A2A: the delegation carrying a task answered with an unfinished A2A task; its later state
  // (GetTask, a stream) decides the plan task, when asked on the same route from the plan's scope
  // or below.
  struct FollowedTask {
    std::string plan, task, route, owner_scope;
  };
  void remember_a2a_task(std::string_view a2a_task, std::string_view plan, std::string_view task,
                         std::string_view route);
  std::optional<FollowedTask> a2a_task(std::string_view a2a_task) const;

  // Deadlines and expiries up to `now`; plans whose scope has expired are forgotten.
  void advance(std::int64_t now_us, Reporter& reporter);

  // The plan view (PlanRun::write_view), for callers whose scope chain includes the plan's scope
  // (empty span: no restriction, the admin listener). nullopt: unknown, or not visible.
  std::optional<std::string> view(std::string_view id, std::span<const std::string_view> caller_scopes) const;
  // Whether the plan exists and a caller with this chain may see it (the same rule as view()).
  bool visible(std::string_view id, std::span<const std::string_view> caller_scopes) const;
  // {"plans":[{"plan","scope","agent","goal","mode","state","started","tasks","completed"}...]}
  std::string list() const;

  struct Counts {
    std::size_t active = 0;
    std::array<std::size_t, kTaskStateCount> tasks{};  // of every plan held, by state
  };
  Counts counts() const;

 private:
  PlanRun* find(std::string_view id);
  void report(PlanRun& plan, Effects& fx, Reporter& reporter);
  Check conclude(PlanRun& plan, std::size_t task, Effects& fx, Reporter& reporter);

  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<PlanRun>, std::less<>> plans_;
  std::map<std::string, std::string, std::less<>> by_scope_;  // owner scope → its unfinished plan
  std::map<std::string, FollowedTask, std::less<>> a2a_tasks_;
  std::deque<std::map<std::string, FollowedTask, std::less<>>::iterator> a2a_order_;  // oldest first, for the bound
  std::atomic<std::size_t> active_{0};
  // Finished plans let go of (evicted, or their scope expired): their mode says what an action
  // under one of their tasks gets (enforce: refused as after their end; observe: let through).
  std::map<std::string, Mode, std::less<>> forgotten_;
  std::deque<std::string> forgotten_order_;
  void remember_forgotten(const PlanRun& plan);
};

}  // namespace scopegate::plan
