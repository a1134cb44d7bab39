#include "runtime/plan_reports.hpp"

#include <chrono>

#include "runtime/gateway_metrics.hpp"
#include "runtime/services.hpp"

namespace scopegate::runtime {

std::int64_t plan_now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

void PlanReports::opened(const plan::PlanRun& plan, std::string_view request_id) {
  std::string spec;
  plan::append_spec_members(spec, plan.spec());
  std::string started = plan::format_us(plan.started_us());
  std::string expires = plan.expires_us() ? plan::format_us(plan.expires_us()) : std::string();
  audit::PlanOpenFacts f;
  f.plan = plan.id();
  f.request_id = request_id;
  f.scope.id = plan.owner().scope;
  f.principal = plan.owner().principal;
  f.agent = plan.owner().agent;
  f.spec_members = spec;
  f.started = started;
  f.expires = expires;
  services_.sink().plan_opened(f);
}

void PlanReports::changed(const plan::PlanRun& plan, const plan::TaskChange& c) {
  std::string at = plan::format_us(c.at_us);
  audit::PlanTaskFacts f;
  f.plan = plan.id();
  f.task = plan.spec().tasks[c.task].id;
  f.from = plan::to_string(c.from);
  f.to = plan::to_string(c.to);
  f.cause = c.cause;
  f.scope = c.scope;
  f.blocked_by = c.blocked_by;
  f.request_id = c.request_id;
  f.at = at;
  services_.sink().plan_task(f);
}

void PlanReports::deviated(const plan::PlanRun& plan, const plan::Deviation& d) {
  std::string at = plan::format_us(d.at_us);
  audit::PlanDeviationFacts f;
  f.plan = plan.id();
  if (d.task != plan::npos) f.task = plan.spec().tasks[d.task].id;
  f.kind = plan::to_string(d.kind);
  f.scope = d.scope;
  f.agent = d.agent;
  f.action = d.action;
  f.request_id = d.request_id;
  f.at = at;
  f.enforced = d.enforced;
  services_.sink().plan_deviation(f);
  record_plan_deviation(d.kind);
}

void PlanReports::finished(const plan::PlanRun& plan) { record_plan_finished(plan.ended_us() - plan.started_us()); }

}  // namespace scopegate::runtime
