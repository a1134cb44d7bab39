// Where what happens to plans is reported (docs/plans.md): each plan.open, plan.task and
// plan.deviation to the audit sink, deviations and finished plans to the metrics. The stages, the
// plan endpoints and the app's deadline timer all report through this one Reporter.
#pragma once

#include "plan/registry.hpp"

namespace scopegate::runtime {

class Services;

class PlanReports final : public plan::Reporter {
 public:
  explicit PlanReports(Services& services) : services_(services) {}
  void opened(const plan::PlanRun& plan, std::string_view request_id) override;
  void changed(const plan::PlanRun& plan, const plan::TaskChange& change) override;
  void deviated(const plan::PlanRun& plan, const plan::Deviation& deviation) override;
  void finished(const plan::PlanRun& plan) override;

 private:
  Services& services_;
};

// Unix microseconds now, the plans' clock.
std::int64_t plan_now_us();

}  // namespace scopegate::runtime
