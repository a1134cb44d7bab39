#include "plan/run.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "audit/chain.hpp"
#include "json/write.hpp"

namespace scopegate::plan {

namespace {

constexpr std::string_view kStateNames[] = {
#define SCOPEGATE_PLAN_NAME(name) #name,
    SCOPEGATE_TASK_STATES(SCOPEGATE_PLAN_NAME)};
constexpr std::string_view kKindNames[] = {SCOPEGATE_DEVIATION_KINDS(SCOPEGATE_PLAN_NAME)};
#undef SCOPEGATE_PLAN_NAME

std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

void append_raw(std::string& out, std::string_view key, std::string_view raw) {
  json::append_key(out, key);
  out += raw;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out.empty() ? "(nothing)" : out;
}

}  // namespace

std::string_view to_string(TaskState s) { return kStateNames[static_cast<std::size_t>(s)]; }
std::string_view to_string(DeviationKind k) { return kKindNames[static_cast<std::size_t>(k)]; }

std::optional<TaskState> task_state_named(std::string_view name) {
  for (std::size_t i = 0; i < kTaskStateCount; ++i) {
    if (kStateNames[i] == name) return static_cast<TaskState>(i);
  }
  return std::nullopt;
}

std::optional<DeviationKind> deviation_named(std::string_view name) {
  for (std::size_t i = 0; i < kDeviationKindCount; ++i) {
    if (kKindNames[i] == name) return static_cast<DeviationKind>(i);
  }
  return std::nullopt;
}

std::string format_us(std::int64_t unix_us) {
  // The audit records' own timestamp form, so that the view's times and the log's compare as text.
  return audit::format_timestamp(std::chrono::system_clock::time_point(std::chrono::microseconds(unix_us)));
}

std::optional<std::int64_t> parse_us(std::string_view text) {
  // Exactly the shape format_us writes: 27 bytes.
  if (text.size() != 27 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != '.' || text[26] != 'Z') {
    return std::nullopt;
  }
  auto number = [&](std::size_t at, std::size_t n) -> long {
    long v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return -1;
      v = v * 10 + (text[i] - '0');
    }
    return v;
  };
  long year = number(0, 4), month = number(5, 2), day = number(8, 2), hour = number(11, 2), minute = number(14, 2),
       second = number(17, 2), micros = number(20, 6);
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 ||
      minute > 59 || second < 0 || second > 60 || micros < 0) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = static_cast<int>(year - 1900);
  tm.tm_mon = static_cast<int>(month - 1);
  tm.tm_mday = static_cast<int>(day);
  tm.tm_hour = static_cast<int>(hour);
  tm.tm_min = static_cast<int>(minute);
  tm.tm_sec = static_cast<int>(second);
  return static_cast<std::int64_t>(timegm(&tm)) * 1'000'000 + micros;
}

PlanRun::PlanRun(std::string id, PlanSpec spec, Owner owner, std::int64_t started_us, std::int64_t expires_us)
    : id_(std::move(id)),
      spec_(std::move(spec)),
      owner_(std::move(owner)),
      started_us_(started_us),
      expires_us_(expires_us),
      tasks_(spec_.tasks.size()) {}

std::int64_t PlanRun::deadline_us(std::size_t task) const {
  const auto& d = spec_.tasks[task].deadline_s;
  return d ? started_us_ + *d * 1'000'000 : 0;
}

// Completed or skipped (whoever skips a task decides the plan goes on without it); or failed when
// the task is not critical.
bool PlanRun::dependency_met(std::size_t dep) const {
  auto s = tasks_[dep].state;
  if (s == TaskState::completed || s == TaskState::skipped) return true;
  return !spec_.tasks[dep].critical && s == TaskState::failed;
}

std::string PlanRun::describe(std::size_t task) const {
  const auto& t = spec_.tasks[task];
  return "plan " + id_ + " task " + t.id + " (agent " + t.agent + ", actions: " + joined(t.actions) + ")";
}

