"""The monitoring examples hold together, without a gateway: Prometheus accepts the scrape config
(as shipped and as docker compose mounts it) and the alert rules, the alerts fire and stay quiet on
the synthetic series of alerts_test.yml, every query of the Grafana dashboard parses, and every
metric, label, label value and bucket bound the queries and rules name is one the gateway exports,
so that a typo cannot hide as a panel that stays empty or an alert that never fires.

promtool comes from Debian's prometheus package, which scripts/setup.sh installs: a machine without
it fails these tests rather than skipping them."""
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

import promql_exprs as promql
from promql_exprs import ROOT

PROMETHEUS_DIR = os.path.join(ROOT, "examples", "prometheus")
GRAFANA_DIR = os.path.join(ROOT, "examples", "grafana")
OPERATIONS = os.path.join(ROOT, "docs", "operations.md")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


@pytest.fixture(scope="module")
def promtool():
    path = shutil.which("promtool")
    assert path, "promtool is missing: scripts/setup.sh installs it (Debian package prometheus)"
    return path


def run(args, cwd=None):
    out = subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=300)
    assert out.returncode == 0, "%s failed:\n%s%s" % (" ".join(args), out.stdout, out.stderr)
    return out.stdout


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def test_alert_rules_are_valid(promtool):
    run([promtool, "check", "rules", os.path.join(PROMETHEUS_DIR, "alerts.yml")])


def test_alerts_fire_on_synthetic_series(promtool):
    run([promtool, "test", "rules", "alerts_test.yml"], cwd=PROMETHEUS_DIR)


def test_scrape_config_on_a_laptop_and_under_compose(promtool, tmp_path):
    config = load_yaml(os.path.join(PROMETHEUS_DIR, "prometheus.yml"))
    assert config["rule_files"] == ["alerts.yml"]
    [job] = config["scrape_configs"]
    assert job["job_name"] == "scopegate" and job["metrics_path"] == "/metrics"
    assert job["file_sd_configs"] == [{"files": ["targets.yml"]}]
    targets = lambda name: load_yaml(os.path.join(PROMETHEUS_DIR, name))[0]["targets"]
    assert targets("targets.yml") == ["localhost:9901"]
    assert targets("targets.compose.yml") == ["scopegate:9901"]
    # As shipped (a laptop), and as compose mounts it: the directory, with the compose targets in
    # place of targets.yml. Relative paths resolve from the config's directory in both.
    run([promtool, "check", "config", os.path.join(PROMETHEUS_DIR, "prometheus.yml")])
    mounted = tmp_path / "etc-prometheus"
    shutil.copytree(PROMETHEUS_DIR, mounted)
    shutil.copyfile(os.path.join(PROMETHEUS_DIR, "targets.compose.yml"), mounted / "targets.yml")
    run([promtool, "check", "config", str(mounted / "prometheus.yml")])
    # The dashboard's data source declares the scrape interval, for $__rate_interval.
    datasource = load_yaml(os.path.join(GRAFANA_DIR, "provisioning", "datasources", "prometheus.yaml"))
    assert datasource["datasources"][0]["jsonData"]["timeInterval"] == config["global"]["scrape_interval"]


