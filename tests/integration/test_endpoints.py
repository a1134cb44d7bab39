"""Several endpoints per route (docs/resilience.md) with the real binary and real upstream processes:
requests are balanced by weight; an endpoint whose breaker opens is ejected and the route keeps
serving from the others with no failed request; a connect failure and a reset of an idempotent
request without a body are retried on another endpoint (with `retries` in the record and
scopegate_retries_total); a request with a body, such as an MCP tools/call, is never sent twice."""
import json
import socket
import threading

from audit_helpers import records, verify
from harness import RawServer, config, request
from test_audit import schema_validator
from test_metrics import samples, scrape, value

BREAKER = "    breaker: { consecutive_failures: 2, open: 30s, max_open: 60s }\n"


_HELD = []


def free_port():
    """A loopback port that refuses connections for the rest of the test run: bound (so no other
    test's process can take it meanwhile, as tests run in parallel) but never listening."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    _HELD.append(s)
    return s.getsockname()[1]


def endpoints_route(name, prefix, urls, extra=""):
    lines = ["  - name: %s" % name, "    access: open", "    match: { path_prefix: %s }" % prefix, "    upstream:"]
    for u in urls:
        lines.append("      - %s" % u)
    return "\n".join(lines) + "\n" + extra


class Cutter:
    """A tool server that reads each request whole, counts it (and the JSON-RPC id of its body),
    then closes the connection without answering: a reset before the response head."""

    def __init__(self):
        self.requests = []
        self.server = RawServer(self.cut)
        self.port, self.url = self.server.port, self.server.url

    def cut(self, conn, head, body):
        if head:
            self.requests.append((head.split(b"\r\n")[0].decode(), body))

    def close(self):
        self.server.close()


def test_requests_are_balanced_by_weight(start_gateway, upstream, upstream_b):
    urls = [upstream.url, "{ url: %s, weight: 3 }" % upstream_b.url]
    gw = start_gateway(config(endpoints_route("pair", "/pair", urls)))
    before_a, before_b = upstream.stats()["requests"], upstream_b.stats()["requests"]
    statuses = [request("127.0.0.1", gw.port, "GET", "/pair/echo")[0] for _ in range(400)]
    assert statuses == [200] * 400
    served_a = upstream.stats()["requests"] - before_a - 1
    served_b = upstream_b.stats()["requests"] - before_b - 1
    assert served_a + served_b == 400
    # One request at a time: nothing outstanding, so the weighted draw alone decides (1 : 3).
    assert 60 <= served_a <= 140, (served_a, served_b)
    listed = json.loads(request("127.0.0.1", gw.admin_port, "GET", "/v1/breakers")[2])["endpoints"]
    assert [(e["route"], e["endpoint"], e["weight"], e["outstanding"]) for e in listed] == [
        ("pair", "127.0.0.1:%d" % upstream.port, 1, 0), ("pair", "127.0.0.1:%d" % upstream_b.port, 3, 0)]


def test_a_dead_endpoint_is_ejected_and_no_request_fails(start_gateway, upstream, tmp_path):
    dead_port = free_port()  # nothing listens: connection refused
    urls = ["http://127.0.0.1:%d" % dead_port, upstream.url]
    gw = start_gateway(config(endpoints_route("pair", "/pair", urls, BREAKER),
                              extra="audit:\n  dir: %s\n" % (tmp_path / "audit")))
    statuses = [request("127.0.0.1", gw.port, "GET", "/pair/echo")[0] for _ in range(40)]
    # A refused connection is retried on the live endpoint: not one request fails, before the
    # ejection or after it.
    assert statuses == [200] * 40
    listed = json.loads(request("127.0.0.1", gw.admin_port, "GET", "/v1/breakers")[2])["breakers"]
    states = {b["endpoint"]: b["state"] for b in listed}
    assert states == {"127.0.0.1:%d" % dead_port: "open", "127.0.0.1:%d" % upstream.port: "closed"}
    s = samples(scrape(gw)[1])
    assert value(s, "scopegate_endpoint_ejected", route="pair", endpoint="127.0.0.1:%d" % dead_port) == 1
    assert value(s, "scopegate_endpoint_ejected", route="pair", endpoint="127.0.0.1:%d" % upstream.port) == 0
    assert value(s, "scopegate_breaker_state", route="pair") == 1  # degraded, not down
    retried = value(s, "scopegate_retries_total", route="pair", reason="connect")
    assert retried == 2  # the two failures that opened the dead endpoint's breaker, then none
    gw.stop()
    recs = [r for r in records(tmp_path / "audit") if r["event"] == "request"]
    assert len(recs) == 40 and all(r["endpoint"] == "127.0.0.1:%d" % upstream.port for r in recs)
    assert all(r["upstream"] == upstream.url for r in recs)
    assert sum(r.get("retries", 0) for r in recs) == 2
    transitions = [(r["endpoint"], r["breaker"]) for r in records(tmp_path / "audit") if r["event"] == "breaker.transition"]
    assert transitions == [("127.0.0.1:%d" % dead_port, "open")]
    validator = schema_validator("audit-record.schema.json")
    for r in records(tmp_path / "audit"):
        validator.validate(r)
    assert verify(str(tmp_path / "audit"))[0] == 0


def test_without_retries_only_the_requests_before_the_ejection_fail(start_gateway, upstream):
    dead_port = free_port()
    urls = ["http://127.0.0.1:%d" % dead_port, upstream.url]
    gw = start_gateway(config(endpoints_route("pair", "/pair", urls, BREAKER + "    retries: { max: 0 }\n")))
    statuses = [request("127.0.0.1", gw.port, "GET", "/pair/echo")[0] for _ in range(60)]
    failures = [i for i, s in enumerate(statuses) if s != 200]
    assert len(failures) == 2 and all(statuses[i] == 502 for i in failures)
    assert statuses[failures[-1] + 1:] == [200] * (59 - failures[-1])  # zero failures after the ejection


def test_every_endpoint_open_fails_fast_with_breaker_open(start_gateway):
    urls = ["http://127.0.0.1:%d" % free_port(), "http://127.0.0.1:%d" % free_port()]
    gw = start_gateway(config(endpoints_route("dead", "/dead", urls, BREAKER)))
    while True:  # each request tries both endpoints (one retry): two requests open both breakers
        status, head, body = request("127.0.0.1", gw.port, "GET", "/dead/x")
        if status == 503:
            break
        assert status == 502
    assert json.loads(body)["error"]["code"] == "breaker_open" and 1 <= int(head["retry-after"]) <= 34  # 30 s ±10%
    s = samples(scrape(gw)[1])
    assert value(s, "scopegate_breaker_state", route="dead") == 2


def test_a_reset_is_retried_for_an_idempotent_request_and_never_for_a_tool_call(start_gateway, upstream, tmp_path):
    cutter = Cutter()
    try:
        # The cutter first, weighted so that it is nearly always drawn first.
        urls = ["{ url: %s, weight: 1000 }" % cutter.url, upstream.url]
        gw = start_gateway(config(endpoints_route("pair", "/pair", urls, "    retries: { max: 1, min_retries: 100 }\n"),
                                  extra="audit:\n  dir: %s\n" % (tmp_path / "audit")))
        gets = [request("127.0.0.1", gw.port, "GET", "/pair/echo")[0] for _ in range(20)]
        assert gets == [200] * 20  # every one cut by the cutter was answered by the other endpoint
        cut_gets = len(cutter.requests)
        assert cut_gets >= 15
        calls = []
        for i in range(20):
            body = json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                               "params": {"name": "lookup", "arguments": {"n": i}}}).encode()
            status, _, _ = request("127.0.0.1", gw.port, "POST", "/pair/echo", body=body,
                                   headers={"Content-Type": "application/json"})
            calls.append(status)
        # A request with a body that reached the cutter is not sent again: it fails (502).
        cut_calls = [json.loads(b)["id"] for line, b in cutter.requests[cut_gets:]]
        assert calls.count(502) == len(cut_calls) >= 15
        assert len(set(cut_calls)) == len(cut_calls)  # each call id reached the cutter once
        s = samples(scrape(gw)[1])
        assert value(s, "scopegate_retries_total", route="pair", reason="reset") == cut_gets
        gw.stop()
        recs = [r for r in records(tmp_path / "audit") if r["event"] == "request"]
        retried = [r for r in recs if r.get("retries")]
        assert len(retried) == cut_gets and all(r["method"] == "GET" and r["status"] == 200 for r in retried)
        failed = [r for r in recs if r.get("reason") == "upstream_unavailable"]
        assert len(failed) == len(cut_calls) and all(r["endpoint"] == "127.0.0.1:%d" % cutter.port for r in failed)
    finally:
        cutter.close()


def test_the_upstream_list_is_checked_with_file_line_and_key(start_gateway, tmp_path):
    from audit_helpers import cli
    path = tmp_path / "gw.yaml"
    path.write_text(config(endpoints_route("pair", "/pair", ["http://127.0.0.1:1", "http://127.0.0.1:1"])))
    code, out, err = cli("check", "--config", str(path))
    assert code != 0
    assert "gw.yaml:17: routes[0].upstream[1]" in out + err and "the same endpoint" in out + err


def test_a_route_falls_back_to_another_route_while_its_endpoints_are_unavailable(start_gateway, upstream, tmp_path):
    dead = "http://127.0.0.1:%d" % free_port()
    routes = (endpoints_route("primary", "/primary", [dead], BREAKER +
                              "    on_unavailable: fallback\n    fallback: cache\n") +
              endpoints_route("cache", "/cache", [upstream.url]))
    gw = start_gateway(config(routes, extra="audit:\n  dir: %s\n" % (tmp_path / "audit")))
    replies = [request("127.0.0.1", gw.port, "GET", "/primary/echo") for _ in range(6)]
    assert [r[0] for r in replies] == [200] * 6
    assert all(json.loads(r[2])["path"] == "/primary/echo" for r in replies)  # the request as the route maps it
    gw.stop()
    recs = [r for r in records(tmp_path / "audit") if r["event"] == "request"]
    assert [r["route"] for r in recs] == ["primary"] * 6 and all(r["fallback"] == "cache" for r in recs)
    assert all(r["endpoint"] == "127.0.0.1:%d" % upstream.port and r["decision"] == "allow" for r in recs)
    # The first two tried the dead endpoint first (a connect failure each, which opened its breaker);
    # the rest went to the fallback at once.
    assert [r.get("retries", 0) for r in recs] == [1, 1, 0, 0, 0, 0]
    validator = schema_validator("audit-record.schema.json")
    for r in recs:
        validator.validate(r)


def test_fallback_mistakes_are_refused(tmp_path):
    from audit_helpers import cli
    for extra, message in [("    on_unavailable: fallback\n", "required with on_unavailable: fallback"),
                           ("    on_unavailable: fallback\n    fallback: nowhere\n", "no route named 'nowhere'"),
                           ("    on_unavailable: fallback\n    fallback: a\n", "cannot fall back to itself"),
                           ("    fallback: b\n", "applies only with on_unavailable: fallback"),
                           ("    on_unavailable: retry\n", "expected error or fallback")]:
        path = tmp_path / "gw.yaml"
        path.write_text(config(endpoints_route("a", "/a", ["http://127.0.0.1:1"], extra) +
                               endpoints_route("b", "/b", ["http://127.0.0.1:2"])))
        code, out, err = cli("check", "--config", str(path))
        assert code != 0 and message in out + err, (extra, out + err)


def test_a_fallback_takes_a_slot_of_the_fallback_routes_concurrency_limit(start_gateway, upstream):
    """The fallback route's own limit holds for requests it serves for another route: they do not
    wait for a slot (they have waited enough) and are refused when it is full."""
    import concurrent.futures
    dead = "http://127.0.0.1:%d" % free_port()
    routes = (endpoints_route("primary", "/primary", [dead], BREAKER +
                              "    on_unavailable: fallback\n    fallback: cache\n    strip_prefix: true\n") +
              endpoints_route("cache", "/cache", [upstream.url], "    concurrency: { max_inflight: 1 }\n"))
    gw = start_gateway(config(routes))
    for _ in range(2):  # open the dead endpoint's breaker (each served by the fallback)
        assert request("127.0.0.1", gw.port, "GET", "/primary/echo")[0] == 200
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: request("127.0.0.1", gw.port, "GET", "/primary/delay?ms=400")[0], range(6)))
    assert statuses.count(200) >= 1 and statuses.count(200) + statuses.count(503) == 6, statuses
    assert statuses.count(503) >= 3, statuses
    assert upstream.stats()["peak_active"] <= 2  # the cache's one slot, and the /stats request itself
    listed = json.loads(request("127.0.0.1", gw.admin_port, "GET", "/v1/breakers")[2])["limits"]
    assert [(l["route"], l["inflight"]) for l in listed] == [("primary", 0), ("cache", 0)]  # every slot back


def test_a_retry_never_outlasts_the_request_deadline_nor_charges_the_live_endpoint(start_gateway, upstream):
    """A wait before a retry that would pass request_total is not taken: the request fails with its
    own error in time, and the live endpoint, which never got it, keeps a closed breaker."""
    import time
    urls = ["{ url: http://127.0.0.1:%d, weight: 1000 }" % free_port(), upstream.url]
    routes = endpoints_route("pair", "/pair", urls, BREAKER.replace("consecutive_failures: 2", "consecutive_failures: 100") +
                             "    retries: { max: 1, backoff: 2s, max_backoff: 2s, min_retries: 100 }\n"
                             "    timeouts: { request_total: 300ms }\n")
    gw = start_gateway(config(routes))
    for _ in range(10):
        started = time.monotonic()
        status = request("127.0.0.1", gw.port, "GET", "/pair/echo")[0]
        # Served by the live endpoint, or the retry not taken (502), or taken but the deadline ran
        # out on a loaded machine (504): never later than the deadline allows.
        assert status in (200, 502, 504) and time.monotonic() - started < 0.9, (status, time.monotonic() - started)
    states = {b["endpoint"]: b for b in json.loads(request("127.0.0.1", gw.admin_port, "GET", "/v1/breakers")[2])["breakers"]}
    live = states["127.0.0.1:%d" % upstream.port]
    assert live["state"] == "closed" and live["window_failures"] == 0 and live["consecutive_failures"] == 0


def test_per_tool_routes_still_eject_a_dead_endpoint(start_gateway, upstream):
    dead = "http://127.0.0.1:%d" % free_port()
    routes = endpoints_route("tools", "/mcp", ["{ url: %s, weight: 100 }" % dead, upstream.url],
                             "    kind: mcp\n    tools: { search: {} }\n"
                             "    breaker: { per: tool, consecutive_failures: 2, open: 30s, failure_on: [connect, 5xx, tool_error] }\n"
                             "    retries: { max: 0 }\n")
    gw = start_gateway(config(routes))
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search", "arguments": {}}})
    statuses = [request("127.0.0.1", gw.port, "POST", "/mcp/echo", body=body,
                        headers={"Content-Type": "application/json"})[0] for _ in range(30)]
    # Without retries the calls that met the dead endpoint failed, until its breaker ejected it;
    # the tool's breaker, which saw a working server answer most calls, stayed closed.
    failures = [i for i, s in enumerate(statuses) if s != 200]
    assert 1 <= len(failures) <= 2 and statuses[failures[-1] + 1:] == [200] * (29 - failures[-1]), statuses
    listed = json.loads(request("127.0.0.1", gw.admin_port, "GET", "/v1/breakers")[2])["breakers"]
    states = {b.get("endpoint", b.get("tool")): b["state"] for b in listed}
    assert states[dead[len("http://"):]] == "open" and states["127.0.0.1:%d" % upstream.port] == "closed"
    assert states["search"] == "closed"


def test_an_event_stream_never_holds_a_half_open_probe(start_gateway, upstream):
    """Where what an MCP server answers counts, a GET event stream is still decided by its head: a
    session's stream lasting seconds does not keep the breaker half-open meanwhile."""
    import http.client
    import threading
    import time
    routes = endpoints_route("tools", "/mcp", [upstream.url],
                             "    kind: mcp\n    strip_prefix: true\n"
                             "    breaker: { consecutive_failures: 2, open: 1s, failure_on: [connect, 5xx, tool_error] }\n")
    gw = start_gateway(config(routes))
    call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x", "arguments": {}}})
    headers = {"Content-Type": "application/json"}
    assert [request("127.0.0.1", gw.port, "POST", "/mcp/status?code=500", body=call, headers=headers)[0]
            for _ in range(2)] == [500, 500]
    time.sleep(1.15)
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    conn.request("GET", "/mcp/sse?n=20&interval_ms=100")  # two seconds of events: the probe
    stream = conn.getresponse()
    assert stream.status == 200
    reader = threading.Thread(target=stream.read)
    reader.start()
    try:
        assert request("127.0.0.1", gw.port, "POST", "/mcp/echo", body=call, headers=headers)[0] == 200
    finally:
        reader.join()
        conn.close()


