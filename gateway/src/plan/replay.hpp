// `scopegate query plan PLAN` (docs/plans.md, "After the fact"): a plan rebuilt from the audit log
// alone. Its plan.open record says what was planned; its plan.task and plan.deviation records say
// what happened, in order; the request records that carry its tasks give their requests and tool
// time. Every change goes through the same PlanRun::apply the gateway used, so the view printed is
// the one GET /v1/plans/{id} showed. Every node's hash chain is followed: the answer says whether
// the evidence is whole.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/query.hpp"
#include "plan/run.hpp"

namespace scopegate::plan {

struct Replayed {
  std::optional<PlanRun> plan;             // nullopt: no plan.open for the id in the logs scanned
  std::vector<std::string> candidates;     // a prefix matching several plans: their ids
  std::vector<audit::NodeScan> nodes;      // per node: records and the chain's state
  std::uint64_t records = 0;               // lines read
  std::uint64_t plan_records = 0;          // records about the plan (plan.*, and requests carrying it)
  std::string error;                       // a directory or file that could not be read

  bool intact() const;                     // every node's chain verified with no problem
  std::string_view chain() const;          // "verified" or "broken"
};

// `id`: a whole plan id, or a prefix of one (8 characters or more usually suffice).
Replayed replay_plan(const std::vector<std::string>& dirs, std::string_view id);

// At start: every plan `node` registered in `dir` from `since` on (a plan alive now was opened within
// token.max_ttl), as the log left it: the unfinished first, then the finished, latest ended first.
// The registry takes them back (Registry::restore), so a restart neither forgets a plan nor refuses
// the scopes bound to it; one whose scope expired while the gateway was down is ended then.
std::vector<PlanRun> replay_live(const std::string& dir, const std::string& node, std::string_view since,
                                 std::int64_t now_us, std::string& error);

// The output formats: the plan view with an "evidence" member (JSON: schema/query-plan.schema.json),
// a table for people, and one CSV row per task.
std::string replayed_json(const Replayed& r);
std::string replayed_table(const Replayed& r);
std::string replayed_csv(const Replayed& r);

}  // namespace scopegate::plan