def github_anchors(markdown):
    """The anchors GitHub gives the headings of a Markdown text."""
    anchors = set()
    for line in markdown.splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if m:
            text = re.sub(r"[^\w\- ]", "", m.group(1).lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def alerting_rules():
    return [rule for group in promql.rules() for rule in group["rules"] if "alert" in rule]


def test_every_alert_has_a_runbook_and_a_test_each_way():
    with open(OPERATIONS) as f:
        anchors = github_anchors(f.read())
    assert "metrics-and-alerts" in anchors
    tests = load_yaml(os.path.join(PROMETHEUS_DIR, "alerts_test.yml"))["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    names = [rule["alert"] for rule in alerting_rules()]
    assert len(names) == len(set(names))
    for rule in alerting_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], name
        path, _, anchor = annotations["runbook_url"].partition("#")
        assert path == "docs/operations.md" and anchor == name.lower(), name
        assert anchor in anchors, "docs/operations.md has no section for %s" % name
        assert any(c["alertname"] == name and c.get("exp_alerts") for c in cases), "%s never fires in alerts_test.yml" % name
        assert any(c["alertname"] == name and not c.get("exp_alerts") for c in cases), "%s is never held back in alerts_test.yml" % name


def test_every_dashboard_query_parses(promtool, tmp_path):
    """Each query, variables substituted, as a recording rule that promtool must accept."""
    queries = [(title, expr) for source, title, expr in promql.expressions() if source == promql.DASHBOARD]
    assert len(queries) > 20
    names = {"dashboard_query_%d" % i: title for i, (title, _) in enumerate(queries)}
    rules = [{"record": "dashboard_query_%d" % i, "expr": expr} for i, (_, expr) in enumerate(queries)]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, "a dashboard query does not parse:\n%s%s\nrules: %s" % (out.stdout, out.stderr, names)


def recorded_series():
    """Names the rules record, with the labels their aggregation keeps."""
    out = {}
    for group in promql.rules():
        for rule in group["rules"]:
            if "record" in rule:
                out[rule["record"]] = promql.read_selectors(rule["expr"])[1]
    return out


def regex_alternatives_known(pattern, known):
    """Every top-level alternative of a matcher's regex matches at least one known value."""
    alternatives, depth, start = [], 0, 0
    for i, c in enumerate(pattern):
        depth += c == "(" and 1 or c == ")" and -1 or 0
        if c == "|" and depth == 0:
            alternatives.append(pattern[start:i])
            start = i + 1
    alternatives.append(pattern[start:])
    return [a for a in alternatives if not any(re.fullmatch(a, v) for v in known)]


def test_every_name_label_and_value_is_exported():
    known = promql.series_labels()
    known.update(recorded_series())
    checked = []
    for source, title, expr in promql.expressions():
        selectors, grouping = promql.read_selectors(expr)
        assert selectors, "%s %s selects nothing" % (source, title)
        where = "%s, %s:\n%s" % (source, title, expr)
        available = set(promql.TARGET_LABELS)
        for name, matchers in selectors:
            assert name in known, "%s is not an exported metric (%s)" % (name, where)
            available |= known[name]
            for label, op, value in matchers:
                assert label in known[name], "%s has no label %s (%s)" % (name, label, where)
                values = promql.LABEL_VALUES.get(label)
                if label == "le":  # a threshold must be a bound the histogram has, as it is spelled
                    values = promql.BUCKET_BOUNDS[name]
                if values and op in ("=", "!="):
                    assert value in values, "%s=%r is never exported (%s)" % (label, value, where)
                if values and op in ("=~", "!~") and value != ".*":
                    unknown = regex_alternatives_known(value, values)
                    assert not unknown, "%s=~%r: %s match nothing exported (%s)" % (label, value, unknown, where)
            checked.append(name)
        assert grouping <= available, "grouping by %s, which %s lack (%s)" % (
            grouping - available, [n for n, _ in selectors], where)
    # The synthetic series of the unit tests are named as exported, too.
    tests = load_yaml(os.path.join(PROMETHEUS_DIR, "alerts_test.yml"))["tests"]
    for test in tests:
        for series in test["input_series"]:
            name = series["series"].split("{")[0]
            assert name in known, "alerts_test.yml feeds %s, which nothing exports" % name
            le = re.search(r'le="([^"]*)"', series["series"])
            assert not le or le.group(1) in promql.BUCKET_BOUNDS[name], series["series"]
    # Every exported family shows somewhere on the dashboard or in the rules.
    used = {re.sub(r"_(bucket|sum|count)$", "", n) for n in checked}
    assert set(promql.EXPORTED_METRICS) - used == set()


def test_dashboard_variables_are_regex_matchers_and_windows_rate_intervals():
    board = promql.dashboard()
    defined = {v["name"] for v in board["templating"]["list"]}
    for source, title, expr in promql.raw_dashboard_expressions():
        for name in promql.variables_in(expr):
            assert name in defined or name in promql.GRAFANA_INTERVALS, "%s uses undefined $%s" % (title, name)
        # A template variable stands only inside a regex matcher: with several values selected,
        # or All, Grafana writes an alternation, and the substitution .* stays meaningful.
        outside = re.sub(r'\w+\s*(=~|!~)\s*"[^"]*"', "", expr)
        outside = re.sub(r"\[\$(__rate_interval|__range)\]", "", outside)
        assert "$" not in outside and "[[" not in outside, "%s: a variable outside a regex matcher or window" % title
        # Rates over $__rate_interval, so that they follow the scrape interval and the zoom.
        for window in re.findall(r"\[([^\]]*)\]", expr):
            assert window in ("$__rate_interval", "$__range"), "%s: fixed window [%s]" % (title, window)
        assert "$" not in promql.substitute(expr)


def test_dashboard_shape():
    board = promql.dashboard()
    assert board["schemaVersion"] >= 39 and board["uid"] == "scopegate"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for v in variables.values():
        if v["type"] == "query":
            assert v["datasource"] == DATASOURCE, v["name"]
    panels = promql.panels(board)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    cells = {}
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, "%s overlaps %s" % (panel["title"], cells[(x, y)])
                cells[(x, y)] = panel["title"]
        if panel["type"] == "row":  # a row groups panels; it has no query of its own
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], "%s has no query" % panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"]), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE and target["expr"].strip(), panel["title"]


def test_grafana_provisioning_points_at_compose_paths():
    datasources = load_yaml(os.path.join(GRAFANA_DIR, "provisioning", "datasources", "prometheus.yaml"))
    [source] = datasources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    providers = load_yaml(os.path.join(GRAFANA_DIR, "provisioning", "dashboards", "scopegate.yaml"))
    [provider] = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert os.listdir(os.path.join(GRAFANA_DIR, "dashboards")) == ["scopegate.json"]


def test_expressions_are_ready_for_prometheus():
    """What promql_exprs.expressions() hands a test that runs them against a real Prometheus."""
    exprs = promql.expressions()
    sources = {source for source, _, _ in exprs}
    assert sources == {promql.DASHBOARD, promql.RULES}
    for source, title, expr in exprs:
        assert "$" not in expr and "[[" not in expr, (source, title)
    titles = [title for _, title, _ in exprs]
    assert len(titles) == len(set(titles)), "two expressions share a title"
