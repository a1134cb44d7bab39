#include "plan/registry.hpp"

#include <algorithm>

#include "json/write.hpp"

namespace scopegate::plan {

std::optional<TaskRef> split_task_ref(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size()) return std::nullopt;
  return TaskRef{text.substr(0, slash), text.substr(slash + 1)};
}

PlanRun* Registry::find(std::string_view id) {
  auto it = plans_.find(id);
  return it == plans_.end() ? nullptr : it->second.get();
}

void Registry::report(PlanRun& plan, Effects& fx, Reporter& reporter) {
  for (const auto& c : fx.changes) reporter.changed(plan, c);
  if (fx.deviation) reporter.deviated(plan, *fx.deviation);
  auto owner = by_scope_.find(plan.owner().scope);
  if (plan.finished() && owner != by_scope_.end() && owner->second == plan.id()) {
    by_scope_.erase(owner);
    active_.fetch_sub(1, std::memory_order_relaxed);
    reporter.finished(plan);
  }
}

Check Registry::conclude(PlanRun& plan, std::size_t task, Effects& fx, Reporter& reporter) {
  Check out;
  out.plan = plan.id();
  if (task != npos) out.task = plan.spec().tasks[task].id;
  if (fx.kind) {
    out.outcome = Check::Outcome::deviation;
    out.kind = fx.kind;
    out.refuse = plan.spec().mode == Mode::enforce;
    out.message = std::move(fx.message);
  }
  report(plan, fx, reporter);
  return out;
}

std::optional<OpenRefusal> Registry::open(std::string id, PlanSpec spec, Owner owner, std::int64_t now_us,
                                          std::int64_t expires_us, std::string_view request_id, Reporter& reporter) {
  std::lock_guard lock(mutex_);
  if (auto it = by_scope_.find(owner.scope); it != by_scope_.end()) {
    return OpenRefusal{false, "scope " + owner.scope + " already runs plan " + it->second +
                                  " (one unfinished plan per scope: open a child scope for another)"};
  }
  if (active_.load(std::memory_order_relaxed) >= kMaxActivePlans) {
    return OpenRefusal{true, "this node runs " + std::to_string(kMaxActivePlans) + " unfinished plans, its limit"};
  }
  // One delegation tree cannot take every slot of the node.
  std::size_t in_tree = 0;
  for (const auto& [plan_id, run] : plans_) in_tree += !run->finished() && run->owner().root == owner.root;
  if (in_tree >= kMaxPlansPerRoot) {
    return OpenRefusal{false, "the delegation tree of root scope " + owner.root + " runs " +
                                  std::to_string(kMaxPlansPerRoot) + " unfinished plans, its limit"};
  }
  if (plans_.size() >= kMaxHeldPlans) {
    // Make room by forgetting the finished plan that ended first.
    auto oldest = plans_.end();
    for (auto it = plans_.begin(); it != plans_.end(); ++it) {
      if (it->second->finished() && (oldest == plans_.end() || it->second->ended_us() < oldest->second->ended_us())) {
        oldest = it;
      }
    }
    if (oldest == plans_.end()) return OpenRefusal{true, "this node holds too many plans"};
    remember_forgotten(*oldest->second);
    plans_.erase(oldest);
  }
  auto run = std::make_unique<PlanRun>(id, std::move(spec), std::move(owner), now_us, expires_us);
  auto& plan = *run;
  by_scope_[plan.owner().scope] = id;
  plans_.emplace(std::move(id), std::move(run));
  active_.fetch_add(1, std::memory_order_relaxed);
  reporter.opened(plan, request_id);
  return std::nullopt;
}

void Registry::remember_forgotten(const PlanRun& plan) {
  if (!forgotten_.emplace(plan.id(), plan.spec().mode).second) return;
  forgotten_order_.push_back(plan.id());
  if (forgotten_order_.size() > kMaxForgotten) {
    forgotten_.erase(forgotten_order_.front());
    forgotten_order_.pop_front();
  }
}