def test_a_strict_records_outcome_names_the_endpoint_that_served(start_gateway, upstream, tmp_path):
    """On a strict route the request record is durable before forwarding, naming the endpoint first
    chosen; a retry moves the request, and its request.outcome says where it was served."""
    dead_port = free_port()
    urls = ["{ url: http://127.0.0.1:%d, weight: 1000 }" % dead_port, upstream.url]
    gw = start_gateway(config(endpoints_route("pair", "/pair", urls, "    audit: strict\n"),
                              extra="audit:\n  dir: %s\n" % (tmp_path / "audit")))
    statuses = [request("127.0.0.1", gw.port, "GET", "/pair/echo")[0] for _ in range(5)]
    assert statuses == [200] * 5
    gw.stop()
    recs = records(tmp_path / "audit")
    moved = 0
    for outcome in (r for r in recs if r["event"] == "request.outcome"):
        ahead = next(r for r in recs if r["event"] == "request" and r["request_id"] == outcome["request_id"])
        assert outcome["endpoint"] == "127.0.0.1:%d" % upstream.port and outcome["upstream"] == upstream.url
        if ahead["endpoint"] == "127.0.0.1:%d" % dead_port:
            assert outcome["retries"] == 1
            moved += 1
    assert moved >= 3  # the dead endpoint, weighted 1000 to 1, is nearly always chosen first
    validator = schema_validator("audit-record.schema.json")
    for r in recs:
        validator.validate(r)
    assert verify(str(tmp_path / "audit"))[0] == 0


