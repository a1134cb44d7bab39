"""Reload, admin endpoints, config checking and graceful shutdown of the real gateway process."""
import http.client
import json
import signal
import socket
import subprocess
import threading
import time

from harness import BIN, Gateway, config, error_code, free_port, request, route

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


def serve_once(cfg_text, tmp_path, name):
    """Runs `scopegate serve` on `cfg_text` to its exit (a start that must fail): (exit code, log lines)."""
    path = tmp_path / name
    path.write_text(cfg_text)
    r = subprocess.run([BIN, "serve", "--config", str(path)], capture_output=True, text=True, timeout=30)
    return r.returncode, [json.loads(l) for l in r.stderr.splitlines() if l.startswith("{")]


def test_a_second_gateway_never_shares_the_first_ones_data_port(upstream, start_gateway, tmp_path):
    """The data listeners use SO_REUSEPORT (one acceptor per worker), which would let a second
    gateway of the same user join the first one's port and silently take a share of its
    connections. Without an audit directory to lock, the admin listener (bound first, without
    SO_REUSEPORT) stops a second start on the same config; with another admin port, the data
    port itself is found in use. Either way the second exits before binding a data port."""
    data_port, admin_port = free_port(), free_port()
    routes = route("a", "/a", upstream.url, strip_prefix="true")
    g = start_gateway(config(routes, data_port=data_port, admin_port=admin_port))
    assert (g.port, g.admin_port) == (data_port, admin_port)

    code, logs = serve_once(config(routes, data_port=data_port, admin_port=admin_port), tmp_path, "same.yaml")
    assert code == 1
    assert [e["msg"] for e in logs if e["level"] == "error"] == ["cannot listen (admin)"], logs
    assert not [e for e in logs if e["msg"] == "listening"], logs  # the data port was never touched

    code, logs = serve_once(config(routes, data_port=data_port, admin_port=0), tmp_path, "other-admin.yaml")
    assert code == 1
    refusal = [e for e in logs if e["level"] == "error"]
    assert len(refusal) == 1 and refusal[0]["msg"] == "cannot listen" and refusal[0]["listener"] == "data"
    assert "in use" in refusal[0]["error"] and refusal[0]["address"] == "127.0.0.1:%d" % data_port
    assert not [e for e in logs if e["msg"] == "listening" and e["listener"] == "data"], logs

    for _ in range(100):  # a connection each: all are the first gateway's
        assert request("127.0.0.1", g.port, "GET", "/a/echo")[0] == 200
    g.stop()
    g = start_gateway(config(routes, data_port=data_port, admin_port=admin_port))  # the ports are free again
    assert request("127.0.0.1", g.port, "GET", "/a/echo")[0] == 200
