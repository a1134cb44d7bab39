"""Active health checks (docs/resilience.md, "Health checks") with the real binary and real upstream
processes: a passing check closes a breaker that real traffic opened, long before its open time is
over and without a real request sent in between (the upstream counts the checks apart, by their
User-Agent); a check that fails (a dead port, a failing health path) never closes a breaker and
never opens one; the check's request is `GET <path>` with the endpoint's Host; reloads and shutdown
stop the checkers; `health_check` without a breaker is refused with file, line and key."""
import json
import socket
import time

from audit_helpers import cli, records, verify
from harness import RawServer, config, free_port, request, route
from test_audit import schema_validator
from test_metrics import samples, scrape, value

TOKEN = "test-admin-token"
# Open for a minute: anything that closes it within seconds is the health check.
BREAKER = "    breaker: { consecutive_failures: 2, open: 60s, max_open: 60s }\n"


def health(path, **more):
    # The path quoted: yaml-cpp does not take a '?' in a plain scalar of a flow mapping.
    fields = ['path: "%s"' % path] + ["%s: %s" % kv for kv in more.items()]
    return "    health_check: { %s }\n" % ", ".join(fields)


def breakers(gw):
    return json.loads(request("127.0.0.1", gw.admin_port, "GET", "/v1/breakers")[2])


def breaker_state(gw, name):
    return [b["state"] for b in breakers(gw)["breakers"] if b["route"] == name][0]


def endpoint_entry(gw, name):
    return [e for e in breakers(gw)["endpoints"] if e["route"] == name][0]


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def real_requests(before, after):
    """Requests the upstream served between two /stats calls that were neither health checks nor
    the second /stats call itself."""
    return (after["requests"] - before["requests"]) - (after["health_checks"] - before["health_checks"]) - 1


class HeadCatcher:
    """A server that keeps the head of every request it is sent and answers each with `status`."""

    def __init__(self, status=204):
        self.status = status
        self.heads = []
        self.server = RawServer(self.catch)
        self.port, self.url = self.server.port, self.server.url

    def catch(self, conn, head, body):
        if head:
            self.heads.append(head.decode("latin-1"))
            conn.sendall(b"HTTP/1.1 %d Status\r\nContent-Length: 0\r\n\r\n" % self.status)

    def close(self):
        self.server.close()


def test_a_passing_check_closes_the_breaker_without_a_real_request(start_gateway, upstream, tmp_path):
    routes = route("hc", "/hc", upstream.url, strip_prefix="true") + BREAKER + \
        health("/status?code=200", interval="200ms")
    gw = start_gateway(config(routes, extra="audit:\n  dir: %s\n" % (tmp_path / "audit")))
    before = upstream.stats()
    # Real traffic fails twice: the breaker opens for a minute.
    assert [request("127.0.0.1", gw.port, "GET", "/hc/status?code=500")[0] for _ in range(2)] == [500, 500]
    opened = time.monotonic()
    # The next check (every 200 ms) closes it, with no request of ours in between.
    assert wait_for(lambda: breaker_state(gw, "hc") == "closed", 5)
    assert time.monotonic() - opened < 5  # not the 60 s open time
    after = upstream.stats()
    assert real_requests(before, after) == 2  # the two failures; nothing was sent as a probe
    assert after["health_checks"] > before["health_checks"]
    entry = endpoint_entry(gw, "hc")
    assert entry["health"] == "passing" and 0 <= entry["checked_ms_ago"] < 2000
    assert entry["ejected"] is False
    s = samples(scrape(gw)[1])
    assert value(s, "scopegate_breaker_transitions_total", route="hc", to="open") == 1
    assert value(s, "scopegate_breaker_transitions_total", route="hc", to="closed") == 1
    assert value(s, "scopegate_breaker_state", route="hc") == 0
    assert request("127.0.0.1", gw.port, "GET", "/hc/status?code=200")[0] == 200  # real traffic again
    gw.stop()
    recs = records(tmp_path / "audit")
    transitions = [(r["endpoint"], r["from"], r["breaker"], r["cause"]) for r in recs
                   if r["event"] == "breaker.transition"]
    label = "127.0.0.1:%d" % upstream.port
    assert transitions == [(label, "closed", "open", "consecutive_failures"),
                           (label, "open", "closed", "health_check_passed")]
    # Between the open and the close, the log holds no request at all.
    events = [(r["event"], r.get("cause")) for r in recs if r["event"] in ("request", "breaker.transition")]
    opened_at = events.index(("breaker.transition", "consecutive_failures"))
    closed_at = events.index(("breaker.transition", "health_check_passed"))
    assert closed_at == opened_at + 1
    assert [e for e, _ in events].count("request") == 3
    validator = schema_validator("audit-record.schema.json")
    for r in recs:
        validator.validate(r)
    assert verify(str(tmp_path / "audit"))[0] == 0


def test_a_check_against_a_dead_port_never_closes_the_breaker(start_gateway, tmp_path):
    dead = free_port()  # nothing listens: every connection (and check) is refused
    routes = route("dead", "/dead", "http://127.0.0.1:%d" % dead) + BREAKER + health("/healthz", interval="200ms")
    gw = start_gateway(config(routes, extra="audit:\n  dir: %s\n" % (tmp_path / "audit")))
    assert [request("127.0.0.1", gw.port, "GET", "/dead/x")[0] for _ in range(3)] == [502, 502, 503]
    time.sleep(1.2)  # five checks or so, all refused
    assert breaker_state(gw, "dead") == "open"
    entry = endpoint_entry(gw, "dead")
    assert entry["health"] == "failing" and 0 <= entry["checked_ms_ago"] < 1000
    assert entry["ejected"] is True
    assert request("127.0.0.1", gw.port, "GET", "/dead/x")[0] == 503
    failing = [e for e in gw.logs() if e["msg"] == "health check failing"]
    assert len(failing) == 1 and failing[0]["endpoint"] == "127.0.0.1:%d" % dead  # logged once, not per check
    gw.stop()
    transitions = [(r["breaker"], r["cause"]) for r in records(tmp_path / "audit")
                   if r["event"] == "breaker.transition"]
    assert transitions == [("open", "consecutive_failures")]


