#include "plan/plan.hpp"

#include <simdjson.h>

#include <algorithm>

#include "config/grant_pattern.hpp"
#include "delegation/stamp.hpp"
#include "json/strict.hpp"
#include "json/write.hpp"

namespace scopegate::plan {

namespace dom = simdjson::dom;

std::string_view to_string(Mode m) { return m == Mode::enforce ? "enforce" : "observe"; }

std::size_t PlanSpec::find(std::string_view id) const {
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (tasks[i].id == id) return i;
  }
  return npos;
}

namespace {

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) return false;
  return std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

// Reads a list of strings; false with `why` when it is not one.
bool read_strings(dom::element value, std::string_view what, std::size_t max, std::vector<std::string>& out,
                  std::string& why) {
  dom::array list;
  if (value.get_array().get(list)) {
    why = std::string(what) + " must be a list of strings";
    return false;
  }
  for (auto item : list) {
    std::string_view text;
    if (item.get_string().get(text)) {
      why = std::string(what) + " must be a list of strings";
      return false;
    }
    if (out.size() == max) {
      why = std::string(what) + ": at most " + std::to_string(max) + " entries";
      return false;
    }
    out.emplace_back(text);
  }
  return true;
}

std::optional<TaskSpec> read_task(dom::element value, std::size_t index, std::string& why) {
  std::string where = "tasks[" + std::to_string(index) + "]";
  dom::object object;
  if (value.get_object().get(object)) {
    why = where + " must be an object";
    return std::nullopt;
  }
  TaskSpec task;
  bool has_actions = false;
  for (auto field : object) {
    std::string_view key = field.key;
    std::string_view text;
    if (key == "id" || key == "agent" || key == "objective") {
      if (field.value.get_string().get(text)) {
        why = where + "." + std::string(key) + " must be a string";
        return std::nullopt;
      }
      if (key == "id") task.id = text;
      else if (key == "agent") task.agent = text;
      else task.objective = delegation::cut_utf8(text, kMaxGoalBytes);
    } else if (key == "actions") {
      has_actions = true;
      if (!read_strings(field.value, where + ".actions", kMaxActionsPerTask, task.actions, why)) return std::nullopt;
      for (const auto& pattern : task.actions) {
        if (auto problem = config::grant_pattern_problem(pattern)) {
          why = where + ".actions: " + *problem;
          return std::nullopt;
        }
      }
    } else if (key == "depends_on") {
      if (!read_strings(field.value, where + ".depends_on", kMaxTasks, task.depends_on, why)) return std::nullopt;
    } else if (key == "deadline_s") {
      std::int64_t s = 0;
      if (field.value.get_int64().get(s) || s <= 0 || s > kMaxDeadlineS) {
        why = where + ".deadline_s must be a whole number of seconds from 1 to " + std::to_string(kMaxDeadlineS);
        return std::nullopt;
      }
      task.deadline_s = s;
    } else if (key == "critical") {
      bool b = false;
      if (field.value.get_bool().get(b)) {
        why = where + ".critical must be true or false";
        return std::nullopt;
      }
      task.critical = b;
    } else {
      why = where + ": unknown field '" + std::string(key) +
            "' (expected id, agent, objective, actions, depends_on, deadline_s, critical)";
      return std::nullopt;
    }
  }
  if (!valid_id(task.id)) {
    why = where + ".id is required: 1 to 64 of A-Z a-z 0-9 . _ -";
    return std::nullopt;
  }
  if (task.agent.empty()) {
    why = "task " + task.id + ": agent is required";
    return std::nullopt;
  }
  if (!has_actions) {
    why = "task " + task.id + ": actions is required (the grant patterns the task may use; [] for none)";
    return std::nullopt;
  }
  return task;
}

// Kahn's algorithm: a topological order, or the tasks left on a cycle.
bool order_tasks(PlanSpec& plan, std::string& why) {
  std::vector<std::size_t> waiting(plan.tasks.size(), 0);
  for (std::size_t i = 0; i < plan.tasks.size(); ++i) waiting[i] = plan.tasks[i].deps.size();
  std::vector<std::size_t> ready;
  for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
    if (waiting[i] == 0) ready.push_back(i);
  }
  while (!ready.empty()) {
    std::size_t t = ready.front();
    ready.erase(ready.begin());
    plan.order.push_back(t);
    for (std::size_t j = 0; j < plan.tasks.size(); ++j) {
      const auto& deps = plan.tasks[j].deps;
      if (std::find(deps.begin(), deps.end(), t) != deps.end() && --waiting[j] == 0) ready.push_back(j);
    }
  }
  if (plan.order.size() == plan.tasks.size()) return true;
  std::string on_cycle;
  for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
    if (waiting[i] > 0) on_cycle += (on_cycle.empty() ? "" : ", ") + plan.tasks[i].id;
  }
  why = "depends_on makes a cycle through: " + on_cycle;
  return false;
}

}  // namespace