void PlanRun::change(Effects& fx, std::size_t task, TaskState to, std::string_view cause, std::string_view scope,
                     std::string_view request_id, std::int64_t at_us, std::string_view blocked_by) {
  TaskChange c;
  c.task = task;
  c.from = tasks_[task].state;
  c.to = to;
  c.cause = cause;
  c.scope = scope;
  c.blocked_by = blocked_by;
  c.request_id = request_id;
  c.at_us = at_us;
  apply(c);
  fx.changes.push_back(std::move(c));
}

Effects PlanRun::deviate(Effects& fx, std::size_t task, DeviationKind kind, const Act& act, std::int64_t now_us,
                         std::string message) {
  Deviation d;
  d.task = task;
  d.kind = kind;
  d.scope = act.scope;
  d.agent = act.agent;
  d.action = act.action;
  d.request_id = act.request_id;
  d.at_us = now_us;
  d.enforced = spec_.mode == Mode::enforce;
  fx.kind = kind;
  fx.message = std::move(message);
  if (apply(d) != Kept::repeat) fx.deviation = std::move(d);
  return std::move(fx);
}

Effects PlanRun::check_action(std::size_t task, const Act& act, std::int64_t now_us) {
  return check(task, act, now_us, false);
}

Effects PlanRun::check_binding(std::size_t task, const Act& act, std::int64_t now_us) {
  return check(task, act, now_us, true);
}

Effects PlanRun::check(std::size_t task, const Act& act, std::int64_t now_us, bool binding) {
  Effects fx = advance(now_us);
  const auto& spec = spec_.tasks[task];
  auto& run = tasks_[task];
  if (binding && act.agent != spec.agent) {
    return deviate(fx, task, DeviationKind::wrong_agent, act, now_us,
                   describe(task) + " is assigned to agent " + spec.agent + ", not " + std::string(act.agent));
  }
  if (auto due = deadline_us(task); due != 0 && now_us >= due) {
    return deviate(fx, task, DeviationKind::timing_violation, act, now_us,
                   describe(task) + ": its deadline, " + std::to_string(*spec.deadline_s) +
                       " s from the plan's start, has passed");
  }
  if (is_terminal(run.state)) {
    return deviate(fx, task, DeviationKind::after_completion, act, now_us,
                   describe(task) + " has already ended (" + std::string(to_string(run.state)) + ")");
  }
  std::vector<std::string> waiting;
  for (auto dep : spec.deps) {
    if (!dependency_met(dep)) waiting.push_back(spec_.tasks[dep].id);
  }
  if (!waiting.empty()) {
    return deviate(fx, task, DeviationKind::sequence_violation, act, now_us,
                   describe(task) + " waits for " + joined(waiting) + " to complete");
  }
  // A binding's own action (agent:<target>) is the delegator's, checked by its grants: the task's
  // actions bind what is done under the task, not the act of handing it out. Nor does a binding
  // start the task: the child scope it opens does (start()).
  if (binding) return fx;
  bool approved = std::any_of(spec.actions.begin(), spec.actions.end(),
                              [&](const std::string& p) { return delegation::pattern_matches(p, act.action); });
  if (!approved) {
    return deviate(fx, task, DeviationKind::unapproved_action, act, now_us,
                   describe(task) + " does not approve " + std::string(act.action));
  }
  if (run.state == TaskState::pending) {
    change(fx, task, TaskState::running, "first_action", act.scope, act.request_id, now_us);
  }
  return fx;
}

Effects PlanRun::check_unplanned(const Act& act, std::int64_t now_us) {
  Effects fx = advance(now_us);
  return deviate(fx, npos, DeviationKind::unplanned_delegation, act, now_us,
                 "scope " + owner_.scope + " runs plan " + id_ +
                     ": a delegation from it names the task it carries (Delegation-Task: " + id_ + "/<task>)");
}

