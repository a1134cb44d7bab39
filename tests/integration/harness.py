"""Real processes on loopback for scopegate's integration tests.

Gateway starts the real scopegate binary on a config the test writes (ports 0, read back from the
gateway's own "listening" log lines); Upstream starts the real demo tool server. Nothing is mocked.
"""
import collections
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("SCOPEGATE_BIN", os.path.join(ROOT, "build", "gateway", "scopegate"))
UPSTREAM = os.path.join(ROOT, "examples", "upstreams", "demo_upstream.py")
PYTHON = sys.executable


MODEL_UPSTREAM = os.path.join(ROOT, "examples", "upstreams", "model_upstream.py")


class Upstream:
    def __init__(self, name="up", cert=None, key=None, script=UPSTREAM):
        args = [PYTHON, script, "--port", "0", "--name", name]
        if cert:
            args += ["--cert", cert, "--key", key]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening "), "upstream did not start: %r" % line
        self.port = int(line.split()[1])
        self.name = name
        self.url = "%s://127.0.0.1:%d" % ("https" if cert else "http", self.port)

    def stats(self):
        status, _, body = request("127.0.0.1", self.port, "GET", "/stats")
        assert status == 200
        return json.loads(body)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


REDIS = shutil.which("redis-server")


class Redis:
    """A real redis-server on a free loopback port, persisting to an append-only file so that a
    restart keeps the fleet's state (as docs/fleet.md asks of a production Redis)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="scopegate-redis-")
        self.port = free_port()
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)



HAPROXY = shutil.which("haproxy")


class HAProxy:
    """A real HAProxy in HTTP mode, round robin over the nodes' data ports."""

    def __init__(self, ports):
        self.dir = tempfile.mkdtemp(prefix="scopegate-haproxy-")
        self.port = free_port()
        servers = "".join("    server n%d 127.0.0.1:%d\n" % (i, p) for i, p in enumerate(ports))
        cfg = ("global\n    maxconn 512\n\ndefaults\n    mode http\n    timeout connect 2s\n"
               "    timeout client 30s\n    timeout server 30s\n\n"
               "frontend agents\n    bind 127.0.0.1:%d\n    default_backend gateways\n\n"
               "backend gateways\n    balance roundrobin\n%s" % (self.port, servers))
        path = os.path.join(self.dir, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(cfg)
        check = subprocess.run([HAPROXY, "-c", "-f", path], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                request("127.0.0.1", self.port, "GET", "/nothing-here", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("haproxy did not start")

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Gateway:
    """The real scopegate binary on a config written from `yaml_text`."""

    def __init__(self, yaml_text, env=None, extra_args=(), check_ready=True):
        self.dir = tempfile.mkdtemp(prefix="scopegate-test-")
        self.config_path = os.path.join(self.dir, "scopegate.yaml")
        self.write_config(yaml_text)
        self.log_lines = []
        self.listeners = {}
        self._ready = threading.Event()
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen([BIN, "serve", "--config", self.config_path, *extra_args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=full_env)
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        if check_ready:
            assert self._ready.wait(10), "gateway did not become ready:\n" + "\n".join(self.log_lines)
            self.port = self.listeners["data"][1]
            self.admin_port = self.listeners["admin"][1]

    def write_config(self, yaml_text):
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(yaml_text)
        os.replace(tmp, self.config_path)

    def _read_log(self):
        for line in self.proc.stderr:
            line = line.rstrip("\n")
            self.log_lines.append(line)
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == "listening":
                host, _, port = entry["address"].rpartition(":")
                self.listeners[entry["listener"]] = (host, int(port))
            if entry.get("msg") == "ready":
                self._ready.set()

    def logs(self):
        return [json.loads(l) for l in list(self.log_lines) if l.startswith("{")]

    def wait_for_log(self, msg, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for entry in self.logs():
                if entry.get("msg") == msg:
                    return entry
            time.sleep(0.02)
        raise AssertionError("no log line %r in:\n%s" % (msg, "\n".join(self.log_lines)))

    def _status_kib(self, key):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise AssertionError("no %s in /proc/%d/status" % (key, self.proc.pid))

    def rss_kib(self):
        return self._status_kib("VmRSS")

    def hwm_kib(self):
        """Peak RSS so far."""
        return self._status_kib("VmHWM")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=20):
        return self.proc.wait(timeout)

    def stop(self):
        """SIGTERM, then asserts a clean exit: status 0 and no sanitizer report on stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("gateway did not exit within 20 s of SIGTERM")
        self._reader.join(5)
        reports = [l for l in self.log_lines if "Sanitizer" in l or "runtime error:" in l]
        assert not reports, "sanitizer report:\n" + "\n".join(self.log_lines[-60:])
        assert self.proc.returncode == 0, "gateway exited with %s:\n%s" % (
            self.proc.returncode, "\n".join(self.log_lines[-20:]))


def config(routes, listeners=None, extra="", admin_token="test-admin-token", data_port=0, admin_port=0):
    """A gateway config: data listener and admin on port 0 (unless given), plus the given routes (YAML text)."""
    listeners = listeners or "  - name: data\n    address: 127.0.0.1\n    port: %d\n" % data_port
    return ("node: gw-test\nworkers: 2\nlisteners:\n" + listeners +
            "admin:\n  address: 127.0.0.1\n  port: %d\n  token: %s\n" % (admin_port, admin_token) + extra +
            "routes:\n" + routes)


class RawServer:
    """A loopback server for upstreams that misbehave in ways examples/upstreams/demo_upstream.py
    does not: each connection goes to `handle(conn, head, body)` on its own thread, once the
    request's head and Content-Length body are read (`head` is empty when the peer sent none)."""

    def __init__(self, handle):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.handle = handle
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
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
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(body) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                self.handle(conn, head if b"\r\n\r\n" in data else b"", body)
            except OSError:
                pass

    def close(self):
        self.sock.close()


def free_port():
    """A loopback port nothing listens on right now, for tests that need the same port twice."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def route(name, prefix, upstream_url, **extra):
    """A route; `access: open` unless given, for the tests of the HTTP core (the delegation tests
    use scoped routes, the default of a real config)."""
    extra.setdefault("access", "open")
    lines = ["  - name: %s" % name, "    match: { path_prefix: %s }" % prefix, "    upstream: %s" % upstream_url]
    for k, v in extra.items():
        lines.append("    %s: %s" % (k, v))
    return "\n".join(lines) + "\n"


def request(host, port, method, path, headers=None, body=None, timeout=10):
    """One request on a fresh connection with http.client; returns (status, headers dict, body bytes)."""
    import http.client
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


Exchange = collections.namedtuple("Exchange", "data closed seconds")


def read_until_close(sock):
    """Reads until the peer closes (or resets) the connection, or the socket's timeout passes.
    Returns (bytes read, whether the peer closed)."""
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except (socket.timeout, TimeoutError):
        return data, False
    except ConnectionResetError:
        return data, True


def exchange(port, data, timeout=5):
    """Sends raw bytes on a new connection and reads everything the gateway answers until it closes
    the connection (or `timeout` passes without a byte)."""
    started = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        answer, closed = read_until_close(s)
        return Exchange(answer, closed, time.monotonic() - started)
    finally:
        s.close()


def parse_responses(data):
    """Splits raw bytes into [(status, headers, body)] for Content-Length responses."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", 0))
        out.append((status, headers, rest[:n]))
        data = rest[n:]
    return out


def error_code(body):
    return json.loads(body)["error"]["code"]


# Delegation tests: one token key (bytes 00..1f, the worked example's of docs/protocol.md §2) and agents.
TOKEN_SECRET = bytes(range(32))
TOKEN_ENV = {"SG_TOKEN_K1": TOKEN_SECRET.hex()}
AGENT_KEYS = {
    "planner": "planner-key-0123456789",
    "researcher": "researcher-key-0123456789",
    "writer": "writer-key-0123456789",
    "intruder": "intruder-key-0123456789",
    "analyst": "analyst-key-0123456789",
}


def agent_yaml(agent_id, may_open_root=False, grants=None, max_depth=None):
    import hashlib
    lines = ["  - id: %s" % agent_id,
             "    api_key_sha256: %s" % hashlib.sha256(AGENT_KEYS[agent_id].encode()).hexdigest()]
    if may_open_root:
        lines.append("    may_open_root: true")
    if grants is not None:
        lines.append("    grants: [%s]" % ", ".join('"%s"' % g for g in grants))
    if max_depth is not None:
        lines.append("    max_depth: %d" % max_depth)
    return "\n".join(lines) + "\n"


def delegation_config(routes, agents=None, token_extra="", **kwargs):
    """A config with the token key and agents (planner may open roots; the others may not)."""
    agents = agents or (agent_yaml("planner", may_open_root=True) + agent_yaml("researcher") +
                        agent_yaml("writer") + agent_yaml("intruder", grants=["tool:search"]))
    extra = kwargs.pop("extra", "")
    token = "token:\n  keys:\n    - { kid: k1, secret_env: SG_TOKEN_K1 }\n" + token_extra
    return config(routes, extra=extra + token + "agents:\n" + agents, **kwargs)


def auth(agent_id, token=None, **more):
    """Headers for a call by `agent_id`, under `token` when given."""
    headers = {"Authorization": "Bearer " + AGENT_KEYS[agent_id]}
    if token:
        headers["Delegation-Token"] = token
    headers.update(more)
    return headers


def open_scope(gw, agent_id, body, token=None):
    """POST /v1/scopes; returns (status, parsed JSON body)."""
    status, _, data = request("127.0.0.1", gw.port, "POST", "/v1/scopes", headers=auth(agent_id, token),
                              body=json.dumps(body))
    return status, json.loads(data)


def open_root(gw, grants=("*",), principal="user:alice", objective="root", ttl_s=900):
    status, body = open_scope(gw, "planner", {"principal": principal, "grants": list(grants),
                                              "objective": objective, "ttl_s": ttl_s})
    assert status == 201, body
    return body["scope"], body["token"]
