"""Routing, header hygiene and HTTP/1.1 semantics through the real gateway to real upstreams."""
import http.client
import json
import socket
import time

from harness import config, error_code, exchange, parse_responses, read_until_close, request, route


def routes_for(a, b):
    return (route("search-post", "/tools/search", a.url, strip_prefix="true") .replace(
                "{ path_prefix: /tools/search }", "{ path_prefix: /tools/search, methods: [POST] }") +
            route("search", "/tools/search", b.url, strip_prefix="true") +
            route("wiki", "/tools/wiki", a.url + "/base") +
            route("hosted", "/h", a.url).replace("{ path_prefix: /h }", "{ path_prefix: /h, host: internal.example }") +
            route("keep-host", "/kh", a.url, preserve_host="true"))


def echo(g, method, path, headers=None, body=None):
    status, h, data = request("127.0.0.1", g.port, method, path, headers, body)
    return status, h, (json.loads(data) if data and h.get("content-type") == "application/json" else data)


def header(echoed, name):
    values = [v for k, v in echoed["headers"] if k.lower() == name.lower()]
    return values[0] if len(values) == 1 else (values or None)


def test_routes_by_prefix_method_and_host(upstream, upstream_b, start_gateway):
    g = start_gateway(config(routes_for(upstream, upstream_b)))
    status, _, e = echo(g, "POST", "/tools/search/q?x=1", body=b"{}")
    assert status == 200 and e["upstream"] == "tools-a" and e["path"] == "/q?x=1"
    status, _, e = echo(g, "GET", "/tools/search/q?x=1")
    assert status == 200 and e["upstream"] == "tools-b" and e["path"] == "/q?x=1"
    status, _, e = echo(g, "GET", "/tools/wiki/page")
    assert e["path"] == "/base/tools/wiki/page"
    status, _, e = echo(g, "GET", "/h/x", headers={"Host": "Internal.Example:8080"})
    assert status == 200 and e["path"] == "/h/x"
    status, h, body = echo(g, "GET", "/h/x")
    assert status == 404 and body["error"]["code"] == "no_route"
    assert body["error"]["request_id"] == h["x-request-id"]
    status, _, body = echo(g, "GET", "/tools/searchx")
    assert status == 404


def test_host_rewritten_unless_preserved(upstream, upstream_b, start_gateway):
    g = start_gateway(config(routes_for(upstream, upstream_b)))
    _, _, e = echo(g, "GET", "/tools/wiki/x", headers={"Host": "agents.example"})
    assert header(e, "Host") == "127.0.0.1:%d" % upstream.port
    assert header(e, "X-Forwarded-Host") == "agents.example"
    _, _, e = echo(g, "GET", "/kh/x", headers={"Host": "agents.example"})
    assert header(e, "Host") == "agents.example"


def test_hop_by_hop_stripped_and_forwarding_headers_appended(upstream, upstream_b, start_gateway):
    g = start_gateway(config(routes_for(upstream, upstream_b)))
    _, resp_headers, e = echo(g, "GET", "/tools/wiki/x", headers={
        "Connection": "keep-alive, X-Hop",
        "X-Hop": "secret",
        "Keep-Alive": "timeout=1",
        "TE": "trailers",
        "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        "X-Forwarded-For": "203.0.113.9",
        "Forwarded": "for=203.0.113.9",
        "Via": "1.0 client-proxy",
        "Delegation-Scope": "forged-scope",
        "delegation-root": "forged-root",
        "X-Kept": "kept",
    })
    names = {k.lower() for k, _ in e["headers"]}
    for gone in ("x-hop", "keep-alive", "te", "proxy-authorization", "delegation-scope", "delegation-root"):
        assert gone not in names, gone
    assert header(e, "Connection") in (None, "keep-alive")
    assert header(e, "X-Kept") == "kept"
    assert header(e, "X-Forwarded-For") == "203.0.113.9, 127.0.0.1"
    assert header(e, "Forwarded") == 'for=203.0.113.9, for=127.0.0.1;proto=http;host="127.0.0.1:%d"' % g.port
    assert header(e, "Via") == "1.0 client-proxy, 1.1 gw-test"
    assert header(e, "X-Forwarded-Proto") == "http"
    # The upstream's hop-by-hop response headers (Keep-Alive) do not reach the client.
    assert "keep-alive" not in resp_headers
    assert resp_headers["via"] == "1.1 gw-test"


def test_underscore_spoofing_is_rejected_and_not_forwarded(upstream, upstream_b, start_gateway):
    g = start_gateway(config(routes_for(upstream, upstream_b)))
    before = upstream.stats()["requests"]
    status, _, body = echo(g, "GET", "/tools/wiki/x", headers={"Delegation_Scope": "forged"})
    assert status == 400 and body["error"]["code"] == "header_spoofing"
    assert upstream.stats()["requests"] == before + 1  # only the stats call itself


