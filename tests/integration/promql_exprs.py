"""Every PromQL expression scopegate ships, and the metrics they may name.

The expressions are the Grafana dashboard's queries (examples/grafana/dashboards/scopegate.json,
its panels' targets and its variables' series) and the alert and recording rules
(examples/prometheus/alerts.yml). `expressions()` returns them with Grafana's variables replaced,
so that Prometheus can parse and evaluate each one as it stands: the interval variables become
fixed windows, and every template variable (`$route`, `${agent}`, `[[job]]`) becomes `.*`, which is
why the dashboard uses template variables only as regular-expression matchers.

`EXPORTED_METRICS` is the list of metrics the gateway exports today (docs/protocol.md §8),
and `BUCKET_BOUNDS` their histograms' bounds: test_prometheus_rules.py checks every name, label and
bucket bound the expressions use against them.
"""
import json
import os
import re

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DASHBOARD = os.path.join("examples", "grafana", "dashboards", "scopegate.json")
RULES = os.path.join("examples", "prometheus", "alerts.yml")
RULES_TEST = os.path.join("examples", "prometheus", "alerts_test.yml")

# Grafana's interval variables, as fixed windows Prometheus accepts.
GRAFANA_INTERVALS = {"__rate_interval": "1m", "__interval": "1m", "__range": "1h"}

ERROR_CODES = (
    "bad_request", "header_spoofing", "mcp_header_mismatch", "unauthenticated", "token_invalid",
    "token_expired", "scope_revoked", "policy_denied", "grant_exceeded", "depth_exceeded",
    "plan_deviation", "no_route", "method_not_allowed", "request_timeout", "payload_too_large",
    "budget_exhausted", "rate_limited", "loop_detected", "headers_too_large", "upstream_unavailable",
    "upstream_protocol_error", "breaker_open", "audit_unavailable", "overloaded", "upstream_timeout",
    "not_implemented")
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")

# The values a label can take, where the gateway fixes them; other labels (route, agent, tool,
# event, ...) take values from the config or from the gateway's event list. Any label is `other` in
# the series where combinations past a family's capacity go.
LABEL_VALUES = {
    "decision": ("allow", "deny", "other"),
    "operation": ("execute_tool", "invoke_agent", "read_resource", "http", "chat", "embeddings", "text_completion",
                  "other"),
    "code": ERROR_CODES + STATUS_CLASSES + ("other",),
    "result": ("ok", "error", "other"),
    "mode": ("enforce", "shadow", "other"),
    # budgets (scopegate_budget_exhausted_total) and plan deviations (scopegate_plan_deviations_total)
    "kind": ("actions", "delegations", "children", "bytes_out", "tokens", "cost", "wrong_agent", "unapproved_action",
             "sequence_violation", "timing_violation", "after_completion", "unplanned_delegation", "other"),
    "state": ("pending", "running", "completed", "failed", "skipped", "blocked", "other"),
    "to": ("closed", "open", "half_open", "other"),
    "reason": ("connect", "reset", "other"),
    "type": ("input", "output", "cache_read", "reasoning", "other"),
}

