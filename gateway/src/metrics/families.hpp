// Every metric family the gateway exports (docs/protocol.md §8), declared once. Adding a metric is
// one line here; the registry allocates its cells and the exposition writes its HELP and TYPE.
//   X(id, type, labels, buckets, capacity, help)
// id: the name after "scopegate_"; labels: comma-separated names, at most five; buckets: none,
// latency (100 µs to 60 s), duration (1 s to 1 day) or depth (0 to 8), or for a counter nano (its
// cells count 10^-9 of the unit, for amounts that are not whole: a cost); capacity: the most label
// combinations kept before new ones share the "other" series.
#pragma once

#define SCOPEGATE_METRIC_FAMILIES(X)                                                                       \
  X(requests_total, counter, "route,agent,operation,decision,code", none, 16384,                          \
    "Requests by route, calling agent, operation, decision and code (the gateway's error code, or the "   \
    "upstream's status class).")                                                                           \
  X(request_duration_seconds, histogram, "route", latency, 512,                                            \
    "Time from a request's header to the end of its response, as the gateway saw it.")                    \
  X(upstream_duration_seconds, histogram, "route", latency, 512,                                           \
    "Time from sending a request upstream to the end of the upstream's response.")                        \
  X(policy_decisions_total, counter, "rule,decision,mode", none, 4096,                                     \
    "Policy decisions by deciding rule (default: no rule decided), decision and mode (shadow: a rule "    \
    "in shadow mode that would have decided otherwise).")                                                  \
  X(breaker_state, gauge, "route", none, 512,                                                             \
    "State of each route's circuit breakers: 2 open (no endpoint admits requests), 1 half-open (some "     \
    "endpoint is not closed), 0 closed.")                              \
  X(breaker_transitions_total, counter, "route,to", none, 1536,                                            \
    "Circuit breaker transitions by route and the state entered (closed, half_open, open).")              \
  X(endpoint_ejected, gauge, "route,endpoint", none, 2048,                                                  \
    "1 while an endpoint's circuit breaker keeps it out of balancing (open or half-open), else 0.")      \
  X(retries_total, counter, "route,reason", none, 1024,                                                    \
    "Attempts retried on another endpoint, by route and reason (connect: no connection; reset: an "      \
    "idempotent request without a body cut before its response head).")                                   \
  X(upstream_inflight, gauge, "route", none, 512,                                                          \
    "Requests in flight to each route's upstream: from taking a slot of its concurrency limit (every "   \
    "route is counted, limited or not) to the end of the upstream exchange.")                             \
  X(rate_limited_total, counter, "route,agent", none, 4096,                                                \
    "Requests refused by a rate limit (429 rate_limited), by route and calling agent.")                   \
  X(budget_exhausted_total, counter, "kind", none, 8,                                                      \
    "Requests refused because a scope's budget was spent (429 budget_exhausted), by budget: actions, "    \
    "delegations, children, bytes_out, tokens, cost.")                                                                   \
  X(loop_detected_total, counter, "agent", none, 1024,                                                     \
    "Calls refused by the loop guard (429 loop_detected): a scope repeating the identical call, by agent.") \
  X(tool_calls_total, counter, "route,tool,agent,decision", none, 8192,                                    \
    "Tool calls by route, declared tool (else other), calling agent and decision.")                       \
  X(tool_duration_seconds, histogram, "route,tool", latency, 2048,                                         \
    "Latency of forwarded tool calls by route and declared tool.")                                        \
  X(delegations_total, counter, "route,from_agent,to_agent,decision", none, 4096,                          \
    "Delegations to sub-agents by route, delegating agent, delegated agent and decision.")                \
  X(delegation_duration_seconds, histogram, "route", latency, 512,                                         \
    "Latency of forwarded delegations (inter-agent calls), apart from tool latency.")                     \
  X(scopes_opened_total, counter, "agent,depth", none, 1024,                                               \
    "Scopes opened on this node (minted, or first seen in a token) by acting agent and depth.")           \
  X(plans_active, gauge, "", none, 1, "Plans registered on this node that have not finished (docs/plans.md).") \
  X(plan_tasks, gauge, "state", none, 8,                                                                   \
    "Tasks of the plans this node holds (until their scope expires), by state: pending, running, "       \
    "completed, failed, skipped, blocked (downstream of a failed critical task).")                        \
  X(plan_deviations_total, counter, "kind", none, 8,                                                       \
    "Deviations from plans by kind: wrong_agent, unapproved_action, sequence_violation, "                 \
    "timing_violation, after_completion, unplanned_delegation.")                                          \
  X(plan_duration_seconds, histogram, "", duration, 1,                                                     \
    "Time from a plan's registration until its last task ended.")                                        \
  X(llm_tokens_total, counter, "route,agent,model,type", none, 8192,                                      \
    "Tokens of model calls by route, calling agent, model (priced models only, else other) and type: "    \
    "input (cached included), output (reasoning included), cache_read, reasoning.")                       \
  X(llm_cost_total, counter, "route,agent,model", nano, 4096,                                               \
    "Cost of model calls in the configured currency (llm.currency) at the price table's prices, by "      \
    "route, calling agent and priced model.")                                                            \
  X(llm_unpriced_calls_total, counter, "route", none, 512,                                                 \
    "Model calls whose model has no price in the config: their tokens are counted, their cost is 0.")      \
  X(llm_usage_missing_total, counter, "route", none, 512,                                                  \
    "Model calls answered 2xx whose answer carried no usage the gateway could read (a stream cut before "  \
    "its usage, a compressed body, a server that does not report it): their tokens and cost go uncounted.") \
  X(llm_time_to_first_chunk_seconds, histogram, "route", latency, 512,                                      \
    "Time from sending a model call upstream to the first piece of its answer relayed (time to first "   \
    "token for a stream).")                                                                               \
  X(llm_duration_seconds, histogram, "route", latency, 512,                                                \
    "Time from sending a model call upstream to the end of its answer.")                                   \
  X(scope_depth, histogram, "", depth, 1, "Depth of the scope each request ran under.")                    \
  X(scopes_active, gauge, "", none, 1, "Scopes this node knows and has not yet forgotten after expiry.")   \
  X(inflight_requests, gauge, "", none, 1, "Requests whose header has arrived and whose response has not ended.") \
  X(connections_open, gauge, "", none, 1, "Client connections open on the data listeners.")                 \
  X(audit_available, gauge, "", none, 1, "1 while the audit log accepts records, 0 while requests are refused with audit_unavailable.") \
  X(audit_records_total, counter, "event", none, 64, "Audit records written, by event.")                  \
  X(audit_write_errors_total, counter, "", none, 1, "Failed writes or fsyncs of the audit log.")           \
  X(audit_queue_depth, gauge, "", none, 1, "Audit records queued for the writer.")                         \
  X(audit_queue_capacity, gauge, "", none, 1, "The most audit records the writer's queue holds.")          \
  X(audit_fsync_duration_seconds, histogram, "", latency, 1, "Time the audit writer spent in fsync.")      \
  X(config_reloads_total, counter, "result", none, 8, "Config reloads by result (ok, error).")             \
  X(build_info, gauge, "version", none, 4, "Always 1; the version of the running binary.")                 \
  X(fleet_store_up, gauge, "", none, 1,                                                                    \
    "Fleet mode: 1 while the fleet's Redis answers and this node's revocations are in sync with it.")     \
  X(fleet_revocations_age_seconds, gauge, "", none, 1,                                                     \
    "Fleet mode: seconds since this node's revocation set was last known complete (0 while in sync).")    \
  X(fleet_store_errors_total, counter, "", none, 1,                                                        \
    "Fleet mode: Redis commands and connections that failed (no connection, a late or an error reply).")  \
  X(fleet_revocations_published_total, counter, "", none, 1,                                               \
    "Fleet mode: revocations made on this node written to Redis and published.")                          \
  X(fleet_revocations_received_total, counter, "", none, 1,                                                \
    "Fleet mode: revocations published by the fleet and received here.")                                  \
  X(fleet_budget_leases_total, counter, "", none, 1, "Fleet mode: budget leases asked of Redis.")         \
  X(fleet_budget_leases_short_total, counter, "", none, 1,                                                 \
    "Fleet mode: budget leases Redis granted less of than asked (the fleet's budget is near its end).")   \
  X(fleet_rate_leases_total, counter, "", none, 1, "Fleet mode: rate-limit leases asked of Redis.")       \
  X(fleet_rate_leases_short_total, counter, "", none, 1,                                                   \
    "Fleet mode: rate-limit leases the fleet's bucket could not fill.")                                    \
  X(fleet_unavailable_refusals_total, counter, "", none, 1,                                                \
    "Fleet mode: requests refused because Redis was unreachable (on_store_unavailable: closed, or no "     \
    "revocations loaded yet).")                                                                            \
  X(fleet_local_fallbacks_total, counter, "", none, 1,                                                     \
    "Fleet mode: budget and rate-limit decisions made on this node's own counters while Redis was unreachable.")
