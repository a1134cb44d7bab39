#include "audit/sink.hpp"

#include "audit/record.hpp"
#include "audit/writer.hpp"
#include "log/log.hpp"

namespace scopegate::audit {

void LogSink::request(const RequestFacts& f) {
  if (!log::enabled(log::Level::debug)) return;
  log::write(log::Level::debug, "request",
             {{"request_id", std::string(f.request_id)},
              {"trace_id", std::string(f.trace_id)},
              {"scope", std::string(f.scope.id)},
              {"depth", f.scope.depth < 0 ? "" : std::to_string(f.scope.depth)},
              {"agent", std::string(f.agent)},
              {"route", std::string(f.route)},
              {"operation", std::string(f.operation)},
              {"action", std::string(f.action)},
              {"child_scope", std::string(f.child_scope)},
              {"decision", f.allowed ? "allow" : "deny"},
              {"reason", std::string(f.reason)},
              {"status", std::to_string(f.status)}});
}

void LogSink::request_outcome(const RequestFacts& f) {
  if (!log::enabled(log::Level::debug)) return;
  log::write(log::Level::debug, "request.outcome",
             {{"request_id", std::string(f.request_id)},
              {"scope", std::string(f.scope.id)},
              {"route", std::string(f.route)},
              {"reason", std::string(f.reason)},
              {"status", std::to_string(f.status)},
              {"outcome", std::string(f.outcome)}});
}

void LogSink::scope_opened(const delegation::ScopeRecord& scope, Opening how, std::string_view request_id) {
  if (!log::enabled(log::Level::debug)) return;
  log::write(log::Level::debug, "scope.open",
             {{"scope", delegation::scope_json(scope)},
              {"how", how == Opening::minted ? "minted" : "first_seen"},
              {"request_id", std::string(request_id)}});
}

void LogSink::scope_revoked(const delegation::ScopeRecord*, std::string_view scope, std::span<const std::string> revoked,
                            std::string_view by) {
  log::info("scope.revoke",
            {{"scope", std::string(scope)}, {"revoked", std::to_string(revoked.size())}, {"by", std::string(by)}});
}

void LogSink::config_reloaded(const ReloadFacts&) {}  // app.cpp logs reloads itself

void LogSink::breaker_transition(const BreakerFacts& f) {
  log::info("breaker.transition", {{"route", std::string(f.route)},
                                   {f.tool.empty() ? "endpoint" : "tool", std::string(f.tool.empty() ? f.endpoint : f.tool)},
                                   {"from", std::string(f.from)}, {"to", std::string(f.to)}, {"cause", std::string(f.cause)}});
}

void LogSink::plan_opened(const PlanOpenFacts& f) {
  log::info("plan.open", {{"plan", std::string(f.plan)}, {"scope", std::string(f.scope.id)}, {"agent", std::string(f.agent)}});
}

void LogSink::plan_task(const PlanTaskFacts& f) {
  log::info("plan.task", {{"plan", std::string(f.plan)}, {"task", std::string(f.task)}, {"from", std::string(f.from)},
                          {"to", std::string(f.to)}, {"cause", std::string(f.cause)}});
}

void LogSink::plan_deviation(const PlanDeviationFacts& f) {
  log::warn("plan.deviation", {{"plan", std::string(f.plan)}, {"task", std::string(f.task)}, {"kind", std::string(f.kind)},
                               {"agent", std::string(f.agent)}, {"action", std::string(f.action)}});
}

namespace {
// A record the queue cannot take is counted in the writer's stats (dropped); the writer logs it.
void submit(Writer& writer, Event event, std::string members, config::Durability durability) {
  Entry e;
  e.event = event;
  e.members = std::move(members);
  e.durability = durability == config::Durability::strict ? config::Durability::batch : durability;
  writer.submit(e);
}
}  // namespace

void WriterSink::request(const RequestFacts& f) {
  log_.request(f);
  // While the log is unavailable, refusals are counted into the outage's audit.unavailable record
  // rather than queued one by one. A forwarded request was admitted while it was healthy: its
  // record is always kept.
  if (!f.allowed && !writer_.accepting()) {
    writer_.count_refusal(f.reason.empty() ? std::string_view("unknown") : f.reason);
    return;
  }
  submit(writer_, Event::request, request_members(f), f.durability);
}

void WriterSink::request_outcome(const RequestFacts& f) {
  log_.request_outcome(f);
  // The request was admitted and forwarded while the log was healthy: its outcome is always kept.
  submit(writer_, Event::request_outcome, request_outcome_members(f), config::Durability::batch);
}

void WriterSink::scope_opened(const delegation::ScopeRecord& scope, Opening how, std::string_view request_id) {
  log_.scope_opened(scope, how, request_id);
  submit(writer_, Event::scope_open, scope_open_members(scope, how, request_id), config::Durability::batch);
}

void WriterSink::scope_revoked(const delegation::ScopeRecord* record, std::string_view scope,
                               std::span<const std::string> revoked, std::string_view by) {
  log_.scope_revoked(record, scope, revoked, by);
  submit(writer_, Event::scope_revoke, scope_revoke_members(record, scope, revoked, by), config::Durability::batch);
}

void WriterSink::config_reloaded(const ReloadFacts& facts) {
  submit(writer_, Event::policy_reload, reload_members(facts), config::Durability::batch);
}

void WriterSink::breaker_transition(const BreakerFacts& facts) {
  log_.breaker_transition(facts);
  submit(writer_, Event::breaker_transition, breaker_members(facts), config::Durability::batch);
}

// Plan records are kept as a batch route's are: they describe what requests did, and each
// request's own record carries its plan and task.
void WriterSink::plan_opened(const PlanOpenFacts& f) {
  log_.plan_opened(f);
  submit(writer_, Event::plan_open, plan_open_members(f), config::Durability::batch);
}

void WriterSink::plan_task(const PlanTaskFacts& f) {
  log_.plan_task(f);
  submit(writer_, Event::plan_task, plan_task_members(f), config::Durability::batch);
}

void WriterSink::plan_deviation(const PlanDeviationFacts& f) {
  log_.plan_deviation(f);
  submit(writer_, Event::plan_deviation, plan_deviation_members(f), config::Durability::batch);
}

}  // namespace scopegate::audit
