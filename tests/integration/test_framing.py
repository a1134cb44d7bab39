"""Request framing that Boost 1.81's parser lets through is refused by the gateway itself:
400 (501 for an unsupported coding), JSON body, connection closed, nothing forwarded."""
import json
import socket
import threading
import time

import pytest

from harness import config, exchange, read_until_close, route

BAD_FRAMING = {
    "cl_then_te": b"POST /t/sink HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"0\r\n\r\n",
    "te_then_cl": b"POST /t/sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                  b"0\r\n\r\n",
    "te_not_chunked_with_cl": b"POST /t/sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n"
                              b"hello",
    "te_not_ending_chunked": b"POST /t/sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
    "te_identity": b"POST /t/sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\nhello",
    "te_chunked_twice": b"POST /t/sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    "chunked_http10": b"POST /t/sink HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two_differing_cl": b"POST /t/sink HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "cl_list_differing": b"POST /t/sink HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!",
    "cl_malformed": b"POST /t/sink HTTP/1.1\r\nHost: x\r\nContent-Length: 5a\r\n\r\nhello",
    "cl_negative": b"POST /t/sink HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "cr_in_value": b"GET /t/x HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
    "lf_in_value": b"GET /t/x HTTP/1.1\r\nHost: x\r\nX-A: a\nX-B: b\r\n\r\n",
    "nul_in_value": b"GET /t/x HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "space_before_colon": b"GET /t/x HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n",
    "space_before_colon_host": b"GET /t/x HTTP/1.1\r\nHost : x\r\n\r\n",
    "http11_without_host": b"GET /t/x HTTP/1.1\r\nX-A: a\r\n\r\n",
    "duplicate_host": b"GET /t/x HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    "dot_segments_above_root": b"GET /t/../../admin HTTP/1.1\r\nHost: x\r\n\r\n",
    "bare_lf_chunks": b"POST /t/sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n",
    "bare_lf_after_chunk_data": b"POST /t/sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n",
    "absolute_form": b"GET http://x/t/x HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.fixture(scope="module")
def gateway(upstream):
    from harness import Gateway
    g = Gateway(config(route("t", "/t", upstream.url, strip_prefix="true")))
    yield g
    g.stop()


@pytest.mark.parametrize("case", sorted(BAD_FRAMING))
def test_bad_framing_is_400_closed_and_never_forwarded(case, gateway, upstream):
    before = upstream.stats()["requests"]
    data, closed, _ = exchange(gateway.port, BAD_FRAMING[case])
    assert data.startswith(b"HTTP/1.1 400 "), data
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Connection: close" in head
    error = json.loads(body)["error"]
    assert error["code"] == "bad_request"
    # Every refusal carries a request id, also when the header never parsed.
    assert ("X-Request-Id: %s" % error["request_id"]).encode() in head
    assert closed
    assert upstream.stats()["requests"] == before + 1  # the stats call itself, nothing else


def test_unsupported_transfer_coding_is_501(gateway, upstream):
    before = upstream.stats()["requests"]
    data, closed, _ = exchange(gateway.port, b"POST /t/sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                                          b"0\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 501 ") and closed
    assert json.loads(data.partition(b"\r\n\r\n")[2])["error"]["code"] == "not_implemented"
    assert upstream.stats()["requests"] == before + 1


def test_smuggled_request_never_reaches_upstream(gateway, upstream):
    # The classic CL.TE desync: a front end using Content-Length would forward "GET /t/smuggled"
    # as a second request. The gateway refuses the whole connection instead.
    before = upstream.stats()["requests"]
    smuggle = (b"POST /t/sink HTTP/1.1\r\nHost: x\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"0\r\n\r\nGET /t/smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
    data, closed, _ = exchange(gateway.port, smuggle)
    assert data.count(b"HTTP/1.1 ") == 1 and data.startswith(b"HTTP/1.1 400") and closed
    assert upstream.stats()["requests"] == before + 1


def test_identical_repeated_content_length_is_one_length(gateway, upstream):
    data, _, _ = exchange(gateway.port, b"POST /t/sink HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\nConnection: close\r\n\r\n"
                                     b"hello")
    assert data.startswith(b"HTTP/1.1 200")
    echoed = json.loads(data.partition(b"\r\n\r\n")[2])
    assert echoed["body_bytes"] == 5
    assert [v for k, v in echoed["headers"] if k.lower() == "content-length"] == ["5"]


def test_gateway_still_serves_after_violations(gateway):
    data, _, _ = exchange(gateway.port, b"GET /t/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200")


# Bare LF line endings. Beast 1.81 looks for CRLF only, so it waited for more bytes: a client's
# bare-LF chunks got no answer until the body deadline (30 s here), a header ended by a bare-LF
# empty line none until the header deadline (10 s), an upstream's bare-LF chunks gave the client
# an empty reply. The gateway watches the line endings itself and refuses at once.

def test_bare_lf_chunk_arriving_after_the_header_is_refused_at_once(gateway, upstream):
    before = upstream.stats()["requests"]
    s = socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
    s.sendall(b"POST /t/sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    time.sleep(0.3)
    started = time.monotonic()
    s.sendall(b"5\nhello\n0\n\n")
    data, closed = read_until_close(s)
    s.close()
    assert time.monotonic() - started < 2
    assert data.startswith(b"HTTP/1.1 400 ") and closed, data
    error = json.loads(data.partition(b"\r\n\r\n")[2])["error"]
    assert error["code"] == "bad_request" and "bare LF" in error["message"]
    assert upstream.stats()["requests"] == before + 1  # the upstream never saw a request


def test_bare_lf_header_is_refused_at_once(gateway):
    # Beast refuses a bare LF inside the request line or a field at once; an empty line written as a
    # bare LF it does not recognise as the end of the header, so it used to wait for client_header.
    data, closed, seconds = exchange(gateway.port, b"GET /t/x HTTP/1.1\r\nHost: x\r\n\n")
    assert data.startswith(b"HTTP/1.1 400 ") and closed and seconds < 2, (data, seconds)


class RawUpstream:
    """An upstream that answers every request with fixed bytes: `pieces`, sent 0.2 s apart, then
    keeps the connection open until the gateway closes it (so a gateway waiting for more would hang)."""

    def __init__(self, pieces):
        self.pieces = pieces
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.url = "http://127.0.0.1:%d" % self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        conn.settimeout(10)
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            for i, piece in enumerate(self.pieces):
                if i:
                    time.sleep(0.2)
                conn.sendall(piece)
            while conn.recv(65536):
                pass
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.server.close()


@pytest.mark.parametrize("pieces", [
    [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n"],
    [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\n"],  # the header "ends" in a bare LF
    [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n"],
], ids=["chunks", "header", "after_chunk_data"])
def test_bare_lf_from_an_upstream_is_502_at_once(pieces, start_gateway):
    up = RawUpstream(pieces)
    try:
        g = start_gateway(config(route("raw", "/raw", up.url)))
        data, closed, seconds = exchange(g.port, b"GET /raw/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert data.startswith(b"HTTP/1.1 502 ") and seconds < 2, (data, seconds)
        error = json.loads(data.partition(b"\r\n\r\n")[2])["error"]
        assert error["code"] == "upstream_protocol_error"
    finally:
        up.close()


def test_bare_lf_chunks_after_an_upstream_header_end_the_response_at_once(start_gateway):
    # The header came alone and well-formed; the broken chunks follow. The relay sends the head only
    # with the first piece of body, so nothing went out yet: the client gets a 502 at once, not an
    # empty reply after upstream_idle.
    up = RawUpstream([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"5\nhello\n0\n\n"])
    try:
        g = start_gateway(config(route("raw", "/raw", up.url)))
        data, closed, seconds = exchange(g.port, b"GET /raw/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert closed and seconds < 2, (data, seconds)
        assert data.startswith(b"HTTP/1.1 502 ") and b"upstream_protocol_error" in data, data
    finally:
        up.close()
