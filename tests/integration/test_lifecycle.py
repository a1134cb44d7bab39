"""Reload, admin endpoints, config checking and graceful shutdown of the real gateway process."""
import http.client
import json
import signal
import socket
import subprocess
import threading
import time

from harness import BIN, Gateway, config, error_code, request, route

TOKEN = "test-admin-token"


def admin(g, method, path, token=None):
    headers = {"Authorization": "Bearer " + token} if token else {}
    return request("127.0.0.1", g.admin_port, method, path, headers=headers)


def test_admin_endpoints_and_auth(upstream, start_gateway):
    g = start_gateway(config(route("a", "/a", upstream.url)))
    assert admin(g, "GET", "/healthz")[0] == 200
    status, _, body = admin(g, "GET", "/readyz")
    assert status == 200 and json.loads(body)["status"] == "ready"
    status, _, body = admin(g, "POST", "/v1/reload")
    assert status == 401 and error_code(body) == "unauthenticated"
    status, _, body = admin(g, "POST", "/v1/reload", token="wrong-token-value")
    assert status == 401 and error_code(body) == "unauthenticated"
    status, _, body = admin(g, "GET", "/v1/reload", token=TOKEN)
    assert status == 405 and error_code(body) == "method_not_allowed"
    status, _, body = admin(g, "GET", "/nope")
    assert status == 404
    status, _, body = admin(g, "POST", "/v1/reload", token=TOKEN)
    assert status == 200 and json.loads(body)["status"] == "reloaded"


def test_reload_under_load_fails_no_request(upstream, upstream_b, start_gateway):
    base_routes = route("a", "/a", upstream.url, strip_prefix="true")
    g = start_gateway(config(base_routes))
    stop = threading.Event()
    results = {"ok": 0, "failed": []}
    lock = threading.Lock()

    def hammer(path):
        conn = http.client.HTTPConnection("127.0.0.1", g.port, timeout=10)
        while not stop.is_set():
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                with lock:
                    if resp.status == 200:
                        results["ok"] += 1
                    else:
                        results["failed"].append(resp.status)
            except Exception as e:  # a failed request is exactly what this test looks for
                with lock:
                    results["failed"].append(repr(e))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", g.port, timeout=10)
        conn.close()

    threads = [threading.Thread(target=hammer, args=(p,)) for p in ("/a/echo", "/a/echo", "/a/delay?ms=150",
                                                                      "/a/sse?n=3&interval_ms=50")]
    for t in threads:
        t.start()
    time.sleep(0.3)
    for i in range(6):
        g.write_config(config(base_routes + route("b%d" % i, "/b%d" % i, upstream_b.url, strip_prefix="true")))
        if i % 2:
            g.signal(signal.SIGHUP)
            time.sleep(0.3)
        else:
            status, _, body = admin(g, "POST", "/v1/reload", token=TOKEN)
            assert status == 200, body
        time.sleep(0.2)
        # The route added by this reload serves; the one before it is gone.
        deadline = time.time() + 3
        while request("127.0.0.1", g.port, "GET", "/b%d/echo" % i)[0] != 200 and time.time() < deadline:
            time.sleep(0.05)
        status, _, body = request("127.0.0.1", g.port, "GET", "/b%d/echo" % i)
        assert status == 200 and json.loads(body)["upstream"] == "tools-b"
        if i:
            assert request("127.0.0.1", g.port, "GET", "/b%d/echo" % (i - 1))[0] == 404
    stop.set()
    for t in threads:
        t.join()
    assert results["failed"] == []
    assert results["ok"] > 100
    assert len([e for e in g.logs() if e["msg"] == "config reloaded"]) == 6


def test_invalid_reload_keeps_the_running_config(upstream, start_gateway):
    g = start_gateway(config(route("a", "/a", upstream.url)))
    g.write_config(config(route("a", "/a", upstream.url) + "    pool_sise: 3\n"))
    status, _, body = admin(g, "POST", "/v1/reload", token=TOKEN)
    assert status == 400
    message = json.loads(body)["error"]["message"]
    assert "scopegate.yaml:" in message and "routes[0].pool_sise" in message and "unknown key" in message
    assert request("127.0.0.1", g.port, "GET", "/a/echo")[0] == 200
    g.signal(signal.SIGHUP)
    entry = g.wait_for_log("reload rejected: the running config is kept")
    assert entry["level"] == "warn"
    errors = [e for e in g.logs() if e["msg"] == "config error"]
    assert errors and "routes[0].pool_sise" in errors[-1]["error"]
    assert request("127.0.0.1", g.port, "GET", "/a/echo")[0] == 200


def test_check_command_reports_file_line_and_key(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("listeners:\n  - port: 8080\nroutes:\n  - name: a\n    match: { path_prefix: /a }\n"
                   "    upstream: http://h:1\n    timeouts: { upstream_connect: soon }\n")
    r = subprocess.run([BIN, "check", "--config", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 1
    assert "%s:7: routes[0].timeouts.upstream_connect: expected a duration" % cfg in r.stderr
    cfg.write_text("listeners:\n  - port: 8080\n")
    r = subprocess.run([BIN, "check", "--config", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 0 and "ok" in r.stdout
    r = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--config FILE" in r.stdout
    r = subprocess.run([BIN, "serve", "--config", str(tmp_path / "missing.yaml")], capture_output=True, text=True)
    assert r.returncode == 1 and "cannot open the file" in r.stderr


def test_sigterm_drains_in_flight_requests(upstream, start_gateway):
    g = start_gateway(config(route("a", "/a", upstream.url, strip_prefix="true"), extra="timeouts: { drain: 10s }\n"))
    idle = socket.create_connection(("127.0.0.1", g.port), timeout=5)
    idle.sendall(b"GET /a/echo HTTP/1.1\r\nHost: x\r\n\r\n")
    assert idle.recv(65536).startswith(b"HTTP/1.1 200")
    slow = {}

    def slow_request():
        slow["result"] = request("127.0.0.1", g.port, "GET", "/a/delay?ms=1500")

    t = threading.Thread(target=slow_request)
    t.start()
    time.sleep(0.3)
    started = time.monotonic()
    g.signal(signal.SIGTERM)
    time.sleep(0.2)
    # Readiness turns 503 at once, new connections are refused, idle keep-alive ones are closed.
    status, _, body = admin(g, "GET", "/readyz")
    assert status == 503 and json.loads(body)["status"] == "draining"
    refused = False
    try:
        socket.create_connection(("127.0.0.1", g.port), timeout=1).close()
    except ConnectionRefusedError:
        refused = True
    assert refused
    assert idle.recv(100) == b""
    t.join()
    status, headers, _ = slow["result"]
    assert status == 200 and headers.get("connection") == "close"
    assert g.wait(10) == 0
    assert time.monotonic() - started < 5


def test_drain_deadline_cuts_what_is_left(upstream, start_gateway):
    g = start_gateway(config(route("a", "/a", upstream.url, strip_prefix="true"), extra="timeouts: { drain: 1s }\n"))
    s = socket.create_connection(("127.0.0.1", g.port), timeout=10)
    s.sendall(b"GET /a/delay?ms=8000 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.2)
    started = time.monotonic()
    g.signal(signal.SIGTERM)
    assert g.wait(10) == 0
    assert 0.8 < time.monotonic() - started < 3
    assert s.recv(100) == b""
    s.close()