void Registry::forget(std::string_view id, Mode mode) {
  std::lock_guard lock(mutex_);
  if (!forgotten_.emplace(std::string(id), mode).second) return;
  forgotten_order_.emplace_back(id);
  if (forgotten_order_.size() > kMaxForgotten) {
    forgotten_.erase(forgotten_order_.front());
    forgotten_order_.pop_front();
  }
}

void Registry::restore(PlanRun plan) {
  std::lock_guard lock(mutex_);
  std::string id = plan.id();
  if (plans_.count(id)) return;
  if (plans_.size() >= kMaxHeldPlans) {
    // The caller restores unfinished plans first, then the newest finished: past the bound, a
    // finished plan is let go of, never an unfinished one.
    if (plan.finished()) {
      remember_forgotten(plan);
      return;
    }
    auto oldest = plans_.end();
    for (auto it = plans_.begin(); it != plans_.end(); ++it) {
      if (it->second->finished() && (oldest == plans_.end() || it->second->ended_us() < oldest->second->ended_us())) {
        oldest = it;
      }
    }
    if (oldest == plans_.end()) return;  // kMaxHeldPlans unfinished: cannot happen below kMaxActivePlans
    remember_forgotten(*oldest->second);
    plans_.erase(oldest);
  }
  if (!plan.finished()) {
    by_scope_[plan.owner().scope] = id;
    active_.fetch_add(1, std::memory_order_relaxed);
  }
  plans_.emplace(std::move(id), std::make_unique<PlanRun>(std::move(plan)));
}

Check Registry::check_action(std::string_view bound, const Act& act, std::int64_t now_us, Reporter& reporter) {
  auto ref = split_task_ref(bound);
  if (!ref) return {};
  std::lock_guard lock(mutex_);
  PlanRun* plan = find(ref->plan);
  std::size_t task = plan ? plan->spec().find(ref->task) : npos;
  if (task == npos) {
    Check out;
    out.plan = ref->plan;
    out.task = ref->task;
    if (auto it = forgotten_.find(ref->plan); it != forgotten_.end() && !plan) {
      // A plan that finished here and was let go of: whatever comes now comes after its end.
      out.outcome = Check::Outcome::deviation;
      out.kind = DeviationKind::after_completion;
      out.refuse = it->second == Mode::enforce;
      out.message = "plan " + std::string(ref->plan) + " has ended: task " + std::string(ref->task) + " is over";
      return out;
    }
    // Never held here (registered on another node), or no such task: nothing to check against.
    out.outcome = Check::Outcome::unknown;
    return out;
  }
  auto fx = plan->check_action(task, act, now_us);
  return conclude(*plan, task, fx, reporter);
}

Check Registry::check_binding(std::string_view named, std::span<const std::string_view> caller_scopes, const Act& act,
                              std::int64_t now_us, Reporter& reporter) {
  Check out;
  auto ref = split_task_ref(named);
  if (!ref) {
    out.outcome = Check::Outcome::unknown;
    out.message = "Delegation-Task must be <plan id>/<task id>";
    return out;
  }
  std::lock_guard lock(mutex_);
  PlanRun* plan = find(ref->plan);
  std::size_t task = plan ? plan->spec().find(ref->task) : npos;
  if (task == npos) {
    out.outcome = Check::Outcome::unknown;
    out.message = plan ? "plan " + std::string(ref->plan) + " has no task '" + std::string(ref->task) + "'"
                       : "no plan with id '" + std::string(ref->plan) + "' on this gateway";
    return out;
  }
  bool own = std::find(caller_scopes.begin(), caller_scopes.end(), std::string_view(plan->owner().scope)) !=
             caller_scopes.end();
  if (!own) {
    // A task of a plan another scope registered: never bound, whatever the plan's mode.
    out.outcome = Check::Outcome::deviation;
    out.refuse = true;
    out.kind = DeviationKind::unplanned_delegation;
    out.plan = plan->id();  // for the refused request's record; the task is not the caller's to carry
    out.message = "plan " + plan->id() + " belongs to scope " + plan->owner().scope +
                  ", which is not this caller's scope or one of its ancestors";
    return out;
  }
  auto fx = plan->check_binding(task, act, now_us);
  return conclude(*plan, task, fx, reporter);
}

