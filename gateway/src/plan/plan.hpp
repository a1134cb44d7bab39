// Plans (docs/plans.md): a DAG of tasks a coordinating agent registers for its scope, each task
// naming the agent that carries it, the actions it may use, what it waits for and its deadline.
// This file is the plan as registered: its shape, parsed strictly from the POST /v1/plans body,
// and the checks against the registering scope. What happens to it at execution time is plan/run.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "delegation/grants.hpp"

namespace scopegate::plan {

// observe: deviations are recorded and the action goes on; enforce: the action is also refused
// (403 plan_deviation).
enum class Mode { observe, enforce };
std::string_view to_string(Mode m);

inline constexpr std::size_t kMaxTasks = 64;            // per plan
inline constexpr std::size_t kMaxIdBytes = 64;          // a task id: [A-Za-z0-9._-]
inline constexpr std::size_t kMaxActionsPerTask = 32;
inline constexpr std::size_t kMaxGoalBytes = 512;       // goal and objectives, cut on a character boundary
inline constexpr std::int64_t kMaxDeadlineS = 7 * 86'400;

struct TaskSpec {
  std::string id;
  std::string agent;                  // the agent that carries it (the target of its delegation)
  std::string objective;
  delegation::Grants actions;         // grant patterns: what may be done under it
  std::vector<std::string> depends_on;  // task ids, as registered
  std::vector<std::size_t> deps;        // the same, as indices into PlanSpec::tasks
  std::optional<std::int64_t> deadline_s;  // from the plan's start (registration)
  bool critical = false;              // its failure blocks everything that depends on it
};

struct PlanSpec {
  std::string goal;
  Mode mode = Mode::observe;
  std::vector<TaskSpec> tasks;
  std::vector<std::size_t> order;     // a topological order of the tasks (dependencies first)

  // The index of task `id`, or npos.
  std::size_t find(std::string_view id) const;
};

inline constexpr std::size_t npos = static_cast<std::size_t>(-1);

// Parses and validates the shape of a POST /v1/plans body (an inspected body: strict JSON, see
// json/strict.hpp): known members only, typed, bounded; task ids unique; every dependency a task of
// the plan; no cycle. nullopt with `why` (a sentence for the client) otherwise.
std::optional<PlanSpec> parse_plan(std::string_view body, std::string& why);

// Against the registering scope: every task's agent exists (`agent_exists`), and every task's
// actions lie within the scope's effective grants (a plan cannot approve what its scope may not do).
// The first problem, as a sentence, or nullopt.
std::optional<std::string> check_against_scope(const PlanSpec& plan,
                                               const std::function<bool(std::string_view)>& agent_exists,
                                               std::span<const std::string> scope_grants);

// The plan as registered, as JSON members (",\"goal\":...,\"mode\":...,\"tasks\":[...]"): in the
// plan.open record and in the plan view, so that the log alone says what was planned.
void append_spec_members(std::string& out, const PlanSpec& plan);
// One task's members, the first without a leading comma ("\"id\":...,\"critical\":false").
void append_task_spec(std::string& out, const TaskSpec& task);

}  // namespace scopegate::plan
