// A plan at execution time (docs/plans.md): each task's state, the deviations found, and what the
// plan view shows (progress, critical path, coordination overhead). Pure: time comes in as a
// parameter (Unix microseconds) and nothing is reported from here; the caller (plan/registry.hpp
// live, the query CLI from the log) reports or reads the effects.
//
// Every change goes through apply(), live and in replay alike, so a plan rebuilt from its plan.open,
// plan.task, plan.deviation and request records shows exactly what GET /v1/plans/{id} showed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plan/plan.hpp"

namespace scopegate::plan {

#define SCOPEGATE_TASK_STATES(X) X(pending) X(running) X(completed) X(failed) X(skipped) X(blocked)
#define SCOPEGATE_DEVIATION_KINDS(X) \
  X(wrong_agent) X(unapproved_action) X(sequence_violation) X(timing_violation) X(after_completion) X(unplanned_delegation)

enum class TaskState : std::uint8_t {
#define SCOPEGATE_PLAN_ENUM(name) name,
  SCOPEGATE_TASK_STATES(SCOPEGATE_PLAN_ENUM)
};
enum class DeviationKind : std::uint8_t { SCOPEGATE_DEVIATION_KINDS(SCOPEGATE_PLAN_ENUM) };
#undef SCOPEGATE_PLAN_ENUM

inline constexpr std::size_t kTaskStateCount = static_cast<std::size_t>(TaskState::blocked) + 1;
inline constexpr std::size_t kDeviationKindCount = static_cast<std::size_t>(DeviationKind::unplanned_delegation) + 1;

std::string_view to_string(TaskState s);
std::string_view to_string(DeviationKind k);
std::optional<TaskState> task_state_named(std::string_view name);
std::optional<DeviationKind> deviation_named(std::string_view name);
// completed, failed, skipped and blocked: nothing more happens to the task.
constexpr bool is_terminal(TaskState s) { return s != TaskState::pending && s != TaskState::running; }

// Deviations kept per plan (the view, the dedup); more are still counted.
inline constexpr std::size_t kMaxDeviations = 256;

// Who registered the plan: its scope, which the plan expires with.
struct Owner {
  std::string scope, agent, principal;
  std::string root;  // the root of the owner's scope: plans are bounded per delegation tree
};

// A task's change of state: one plan.task record.
struct TaskChange {
  std::size_t task = npos;
  TaskState from = TaskState::pending, to = TaskState::pending;
  std::string cause;       // delegation, first_action, reply, api, deadline, cascade, scope_expired, or an error code
  std::string scope;       // the scope it happened in, when one did
  std::string blocked_by;  // cascade: the critical task whose failure blocked it
  std::string request_id;
  std::int64_t at_us = 0;
};

// One deviation: one plan.deviation record.
struct Deviation {
  std::size_t task = npos;  // npos: a delegation that named no task
  DeviationKind kind = DeviationKind::unapproved_action;
  std::string scope, agent, action, request_id;
  std::int64_t at_us = 0;
  bool enforced = false;  // enforce mode: the request was refused
};

// An action or a delegation, as the checks see it.
struct Act {
  std::string_view agent;   // the caller; for a binding delegation, the agent it delegates to
  std::string_view action;  // what grants and policies checked ("tool:search", "agent:writer")
  std::string_view scope;   // the scope it runs under
  std::string_view request_id;
};

// What a check or an event changed, for the caller to report (audit, metrics). Already applied.
struct Effects {
  std::vector<TaskChange> changes;
  std::optional<Deviation> deviation;  // a new deviation (a repeat of a recorded one is not reported)
  std::optional<DeviationKind> kind;   // the deviation found, new or repeated: enforce mode refuses on it
  std::string message;                 // for the refusal: which task, and what it allows
};

class PlanRun {
 public:
  PlanRun(std::string id, PlanSpec spec, Owner owner, std::int64_t started_us, std::int64_t expires_us);

