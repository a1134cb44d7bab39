#include "runtime/gateway_metrics.hpp"

#include <algorithm>

#include "clock/unix_clock.hpp"
#include "guard/budget.hpp"
#include "llm/usage.hpp"
#include "log/log.hpp"
#include "runtime/services.hpp"
#include "runtime/snapshot.hpp"

namespace scopegate::runtime {

using metrics::Family;
using metrics::pack;

namespace {

constexpr std::string_view kOperations[] = {"execute_tool", "invoke_agent", "read_resource", "http",
                                            "chat",         "embeddings",   "text_completion"};

#ifndef SCOPEGATE_VERSION
#define SCOPEGATE_VERSION "dev"
#endif

}  // namespace

GatewayMetrics& GatewayMetrics::instance() {
  static GatewayMetrics metrics;
  return metrics;
}

GatewayMetrics::GatewayMetrics() {
  auto& labels = registry_.labels();
  none = labels.intern("none");
  allow = labels.intern("allow");
  deny = labels.intern("deny");
  ok = labels.intern("ok");
  error = labels.intern("error");
  by_default = labels.intern("default");
  enforce = labels.intern("enforce");
  shadow = labels.intern("shadow");
  for (std::size_t i = 0; i < operations_.size(); ++i) operations_[i] = labels.intern(kOperations[i]);
  for (std::size_t i = 0; i < codes_.size(); ++i) codes_[i] = labels.intern(http::to_string(static_cast<http::ErrorCode>(i)));
  classes_[0] = metrics::LabelDictionary::kOther;
  for (unsigned c = 1; c <= 5; ++c) classes_[c] = labels.intern(std::to_string(c) + "xx");
  for (std::size_t e = 0; e < events_.size(); ++e) events_[e] = labels.intern(audit::kEventNames[e]);
  for (std::size_t d = 0; d < depths_.size(); ++d) depths_[d] = labels.intern(std::to_string(d));
  registry_.set(Family::build_info, pack(labels.intern(SCOPEGATE_VERSION)), 1);
  // Series with a fixed set of label values exist from the start, at zero, so that rate() and
  // increase() see their first change.
  for (auto result : {ok, error}) registry_.add(Family::config_reloads_total, pack(result), 0);
  breaker_states_ = {labels.intern("closed"), labels.intern("open"), labels.intern("half_open")};
  retry_reasons_ = {labels.intern("connect"), labels.intern("reset")};
  for (std::size_t k = 0; k < budget_kinds_.size(); ++k) {
    budget_kinds_[k] = labels.intern(guard::kBudgetKinds[k]);
    registry_.add(Family::budget_exhausted_total, pack(budget_kinds_[k]), 0);
  }
  for (std::size_t t = 0; t < token_types_.size(); ++t) token_types_[t] = labels.intern(llm::kTokenLabels[t]);
  for (std::size_t k = 0; k < plan_deviations_.size(); ++k) {
    plan_deviations_[k] = labels.intern(plan::to_string(static_cast<plan::DeviationKind>(k)));
    registry_.add(Family::plan_deviations_total, pack(plan_deviations_[k]), 0);
  }
  for (std::size_t k = 0; k < task_states_.size(); ++k) {
    task_states_[k] = labels.intern(plan::to_string(static_cast<plan::TaskState>(k)));
    registry_.set(Family::plan_tasks, pack(task_states_[k]), 0);
  }
  registry_.set(Family::plans_active, metrics::kOtherKey, 0);
}

void record_plan_deviation(plan::DeviationKind kind) {
  auto& m = GatewayMetrics::instance();
  m.registry().add(Family::plan_deviations_total, pack(m.plan_deviation(kind)));
}

void record_plan_finished(std::int64_t duration_us) {
  auto& r = GatewayMetrics::instance().registry();
  r.observe(Family::plan_duration_seconds, metrics::kOtherKey, static_cast<std::uint64_t>(std::max<std::int64_t>(0, duration_us)) * 1000);
}

std::uint16_t GatewayMetrics::operation(std::string_view op) const {
  for (std::size_t i = 0; i < operations_.size(); ++i) {
    if (kOperations[i] == op) return operations_[i];
  }
  return metrics::LabelDictionary::kOther;
}

std::uint16_t GatewayMetrics::depth(int d) const {
  if (d < 0 || static_cast<std::size_t>(d) >= depths_.size()) return metrics::LabelDictionary::kOther;
  return depths_[static_cast<std::size_t>(d)];
}

std::uint16_t MetricLabels::tool(std::size_t route, std::string_view name) const {
  if (route >= tools.size()) return metrics::LabelDictionary::kOther;
  auto it = tools[route].find(name);
  return it == tools[route].end() ? metrics::LabelDictionary::kOther : it->second;
}

std::uint16_t MetricLabels::rule(std::string_view id) const {
  if (id.empty()) return GatewayMetrics::instance().by_default;
  auto it = rules.find(id);
  return it == rules.end() ? metrics::LabelDictionary::kOther : it->second;
}

std::uint16_t MetricLabels::model(std::string_view name) const {
  auto it = models.find(name);
  return it == models.end() ? metrics::LabelDictionary::kOther : it->second;
}

MetricLabels GatewayMetrics::resolve(const config::Config& config, const policy::PolicySet* policies) {
  auto& labels = registry_.labels();
  MetricLabels out;
  // The dictionary keeps every value for the life of the process (cells refer to them by id):
  // past its capacity, new names are "other". Said once, in the log.
  auto intern = [&](std::string_view value) {
    auto id = labels.intern(value);
    if (id == metrics::LabelDictionary::kOther && !dictionary_full_) {
      dictionary_full_ = true;
      log::warn("metrics: the label dictionary is full; new route, agent and tool names are labelled other "
                "until the gateway restarts",
                {{"capacity", std::to_string(metrics::LabelDictionary::kCapacity)}, {"value", std::string(value)}});
    }
    return id;
  };
  for (const auto& route : config.routes) {
    out.routes.push_back(intern(route.name));
    auto& tools = out.tools.emplace_back();
    // An http route is one tool, named after the route; an mcp route's tools are those it declares.
    if (route.kind == config::RouteKind::http) tools.emplace(route.name, intern(route.name));
    for (const auto& [name, label] : route.tools) tools.emplace(name, intern(name));
    auto& endpoints = out.endpoints.emplace_back();
    for (const auto& u : route.upstreams) {
      std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
      endpoints.push_back(intern(host + ":" + std::to_string(u.port)));
    }
  }
  // The gateway's own routes, in Snapshot::route_index's order.
  for (std::string_view builtin : {"scopegate:scopes", "scopegate:plans"}) {
    out.routes.push_back(intern(builtin));
    out.endpoints.emplace_back();
    out.tools.emplace_back();
  }
  for (const auto& agent : config.agents) out.agents.push_back(intern(agent.id));
  if (policies) {
    for (const auto& rule : policies->rules()) out.rules.emplace(rule.id, intern(rule.id));
  }
  for (const auto& [model, price] : config.llm.prices) out.models.emplace(model, intern(model));
  return out;
}

void record_request(const RequestSample& s) {
  auto& m = GatewayMetrics::instance();
  auto& r = m.registry();
  std::uint16_t route = s.has_route ? s.route : m.none;
  // The gateway's decision: a request its checks let through is allowed even when the upstream
  // then failed it (refused the connection, timed out), so that upstream errors count among the
  // allowed requests whatever the stage they failed at.
  bool upstream_failed = s.reason && (*s.reason == http::ErrorCode::upstream_unavailable ||
                                      *s.reason == http::ErrorCode::upstream_timeout ||
                                      *s.reason == http::ErrorCode::upstream_protocol_error);
  std::uint16_t decision = s.allowed || upstream_failed ? m.allow : m.deny;
  std::uint16_t code = s.reason ? m.code(*s.reason) : m.status_class(s.status);
  r.add(Family::requests_total, pack(route, s.agent, s.operation, decision, code));
  if (s.reason == http::ErrorCode::rate_limited) r.add(Family::rate_limited_total, pack(route, s.agent));
  if (s.reason == http::ErrorCode::loop_detected) r.add(Family::loop_detected_total, pack(s.agent));
  if (s.budget_kind >= 0) r.add(Family::budget_exhausted_total, pack(m.budget_kind(s.budget_kind)));
  if (!s.has_route) return;
  r.observe(Family::request_duration_seconds, pack(route), s.duration_ns);
  if (s.forwarded) r.observe(Family::upstream_duration_seconds, pack(route), s.upstream_ns);
  if (s.tool_call) {
    r.add(Family::tool_calls_total, pack(route, s.tool, s.agent, decision));
    if (s.forwarded) r.observe(Family::tool_duration_seconds, pack(route, s.tool), s.upstream_ns);
  }
  if (s.delegation) {
    r.add(Family::delegations_total, pack(route, s.agent, s.target_agent, decision));
    if (s.forwarded) r.observe(Family::delegation_duration_seconds, pack(route), s.upstream_ns);
  }
  if (s.depth >= 0) r.observe(Family::scope_depth, metrics::kOtherKey, static_cast<std::uint64_t>(s.depth));
}

void record_policy_decision(const MetricLabels& labels, const policy::Decision& d) {
  auto& m = GatewayMetrics::instance();
  auto& r = m.registry();
  r.add(Family::policy_decisions_total, pack(labels.rule(d.rule), d.allow ? m.allow : m.deny, m.enforce));
  for (const auto& hit : d.shadow_hits()) {
    r.add(Family::policy_decisions_total, pack(labels.rule(hit.rule), hit.would_allow ? m.allow : m.deny, m.shadow));
  }
}

void record_scope_opened(std::uint16_t agent, int depth) {
  auto& m = GatewayMetrics::instance();
  m.registry().add(Family::scopes_opened_total, pack(agent, m.depth(depth)));
}

void record_breaker_transition(std::uint16_t route, int to) {
  auto& m = GatewayMetrics::instance();
  m.registry().add(Family::breaker_transitions_total, pack(route, m.breaker_state(to)));
}

void record_retry(std::uint16_t route, int reason) {
  auto& m = GatewayMetrics::instance();
  m.registry().add(Family::retries_total, pack(route, m.retry_reason(reason)));
}

void record_breaker_states(const Snapshot& snapshot) {
  auto& m = GatewayMetrics::instance();
  auto& r = m.registry();
  for (std::size_t i = 0; i < snapshot.config.routes.size(); ++i) {
    const auto& route = snapshot.upstreams[i];
    std::uint16_t route_label = snapshot.metric_labels.routes[i];
    // Every reason has its series from the start where retries can happen (another endpoint to try).
    if (route.endpoints.size() > 1 && snapshot.config.routes[i].retries.max > 0) {
      for (int reason = 0; reason < 2; ++reason) r.add(Family::retries_total, pack(route_label, m.retry_reason(reason)), 0);
    }
    if (!route.has_breaker && route.tool_breakers.empty()) continue;
    bool all_open = true, all_closed = true;
    for (const auto& tool : route.tool_breakers) {
      auto state = tool.breaker->state();
      all_open = all_open && state == breaker::State::open;
      all_closed = all_closed && state == breaker::State::closed;
    }
    for (const auto& endpoint : route.endpoints) {
      if (!route.has_breaker) break;
      auto state = endpoint.state->breaker.state();
      all_open = all_open && state == breaker::State::open;
      all_closed = all_closed && state == breaker::State::closed;
      r.set(Family::endpoint_ejected, pack(route_label, endpoint.metric_label), state == breaker::State::closed ? 0 : 1);
    }
    r.set(Family::breaker_state, pack(route_label), all_open ? 2 : all_closed ? 0 : 1);
  }
}

void retire_breaker_series(const Snapshot& running, const Snapshot& next) {
  auto& r = GatewayMetrics::instance().registry();
  for (std::size_t i = 0; i < running.config.routes.size(); ++i) {
    const auto& old = running.upstreams[i];
    if (!old.has_breaker && old.tool_breakers.empty()) continue;
    const auto& name = running.config.routes[i].name;
    const RouteUpstreams* kept = nullptr;
    for (std::size_t j = 0; j < next.config.routes.size(); ++j) {
      if (next.config.routes[j].name == name) kept = &next.upstreams[j];
    }
    std::uint16_t label = running.metric_labels.routes[i];
    if (!kept || (!kept->has_breaker && kept->tool_breakers.empty())) r.set(Family::breaker_state, pack(label), 0);
    for (const auto& endpoint : old.endpoints) {
      if (!old.has_breaker) break;
      bool still = kept && kept->has_breaker &&
                   std::any_of(kept->endpoints.begin(), kept->endpoints.end(),
                               [&](const Endpoint& e) { return e.label == endpoint.label; });
      if (!still) r.set(Family::endpoint_ejected, pack(label, endpoint.metric_label), 0);
    }
  }
}

void record_reload(bool ok) {
  auto& m = GatewayMetrics::instance();
  m.registry().add(Family::config_reloads_total, pack(ok ? m.ok : m.error));
}

namespace {

// Fleet mode's families, absent on a single node.
void sample_fleet(Services& services) {
  auto& r = GatewayMetrics::instance().registry();
  auto* node = services.fleet();
  constexpr Family kFleet[] = {Family::fleet_store_up, Family::fleet_revocations_age_seconds,
#define SCOPEGATE_FLEET_FAMILY(name) Family::fleet_##name##_total,
                               SCOPEGATE_FLEET_STATS(SCOPEGATE_FLEET_FAMILY)
#undef SCOPEGATE_FLEET_FAMILY
  };
  for (auto f : kFleet) r.set_absent(f, node == nullptr);
  if (!node) return;
  r.set(Family::fleet_store_up, metrics::kOtherKey, node->connected() && node->in_sync() ? 1 : 0);
  std::int64_t age = node->in_sync() || !node->synced_once() ? 0 : clock::unix_now() - node->current_as_of();
  r.set(Family::fleet_revocations_age_seconds, metrics::kOtherKey, std::max<std::int64_t>(0, age));
  const auto& stats = node->stats();
#define SCOPEGATE_FLEET_SAMPLE(name) \
  r.set(Family::fleet_##name##_total, metrics::kOtherKey, static_cast<std::int64_t>(stats.name.load(std::memory_order_relaxed)));
  SCOPEGATE_FLEET_STATS(SCOPEGATE_FLEET_SAMPLE)
#undef SCOPEGATE_FLEET_SAMPLE
}

}  // namespace

void sample_before_scrape(Services& services) {
  auto& m = GatewayMetrics::instance();
  auto& r = m.registry();
  record_breaker_states(*services.snapshot());
  r.set(Family::scopes_active, metrics::kOtherKey, static_cast<std::int64_t>(services.scopes().size()));
  auto plans = services.plans().counts();
  r.set(Family::plans_active, metrics::kOtherKey, static_cast<std::int64_t>(plans.active));
  for (std::size_t k = 0; k < plans.tasks.size(); ++k) {
    r.set(Family::plan_tasks, pack(m.task_state(static_cast<plan::TaskState>(k))), static_cast<std::int64_t>(plans.tasks[k]));
  }
  r.set(Family::connections_open, metrics::kOtherKey,
        static_cast<std::int64_t>(services.connections.load(std::memory_order_relaxed)));
  sample_fleet(services);
  auto* writer = services.audit_writer();
  for (auto f : {Family::audit_available, Family::audit_records_total, Family::audit_write_errors_total,
                 Family::audit_queue_depth, Family::audit_queue_capacity, Family::audit_fsync_duration_seconds}) {
    r.set_absent(f, writer == nullptr);
  }
  if (!writer) return;
  r.set(Family::audit_available, metrics::kOtherKey, writer->accepting() ? 1 : 0);
  const auto& stats = writer->stats();
  for (std::size_t e = 0; e < audit::kEventCount; ++e) {
    r.set(Family::audit_records_total, pack(m.event(e)),
          static_cast<std::int64_t>(stats.records[e].load(std::memory_order_relaxed)));
  }
  r.set(Family::audit_write_errors_total, metrics::kOtherKey,
        static_cast<std::int64_t>(stats.write_errors.load(std::memory_order_relaxed)));
  r.set(Family::audit_queue_depth, metrics::kOtherKey,
        static_cast<std::int64_t>(stats.queue_depth.load(std::memory_order_relaxed)));
  r.set(Family::audit_queue_capacity, metrics::kOtherKey, static_cast<std::int64_t>(writer->queue_capacity()));
  auto& fsync = r.histogram(Family::audit_fsync_duration_seconds, metrics::kOtherKey);
  for (std::size_t i = 0; i < fsync.counts.size(); ++i) {
    fsync.counts[i].store(stats.fsync_latency.counts[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
  fsync.sum.store(stats.fsync_latency.sum.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

}  // namespace scopegate::runtime