def test_a_failing_check_neither_opens_a_breaker_nor_closes_one(start_gateway, upstream):
    # Both routes' checks answer 503. "quiet" only ever serves 200s: its breaker stays closed, its
    # traffic flows. "sick" fails twice for real: its breaker opens and the checks leave it open.
    routes = (route("quiet", "/quiet", upstream.url, strip_prefix="true") + BREAKER +
              health("/status?code=503", interval="100ms") +
              route("sick", "/sick", upstream.url, strip_prefix="true") + BREAKER +
              health("/status?code=503", interval="100ms"))
    gw = start_gateway(config(routes))
    assert [request("127.0.0.1", gw.port, "GET", "/sick/status?code=500")[0] for _ in range(2)] == [500, 500]
    time.sleep(1.0)
    assert breaker_state(gw, "quiet") == "closed" and breaker_state(gw, "sick") == "open"
    assert endpoint_entry(gw, "quiet")["health"] == "failing"
    assert endpoint_entry(gw, "sick")["health"] == "failing"
    assert [request("127.0.0.1", gw.port, "GET", "/quiet/echo")[0] for _ in range(5)] == [200] * 5
    assert request("127.0.0.1", gw.port, "GET", "/sick/echo")[0] == 503


def test_the_check_is_a_get_of_its_path_with_the_endpoints_host_and_expect_decides(start_gateway):
    catcher = HeadCatcher(status=204)
    try:
        routes = (route("listed", "/listed", catcher.url) + BREAKER +
                  health("/healthz?deep=1", interval="100ms", expect="[204]") +
                  route("narrow", "/narrow", catcher.url) + BREAKER +
                  health("/healthz?deep=1", interval="100ms", expect="[200]"))
        gw = start_gateway(config(routes))
        assert wait_for(lambda: endpoint_entry(gw, "listed")["health"] == "passing", 3)
        assert wait_for(lambda: endpoint_entry(gw, "narrow")["health"] == "failing", 3)
        head = catcher.heads[0].split("\r\n")
        assert head[0] == "GET /healthz?deep=1 HTTP/1.1"
        fields = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
        assert fields["host"] == "127.0.0.1:%d" % catcher.port
        assert fields["user-agent"] == "scopegate-health-check"
    finally:
        catcher.close()


def test_reloads_restart_the_checkers_and_shutdown_stops_them_at_once(start_gateway, upstream):
    with_checks = route("hc", "/hc", upstream.url) + BREAKER + health("/status?code=200", interval="100ms")
    gw = start_gateway(config(with_checks))
    assert wait_for(lambda: upstream.stats()["health_checks"] >= 3, 3)
    # A reload that drops the health check stops the running checkers.
    gw.write_config(config(route("hc", "/hc", upstream.url) + BREAKER))
    headers = {"Authorization": "Bearer " + TOKEN}
    assert request("127.0.0.1", gw.admin_port, "POST", "/v1/reload", headers=headers)[0] == 200
    time.sleep(0.3)  # a check under way when the reload came ends
    stopped_at = upstream.stats()["health_checks"]
    time.sleep(0.6)
    assert upstream.stats()["health_checks"] == stopped_at
    assert "health" not in endpoint_entry(gw, "hc")
    # One that brings it back starts them again, for the new snapshot.
    gw.write_config(config(with_checks))
    assert request("127.0.0.1", gw.admin_port, "POST", "/v1/reload", headers=headers)[0] == 200
    assert wait_for(lambda: upstream.stats()["health_checks"] >= stopped_at + 3, 3)
    # A check waiting on an upstream that never answers does not hold up the exit.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts (the kernel does) but never answers
    try:
        hang = route("hang", "/hang", "http://127.0.0.1:%d" % silent.getsockname()[1]) + BREAKER + \
            health("/healthz", interval="100ms", timeout="30s")
        gw2 = start_gateway(config(hang))
        time.sleep(0.5)  # a check is under way, waiting for a head that never comes
        started = time.monotonic()
        gw2.stop()
        assert time.monotonic() - started < 3
    finally:
        silent.close()


def test_a_health_check_without_a_breaker_is_refused_with_file_line_and_key(tmp_path):
    text = config(route("hc", "/hc", "http://127.0.0.1:9") + health("/healthz"))
    line = text.split("\n").index(health("/healthz").rstrip("\n")) + 1
    path = tmp_path / "gw.yaml"
    path.write_text(text)
    code, out, err = cli("check", "--config", str(path))
    assert code != 0
    assert "gw.yaml:%d: routes[0].health_check: applies only to a route with a breaker" % line in out + err
    path.write_text(config(route("hc", "/hc", "http://127.0.0.1:9") + BREAKER +
                           "    health_check: { path: /healthz, method: HEAD }\n"))
    code, out, err = cli("check", "--config", str(path))
    assert code != 0 and "routes[0].health_check.method: unknown key" in out + err
