"""Circuit breakers per route (docs/resilience.md) with the real binary and real upstreams that fail:
a route whose upstream answers 500 opens after the configured failures, then fails fast (503
breaker_open with Retry-After) while the upstream receives nothing; after the open time one probe
goes through and closes it. A dead upstream (connection refused) opens it too. Every transition is a
breaker.transition audit record and a metric; GET /v1/breakers shows the state."""
import json
import time

from audit_helpers import records, verify
from test_audit import schema_validator
from harness import config, free_port, request, route
from test_metrics import samples, scrape, value

BREAKER = "    breaker: { consecutive_failures: 3, open: 1s, max_open: 4s }\n"


def test_a_failing_upstream_opens_the_breaker_then_a_probe_closes_it(start_gateway, upstream, tmp_path):
    routes = route("flaky", "/flaky", upstream.url + "/status", strip_prefix="true") + BREAKER
    gw = start_gateway(config(routes, extra="audit:\n  dir: %s\n" % (tmp_path / "audit")))
    before = upstream.stats()["requests"]
    statuses = [request("127.0.0.1", gw.port, "GET", "/flaky?code=500")[0] for _ in range(3)]
    assert statuses == [500, 500, 500]
    started = time.monotonic()
    status, head, body = request("127.0.0.1", gw.port, "GET", "/flaky?code=200")
    assert status == 503 and json.loads(body)["error"]["code"] == "breaker_open", body
    assert 1 <= int(head["retry-after"]) <= 2
    assert upstream.stats()["requests"] - before - 1 == 3  # the refused one never reached it
    status, _, body = request("127.0.0.1", gw.admin_port, "GET", "/v1/breakers")
    listed = json.loads(body)["breakers"]
    assert [(b["route"], b["state"], b["trips"]) for b in listed] == [("flaky", "open", 1)]
    assert listed[0]["endpoint"] == "127.0.0.1:%d" % upstream.port and listed[0]["url"] == upstream.url + "/status"
    assert 0 < listed[0]["next_probe_in_ms"] <= 1100
    s = samples(scrape(gw)[1])
    assert value(s, "scopegate_breaker_state", route="flaky") == 2
    assert value(s, "scopegate_breaker_transitions_total", route="flaky", to="open") == 1
    # After the open time (1 s, jittered by up to 10%), one probe goes; its success closes the breaker.
    time.sleep(max(0.0, 1.15 - (time.monotonic() - started)))
    assert request("127.0.0.1", gw.port, "GET", "/flaky?code=200")[0] == 200
    assert request("127.0.0.1", gw.port, "GET", "/flaky?code=200")[0] == 200
    s = samples(scrape(gw)[1])
    assert value(s, "scopegate_breaker_state", route="flaky") == 0
    assert value(s, "scopegate_breaker_transitions_total", route="flaky", to="closed") == 1
    gw.stop()
    transitions = [(r["from"], r["breaker"], r["cause"]) for r in records(tmp_path / "audit")
                   if r["event"] == "breaker.transition"]
    assert transitions == [("closed", "open", "consecutive_failures"), ("open", "half_open", "open_time_over"),
                           ("half_open", "closed", "probe_succeeded")]
    refused = [r for r in records(tmp_path / "audit") if r.get("reason") == "breaker_open"]
    assert len(refused) == 1 and refused[0]["decision"] == "deny" and refused[0]["status"] == 503
    # Every record, transitions included, is what the schema says, and the chain holds.
    validator = schema_validator("audit-record.schema.json")
    for r in records(tmp_path / "audit"):
        validator.validate(r)
    assert verify(str(tmp_path / "audit"))[0] == 0


def test_a_dead_upstream_fails_fast_once_open_and_a_failed_probe_reopens_for_longer(start_gateway):
    dead = "http://127.0.0.1:%d" % free_port()  # nothing listens: connection refused
    routes = route("dead", "/dead", dead) + BREAKER.replace("consecutive_failures: 3", "consecutive_failures: 2")
    gw = start_gateway(config(routes))
    assert [request("127.0.0.1", gw.port, "GET", "/dead/x")[0] for _ in range(2)] == [502, 502]
    t0 = time.monotonic()
    for _ in range(20):
        assert request("127.0.0.1", gw.port, "GET", "/dead/x")[0] == 503
    assert time.monotonic() - t0 < 2  # at once, without trying the upstream
    time.sleep(1.15)
    assert request("127.0.0.1", gw.port, "GET", "/dead/x")[0] == 502  # the probe, refused by the upstream
    b = json.loads(request("127.0.0.1", gw.admin_port, "GET", "/v1/breakers")[2])["breakers"][0]
    assert b["state"] == "open" and b["trips"] == 2 and b["next_probe_in_ms"] > 1100  # 2 s this time