Check Registry::check_unplanned(std::span<const std::string_view> chain, const Act& act, std::int64_t now_us,
                                Reporter& reporter) {
  std::lock_guard lock(mutex_);
  // The nearest scope up the chain that runs a plan: a scope the owner opened for itself, under no
  // task, is still the owner's.
  auto it = by_scope_.end();
  for (auto s = chain.rbegin(); s != chain.rend() && it == by_scope_.end(); ++s) it = by_scope_.find(*s);
  if (it == by_scope_.end()) return {};
  PlanRun* plan = find(it->second);
  if (!plan) return {};
  auto fx = plan->check_unplanned(act, now_us);
  auto out = conclude(*plan, npos, fx, reporter);
  return out;
}

void Registry::start(std::string_view plan_id, std::string_view task, std::string_view scope, std::string_view cause,
                     std::string_view request_id, std::int64_t now_us, Reporter& reporter) {
  std::lock_guard lock(mutex_);
  PlanRun* plan = find(plan_id);
  std::size_t t = plan ? plan->spec().find(task) : npos;
  if (t == npos) return;
  auto fx = plan->start(t, scope, cause, request_id, now_us);
  report(*plan, fx, reporter);
}

bool Registry::finish(std::string_view plan_id, std::string_view task, TaskState to, std::string_view cause,
                      std::string_view scope, std::string_view request_id, std::int64_t now_us, Reporter& reporter) {
  std::lock_guard lock(mutex_);
  PlanRun* plan = find(plan_id);
  std::size_t t = plan ? plan->spec().find(task) : npos;
  if (t == npos) return false;
  auto fx = plan->advance(now_us);
  report(*plan, fx, reporter);
  auto more = plan->finish(t, to, cause, scope, request_id, now_us);
  report(*plan, more, reporter);
  return true;
}

std::optional<Registry::EndRefusal> Registry::may_end(std::string_view plan_id, std::string_view task,
                                             std::span<const std::string_view> chain) const {
  std::lock_guard lock(mutex_);
  auto it = plans_.find(plan_id);
  const PlanRun* plan = it == plans_.end() ? nullptr : it->second.get();
  std::size_t t = plan ? plan->spec().find(task) : npos;
  if (t == npos) return EndRefusal{true, "plan " + std::string(plan_id) + " has no task '" + std::string(task) + "'"};
  if (!chain.empty() && chain.back() == plan->owner().scope) return std::nullopt;  // the coordinator
  const auto& own = plan->task_scope(t);
  if (!own.empty() && std::find(chain.begin(), chain.end(), std::string_view(own)) != chain.end()) return std::nullopt;
  return EndRefusal{false, "only the plan's own scope, or the scope task " + std::string(task) + " runs in, may end it"};
}

void Registry::note_request(std::string_view plan_id, std::string_view task, bool tool_call,
                            std::int64_t duration_us) {
  std::lock_guard lock(mutex_);
  PlanRun* plan = find(plan_id);
  std::size_t t = plan ? plan->spec().find(task) : npos;
  if (t != npos) plan->note_request(t, tool_call, duration_us);
}

