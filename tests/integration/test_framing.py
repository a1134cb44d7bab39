"""Request framing that Boost 1.81's parser lets through is refused by the gateway itself:
400 (501 for an unsupported coding), JSON body, connection closed, nothing forwarded."""
import json
import pytest

from harness import config, exchange, route

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
    "dot_segments": b"GET /t/../admin HTTP/1.1\r\nHost: x\r\n\r\n",
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