def test_request_id_kept_when_valid_else_new_uuid7(upstream, upstream_b, start_gateway):
    g = start_gateway(config(routes_for(upstream, upstream_b)))
    rid = "0193a6f0-0000-7000-8000-000000000abc"
    _, h, e = echo(g, "GET", "/tools/wiki/x", headers={"X-Request-Id": rid})
    assert header(e, "X-Request-Id") == rid and h["x-request-id"] == rid
    _, h, e = echo(g, "GET", "/tools/wiki/x", headers={"X-Request-Id": "abc\", injected"})
    new = header(e, "X-Request-Id")
    assert new != rid and len(new) == 36 and new[14] == "7" and h["x-request-id"] == new


def test_keepalive_reuses_client_and_upstream_connections(upstream, upstream_b, start_gateway):
    g = start_gateway(config(routes_for(upstream, upstream_b)).replace("workers: 2", "workers: 1"))
    conn = http.client.HTTPConnection("127.0.0.1", g.port, timeout=5)
    seen = set()
    for _ in range(20):
        conn.request("GET", "/tools/wiki/conn")
        resp = conn.getresponse()
        assert resp.status == 200
        seen.add(json.loads(resp.read())["connection"])
    conn.close()
    # Twenty sequential requests over one client connection use one pooled upstream connection.
    assert len(seen) == 1
    # A new client connection reuses the same pooled upstream connection too.
    _, _, e = echo(g, "GET", "/tools/wiki/conn")
    assert e["connection"] in seen


