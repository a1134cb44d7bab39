"""Every limit and every deadline, each named in config, against the real gateway and upstream."""
import json
import socket
import time

import pytest

from harness import Gateway, config, error_code, exchange, read_until_close, request, route

LIMITS = """limits: { max_header_bytes: 4KiB, max_header_count: 20, max_body_bytes: 1KiB, max_connections: 1000 }
timeouts:
  client_header: 1s
  client_body_idle: 1s
  client_send: 1s
  keepalive_idle: 1s
  upstream_connect: 1s
  upstream_first_byte: 1s
  upstream_idle: 1s
"""


@pytest.fixture(scope="module")
def backlog_full_port():
    """A port whose listen queue is full: connecting to it hangs (SYNs are dropped)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.2)
    yield port
    for c in fillers:
        c.close()
    server.close()


@pytest.fixture(scope="module")
def gateway(upstream, backlog_full_port):
    routes = (route("t", "/t", upstream.url, strip_prefix="true") +
              route("total", "/total", upstream.url, strip_prefix="true",
                    timeouts="{ request_total: 1s, upstream_first_byte: 10s }") +
              route("stream", "/stream", upstream.url, strip_prefix="true",
                    timeouts="{ request_total: off, upstream_idle: 10s }") +
              route("big", "/big", upstream.url, strip_prefix="true", max_body_bytes="64KiB") +
              route("hang", "/hang", "http://127.0.0.1:%d" % backlog_full_port))
    g = Gateway(config(routes, extra=LIMITS))
    yield g
    g.stop()


def body_of(answer):
    return json.loads(answer.partition(b"\r\n\r\n")[2])


def test_header_bytes_limit_431(gateway):
    answer, closed, _ = exchange(gateway.port, b"GET /t/x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431") and closed
    assert body_of(answer)["error"]["code"] == "headers_too_large"


def test_header_count_limit_431(gateway):
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(25))
    answer, closed, _ = exchange(gateway.port, b"GET /t/x HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431") and closed
    # Twenty fields exactly are fine.
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(18))
    answer, _, _ = exchange(gateway.port, b"GET /t/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 200")


def test_body_limit_declared_413(gateway, upstream):
    before = upstream.stats()["requests"]
    answer, closed, _ = exchange(gateway.port, b"POST /t/sink HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" + b"a" * 2000)
    assert answer.startswith(b"HTTP/1.1 413") and closed
    assert body_of(answer)["error"]["code"] == "payload_too_large"
    assert upstream.stats()["requests"] == before + 1
    # The route's own limit applies on its route.
    status, _, _ = request("127.0.0.1", gateway.port, "POST", "/big/sink", body=b"a" * 60000)
    assert status == 200


def test_body_limit_chunked_413(gateway):
    chunk = b"400\r\n" + b"a" * 1024 + b"\r\n"
    answer, closed, _ = exchange(gateway.port, b"POST /t/sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                            chunk * 3 + b"0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413") and closed


def test_client_header_deadline_is_absolute_408(gateway):
    # Slowloris: a header byte every 200 ms keeps the connection busy but never finishes.
    started = time.monotonic()
    s = socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
    s.sendall(b"GET /t/x HTTP/1.1\r\nHost: x\r\n")
    try:
        for i in range(40):
            s.sendall(b"X-Slow-%d: 1\r\n" % i)
            time.sleep(0.2)
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer, _ = read_until_close(s)
    elapsed = time.monotonic() - started
    s.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert body_of(answer)["error"]["code"] == "request_timeout"
    assert elapsed < 6  # cut at the 1 s deadline although bytes kept arriving (40 × 200 ms = 8 s)


def test_client_body_idle_408(gateway):
    s = socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
    s.sendall(b"POST /t/sink HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
    started = time.monotonic()
    answer, closed = read_until_close(s)
    s.close()
    assert answer.startswith(b"HTTP/1.1 408") and closed
    assert 0.8 < time.monotonic() - started < 4


def test_keepalive_idle_closes_quietly(gateway):
    s = socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
    s.sendall(b"GET /t/x HTTP/1.1\r\nHost: x\r\n\r\n")
    first = s.recv(65536)
    assert first.startswith(b"HTTP/1.1 200")
    started = time.monotonic()
    rest, closed = read_until_close(s)
    assert closed and 0.8 < time.monotonic() - started < 4
    assert b"HTTP/1.1" not in rest  # no 408 for an idle connection: it is simply closed
    s.close()


def test_upstream_connect_deadline_502(gateway):
    started = time.monotonic()
    status, _, body = request("127.0.0.1", gateway.port, "GET", "/hang/x")
    assert status == 502 and error_code(body) == "upstream_unavailable"
    assert b"timeout" in body
    assert 0.8 < time.monotonic() - started < 4


def test_upstream_first_byte_deadline_504(gateway):
    started = time.monotonic()
    status, _, body = request("127.0.0.1", gateway.port, "GET", "/t/delay?ms=3000")
    assert status == 504 and error_code(body) == "upstream_timeout"
    assert 0.8 < time.monotonic() - started < 2.5


def test_upstream_idle_deadline_cuts_the_stream(gateway):
    s = socket.create_connection(("127.0.0.1", gateway.port), timeout=6)
    s.sendall(b"GET /t/stall-body?ms=3000 HTTP/1.1\r\nHost: x\r\n\r\n")
    started = time.monotonic()
    answer, closed = read_until_close(s)
    s.close()
    assert closed
    # The header and the first half were relayed; then the stalled upstream got cut after 1 s.
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"12345")
    assert time.monotonic() - started < 2.5


def test_total_deadline_504_and_off_for_streams(gateway):
    started = time.monotonic()
    status, _, body = request("127.0.0.1", gateway.port, "GET", "/total/delay?ms=3000")
    assert status == 504 and error_code(body) == "upstream_timeout"
    assert time.monotonic() - started < 2.5
    # request_total off: a stream longer than every other deadline still completes.
    started = time.monotonic()
    status, _, body = request("127.0.0.1", gateway.port, "GET", "/stream/sse?n=4&interval_ms=600")
    assert status == 200 and body.count(b"event: tick") == 4
    assert time.monotonic() - started > 1.7


def test_max_connections_refuses_beyond_the_limit(upstream):
    g = Gateway(config(route("t", "/t", upstream.url, strip_prefix="true"),
                       extra="limits: { max_connections: 5 }\n"))
    try:
        held = [socket.create_connection(("127.0.0.1", g.port)) for _ in range(5)]
        time.sleep(0.2)
        extra = socket.create_connection(("127.0.0.1", g.port), timeout=3)
        answer = extra.recv(65536)
        assert answer.startswith(b"HTTP/1.1 503")
        assert body_of(answer)["error"]["code"] == "overloaded"
        assert extra.recv(100) == b""  # closed
        extra.close()
        held.pop().close()
        time.sleep(0.2)
        status, _, _ = request("127.0.0.1", g.port, "GET", "/t/x")
        assert status == 200
        for s in held:
            s.close()
    finally:
        g.stop()


def test_client_send_deadline_drops_a_client_that_stops_reading(gateway):
    # 50 MB requested, nothing read: once the socket buffers are full the gateway's write stalls,
    # and after client_send (1 s here; default 30 s) the connection is dropped.
    s = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.sendall(b"GET /stream/bytes?n=52428800 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(3)
    received, closed = read_until_close(s)
    s.close()
    assert closed and 0 < len(received) < 52428800
    # The gateway is fine afterwards.
    status, _, _ = request("127.0.0.1", gateway.port, "GET", "/t/echo")
    assert status == 200
