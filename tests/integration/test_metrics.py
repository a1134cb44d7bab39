"""GET /metrics (docs/protocol.md §8) with the real binary: exact counts after known traffic, checked
by parsing the scrape, by the real `promtool check metrics`, and by a real Prometheus server that
scrapes the admin listener every second and is queried through its HTTP API."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import pytest

import promql_exprs
from harness import (TOKEN_ENV, agent_yaml, auth, delegation_config, free_port, open_root, open_scope, request,
                     route)

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

SEARCH, FILES, UNAUTH, DELEGATIONS, MCP_DECLARED, MCP_OTHER = 5, 3, 2, 2, 2, 1
MODEL_CALLS = 2  # when the gateway has a model route: one answered whole, one streamed
UPSTREAM_5XX, UPSTREAM_DOWN = 1, 1


def scoped(name, prefix, url, **extra):
    extra.setdefault("access", "scoped")
    return route(name, prefix, url, **extra)


def gateway_config(upstream, audit_dir, model_server=None, **kwargs):
    llm = ""
    if model_server:
        # A model API (docs/llm.md): one priced model, so its name is a label.
        llm = scoped("openai", "/openai", model_server.url, kind="llm", strip_prefix="true")
        kwargs["extra"] = "llm:\n  prices:\n    gpt-4o: {input: 2.5, output: 10}\n"
    routes = (llm + scoped("search", "/tools/search", upstream.url) +
              scoped("files", "/tools/files", upstream.url) +
              scoped("flaky", "/tools/flaky", upstream.url) +
              scoped("dead", "/tools/dead", "http://127.0.0.1:%d" % free_port()) +
              scoped("mcp", "/mcp", upstream.url, kind="mcp") +
              "    tools:\n      lookup: { datasets: [crm] }\n" +
              scoped("researcher", "/agents/researcher", upstream.url, kind="agent", target_agent="researcher",
                     grants='["tool:*"]'))
    agents = (agent_yaml("planner", may_open_root=True, grants=["tool:*", "agent:*", "model:*"]) +
              agent_yaml("researcher") + agent_yaml("writer") + agent_yaml("intruder"))
    extra = "audit:\n  dir: %s\n%s" % (audit_dir, kwargs.pop("extra", ""))
    return delegation_config(routes, agents=agents, extra=extra, **kwargs)


def scrape(gw, accept=None):
    headers = {"Accept": accept} if accept else {}
    status, head, body = request("127.0.0.1", gw.admin_port, "GET", "/metrics", headers=headers)
    assert status == 200
    return head, body.decode()


def samples(text):
    """{(name, frozenset of (label, value))}: value, from the text format."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "unparsable sample line: %r" % line
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(s, name, **labels):
    return s.get((name, frozenset(labels.items())), 0.0)


