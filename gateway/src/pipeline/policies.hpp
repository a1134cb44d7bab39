// The access policies (docs/policies.md) as a stage: after the grants, which still bind, and before
// anything is minted or forwarded. A pure decision (policy/policy.hpp) over the request's facts;
// this stage gathers the facts, counts the decision and turns a deny into 403 policy_denied naming
// the rule.
#pragma once

#include "pipeline/context.hpp"
#include "pipeline/verdict.hpp"

namespace scopegate::pipeline {

Verdict check_policies(RequestContext& x);

}  // namespace scopegate::pipeline