Effects PlanRun::start(std::size_t task, std::string_view scope, std::string_view cause, std::string_view request_id,
                       std::int64_t now_us) {
  Effects fx;
  if (tasks_[task].state == TaskState::pending) {
    change(fx, task, TaskState::running, cause, scope, request_id, now_us);
  } else if (tasks_[task].scope.empty() && !is_terminal(tasks_[task].state)) {
    tasks_[task].scope = scope;  // started by an action first (observe mode); the scope it now runs in
  }
  return fx;
}

Effects PlanRun::finish(std::size_t task, TaskState to, std::string_view cause, std::string_view scope,
                        std::string_view request_id, std::int64_t now_us) {
  Effects fx;
  if (is_terminal(tasks_[task].state)) return fx;
  change(fx, task, to, cause, scope, request_id, now_us);
  if (to != TaskState::failed || !spec_.tasks[task].critical) return fx;
  // Everything downstream of a failed critical task can no longer run: blocked, in dependency order.
  std::vector<bool> downstream(tasks_.size(), false);
  downstream[task] = true;
  for (auto t : spec_.order) {
    for (auto dep : spec_.tasks[t].deps) {
      if (downstream[dep]) downstream[t] = true;
    }
  }
  for (auto t : spec_.order) {
    if (t == task || !downstream[t] || is_terminal(tasks_[t].state)) continue;
    change(fx, t, TaskState::blocked, "cascade", {}, request_id, now_us, spec_.tasks[task].id);
  }
  return fx;
}

Effects PlanRun::advance(std::int64_t now_us) {
  Effects fx;
  // Deadlines in the order they fall, so that a cascade follows the first failure.
  for (;;) {
    std::size_t first = npos;
    for (auto t : spec_.order) {
      auto due = deadline_us(t);
      if (due == 0 || is_terminal(tasks_[t].state) || now_us < due) continue;
      if (first == npos || due < deadline_us(first)) first = t;
    }
    if (first == npos) break;
    auto more = finish(first, TaskState::failed, "deadline", tasks_[first].scope, {}, deadline_us(first));
    for (auto& c : more.changes) fx.changes.push_back(std::move(c));
  }
  if (expires_us_ != 0 && now_us >= expires_us_) {
    for (auto t : spec_.order) {
      auto more = finish(t, TaskState::failed, "scope_expired", tasks_[t].scope, {}, expires_us_);
      for (auto& c : more.changes) fx.changes.push_back(std::move(c));
    }
  }
  return fx;
}

std::int64_t PlanRun::next_due_us() const {
  if (finished()) return 0;
  std::int64_t next = expires_us_;
  for (std::size_t t = 0; t < tasks_.size(); ++t) {
    auto due = deadline_us(t);
    if (due != 0 && !is_terminal(tasks_[t].state) && (next == 0 || due < next)) next = due;
  }
  return next;
}

void PlanRun::note_request(std::size_t task, bool tool_call, std::int64_t duration_us) {
  auto& run = tasks_[task];
  ++run.requests;
  if (tool_call) run.tool_us += duration_us;
}

void PlanRun::apply(const TaskChange& c) {
  auto& run = tasks_[c.task];
  run.state = c.to;
  if (c.to == TaskState::running) {
    run.started_us = c.at_us;
    if (run.scope.empty()) run.scope = c.scope;
  } else if (is_terminal(c.to)) {
    run.ended_us = c.at_us;
  }
  if (c.to == TaskState::blocked) {
    run.blocked_by = c.blocked_by;
    std::size_t by = spec_.find(c.blocked_by);
    auto it = std::find_if(cascades_.begin(), cascades_.end(), [&](const Cascade& k) { return k.task == by; });
    if (it == cascades_.end()) it = cascades_.insert(cascades_.end(), Cascade{by, {}, c.at_us});
    it->blocked.push_back(c.task);
  }
  bool all_ended = std::all_of(tasks_.begin(), tasks_.end(), [](const TaskRun& r) { return is_terminal(r.state); });
  if (all_ended && ended_us_ == 0) ended_us_ = std::max(c.at_us, started_us_ + 1);
}