def test_a_fallback_serves_the_same_protocol_and_a_delegation_the_same_agent(tmp_path):
    from audit_helpers import cli
    cases = [
        (endpoints_route("a", "/a", ["http://127.0.0.1:1"], "    on_unavailable: fallback\n    fallback: b\n") +
         endpoints_route("b", "/b", ["http://127.0.0.1:2"], "    kind: mcp\n"), "is of another kind"),
        (endpoints_route("w", "/w", ["http://127.0.0.1:1"], "    kind: agent\n    target_agent: writer\n"
                         "    on_unavailable: fallback\n    fallback: r\n") +
         endpoints_route("r", "/r", ["http://127.0.0.1:2"], "    kind: agent\n    target_agent: researcher\n"),
         "a delegation falls back only to the same agent"),
    ]
    agents = "agents:\n  - { id: writer, api_key_sha256: %s }\n  - { id: researcher, api_key_sha256: %s }\n" % (
        "ab" * 32, "cd" * 32)
    for routes, message in cases:
        path = tmp_path / "gw.yaml"
        path.write_text(config(routes, extra=agents))
        code, out, err = cli("check", "--config", str(path))
        assert code != 0 and message in out + err, out + err


def test_a_reload_that_drops_breakers_leaves_no_alerting_series(start_gateway):
    dead = "http://127.0.0.1:%d" % free_port()
    gw = start_gateway(config(endpoints_route("d", "/d", [dead], BREAKER)))
    while request("127.0.0.1", gw.port, "GET", "/d/x")[0] != 503:
        pass
    s = samples(scrape(gw)[1])
    label = dead[len("http://"):]
    assert value(s, "scopegate_breaker_state", route="d") == 2
    assert value(s, "scopegate_endpoint_ejected", route="d", endpoint=label) == 1
    gw.write_config(config(endpoints_route("d", "/d", [dead])))  # no breaker any more
    assert request("127.0.0.1", gw.admin_port, "POST", "/v1/reload",
                   headers={"Authorization": "Bearer test-admin-token"})[0] == 200
    s = samples(scrape(gw)[1])
    assert value(s, "scopegate_breaker_state", route="d") == 0
    assert value(s, "scopegate_endpoint_ejected", route="d", endpoint=label) == 0