def total(s, name, **labels):
    """Sum over every series of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in s.items() if n == name and want <= set(ls))


def mcp_call(tool):
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": tool, "arguments": {}}}).encode()


def workload(gw):
    """Known traffic; returns the root token."""
    _, token = open_root(gw, grants=["tool:search", "tool:lookup", "tool:undeclared", "tool:flaky", "tool:dead",
                                     "agent:researcher", "model:gpt-4o"])
    for _ in range(SEARCH):
        assert request("127.0.0.1", gw.port, "GET", "/tools/search", headers=auth("planner", token))[0] == 200
    for _ in range(FILES):
        assert request("127.0.0.1", gw.port, "GET", "/tools/files", headers=auth("planner", token))[0] == 403
    for _ in range(UNAUTH):
        assert request("127.0.0.1", gw.port, "GET", "/tools/search")[0] == 401
    assert request("127.0.0.1", gw.port, "GET", "/nowhere", headers=auth("planner", token))[0] == 404
    for _ in range(UPSTREAM_5XX):
        assert request("127.0.0.1", gw.port, "GET", "/tools/flaky/status?code=503",
                       headers=auth("planner", token))[0] == 503
    for _ in range(UPSTREAM_DOWN):
        assert request("127.0.0.1", gw.port, "GET", "/tools/dead", headers=auth("planner", token))[0] == 502
    mcp_headers = dict(auth("planner", token), **{"Content-Type": "application/json",
                                                   "Accept": "application/json, text/event-stream"})
    for tool, n in (("lookup", MCP_DECLARED), ("undeclared", MCP_OTHER)):
        for _ in range(n):
            assert request("127.0.0.1", gw.port, "POST", "/mcp", headers=mcp_headers, body=mcp_call(tool))[0] == 200
    for _ in range(DELEGATIONS):
        status, _, _ = request("127.0.0.1", gw.port, "POST", "/agents/researcher", headers=auth("planner", token),
                               body=b'{"task": "find"}')
        assert status == 200
    # A delegation through POST /v1/scopes: a child for the researcher, nothing forwarded.
    status, body = open_scope(gw, "planner", {"agent": "researcher", "grants": ["tool:search"]}, token=token)
    assert status == 201, body
    if getattr(gw, "config_has_llm", False):
        model_token = token
        for stream in (False, True):
            body = json.dumps({"model": "gpt-4o", "stream": stream, "max_tokens": 4,
                               "messages": [{"role": "user", "content": "two words"}]})
            status, _, answer = request("127.0.0.1", gw.port, "POST", "/openai/v1/chat/completions",
                                        headers=auth("planner", model_token, **{"Content-Type": "application/json"}),
                                        body=body)
            assert status == 200, answer
    return token


def check_counts(s):
    assert value(s, "scopegate_requests_total", route="search", agent="planner", operation="execute_tool",
                 decision="allow", code="2xx") == SEARCH
    assert value(s, "scopegate_requests_total", route="files", agent="planner", operation="execute_tool",
                 decision="deny", code="grant_exceeded") == FILES
    assert total(s, "scopegate_requests_total", route="search", agent="none", decision="deny",
                 code="unauthenticated") == UNAUTH
    assert total(s, "scopegate_requests_total", route="none", code="no_route") == 1
    assert value(s, "scopegate_requests_total", route="scopegate:scopes", agent="planner", operation="http",
                 decision="allow", code="2xx") == 2  # the root and the child
    # Tools: an http route is one tool named after it; an mcp tool only when declared, else other.
    assert value(s, "scopegate_tool_calls_total", route="search", tool="search", agent="planner",
                 decision="allow") == SEARCH
    assert value(s, "scopegate_tool_calls_total", route="mcp", tool="lookup", agent="planner",
                 decision="allow") == MCP_DECLARED
    assert value(s, "scopegate_tool_calls_total", route="mcp", tool="other", agent="planner",
                 decision="allow") == MCP_OTHER
    assert value(s, "scopegate_tool_duration_seconds_count", route="mcp", tool="lookup") == MCP_DECLARED
    assert value(s, "scopegate_delegations_total", route="researcher", from_agent="planner", to_agent="researcher",
                 decision="allow") == DELEGATIONS
    assert value(s, "scopegate_delegation_duration_seconds_count", route="researcher") == DELEGATIONS
    assert value(s, "scopegate_delegations_total", route="scopegate:scopes", from_agent="planner",
                 to_agent="researcher", decision="allow") == 1
    # Every request on a route is timed, refusals included; only forwarded ones upstream.
    # Upstream failures are allowed requests with the upstream's class or the gateway's upstream_* code.
    assert value(s, "scopegate_requests_total", route="flaky", agent="planner", operation="execute_tool",
                 decision="allow", code="5xx") == UPSTREAM_5XX
    assert value(s, "scopegate_requests_total", route="dead", agent="planner", operation="execute_tool",
                 decision="allow", code="upstream_unavailable") == UPSTREAM_DOWN
    assert value(s, "scopegate_request_duration_seconds_count", route="search") == SEARCH + UNAUTH
    assert value(s, "scopegate_request_duration_seconds_bucket", route="search", le="+Inf") == SEARCH + UNAUTH
    assert value(s, "scopegate_upstream_duration_seconds_count", route="search") == SEARCH
    # One root and one child per delegation (POST /v1/scopes included).
    assert value(s, "scopegate_scopes_opened_total", agent="planner", depth="0") == 1
    assert value(s, "scopegate_scopes_opened_total", agent="researcher", depth="1") == DELEGATIONS + 1
    assert value(s, "scopegate_scopes_active") == 1 + DELEGATIONS + 1
    assert value(s, "scopegate_inflight_requests") == 0
    assert value(s, "scopegate_audit_write_errors_total") == 0
    assert value(s, "scopegate_audit_records_total", event="scope.open") == 1 + DELEGATIONS + 1
    assert value(s, "scopegate_audit_queue_capacity") > 0
    assert value(s, "scopegate_audit_available") == 1
    assert value(s, "process_open_fds") > 0 and value(s, "process_resident_memory_bytes") > 0
    # Model calls (docs/llm.md): 2 words in and 4 out each, at 2.5 and 10 per million tokens.
    assert value(s, "scopegate_llm_tokens_total", route="openai", agent="planner", model="gpt-4o",
                 type="input") == 2 * MODEL_CALLS
    assert value(s, "scopegate_llm_tokens_total", route="openai", agent="planner", model="gpt-4o",
                 type="output") == 4 * MODEL_CALLS
    assert abs(value(s, "scopegate_llm_cost_total", route="openai", agent="planner", model="gpt-4o") -
               MODEL_CALLS * (2 * 2.5 + 4 * 10) / 1e6) < 1e-9
    assert value(s, "scopegate_llm_duration_seconds_count", route="openai") == MODEL_CALLS
    assert value(s, "scopegate_llm_time_to_first_chunk_seconds_count", route="openai") == MODEL_CALLS
    assert value(s, "scopegate_requests_total", route="openai", agent="planner", operation="chat", decision="allow",
                 code="2xx") == MODEL_CALLS


@pytest.fixture
def gateway(start_gateway, upstream, model_server, tmp_path):
    gw = start_gateway(gateway_config(upstream, tmp_path / "audit", model_server), env=TOKEN_ENV)
    gw.config_has_llm = True
    return gw


def wait_for_records(s_fn, want, timeout=10):
    """The audit counters follow the writer thread: wait until it has written what was sent."""
    deadline = time.time() + timeout
    while True:
        s = s_fn()
        if value(s, "scopegate_audit_records_total", event="request") >= want or time.time() > deadline:
            return s
        time.sleep(0.05)


def test_exact_counts_and_promtool(gateway):
    workload(gateway)
    sent = (1 + SEARCH + FILES + UNAUTH + 1 + UPSTREAM_5XX + UPSTREAM_DOWN + MCP_DECLARED + MCP_OTHER + DELEGATIONS + 1 +
            MODEL_CALLS)
    head, text = scrape(gateway)
    assert head["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    s = wait_for_records(lambda: samples(scrape(gateway)[1]), sent)
    check_counts(s)
    assert value(s, "scopegate_audit_records_total", event="request") == sent
    assert shutil.which("promtool"), "promtool (Debian package prometheus) is installed by scripts/setup.sh"
    text = scrape(gateway)[1]
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Scope, request ids and paths never become labels.
    assert "/tools/" not in text and "/nowhere" not in text


def test_openmetrics_when_asked(gateway):
    workload(gateway)
    head, text = scrape(gateway, "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
    assert head["content-type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8"
    assert text.endswith("# EOF\n")
    assert "# TYPE scopegate_requests counter\n" in text
    assert re.search(r'^scopegate_requests_created\{route="search",.*\} \d+(\.\d+)?$', text, re.M)
    assert "# TYPE scopegate_build info\n" in text
    # The same series and values as the text format (apart from _created).
    om = {k: v for k, v in samples(text.replace("# EOF\n", "")).items() if not k[0].endswith("_created")}
    plain = samples(scrape(gateway)[1])
    for key in ("scopegate_tool_calls_total", "scopegate_delegations_total"):
        assert {k: v for k, v in om.items() if k[0] == key} == {k: v for k, v in plain.items() if k[0] == key}


def test_no_audit_families_without_an_audit_log(start_gateway, upstream):
    """A gateway without audit.dir has no audit to report: absent, not zero (zero would read as an
    outage on scopegate_audit_available)."""
    routes = scoped("search", "/tools/search", upstream.url)
    gw = start_gateway(delegation_config(routes), env=TOKEN_ENV)
    s = samples(scrape(gw)[1])
    assert not [k for k in s if k[0].startswith("scopegate_audit_")]
    assert ("scopegate_inflight_requests", frozenset()) in s


def test_metrics_endpoint_errors(gateway):
    assert request("127.0.0.1", gateway.admin_port, "POST", "/metrics")[0] == 405
    # HEAD has the headers and no body.
    status, head, body = request("127.0.0.1", gateway.admin_port, "HEAD", "/metrics")
    assert status == 200 and body == b""


def test_reloads_are_counted(start_gateway, upstream, tmp_path):
    path = tmp_path / "c.yaml"
    gw = start_gateway(gateway_config(upstream, tmp_path / "audit"), env=TOKEN_ENV)
    s = samples(scrape(gw)[1])
    assert value(s, "scopegate_config_reloads_total", result="ok") == 0
    assert value(s, "scopegate_config_reloads_total", result="error") == 0
    admin = {"Authorization": "Bearer test-admin-token"}
    assert request("127.0.0.1", gw.admin_port, "POST", "/v1/reload", headers=admin)[0] == 200
    config_file = gw.config_path
    good = open(config_file).read()
    with open(config_file, "w") as f:
        f.write(good + "\nnot: [valid\n")
    assert request("127.0.0.1", gw.admin_port, "POST", "/v1/reload", headers=admin)[0] != 200
    with open(config_file, "w") as f:
        f.write(good)
    s = samples(scrape(gw)[1])
    assert value(s, "scopegate_config_reloads_total", result="ok") == 1
    assert value(s, "scopegate_config_reloads_total", result="error") == 1


# --- a real Prometheus server -------------------------------------------------------------------

class Prometheus:
    def __init__(self, admin_port, rule_files=()):
        assert shutil.which("prometheus"), "prometheus (Debian package) is installed by scripts/setup.sh"
        self.dir = tempfile.mkdtemp(prefix="sg-prom-")
        self.port = free_port()
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n")
            if rule_files:
                f.write("rule_files:\n" + "".join("  - %s\n" % r for r in rule_files))
            f.write("scrape_configs:\n  - job_name: scopegate\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % admin_port)
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.wait(lambda: self.api("/-/ready", raw=True), 30, "prometheus ready")

    def api(self, path, raw=False, **params):
        url = "http://127.0.0.1:%d%s" % (self.port, path)
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                body = r.read()
        except urllib.error.HTTPError as e:
            body = e.read()
            if raw:
                return None
            return json.loads(body)
        except OSError:
            return None
        return body if raw else json.loads(body)

    def query(self, expr):
        return self.api("/api/v1/query", query=expr)

    def scalar(self, expr):
        r = self.query(expr)
        if not r or r.get("status") != "success" or not r["data"]["result"]:
            return None
        return float(r["data"]["result"][0]["value"][1])

    def wait(self, fn, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = fn()
            if got:
                return got
            if self.proc.poll() is not None:
                break
            time.sleep(0.25)
        self.log.flush()
        raise AssertionError("timed out waiting for %s; prometheus log:\n%s" % (
            what, open(os.path.join(self.dir, "log")).read()[-3000:]))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def test_a_real_prometheus_sees_the_exact_counts(gateway):
    prom = Prometheus(gateway.admin_port)
    try:
        prom.wait(lambda: prom.scalar('up{job="scopegate"}') == 1, 30, "the first scrape")
        workload(gateway)
        expected = {
            'sum(scopegate_requests_total{route="search",decision="allow",code="2xx"})': SEARCH,
            'sum(scopegate_requests_total{route="files",code="grant_exceeded"})': FILES,
            'sum(scopegate_requests_total{agent="none",code="unauthenticated"})': UNAUTH,
            'sum(scopegate_tool_calls_total{route="mcp",tool="other"})': MCP_OTHER,
            'sum(scopegate_delegations_total{from_agent="planner",to_agent="researcher"})': DELEGATIONS + 1,
            'sum(scopegate_scopes_opened_total)': 1 + DELEGATIONS + 1,
            'sum(scopegate_upstream_duration_seconds_count{route="search"})': SEARCH,
            'scopegate_build_info': 1,
            'sum(scopegate_llm_tokens_total{model="gpt-4o",type="output"})': 4 * MODEL_CALLS,
        }
        for expr, want in expected.items():
            prom.wait(lambda: prom.scalar(expr) == want, 30, "%s == %s (now %s)" % (expr, want, prom.scalar(expr)))
        # The scrape went through the OpenMetrics parser (Prometheus asks for it first) and kept
        # the bucket spelling the text format uses.
        assert prom.scalar('count(scopegate_upstream_duration_seconds_bucket{route="search",le="1.0"})') == 1
    finally:
        prom.stop()


# Dashboard queries that return nothing after the workload, and why: each needs an event the
# workload does not cause. Every other panel query must return data.
NEEDS_AN_EVENT = {
    "Policy decisions by rule [A]": "needs access policies loaded; this gateway has none (test_policies.py)",
    "Guard refusals per second [A]": "needs a rate limit to refuse a request (test_guards.py)",
    "Guard refusals per second [C]": "needs the loop guard to refuse a call (test_guards.py)",
    "Circuit breakers [A]": "needs a route with a breaker; this gateway has none (test_breakers.py)",
    "Circuit breakers [B]": "needs a breaker to change state (test_breakers.py)",
    "Endpoints ejected and retries [A]": "needs a route with breakers; this gateway has none (test_endpoints.py)",
    "Endpoints ejected and retries [B]": "needs a route with several endpoints (test_endpoints.py)",
    "Upstream concurrency [B]": "needs a route's concurrency limit to refuse a request (test_concurrency.py)",
    "LLM cost per hour by agent [B]": "needs a call to a model without a price (test_llm.py)",
    "LLM time to first chunk and duration [C]": "needs a model answer without usage (test_llm.py)",
}


@pytest.fixture
def fleet_gateway(start_gateway, upstream, model_server, tmp_path, redis):
    """The same gateway in fleet mode (docs/fleet.md), on a real Redis: its fleet families too."""
    config = gateway_config(upstream, tmp_path / "audit", model_server)
    config += "fleet:\n  redis:\n    url: redis://127.0.0.1:%d\n" % redis.port
    gw = start_gateway(config, env=TOKEN_ENV)
    gw.config_has_llm = True
    deadline = time.time() + 10
    while request("127.0.0.1", gw.admin_port, "GET", "/readyz")[0] != 200 and time.time() < deadline:
        time.sleep(0.05)
    return gw


def test_every_dashboard_and_alert_expression_evaluates(fleet_gateway):
    """Every PromQL expression we ship parses and runs against a real Prometheus that scrapes the
    real gateway (with the alert and recording rules loaded; the gateway in fleet mode, so that the
    fleet's families are there too); every panel shows data after the workload unless
    NEEDS_AN_EVENT says why it cannot."""
    gateway = fleet_gateway
    rules = os.path.join(promql_exprs.ROOT, promql_exprs.RULES)
    prom = Prometheus(gateway.admin_port, rule_files=[rules])
    try:
        prom.wait(lambda: prom.scalar('up{job="scopegate"}') == 1, 30, "the first scrape")
        workload(gateway)
        prom.wait(lambda: prom.scalar('sum(scopegate_requests_total{route="search",code="2xx"})') == SEARCH, 30,
                  "the workload's counts")
        time.sleep(3)  # rate() over a window needs two samples after the traffic
        workload(gateway)
        prom.wait(lambda: prom.scalar('sum(scopegate_requests_total{route="search",code="2xx"})') == 2 * SEARCH,
                  30, "the second workload's counts")
        time.sleep(2)
        empty, failed = [], []
        for source, title, expr in promql_exprs.expressions():
            r = prom.query(expr)
            if not r or r.get("status") != "success":
                failed.append((source, title, expr, r))
            elif not r["data"]["result"] and source == promql_exprs.DASHBOARD:
                empty.append(title)
        assert not failed, "expressions Prometheus refused:\n" + "\n".join(map(repr, failed))
        unexplained = sorted(set(empty) - set(NEEDS_AN_EVENT))
        assert not unexplained, "panels with no data after the workload: %s" % unexplained
        stale = sorted(set(NEEDS_AN_EVENT) - set(empty))
        assert not stale, "listed as needing an event, yet they show data: %s" % stale
        # The rules Prometheus loaded are healthy (each evaluated without error).
        groups = prom.api("/api/v1/rules")["data"]["groups"]
        unhealthy = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r["health"] != "ok"]
        assert groups and not unhealthy, unhealthy
    finally:
        prom.stop()