def test_failures_the_route_does_not_count_leave_it_closed(start_gateway, upstream):
    # Only connection failures count here: 500s are the tool's answer, not a dead tool.
    routes = route("answers", "/answers", upstream.url + "/status", strip_prefix="true") + \
        "    breaker: { consecutive_failures: 2, failure_on: [connect, 429] }\n"
    gw = start_gateway(config(routes))
    assert [request("127.0.0.1", gw.port, "GET", "/answers?code=500")[0] for _ in range(5)] == [500] * 5
    assert [request("127.0.0.1", gw.port, "GET", "/answers?code=429")[0] for _ in range(3)] == [429, 429, 503]


def test_a_streaming_probe_closes_the_breaker_by_its_head_not_its_end(start_gateway, upstream):
    """A probe whose response streams for seconds must not hold the only half-open slot meanwhile:
    its head (200) closes the breaker, and the next request passes while it still streams."""
    import http.client
    import threading
    routes = route("tools", "/tools", upstream.url, strip_prefix="true") + BREAKER
    gw = start_gateway(config(routes))
    assert [request("127.0.0.1", gw.port, "GET", "/tools/status?code=500")[0] for _ in range(3)] == [500] * 3
    assert request("127.0.0.1", gw.port, "GET", "/tools/status?code=200")[0] == 503
    time.sleep(1.15)
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    conn.request("GET", "/tools/sse?n=30&interval_ms=100")  # three seconds of events
    probe = conn.getresponse()
    assert probe.status == 200
    streamed = []
    reader = threading.Thread(target=lambda: streamed.append(probe.read()))
    reader.start()
    try:
        # While the probe still streams, the breaker is closed: other requests pass.
        assert request("127.0.0.1", gw.port, "GET", "/tools/status?code=200")[0] == 200
        b = json.loads(request("127.0.0.1", gw.admin_port, "GET", "/v1/breakers")[2])["breakers"][0]
        assert b["state"] == "closed"
    finally:
        reader.join()
        conn.close()
    assert streamed and streamed[0].count(b"data:") == 30


def test_resets_mid_body_and_hangs_open_the_breaker_and_then_nothing_is_sent(start_gateway, upstream):
    """A real upstream that cuts its responses after the head (a reset mid-body), and one that hangs
    past the first-byte deadline: each opens the breaker after the configured failures, and while
    it is open the upstream's own count shows it receives nothing."""
    routes = (route("cut", "/cut", upstream.url, strip_prefix="true") + BREAKER +
              route("hang", "/hang", upstream.url, strip_prefix="true") + BREAKER +
              "    timeouts: { upstream_first_byte: 200ms }\n")
    gw = start_gateway(config(routes))
    before = upstream.stats()["requests"]
    for _ in range(3):
        try:
            request("127.0.0.1", gw.port, "GET", "/cut/cut-body")  # the body stops half-way: the client sees a cut
        except Exception:
            pass
    assert [request("127.0.0.1", gw.port, "GET", "/hang/delay?ms=1000")[0] for _ in range(3)] == [504] * 3
    served = upstream.stats()["requests"] - before - 1
    assert served == 6
    status, _, body = request("127.0.0.1", gw.port, "GET", "/cut/echo")
    assert status == 503 and json.loads(body)["error"]["code"] == "breaker_open"
    status, _, body = request("127.0.0.1", gw.port, "GET", "/hang/echo")
    assert status == 503 and json.loads(body)["error"]["code"] == "breaker_open"
    assert upstream.stats()["requests"] - before - 2 == served  # the fast fails sent it nothing
    states = {b["route"]: b["state"] for b in json.loads(request("127.0.0.1", gw.admin_port, "GET", "/v1/breakers")[2])["breakers"]}
    assert states == {"cut": "open", "hang": "open"}