void Registry::remember_a2a_task(std::string_view a2a_task, std::string_view plan_id, std::string_view task,
                                 std::string_view route) {
  if (a2a_task.empty() || a2a_task.size() > kMaxA2aTaskId) return;
  std::lock_guard lock(mutex_);
  PlanRun* plan = find(plan_id);
  if (!plan) return;
  FollowedTask followed{std::string(plan_id), std::string(task), std::string(route), plan->owner().scope};
  auto [it, added] = a2a_tasks_.try_emplace(std::string(a2a_task), std::move(followed));
  if (!added) return;
  a2a_order_.push_back(it);
  if (a2a_order_.size() > kMaxA2aTasks) {
    a2a_tasks_.erase(a2a_order_.front());
    a2a_order_.pop_front();
  }
}

std::optional<Registry::FollowedTask> Registry::a2a_task(std::string_view a2a_task) const {
  std::lock_guard lock(mutex_);
  auto it = a2a_tasks_.find(a2a_task);
  if (it == a2a_tasks_.end()) return std::nullopt;
  return it->second;
}

void Registry::advance(std::int64_t now_us, Reporter& reporter) {
  std::lock_guard lock(mutex_);
  for (auto it = plans_.begin(); it != plans_.end();) {
    auto& plan = *it->second;
    if (auto due = plan.next_due_us(); due != 0 && due <= now_us) {
      auto fx = plan.advance(now_us);
      report(plan, fx, reporter);
    }
    // Forgotten with its scope: nothing can act under it any more.
    if (plan.finished() && plan.expires_us() != 0 && plan.expires_us() <= now_us) {
      remember_forgotten(plan);
      it = plans_.erase(it);
    } else {
      ++it;
    }
  }
}

namespace {
bool may_see(const PlanRun& plan, std::span<const std::string_view> caller_scopes) {
  return caller_scopes.empty() || std::find(caller_scopes.begin(), caller_scopes.end(),
                                            std::string_view(plan.owner().scope)) != caller_scopes.end();
}
}  // namespace

std::optional<std::string> Registry::view(std::string_view id, std::span<const std::string_view> caller_scopes) const {
  std::lock_guard lock(mutex_);
  auto it = plans_.find(id);
  if (it == plans_.end() || !may_see(*it->second, caller_scopes)) return std::nullopt;
  std::string out;
  it->second->write_view(out);
  return out;
}

bool Registry::visible(std::string_view id, std::span<const std::string_view> caller_scopes) const {
  std::lock_guard lock(mutex_);
  auto it = plans_.find(id);
  return it != plans_.end() && may_see(*it->second, caller_scopes);
}

std::string Registry::list() const {
  std::lock_guard lock(mutex_);
  std::string out = "{\"plans\":[";
  bool first = true;
  for (const auto& [id, run] : plans_) {
    const auto& plan = *run;
    out += first ? "{\"plan\":" : ",{\"plan\":";
    first = false;
    json::append_string(out, id);
    json::append_field(out, "scope", plan.owner().scope);
    json::append_field(out, "agent", plan.owner().agent);
    json::append_field(out, "goal", plan.spec().goal);
    json::append_field(out, "mode", to_string(plan.spec().mode));
    json::append_field(out, "state", plan.finished() ? "finished" : "active");
    json::append_field(out, "started", format_us(plan.started_us()));
    std::size_t completed = 0;
    for (std::size_t t = 0; t < plan.spec().tasks.size(); ++t) completed += plan.state(t) == TaskState::completed;
    json::append_int(out, "tasks", static_cast<std::int64_t>(plan.spec().tasks.size()));
    json::append_int(out, "completed", static_cast<std::int64_t>(completed));
    json::append_int(out, "deviations", static_cast<std::int64_t>(plan.deviations_seen()));
    out += '}';
  }
  out += "]}\n";
  return out;
}

Registry::Counts Registry::counts() const {
  std::lock_guard lock(mutex_);
  Counts c;
  c.active = active_.load(std::memory_order_relaxed);
  for (const auto& [id, run] : plans_) {
    for (std::size_t t = 0; t < run->spec().tasks.size(); ++t) ++c.tasks[static_cast<std::size_t>(run->state(t))];
  }
  return c;
}

}  // namespace scopegate::plan
