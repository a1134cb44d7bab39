"""Several endpoints per route (docs/resilience.md) with the real binary and real upstream processes:
requests are balanced by weight; an endpoint whose breaker opens is ejected and the route keeps
serving from the others with no failed request; a connect failure and a reset of an idempotent
request without a body are retried on another endpoint (with `retries` in the record and
scopegate_retries_total); a request with a body, such as an MCP tools/call, is never sent twice."""
import json
import socket
import threading

from audit_helpers import records, verify
from harness import config, free_port, request
from test_audit import schema_validator
from test_metrics import samples, scrape, value

BREAKER = "    breaker: { consecutive_failures: 2, open: 30s, max_open: 60s }\n"


def endpoints_route(name, prefix, urls, extra=""):
    lines = ["  - name: %s" % name, "    access: open", "    match: { path_prefix: %s }" % prefix, "    upstream:"]
    for u in urls:
        lines.append("      - %s" % u)
    return "\n".join(lines) + "\n" + extra


class Cutter:
    """A tool server that reads each request whole, counts it (and the JSON-RPC id of its body),
    then closes the connection without answering: a reset before the response head."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.requests = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        k, _, v = line.partition(b":")
                        if k.strip().lower() == b"content-length":
                            length = int(v)
                    while len(body) < length:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        body += chunk
                    if head:
                        self.requests.append((head.split(b"\r\n")[0].decode(), body))
                except OSError:
                    pass

    def close(self):
        self.sock.close()


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
    assert json.loads(body)["error"]["code"] == "breaker_open" and 1 <= int(head["retry-after"]) <= 31
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
