"""Bodies stream through fixed buffers: SSE event by event, 100 MB both ways with flat memory."""
import hashlib
import http.client
import json
import signal
import socket
import time

import pytest

from harness import Gateway, config, route

MB = 1024 * 1024


@pytest.fixture(scope="module")
def gateway(upstream):
    g = Gateway(config(route("t", "/t", upstream.url, strip_prefix="true", max_body_bytes="1GiB",
                             timeouts="{ request_total: off }")))
    yield g
    g.stop()


def test_sse_events_arrive_one_by_one(gateway):
    s = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
    started = time.monotonic()
    s.sendall(b"GET /t/sse?n=5&interval_ms=400 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
              b"Connection: close\r\n\r\n")
    arrivals = []
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
        while data.count(b"event: tick") > len(arrivals):
            arrivals.append(time.monotonic() - started)
    s.close()
    head = data.partition(b"\r\n\r\n")[0]
    assert b"Content-Type: text/event-stream" in head and b"Transfer-Encoding: chunked" in head
    assert len(arrivals) == 5
    # The first event reaches the client while the upstream still has 1.6 s of events to send.
    assert arrivals[0] < 0.35, arrivals
    # Each later event arrives on its own, about one interval after the previous one.
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert all(g > 0.25 for g in gaps), gaps
    assert arrivals[-1] > 1.5


def test_100mb_download_with_flat_memory(gateway):
    for path in ("/t/bytes?n=%d" % (100 * MB), "/t/bytes?n=%d&chunked=1" % (100 * MB)):
        # Warm the path, then measure the peak RSS across a 100 MB transfer.
        conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
        conn.request("GET", "/t/bytes?n=1000")
        conn.getresponse().read()
        baseline = gateway.hwm_kib()
        conn.request("GET", path)
        resp = conn.getresponse()
        assert resp.status == 200
        total = 0
        while True:
            block = resp.read(256 * 1024)
            if not block:
                break
            total += len(block)
        conn.close()
        assert total == 100 * MB
        grown = gateway.hwm_kib() - baseline
        assert grown < 16 * 1024, "peak RSS grew by %d KiB for %s" % (grown, path)


def test_100mb_upload_with_flat_memory(gateway):
    block = bytes(range(256)) * 4096  # 1 MiB
    digest = hashlib.sha256()
    for _ in range(100):
        digest.update(block)
    baseline = gateway.hwm_kib()

    def body():
        for _ in range(100):
            yield block

    for encode_chunked in (False, True):
        conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=60)
        headers = {} if encode_chunked else {"Content-Length": str(100 * MB)}
        conn.request("POST", "/t/sink", body=body(), headers=headers, encode_chunked=encode_chunked)
        resp = conn.getresponse()
        assert resp.status == 200
        echoed = json.loads(resp.read())
        conn.close()
        assert echoed["body_bytes"] == 100 * MB
        assert echoed["body_sha256"] == digest.hexdigest()
    grown = gateway.hwm_kib() - baseline
    assert grown < 16 * 1024, "peak RSS grew by %d KiB" % grown


def test_a_client_hanging_up_cuts_the_upstream_stream(start_gateway, upstream):
    """An SSE client that goes away while the stream is quiet must not keep the upstream stream (and
    the gateway's session) alive until the upstream ends it: the drain below would wait its 10 s."""
    g = start_gateway(config(route("t", "/t", upstream.url, strip_prefix="true"), extra="timeouts: { drain: 10s }\n"))
    s = socket.create_connection(("127.0.0.1", g.port), timeout=10)
    s.sendall(b"GET /t/sse?n=2&interval_ms=30000 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"event: tick" in s.recv(65536)
    s.close()
    time.sleep(0.5)
    started = time.monotonic()
    g.signal(signal.SIGTERM)
    assert g.wait(5) == 0
    assert time.monotonic() - started < 2