def test_pipelined_requests_answered_in_order(upstream, upstream_b, start_gateway):
    g = start_gateway(config(routes_for(upstream, upstream_b)))
    reqs = b"".join(b"GET /tools/wiki/n%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(5))
    reqs += b"GET /tools/wiki/last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    responses = parse_responses(exchange(g.port, reqs).data)
    assert [json.loads(b)["path"] for _, _, b in responses] == \
        ["/base/tools/wiki/n%d" % i for i in range(5)] + ["/base/tools/wiki/last"]


def test_head_204_304_and_close_delimited(upstream, upstream_b, start_gateway):
    g = start_gateway(config(routes_for(upstream, upstream_b)))
    raw = exchange(g.port, b"HEAD /tools/wiki/bytes?n=5000 HTTP/1.1\r\nHost: x\r\n\r\n"
                           b"GET /tools/wiki/status?code=204 HTTP/1.1\r\nHost: x\r\n\r\n"
                           b"GET /tools/wiki/status?code=304 HTTP/1.1\r\nHost: x\r\n\r\n"
                           b"GET /tools/wiki/conn HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").data
    head, sep, rest = raw.partition(b"\r\n\r\n")
    assert b"HTTP/1.1 200" in head and b"Content-Length: 5000" in head
    # HEAD carries no body: the next bytes are the 204's status line.
    assert rest.startswith(b"HTTP/1.1 204")
    assert b"HTTP/1.1 304" in rest
    assert rest.rstrip().endswith(b"}")  # the final JSON body, nothing in between
    # A body the upstream ends by closing reaches an HTTP/1.1 client chunked, intact.
    status, h, body = request("127.0.0.1", g.port, "GET", "/tools/wiki/close-delimited")
    assert status == 200 and body == b"until-close" and h.get("transfer-encoding") == "chunked"
    # ...and an HTTP/1.0 client by the close.
    raw = exchange(g.port, b"GET /tools/wiki/close-delimited HTTP/1.0\r\n\r\n").data
    assert raw.startswith(b"HTTP/1.1 200") and raw.endswith(b"until-close") and b"chunked" not in raw
    assert b"Connection: close" in raw


def test_expect_100_continue(upstream, upstream_b, start_gateway):
    g = start_gateway(config(routes_for(upstream, upstream_b)))
    s = socket.create_connection(("127.0.0.1", g.port), timeout=5)
    s.sendall(b"POST /tools/wiki/sink HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    interim = s.recv(100)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    s.sendall(b"hello")
    data = b""
    while b"}" not in data:
        data += s.recv(65536)
    status, _, body = parse_responses(data)[0]
    e = json.loads(body)
    assert status == 200 and e["body_bytes"] == 5
    assert header(e, "Expect") is None
    s.close()
    # Over the route's limit: refused before the body is invited, no 100 Continue.
    raw = exchange(g.port, b"POST /tools/wiki/sink HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n"
                           b"Expect: 100-continue\r\n\r\n").data
    assert raw.startswith(b"HTTP/1.1 413") and b"100 Continue" not in raw


def test_chunked_request_body_streams_to_upstream(upstream, upstream_b, start_gateway):
    g = start_gateway(config(routes_for(upstream, upstream_b)))
    chunks = [b"a" * 1000, b"b" * 70000, b"c"]
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    raw = exchange(g.port, b"POST /tools/wiki/sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                           b"Connection: close\r\n\r\n" + body).data
    status, _, data = parse_responses(raw)[0]
    assert status == 200 and json.loads(data)["body_bytes"] == 71001


def test_websocket_upgrade_refused_with_501(upstream, upstream_b, start_gateway):
    g = start_gateway(config(routes_for(upstream, upstream_b)))
    before = upstream.stats()["requests"]
    status, _, body = echo(g, "GET", "/tools/wiki/ws", headers={
        "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert status == 501 and body["error"]["code"] == "not_implemented"
    assert upstream.stats()["requests"] == before + 1
    # h2c may be ignored: the request proceeds as HTTP/1.1, without the Upgrade header.
    status, _, e = echo(g, "GET", "/tools/wiki/x", headers={"Connection": "Upgrade, HTTP2-Settings",
                                                           "Upgrade": "h2c", "HTTP2-Settings": "AAMAAABkAAQAAP__"})
    assert status == 200 and header(e, "Upgrade") is None and header(e, "HTTP2-Settings") is None


def test_upstream_errors_are_json(upstream, upstream_b, start_gateway):
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # nothing listens there now
    g = start_gateway(config(route("dead", "/dead", "http://127.0.0.1:%d" % dead_port) +
                             route("wiki", "/tools/wiki", upstream.url)))
    status, h, body = request("127.0.0.1", g.port, "GET", "/dead/x")
    assert status == 502 and error_code(body) == "upstream_unavailable"
    assert h["content-type"] == "application/json"
    status, _, body = request("127.0.0.1", g.port, "GET", "/tools/wiki/bad-framing")
    assert status == 502 and error_code(body) == "upstream_protocol_error"
    status, _, body = request("127.0.0.1", g.port, "GET", "/tools/wiki/no-response")
    assert status == 502 and error_code(body) == "upstream_unavailable"
    # The gateway is still healthy afterwards.
    status, _, _ = request("127.0.0.1", g.port, "GET", "/tools/wiki/x")
    assert status == 200


def test_stale_pooled_connection_is_replaced_transparently(start_gateway):
    from harness import Upstream
    up = Upstream("restartable")
    g = start_gateway(config(route("r", "/r", up.url)).replace("workers: 2", "workers: 1"))
    assert request("127.0.0.1", g.port, "GET", "/r/conn")[0] == 200
    # The upstream restarts on the same port: every pooled connection is now dead.
    port = up.port
    up.stop()
    import subprocess, sys
    from harness import UPSTREAM
    proc = subprocess.Popen([sys.executable, UPSTREAM, "--port", str(port), "--name", "again"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("listening")
        for _ in range(3):
            status, _, body = request("127.0.0.1", g.port, "GET", "/r/conn")
            assert status == 200 and json.loads(body)["upstream"] == "again"
    finally:
        proc.kill()
        proc.wait()


def test_error_replies_match_the_schema(upstream, upstream_b, start_gateway):
    import os
    import jsonschema
    from harness import ROOT
    with open(os.path.join(ROOT, "schema", "error.schema.json")) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    g = start_gateway(config(routes_for(upstream, upstream_b)))
    replies = [
        request("127.0.0.1", g.port, "GET", "/nowhere"),
        request("127.0.0.1", g.port, "GET", "/tools/wiki/x", headers={"Delegation_Scope": "x"}),
        request("127.0.0.1", g.port, "GET", "/tools/wiki/x", headers={"Upgrade": "websocket", "Connection": "upgrade"}),
        request("127.0.0.1", g.port, "GET", "/tools/wiki/bad-framing"),
    ]
    for status, headers, body in replies:
        assert status >= 400 and headers["content-type"] == "application/json"
        reply = json.loads(body)
        jsonschema.validate(reply, schema, cls=jsonschema.Draft202012Validator)
        assert reply["error"]["request_id"] == headers["x-request-id"]
    assert {json.loads(b)["error"]["code"] for _, _, b in replies} == \
        {"no_route", "header_spoofing", "not_implemented", "upstream_protocol_error"}


def test_http10_client_keep_alive(upstream, upstream_b, start_gateway):
    g = start_gateway(config(routes_for(upstream, upstream_b)))
    s = socket.create_connection(("127.0.0.1", g.port), timeout=5)
    for _ in range(2):
        s.sendall(b"GET /tools/wiki/conn HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        data = b""
        while b"}" not in data:
            data += s.recv(65536)
        assert data.startswith(b"HTTP/1.1 200") and b"Connection: keep-alive" in data
    s.sendall(b"GET /tools/wiki/conn HTTP/1.0\r\n\r\n")  # no keep-alive: answered, then closed
    data, closed = read_until_close(s)
    assert closed
    assert data.startswith(b"HTTP/1.1 200") and b"Connection: close" in data
    s.close()