PlanRun::Kept PlanRun::apply(const Deviation& d) {
  for (const auto& seen : deviations_) {
    if (seen.task == d.task && seen.kind == d.kind && seen.scope == d.scope && seen.action == d.action) {
      return Kept::repeat;
    }
  }
  ++deviations_seen_;
  if (d.task != npos) ++tasks_[d.task].deviations;
  if (deviations_.size() == kMaxDeviations) return Kept::counted;
  deviations_.push_back(d);
  return Kept::kept;
}

void PlanRun::write_view(std::string& out) const {
  out += "{\"plan\":";
  json::append_string(out, id_);
  json::append_field(out, "goal", spec_.goal);
  json::append_field(out, "mode", to_string(spec_.mode));
  json::append_field(out, "scope", owner_.scope);
  json::append_field(out, "agent", owner_.agent);
  json::append_field(out, "principal", owner_.principal);
  json::append_field(out, "started", format_us(started_us_));
  if (expires_us_ != 0) json::append_field(out, "expires", format_us(expires_us_));
  json::append_field(out, "state", finished() ? "finished" : "active");
  if (finished()) {
    json::append_field(out, "ended", format_us(ended_us_));
    bool ok = std::all_of(tasks_.begin(), tasks_.end(), [](const TaskRun& r) {
      return r.state == TaskState::completed || r.state == TaskState::skipped;
    });
    json::append_field(out, "outcome", ok ? "completed" : "failed");
  }

  // Per task: what was planned, then what happened.
  out += ",\"tasks\":[";
  for (std::size_t i = 0; i < tasks_.size(); ++i) {
    const auto& r = tasks_[i];
    out += i > 0 ? ",{" : "{";
    append_task_spec(out, spec_.tasks[i]);
    json::append_field(out, "state", to_string(r.state));
    if (!r.scope.empty()) json::append_field(out, "scope", r.scope);
    if (r.started_us) json::append_field(out, "started", format_us(r.started_us));
    if (r.ended_us) json::append_field(out, "ended", format_us(r.ended_us));
    if (!r.blocked_by.empty()) json::append_field(out, "blocked_by", r.blocked_by);
    json::append_int(out, "requests", static_cast<std::int64_t>(r.requests));
    append_raw(out, "tool_ms", fixed(static_cast<double>(r.tool_us) / 1000.0, 3));
    json::append_int(out, "deviations", r.deviations);
    out += '}';
  }
  out += ']';

  out += ",\"deviations\":[";
  for (std::size_t i = 0; i < deviations_.size(); ++i) {
    const auto& d = deviations_[i];
    if (i > 0) out += ',';
    out += "{\"kind\":";
    json::append_string(out, to_string(d.kind));
    if (d.task != npos) json::append_field(out, "task", spec_.tasks[d.task].id);
    json::append_field(out, "scope", d.scope);
    json::append_field(out, "agent", d.agent);
    json::append_field(out, "action", d.action);
    json::append_field(out, "request_id", d.request_id);
    json::append_field(out, "at", format_us(d.at_us));
    append_raw(out, "enforced", d.enforced ? "true" : "false");
    out += '}';
  }
  out += ']';
  json::append_int(out, "deviations_total", static_cast<std::int64_t>(deviations_seen_));

  out += ",\"cascades\":[";
  for (std::size_t i = 0; i < cascades_.size(); ++i) {
    const auto& c = cascades_[i];
    if (i > 0) out += ',';
    out += "{\"failed\":";
    json::append_string(out, c.task < spec_.tasks.size() ? std::string_view(spec_.tasks[c.task].id) : "");
    std::vector<std::string> blocked;
    for (auto b : c.blocked) blocked.push_back(spec_.tasks[b].id);
    json::append_list(out, "blocked", blocked);
    json::append_field(out, "at", format_us(c.at_us));
    out += '}';
  }
  out += ']';

  // Progress: tasks completed, and weighted by the critical path (the longest chain of
  // dependencies): 1 − (the longest chain of tasks not completed) / (the critical path's length).
  std::size_t n = tasks_.size(), completed = 0;
  for (const auto& r : tasks_) completed += r.state == TaskState::completed;
  std::vector<std::size_t> longest(n, 0), via(n, npos), open_chain(n, 0), not_done_chain(n, 0);
  for (auto t : spec_.order) {
    std::size_t best = 0, best_via = npos, open = 0, not_done = 0;
    for (auto dep : spec_.tasks[t].deps) {
      if (longest[dep] > best || (longest[dep] == best && best_via != npos && dep < best_via)) {
        best = longest[dep];
        best_via = dep;
      }
      open = std::max(open, open_chain[dep]);
      not_done = std::max(not_done, not_done_chain[dep]);
    }
    longest[t] = best + 1;
    via[t] = best_via;
    open_chain[t] = open + (is_terminal(tasks_[t].state) ? 0 : 1);
    not_done_chain[t] = not_done + (tasks_[t].state == TaskState::completed ? 0 : 1);
  }
  std::size_t end = npos, length = 0, remaining = 0, not_done = 0;
  for (std::size_t t = 0; t < n; ++t) {
    if (longest[t] > length) {
      length = longest[t];
      end = t;
    }
    remaining = std::max(remaining, open_chain[t]);
    not_done = std::max(not_done, not_done_chain[t]);
  }
  std::vector<std::string> path;
  for (auto t = end; t != npos; t = via[t]) path.insert(path.begin(), spec_.tasks[t].id);

  out += ",\"progress\":{\"completed\":";
  out += std::to_string(completed);
  json::append_int(out, "total", static_cast<std::int64_t>(n));
  append_raw(out, "ratio", fixed(n ? static_cast<double>(completed) / static_cast<double>(n) : 0.0, 4));
  append_raw(out, "weighted",
             fixed(length ? 1.0 - static_cast<double>(not_done) / static_cast<double>(length) : 0.0, 4));
  out += '}';
  out += ",\"critical_path\":{\"tasks\":[";
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (i > 0) out += ',';
    json::append_string(out, path[i]);
  }
  out += ']';
  json::append_int(out, "length", static_cast<std::int64_t>(length));
  json::append_int(out, "remaining", static_cast<std::int64_t>(remaining));
  out += '}';

  // Coordination overhead: time in tool calls (every task's, so far), in the rest of the span of each
  // task that ended (delegation hops, the agents' own work, sub-delegations), and, for every task
  // that started, the wait between its dependencies' end and its start.
  std::int64_t tool_us = 0, hop_us = 0, wait_us = 0;
  for (std::size_t t = 0; t < n; ++t) {
    const auto& r = tasks_[t];
    tool_us += r.tool_us;
    if (r.started_us && r.ended_us) hop_us += std::max<std::int64_t>(0, r.ended_us - r.started_us - r.tool_us);
    if (r.started_us) {
      std::int64_t ready = started_us_;
      for (auto dep : spec_.tasks[t].deps) ready = std::max(ready, tasks_[dep].ended_us);
      wait_us += std::max<std::int64_t>(0, r.started_us - ready);
    }
  }
  auto total = tool_us + hop_us + wait_us;
  out += ",\"overhead\":{\"tool_ms\":";
  out += fixed(static_cast<double>(tool_us) / 1000.0, 3);
  append_raw(out, "hop_ms", fixed(static_cast<double>(hop_us) / 1000.0, 3));
  append_raw(out, "wait_ms", fixed(static_cast<double>(wait_us) / 1000.0, 3));
  append_raw(out, "ratio", fixed(total ? static_cast<double>(hop_us + wait_us) / static_cast<double>(total) : 0.0, 4));
  out += "}}";
}

}  // namespace scopegate::plan
