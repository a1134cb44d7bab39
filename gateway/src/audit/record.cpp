#include "audit/record.hpp"

#include "audit/record_fields.hpp"

#include <algorithm>
#include <charconv>

#include "json/write.hpp"
#include "llm/usage.hpp"

namespace scopegate::audit {

namespace json = scopegate::json;

namespace {

void field_if(std::string& out, std::string_view key, std::string_view value) {
  if (!value.empty()) json::append_field(out, key, value);
}

void append_scope_ref(std::string& out, std::string_view id, std::string_view parent, std::string_view root,
                      int depth, std::string_view path) {
  json::append_key(out, field::scope);
  out += "{\"id\":";
  json::append_string(out, id);
  field_if(out, field::parent, parent);
  if (depth >= 0) {
    json::append_field(out, field::root, root);
    json::append_int(out, field::depth, depth);
    json::append_field(out, field::path, path);
  }
  out += '}';
}

void append_duration(std::string& out, double ms) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, ms, std::chars_format::fixed, 3);
  json::append_key(out, field::duration_ms);
  out.append(buf, end);
}

// Route datasets, then the tool's, without repeats; [] for a routed request that has none.
void append_datasets(std::string& out, const RequestFacts& f) {
  const config::DataLabel* labels[] = {f.route_label, f.tool_label};
  bool any = false;
  std::string_view seen[32];
  std::size_t n = 0;
  for (const auto* label : labels) {
    if (!label) continue;
    for (const auto& d : label->datasets) {
      bool repeat = false;
      for (std::size_t i = 0; i < n; ++i) repeat = repeat || seen[i] == d;
      if (repeat) continue;
      if (n < std::size(seen)) seen[n++] = d;
      if (any) {
        out += ',';
      } else {
        json::append_key(out, field::datasets);
        out += '[';
      }
      json::append_string(out, d);
      any = true;
    }
  }
  // A routed request always says which datasets it touched, none included: a reader (or a schema)
  // need not tell a missing field from an empty answer.
  if (any) {
    out += ']';
  } else if (!f.route.empty()) {
    json::append_key(out, field::datasets);
    out += "[]";
  }
  std::string_view classification = f.tool_label && !f.tool_label->classification.empty()
                                        ? std::string_view(f.tool_label->classification)
                                        : f.route_label ? std::string_view(f.route_label->classification)
                                                        : std::string_view{};
  field_if(out, field::classification, classification);
}

// Who made the request, under which scope: the head of request and request.outcome records.
void append_caller(std::string& out, const RequestFacts& f) {
  field_if(out, field::request_id, f.request_id);
  field_if(out, field::trace_id, f.trace_id);
  field_if(out, field::span_id, f.span_id);
  if (!f.scope.id.empty()) append_scope_ref(out, f.scope.id, f.scope.parent, f.scope.root, f.scope.depth, f.scope.path);
  field_if(out, field::principal, f.principal);
  field_if(out, field::agent, f.agent);
}

// What came of it: known once the response has gone out (or failed). An LLM call's usage and
// cost belong here: they are read from its response.
void append_result(std::string& out, const RequestFacts& f) {
  json::append_int(out, field::status, f.status);
  field_if(out, field::outcome, f.outcome);
  append_duration(out, f.duration_ms);
  json::append_int(out, field::bytes_out, static_cast<std::int64_t>(f.bytes_out));
  if (f.usage) {
    json::append_key(out, field::usage);
    llm::append_usage_object(out, *f.usage);
    json::append_key(out, field::cost);
    llm::append_cost(out, f.cost);
  }
}

}  // namespace

