"""Path normalisation (issue 9): routing and forwarding read one normalised path; the forms that
upstreams read differently (%2F, %5C, ';', dot segments) are resolved or refused as configured.
Each case is checked against what the real upstream received."""
import json

import pytest

from harness import config, exchange, route


@pytest.fixture(scope="module")
def gateway(upstream):
    from harness import Gateway
    routes = (route("t", "/t", upstream.url, strip_prefix="true") +
              route("files", "/files", upstream.url, paths="{ escaped_slashes: keep }") +
              route("docs", "/docs", upstream.url, paths="{ escaped_slashes: unescape }") +
              route("matrix", "/matrix", upstream.url, paths="{ path_params: keep }"))
    g = Gateway(config(routes))
    yield g
    g.stop()


def get(gateway, target):
    data, _, _ = exchange(gateway.port, b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % target.encode())
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, json.loads(body)


# target → what the upstream must see (route t strips its prefix)
FORWARDED = {
    "/t/a/../echo": "/echo",
    "/t/./echo": "/echo",
    "/t/%2e%2e/t/echo": "/echo",           # %2e is a dot: "/t/../t/echo" is "/t/echo"
    "/t/x/%2E./echo": "/echo",
    "/t//echo": "/echo",                   # slashes merged
    "/t/%65cho": "/echo",                  # an escaped unreserved character is that character
    "/t/echo?x=/../%2f&y=;": "/echo?x=/../%2f&y=;",  # the query is never touched
    "/files/a%2fb": "/files/a%2Fb",        # escaped_slashes: keep (hex upper-cased)
    "/files/..%2f..%2fx": "/files/..%2F..%2Fx",
    "/docs/a%2fb": "/docs/a/b",            # escaped_slashes: unescape
    "/docs/a/..%2fb": "/docs/b",
    "/matrix/a;v=1": "/matrix/a;v=1",      # path_params: keep
}

# target → a word of the refusal's message
REFUSED = {
    "/t/..%2fadmin": "%2F",
    "/t/a%2Fb": "%2F",
    "/t/a%5cb": "%5C",
    "/t/..;/admin": "..;",
    "/t/a;jsessionid=1": "';'",
    "/t/%2e%2e/%2e%2e/etc/passwd": "root",
    "/../t/echo": "root",
    "/docs/..%2f..%2ft/echo": "root",      # decoded, it climbs above the root
    "/docs/..%2ft/echo": "route",          # decoded, it would leave the route whose rules applied
    "/files/x;y": "';'",                   # the route keeps %2F, not ';'
    "/matrix/..;/t/echo": "..;",           # ';' kept, but never on a dot segment
    "/t/a%zz": "percent",
    "/t/a%00b": "%00",
}


@pytest.mark.parametrize("target", sorted(FORWARDED))
def test_normalised_path_is_what_the_upstream_sees(target, gateway):
    status, echoed = get(gateway, target)
    assert status == 200, echoed
    assert echoed["path"] == FORWARDED[target]


@pytest.mark.parametrize("target", sorted(REFUSED))
def test_ambiguous_paths_are_refused_and_never_forwarded(target, gateway, upstream):
    before = upstream.stats()["requests"]
    status, body = get(gateway, target)
    assert status == 400 and body["error"]["code"] == "bad_request", body
    assert REFUSED[target] in body["error"]["message"]
    assert upstream.stats()["requests"] == before + 1  # the stats call only


def test_dot_segments_route_by_where_the_path_lands(gateway, upstream):
    # "/t/../files/a" is routed as "/files/a" (the route "files", no prefix stripped), never as a
    # request to route "t"; "/t/../nowhere" matches no route at all.
    status, echoed = get(gateway, "/t/../files/a")
    assert status == 200 and echoed["path"] == "/files/a"
    status, body = get(gateway, "/t/../nowhere")
    assert status == 404 and body["error"]["code"] == "no_route"
