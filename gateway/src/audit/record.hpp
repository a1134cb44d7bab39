// The members of each record kind (docs/protocol.md §6), rendered on the request path into the
// string the writer seals. Empty facts are left out; strings are JSON-escaped.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "audit/sink.hpp"

namespace scopegate::audit {

std::string request_members(const RequestFacts& f);
// request.outcome (strict routes): the result of a request whose record was written before forwarding.
std::string request_outcome_members(const RequestFacts& f);
std::string scope_open_members(const delegation::ScopeRecord& scope, Opening how, std::string_view request_id);
std::string scope_revoke_members(const delegation::ScopeRecord* record, std::string_view scope,
                                 std::span<const std::string> revoked, std::string_view by);
// policy.reload: what set it off, whether it applied, and the policy files in force after it.
std::string reload_members(const ReloadFacts& f);
std::string breaker_members(const BreakerFacts& facts);
std::string plan_open_members(const PlanOpenFacts& facts);
std::string plan_task_members(const PlanTaskFacts& facts);
std::string plan_deviation_members(const PlanDeviationFacts& facts);

}  // namespace scopegate::audit