  const std::string& id() const { return id_; }
  const PlanSpec& spec() const { return spec_; }
  const Owner& owner() const { return owner_; }
  std::int64_t started_us() const { return started_us_; }
  std::int64_t expires_us() const { return expires_us_; }
  std::int64_t ended_us() const { return ended_us_; }
  bool finished() const { return ended_us_ != 0; }
  TaskState state(std::size_t task) const { return tasks_[task].state; }
  const std::string& task_scope(std::size_t task) const { return tasks_[task].scope; }
  std::size_t deviations_seen() const { return deviations_seen_; }

  // An action under a scope bound to `task` (or one of its descendants), before it is forwarded:
  // deadline, finished task, dependencies, approved actions, in that order; the first that fails is
  // the deviation. A pending task starts running with its first action that goes on.
  Effects check_action(std::size_t task, const Act& act, std::int64_t now_us);
  // A delegation that names `task` (Delegation-Task, or `task` on POST /v1/scopes), before the child
  // is minted: the task's agent, then as for an action. `act.agent` is the agent delegated to.
  Effects check_binding(std::size_t task, const Act& act, std::int64_t now_us);
  // A delegation from the plan's own scope that names no task.
  Effects check_unplanned(const Act& act, std::int64_t now_us);
  // The delegation carrying `task` opened its scope: a pending task starts running in it.
  Effects start(std::size_t task, std::string_view scope, std::string_view cause, std::string_view request_id,
                std::int64_t now_us);
  // The task ended (completed, failed or skipped) unless it already had. A critical task's failure
  // blocks every task that depends on it, directly or not.
  Effects finish(std::size_t task, TaskState to, std::string_view cause, std::string_view scope,
                 std::string_view request_id, std::int64_t now_us);
  // Deadlines passed by `now` fail their tasks (at the deadline); the scope's expiry fails the rest.
  Effects advance(std::int64_t now_us);
  // The earliest time advance() would change something; 0 when nothing is waiting on time.
  std::int64_t next_due_us() const;
  // A request that ran under the task (a binding delegation included) ended.
  void note_request(std::size_t task, bool tool_call, std::int64_t duration_us);

  // Replay and the live path alike: every change of state is made here.
  void apply(const TaskChange& change);
  // A repeat of a deviation already kept is not one more; past kMaxDeviations a deviation is
  // counted (and still reported) but no longer kept in the view.
  enum class Kept { kept, repeat, counted };
  Kept apply(const Deviation& deviation);

  // The plan view: GET /v1/plans/{id} and `scopegate query plan` (one JSON object).
  void write_view(std::string& out) const;

 private:
  struct TaskRun {
    TaskState state = TaskState::pending;
    std::string scope;
    std::string blocked_by;
    std::int64_t started_us = 0, ended_us = 0;
    std::uint64_t requests = 0;
    std::int64_t tool_us = 0;
    std::uint32_t deviations = 0;
  };
  struct Cascade {
    std::size_t task;
    std::vector<std::size_t> blocked;
    std::int64_t at_us;
  };

  Effects check(std::size_t task, const Act& act, std::int64_t now_us, bool binding);
  std::int64_t deadline_us(std::size_t task) const;
  bool dependency_met(std::size_t dep) const;
  std::string describe(std::size_t task) const;
  Effects deviate(Effects& fx, std::size_t task, DeviationKind kind, const Act& act, std::int64_t now_us,
                  std::string message);
  void change(Effects& fx, std::size_t task, TaskState to, std::string_view cause, std::string_view scope,
              std::string_view request_id, std::int64_t at_us, std::string_view blocked_by = {});

  std::string id_;
  PlanSpec spec_;
  Owner owner_;
  std::int64_t started_us_ = 0, expires_us_ = 0, ended_us_ = 0;
  std::vector<TaskRun> tasks_;
  std::vector<Deviation> deviations_;
  std::size_t deviations_seen_ = 0;
  std::vector<Cascade> cascades_;
};

// RFC 3339 UTC with microseconds ("2026-11-29T23:04:47.123456Z"), as audit timestamps; and back
// (nullopt for anything else).
std::string format_us(std::int64_t unix_us);
std::optional<std::int64_t> parse_us(std::string_view text);

}  // namespace scopegate::plan