std::string request_members(const RequestFacts& f) {
  std::string out;
  out.reserve(640);
  append_caller(out, f);
  field_if(out, field::target_agent, f.target_agent);
  field_if(out, field::route, f.route);
  field_if(out, field::operation, f.operation);
  field_if(out, field::action, f.action);
  field_if(out, field::model, f.model);
  field_if(out, field::tool, f.tool);
  field_if(out, field::resource, f.resource);
  field_if(out, field::mcp_method, f.mcp_method);
  field_if(out, field::task_id, f.task_id);
  field_if(out, field::context_id, f.context_id);
  field_if(out, field::plan, f.plan);
  field_if(out, field::task, f.task);
  append_datasets(out, f);
  field_if(out, field::method, f.method);
  field_if(out, field::path, f.path);
  field_if(out, field::upstream, f.upstream);
  field_if(out, field::endpoint, f.endpoint);
  if (f.retries > 0) json::append_int(out, field::retries, f.retries);
  field_if(out, field::fallback, f.fallback);
  json::append_field(out, field::decision, f.allowed ? "allow" : "deny");
  field_if(out, field::rule, f.rule);
  if (!f.shadow.empty()) {
    json::append_key(out, field::shadow);
    out += '[';
    for (std::size_t i = 0; i < f.shadow.size(); ++i) {
      if (i) out += ',';
      out += "{\"";
      out += field::rule;
      out += "\":";
      json::append_string(out, f.shadow[i].rule);
      json::append_field(out, field::decision, f.shadow[i].would_allow ? "allow" : "deny");
      out += '}';
    }
    out += ']';
  }
  field_if(out, field::reason, f.reason);
  if (f.ahead) {
    // Strict: written before the upstream sees the request; the outcome is not known yet (it
    // follows in a request.outcome record).
    json::append_field(out, field::recorded, "before_forward");
  } else {
    append_result(out, f);
  }
  json::append_int(out, field::bytes_in, static_cast<std::int64_t>(f.bytes_in));
  field_if(out, field::child_scope, f.child_scope);
  return out;
}

std::string request_outcome_members(const RequestFacts& f) {
  std::string out;
  out.reserve(384);
  // The same request_id joins it to its request record; the caller and route repeat, so that
  // a scope's records hold its outcomes without the join.
  append_caller(out, f);
  field_if(out, field::route, f.route);
  field_if(out, field::model, f.model);
  // Where it went, known only now: the request record, written before forwarding, names the endpoint
  // first chosen, and a retry or a fallback may have changed it.
  field_if(out, field::upstream, f.upstream);
  field_if(out, field::endpoint, f.endpoint);
  if (f.retries > 0) json::append_int(out, field::retries, f.retries);
  field_if(out, field::fallback, f.fallback);
  field_if(out, field::reason, f.reason);  // the gateway answered itself (upstream_timeout, ...)
  append_result(out, f);
  return out;
}

std::string scope_open_members(const delegation::ScopeRecord& s, Opening how, std::string_view request_id) {
  std::string out;
  field_if(out, field::request_id, request_id);
  append_scope_ref(out, s.id, s.parent, s.root, s.depth, s.path);
  field_if(out, field::principal, s.principal);
  field_if(out, field::agent, s.actor);
  json::append_field(out, field::how, how == Opening::minted ? "minted" : "first_seen");
  json::append_key(out, field::opened);
  delegation::append_scope_json(out, s);
  return out;
}

std::string scope_revoke_members(const delegation::ScopeRecord* record, std::string_view scope,
                                 std::span<const std::string> revoked, std::string_view by) {
  std::string out;
  if (record) append_scope_ref(out, record->id, record->parent, record->root, record->depth, record->path);
  else append_scope_ref(out, scope, "", "", -1, "");
  json::append_field(out, field::by, by);
  json::append_key(out, field::revoked);
  out += '[';
  for (std::size_t i = 0; i < revoked.size(); ++i) {
    if (i) out += ',';
    json::append_string(out, revoked[i]);
  }
  out += ']';
  return out;
}

