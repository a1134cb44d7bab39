// The member names of audit records (docs/protocol.md §6), declared once: the writer renders them
// (record.cpp) and the readers look them up (query, its output formats). A name changed here
// changes both sides; a name spelled differently on one side cannot happen.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <string_view>

namespace scopegate::audit {

namespace field {
// The fixed head of every record, written by seal() (chain.cpp).
inline constexpr std::string_view v = "v", seq = "seq", ts = "ts", node = "node", event = "event";
inline constexpr std::string_view prev = "prev", hash = "hash";
// Who, under which scope.
inline constexpr std::string_view request_id = "request_id", trace_id = "trace_id", span_id = "span_id";
inline constexpr std::string_view scope = "scope", id = "id", parent = "parent", root = "root", depth = "depth",
                                  path = "path";
inline constexpr std::string_view principal = "principal", agent = "agent", target_agent = "target_agent";
// What was asked.
inline constexpr std::string_view route = "route", operation = "operation", action = "action", tool = "tool",
                                  resource = "resource", mcp_method = "mcp_method", task_id = "task_id",
                                  context_id = "context_id", datasets = "datasets",
                                  classification = "classification", method = "method", upstream = "upstream",
                                  retries = "retries", fallback = "fallback";
// What became of it.
inline constexpr std::string_view decision = "decision", rule = "rule", shadow = "shadow", reason = "reason",
                                  status = "status",
                                  outcome = "outcome", recorded = "recorded", duration_ms = "duration_ms",
                                  bytes_in = "bytes_in", bytes_out = "bytes_out", child_scope = "child_scope";
// Other events: scope.revoke, policy.reload, breaker.transition.
inline constexpr std::string_view by = "by", revoked = "revoked", from = "from", breaker = "breaker",
                                  endpoint = "endpoint", cause = "cause";
inline constexpr std::string_view trigger = "trigger", result = "result", generation = "generation", files = "files",
                                  sha256 = "sha256", rules = "rules", default_decision = "default",
                                  errors = "errors";
// scope.open: the opened scope record.
inline constexpr std::string_view how = "how", opened = "opened", actor = "actor", delegator = "delegator",
                                  objective = "objective";
// Plans: plan.open, plan.task, plan.deviation, and the plan task a request ran under.
inline constexpr std::string_view plan = "plan", task = "task", goal = "goal", mode = "mode", tasks = "tasks",
                                  started = "started", expires = "expires", to = "to", at = "at",
                                  blocked_by = "blocked_by", kind = "kind", enforced = "enforced";
// LLM calls (docs/llm.md): the model asked for, the usage its response reported, what it cost.
inline constexpr std::string_view model = "model", usage = "usage", cost = "cost";
}  // namespace field

// Reading a member of a parsed record: empty / 0 when absent or of another type.
inline std::string_view string_member(simdjson::dom::object o, std::string_view key) {
  std::string_view s;
  if (o.at_key(key).get_string().get(s)) return {};
  return s;
}

inline std::uint64_t uint_member(simdjson::dom::object o, std::string_view key) {
  std::uint64_t v = 0;
  if (o.at_key(key).get_uint64().get(v)) return 0;
  return v;
}

}  // namespace scopegate::audit