# name: (type, labels). Every series also carries the target labels Prometheus adds (job, instance).
EXPORTED_METRICS = {
    "scopegate_requests_total": ("counter", ("route", "agent", "operation", "decision", "code")),
    "scopegate_request_duration_seconds": ("histogram", ("route",)),
    "scopegate_upstream_duration_seconds": ("histogram", ("route",)),
    "scopegate_policy_decisions_total": ("counter", ("rule", "decision", "mode")),
    "scopegate_breaker_state": ("gauge", ("route",)),
    "scopegate_breaker_transitions_total": ("counter", ("route", "to")),
    "scopegate_endpoint_ejected": ("gauge", ("route", "endpoint")),
    "scopegate_retries_total": ("counter", ("route", "reason")),
    "scopegate_upstream_inflight": ("gauge", ("route",)),
    "scopegate_rate_limited_total": ("counter", ("route", "agent")),
    "scopegate_budget_exhausted_total": ("counter", ("kind",)),
    "scopegate_loop_detected_total": ("counter", ("agent",)),
    "scopegate_tool_calls_total": ("counter", ("route", "tool", "agent", "decision")),
    "scopegate_tool_duration_seconds": ("histogram", ("route", "tool")),
    "scopegate_delegations_total": ("counter", ("route", "from_agent", "to_agent", "decision")),
    "scopegate_delegation_duration_seconds": ("histogram", ("route",)),
    "scopegate_scopes_opened_total": ("counter", ("agent", "depth")),
    "scopegate_scope_depth": ("histogram", ()),
    "scopegate_scopes_active": ("gauge", ()),
    "scopegate_inflight_requests": ("gauge", ()),
    "scopegate_connections_open": ("gauge", ()),
    "scopegate_audit_available": ("gauge", ()),
    "scopegate_audit_records_total": ("counter", ("event",)),
    "scopegate_audit_write_errors_total": ("counter", ()),
    "scopegate_audit_queue_depth": ("gauge", ()),
    "scopegate_audit_queue_capacity": ("gauge", ()),
    "scopegate_audit_fsync_duration_seconds": ("histogram", ()),
    "scopegate_config_reloads_total": ("counter", ("result",)),
    "scopegate_plans_active": ("gauge", ()),
    "scopegate_plan_tasks": ("gauge", ("state",)),
    "scopegate_plan_deviations_total": ("counter", ("kind",)),
    "scopegate_plan_duration_seconds": ("histogram", ()),
    "scopegate_llm_tokens_total": ("counter", ("route", "agent", "model", "type")),
    "scopegate_llm_cost_total": ("counter", ("route", "agent", "model")),
    "scopegate_llm_unpriced_calls_total": ("counter", ("route",)),
    "scopegate_llm_usage_missing_total": ("counter", ("route",)),
    "scopegate_llm_time_to_first_chunk_seconds": ("histogram", ("route",)),
    "scopegate_llm_duration_seconds": ("histogram", ("route",)),
    "scopegate_build_info": ("gauge", ("version",)),
    # Fleet mode only (docs/fleet.md): absent from a single node's exposition.
    "scopegate_fleet_store_up": ("gauge", ()),
    "scopegate_fleet_revocations_age_seconds": ("gauge", ()),
    "scopegate_fleet_store_errors_total": ("counter", ()),
    "scopegate_fleet_revocations_published_total": ("counter", ()),
    "scopegate_fleet_revocations_received_total": ("counter", ()),
    "scopegate_fleet_budget_leases_total": ("counter", ()),
    "scopegate_fleet_budget_leases_short_total": ("counter", ()),
    "scopegate_fleet_rate_leases_total": ("counter", ()),
    "scopegate_fleet_rate_leases_short_total": ("counter", ()),
    "scopegate_fleet_unavailable_refusals_total": ("counter", ()),
    "scopegate_fleet_local_fallbacks_total": ("counter", ()),
    "process_cpu_seconds_total": ("counter", ()),
    "process_resident_memory_bytes": ("gauge", ()),
    "process_virtual_memory_bytes": ("gauge", ()),
    "process_open_fds": ("gauge", ()),
    "process_max_fds": ("gauge", ()),
    "process_start_time_seconds": ("gauge", ()),
}
# Histogram bucket bounds, spelled as the gateway writes `le`: a decimal with at least one
# fractional digit (gateway/src/metrics/exposition.cpp), the form OpenMetrics wants.
LATENCY_BOUNDS = ("0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
                  "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "30.0", "60.0", "+Inf")
DEPTH_BOUNDS = ("0.0", "1.0", "2.0", "3.0", "4.0", "5.0", "6.0", "8.0", "+Inf")
DURATION_BOUNDS = ("1.0", "5.0", "15.0", "30.0", "60.0", "120.0", "300.0", "600.0", "1800.0", "3600.0", "7200.0",
                   "14400.0", "43200.0", "86400.0", "+Inf")
BUCKET_BOUNDS = {name + "_bucket": DEPTH_BOUNDS if name == "scopegate_scope_depth"
                 else DURATION_BOUNDS if name == "scopegate_plan_duration_seconds" else LATENCY_BOUNDS
                 for name, (kind, _) in EXPORTED_METRICS.items() if kind == "histogram"}
TARGET_LABELS = ("job", "instance")
# Series Prometheus writes itself for each scrape target.
PROMETHEUS_METRICS = {"up": ()}


def series_labels():
    """Every series name a query may select, with the labels it carries (recorded series aside)."""
    names = {}
    for name, (kind, labels) in EXPORTED_METRICS.items():
        if kind == "histogram":
            names[name + "_bucket"] = labels + ("le",)
            names[name + "_sum"] = labels
            names[name + "_count"] = labels
        else:
            names[name] = labels
    names.update(PROMETHEUS_METRICS)
    return {name: set(labels) | set(TARGET_LABELS) for name, labels in names.items()}


_VARIABLE = re.compile(r"\$\{(\w+)(?::[\w]+)?\}|\[\[(\w+)\]\]|\$(\w+)")


def variables_in(expr):
    """The names of the Grafana variables an expression uses."""
    return {m.group(1) or m.group(2) or m.group(3) for m in _VARIABLE.finditer(expr)}


def substitute(expr):
    """The expression with Grafana's variables replaced: intervals by fixed windows, others by .*"""
    def replace(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in GRAFANA_INTERVALS:
            return GRAFANA_INTERVALS[name]
        if name.startswith("__"):
            raise ValueError("no substitute for Grafana's $%s in %r" % (name, expr))
        return ".*"
    return _VARIABLE.sub(replace, expr)


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def dashboard():
    return json.loads(read(DASHBOARD))


def panels(board=None):
    """Every panel of the dashboard, those inside collapsed rows included."""
    board = board or dashboard()
    out = []
    for panel in board.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


_LABEL_VALUES_QUERY = re.compile(r"^\s*label_values\((.*),\s*(\w+)\s*\)\s*$", re.S)


def variable_series(variable):
    """The series selector of a query variable `label_values(<selector>, <label>)`, else None."""
    query = variable.get("query")
    if isinstance(query, dict):
        query = query.get("query")
    m = _LABEL_VALUES_QUERY.match(query or "")
    return m.group(1).strip() if m else None


def raw_dashboard_expressions():
    """(source, title, expr) of every dashboard query, variables still in place."""
    board = dashboard()
    out = []
    for variable in board.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            out.append((DASHBOARD, "variable " + variable["name"], variable_series(variable)))
    for panel in panels(board):
        for target in panel.get("targets", []):
            if target.get("expr"):
                out.append((DASHBOARD, "%s [%s]" % (panel["title"], target.get("refId", "")), target["expr"]))
    return out


def rules():
    """The rule groups of alerts.yml, as parsed YAML."""
    return yaml.safe_load(read(RULES))["groups"]


def rule_expressions():
    out = []
    for group in rules():
        for rule in group["rules"]:
            out.append((RULES, rule.get("alert") or rule.get("record"), rule["expr"].strip()))
    return out


def expressions():
    """(source, title, expr) of every expression of the dashboard and the rules, ready for Prometheus."""
    return [(source, title, substitute(expr)) for source, title, expr in raw_dashboard_expressions()] + rule_expressions()


# A PromQL reader just deep enough to name what an expression selects: metric names with their
# label matchers, and the labels of by/without/on/ignoring/group_left/group_right clauses.
# Prometheus itself (promtool) judges whether an expression parses; this only lists names.
_TOKEN = re.compile(r'''
    (?P<space>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<number>\d[\w.]*|\.\d[\w.]*)
  | (?P<ident>[A-Za-z_:][\w:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){}\[\],@])
''', re.X)
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = _GROUPING | {"and", "or", "unless", "offset", "bool", "inf", "nan", "atan2"}


def _tokens(expr):
    pos = 0
    out = []
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise ValueError("cannot read %r at %d" % (expr, pos))
        pos = m.end()
        if m.lastgroup not in ("space", "comment"):
            out.append((m.lastgroup, m.group()))
    return out


def _unquote(s):
    if s[0] == "`":
        return s[1:-1]
    return re.sub(r"\\(.)", r"\1", s[1:-1])


def read_selectors(expr):
    """(selectors, grouping labels) of an expression; a selector is (metric name, [(label, op, value)])."""
    tokens = _tokens(expr)
    selectors, grouping = [], set()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1][1] if i + 1 < len(tokens) else None
        if kind == "ident" and text in _GROUPING:
            i += 1
            if following == "(":
                i += 1
                while tokens[i][1] != ")":
                    if tokens[i][0] == "ident":
                        grouping.add(tokens[i][1])
                    i += 1
                i += 1
            continue
        if kind == "ident" and following in ("by", "without"):  # an aggregation: sum by (...) (...)
            i += 1
            continue
        if (kind == "ident" and text not in _KEYWORDS and following != "(") or text == "{":
            name = text if kind == "ident" else None
            matchers = []
            i += 1 if kind == "ident" else 0
            if i < len(tokens) and tokens[i][1] == "{":
                i += 1
                while tokens[i][1] != "}":
                    if tokens[i][1] == ",":
                        i += 1
                        continue
                    label, op, value = tokens[i][1], tokens[i + 1][1], _unquote(tokens[i + 2][1])
                    matchers.append((label, op, value))
                    i += 3
                i += 1
            selectors.append((name, matchers))
            continue
        if text == "[":
            while tokens[i][1] != "]":
                i += 1
        i += 1
    return selectors, grouping