class ErrorEventServer:
    """An MCP server answering every request with an event stream whose first event is a tool error
    (isError: true), then holding the stream open for a while before ending it."""

    def __init__(self, hold_s=1.5):
        self.hold_s = hold_s
        self.server = RawServer(self.answer)
        self.url = self.server.url

    def answer(self, conn, head, body):
        import time
        event = (b'event: message\ndata: {"jsonrpc":"2.0","id":1,"result":'
                 b'{"content":[{"type":"text","text":"down"}],"isError":true}}\n\n')
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
                     b"%x\r\n%s\r\n" % (len(event), event))
        time.sleep(self.hold_s)
        conn.sendall(b"0\r\n\r\n")

    def close(self):
        self.server.close()


def test_a_tool_error_already_read_counts_even_when_the_client_leaves_after_it(start_gateway):
    import http.client
    import time
    server = ErrorEventServer()
    try:
        routes = endpoints_route("tools", "/mcp", [server.url],
                                 "    kind: mcp\n    breaker: { consecutive_failures: 1, open: 30s, failure_on: [connect, 5xx, tool_error] }\n")
        gw = start_gateway(config(routes))
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)
        call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x", "arguments": {}}})
        conn.request("POST", "/mcp", body=call, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200 and b"isError" in resp.fp.readline() + resp.fp.readline() + resp.fp.readline()
        conn.close()  # the client leaves after the error event, while the stream is still open
        for _ in range(50):
            listed = json.loads(request("127.0.0.1", gw.admin_port, "GET", "/v1/breakers")[2])["breakers"]
            if listed[0]["state"] == "open":
                break
            time.sleep(0.1)
        assert listed[0]["state"] == "open", listed
    finally:
        server.close()