std::string reload_members(const ReloadFacts& f) {
  std::string out;
  json::append_field(out, field::trigger, to_string(f.trigger));
  json::append_field(out, field::result, f.applied ? "applied" : "refused");
  json::append_int(out, field::generation, static_cast<std::int64_t>(f.generation));
  // The set in force once this reload is over (the new one, or the one a refusal kept), so the
  // latest policy.reload before a request names the bytes that decided it.
  std::span<const policy::FileInfo> files;
  if (f.policies) files = f.policies->files();
  std::size_t rules = 0;
  json::append_key(out, field::files);
  out += '[';
  for (std::size_t i = 0; i < files.size(); ++i) {
    out += i ? ",{\"" : "{\"";
    out += field::path;
    out += "\":";
    json::append_string(out, files[i].path);
    json::append_field(out, field::sha256, files[i].sha256_hex);
    json::append_int(out, field::rules, static_cast<std::int64_t>(files[i].rules));
    out += '}';
    rules += files[i].rules;
  }
  out += ']';
  json::append_int(out, field::rules, static_cast<std::int64_t>(rules));
  // No policies configured: nothing is refused by a policy, as if the default were allow.
  json::append_field(out, field::default_decision, !f.policies || f.policies->default_allow() ? "allow" : "deny");
  if (!f.errors.empty()) {
    // Bounded, so that one broken file cannot make a record of any size: the first errors are the
    // ones to fix first, and `scopegate check` lists them all.
    constexpr std::size_t kMaxErrors = 64;
    json::append_list(out, field::errors, f.errors.first(std::min(f.errors.size(), kMaxErrors)));
    if (f.errors.size() > kMaxErrors) {
      out.pop_back();
      out += ',';
      json::append_string(out, std::to_string(f.errors.size() - kMaxErrors) +
                                   " more errors (scopegate check lists every one)");
      out += ']';
    }
  }
  return out;
}

std::string breaker_members(const BreakerFacts& f) {
  std::string out;
  json::append_field(out, field::route, f.route);
  field_if(out, field::endpoint, f.endpoint);
  field_if(out, field::tool, f.tool);
  json::append_field(out, field::from, f.from);
  json::append_field(out, field::breaker, f.to);
  field_if(out, field::cause, f.cause);
  return out;
}

std::string plan_open_members(const PlanOpenFacts& f) {
  std::string out;
  json::append_field(out, field::plan, f.plan);
  field_if(out, field::request_id, f.request_id);
  append_scope_ref(out, f.scope.id, f.scope.parent, f.scope.root, f.scope.depth, f.scope.path);
  field_if(out, field::principal, f.principal);
  field_if(out, field::agent, f.agent);
  json::append_field(out, field::started, f.started);
  field_if(out, field::expires, f.expires);
  out += f.spec_members;  // goal, mode, tasks: the plan as registered, so the log alone can rebuild it
  return out;
}

std::string plan_task_members(const PlanTaskFacts& f) {
  std::string out;
  json::append_field(out, field::plan, f.plan);
  json::append_field(out, field::task, f.task);
  json::append_field(out, field::from, f.from);
  json::append_field(out, field::to, f.to);
  json::append_field(out, field::cause, f.cause);
  json::append_field(out, field::at, f.at);
  if (!f.scope.empty()) append_scope_ref(out, f.scope, "", "", -1, "");
  field_if(out, field::blocked_by, f.blocked_by);
  field_if(out, field::request_id, f.request_id);
  return out;
}

std::string plan_deviation_members(const PlanDeviationFacts& f) {
  std::string out;
  json::append_field(out, field::plan, f.plan);
  field_if(out, field::task, f.task);
  json::append_field(out, field::kind, f.kind);
  json::append_field(out, field::at, f.at);
  if (!f.scope.empty()) append_scope_ref(out, f.scope, "", "", -1, "");
  field_if(out, field::agent, f.agent);
  field_if(out, field::action, f.action);
  field_if(out, field::request_id, f.request_id);
  json::append_key(out, field::enforced);
  out += f.enforced ? "true" : "false";
  return out;
}

}  // namespace scopegate::audit
