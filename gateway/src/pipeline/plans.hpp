// Plans in the pipeline (docs/plans.md): the check of every action and delegation against the plan
// task its scope carries, the start of a task when the delegation carrying it opens its scope, how
// a task ends when that delegation's answer comes back, and the /v1/plans endpoints.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "pipeline/context.hpp"
#include "pipeline/verdict.hpp"

namespace scopegate::runtime {
class Services;
}

namespace scopegate::pipeline {

struct RequestSummary;

constexpr std::string_view kPlansPath = "/v1/plans";

// Whether the request is for the gateway's own /v1/plans endpoints (any host).
bool is_plans_endpoint(std::string_view target);

// Stage 10b': a delegation naming a task (Delegation-Task, or `task` on POST /v1/scopes) is checked
// against that task (its agent, its dependencies, its deadline); an action under a scope bound to a
// task, against the task (its approved actions too); a delegation from a plan's own scope that names
// no task is an unplanned delegation. A deviation is recorded once; in enforce mode the request is
// refused (403 plan_deviation). Requests under no plan cost one atomic load.
Verdict check_plan(RequestContext& x);

// The carrying delegation's child scope is open (x.child): its task is running in it.
void start_carried_task(RequestContext& x);

// End-of-request observer: the request counts for its task; a carrying delegation's answer ends the
// task (2xx: completed, A2A by the task's state; anything else: failed), as does an A2A GetTask or
// stream that reads the final state of the A2A task a delegation left unfinished.
void settle_plan(runtime::Services& app, const RequestSummary& summary);

// The last stage of the plans route: POST /v1/plans registers a plan for the caller's scope;
// GET /v1/plans/{id} shows it; POST /v1/plans/{id}/tasks/{task}/complete|fail|skip ends a task.
boost::asio::awaitable<bool> serve_plans(RequestContext& x);

}  // namespace scopegate::pipeline