std::optional<PlanSpec> parse_plan(std::string_view body, std::string& why) {
  thread_local dom::parser parser;
  auto object = json::parse_strict_object(parser, body, why);
  if (!object) return std::nullopt;
  PlanSpec plan;
  bool has_tasks = false;
  for (auto field : *object) {
    std::string_view key = field.key;
    std::string_view text;
    if (key == "goal") {
      if (field.value.get_string().get(text)) {
        why = "goal must be a string";
        return std::nullopt;
      }
      plan.goal = delegation::cut_utf8(text, kMaxGoalBytes);
    } else if (key == "mode") {
      if (field.value.get_string().get(text) || (text != "observe" && text != "enforce")) {
        why = "mode must be \"observe\" or \"enforce\"";
        return std::nullopt;
      }
      plan.mode = text == "enforce" ? Mode::enforce : Mode::observe;
    } else if (key == "tasks") {
      has_tasks = true;
      dom::array list;
      if (field.value.get_array().get(list)) {
        why = "tasks must be a list of task objects";
        return std::nullopt;
      }
      for (auto item : list) {
        if (plan.tasks.size() == kMaxTasks) {
          why = "a plan has at most " + std::to_string(kMaxTasks) + " tasks";
          return std::nullopt;
        }
        auto task = read_task(item, plan.tasks.size(), why);
        if (!task) return std::nullopt;
        plan.tasks.push_back(std::move(*task));
      }
    } else {
      why = "unknown field '" + std::string(key) + "' (expected goal, mode, tasks)";
      return std::nullopt;
    }
  }
  if (!has_tasks || plan.tasks.empty()) {
    why = "a plan needs at least one task";
    return std::nullopt;
  }
  for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
    if (plan.find(plan.tasks[i].id) != i) {
      why = "task id '" + plan.tasks[i].id + "' appears twice";
      return std::nullopt;
    }
  }
  for (auto& task : plan.tasks) {
    for (const auto& dep : task.depends_on) {
      std::size_t d = plan.find(dep);
      if (d == npos) {
        why = "task " + task.id + " depends on '" + dep + "', which is not a task of this plan";
        return std::nullopt;
      }
      if (std::find(task.deps.begin(), task.deps.end(), d) != task.deps.end()) {
        why = "task " + task.id + " names '" + dep + "' twice in depends_on";
        return std::nullopt;
      }
      task.deps.push_back(d);
    }
  }
  if (!order_tasks(plan, why)) return std::nullopt;
  return plan;
}

std::optional<std::string> check_against_scope(const PlanSpec& plan,
                                               const std::function<bool(std::string_view)>& agent_exists,
                                               std::span<const std::string> scope_grants) {
  for (const auto& task : plan.tasks) {
    if (!agent_exists(task.agent)) return "task " + task.id + ": no agent with id '" + task.agent + "'";
    for (const auto& pattern : task.actions) {
      if (!delegation::set_covers(scope_grants, pattern)) {
        return "task " + task.id + ": action '" + pattern + "' is not within the plan's scope grants";
      }
    }
  }
  return std::nullopt;
}

void append_task_spec(std::string& out, const TaskSpec& t) {
  out += "\"id\":";
  json::append_string(out, t.id);
  json::append_field(out, "agent", t.agent);
  json::append_field(out, "objective", t.objective);
  json::append_list(out, "actions", t.actions);
  json::append_list(out, "depends_on", t.depends_on);
  if (t.deadline_s) json::append_int(out, "deadline_s", *t.deadline_s);
  out += ",\"critical\":";
  out += t.critical ? "true" : "false";
}

void append_spec_members(std::string& out, const PlanSpec& plan) {
  json::append_field(out, "goal", plan.goal);
  json::append_field(out, "mode", to_string(plan.mode));
  out += ",\"tasks\":[";
  for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
    out += i > 0 ? ",{" : "{";
    append_task_spec(out, plan.tasks[i]);
    out += '}';
  }
  out += ']';
}

}  // namespace scopegate::plan
