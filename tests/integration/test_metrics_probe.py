"""Regression tests from the adversarial review of the metrics (branch issue12-probe). Each one
fails on the metrics commits as reviewed; the docstring says what the contract promises."""
import os
import re
import socket
import subprocess
import time

import pytest

from harness import (BIN, TOKEN_ENV, agent_yaml, auth, delegation_config, read_until_close, request, route)
from test_metrics import samples, scrape, total, value

ADMIN = {"Authorization": "Bearer test-admin-token"}


def test_head_metrics_sends_no_body_on_a_kept_alive_connection(start_gateway, upstream):
    """protocol.md §8: `HEAD` gives the headers alone. The admin listener writes the whole
    exposition after a HEAD's headers, so the next response on the connection is read as body."""
    gw = start_gateway(delegation_config(route("a", "/a", upstream.url)), env=TOKEN_ENV)
    s = socket.create_connection(("127.0.0.1", gw.admin_port), timeout=3)
    try:
        s.sendall(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, _ = read_until_close(s)
    finally:
        s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    # Right after the HEAD's headers comes the next response's status line, not a body.
    assert rest.startswith(b"HTTP/1.1 200"), rest[:120]


@pytest.mark.parametrize("where", ["route", "agent", "tool"])
@pytest.mark.parametrize("name", ["none", "other"])
def test_the_metrics_placeholders_are_reserved_names(upstream, tmp_path, where, name):
    """protocol.md §8: route="none" means a refusal made before a route matched, agent="none" no
    valid credential, "other" an undeclared tool or a series past capacity. A route, agent or tool
    named so would land in the placeholders' series: `check` refuses it, naming file, line and key."""
    routes = route("search", "/tools/search", upstream.url)
    agents = None
    if where == "route":
        routes = route(name, "/n", upstream.url)
    elif where == "tool":
        routes = route("mcp", "/mcp", upstream.url, kind="mcp") + "    tools:\n      %s: { datasets: [crm] }\n" % name
    else:
        agents = agent_yaml("planner", may_open_root=True) + "  - id: %s\n    api_key_sha256: %s\n" % (name, "ab" * 32)
    path = tmp_path / "c.yaml"
    path.write_text(delegation_config(routes, agents=agents))
    checked = subprocess.run([BIN, "check", "--config", str(path)], capture_output=True, text=True, env=dict(
        os.environ, **TOKEN_ENV))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "'%s' is reserved" % name in checked.stderr
    assert re.search(r"c\.yaml:\d+: (routes\[0\]\.(name|tools\.%s)|agents\[1\]\.id): " % name, checked.stderr), checked.stderr


def test_names_past_the_label_dictionary_are_other_and_said_in_the_log(start_gateway, upstream):
    """Labels come from the config (§8). The label dictionary holds 4,096 values for the life of the
    process (cells refer to them by id) and keeps the names of routes a reload removed: after a few
    thousand distinct names (13 reloads of 300 generated route names), new names are labelled
    `other` until a restart. Documented, and said once in the log, never silent."""
    def cfg(gen):
        rs = "".join(route("r%d_%d" % (gen, i), "/r%d/%d" % (gen, i), upstream.url) for i in range(300))
        return delegation_config(rs + route("live%d" % gen, "/live", upstream.url))
    gw = start_gateway(cfg(0), env=TOKEN_ENV)
    for gen in range(1, 15):
        gw.write_config(cfg(gen))
        assert request("127.0.0.1", gw.admin_port, "POST", "/v1/reload", headers=ADMIN, timeout=30)[0] == 200
    assert request("127.0.0.1", gw.port, "GET", "/live/echo")[0] == 200
    s = samples(scrape(gw)[1])
    assert total(s, "scopegate_requests_total", route="live14") == 0
    assert total(s, "scopegate_requests_total", route="other") == 1
    full = [l for l in gw.log_lines if "label dictionary is full" in l]
    assert len(full) == 1, full


def test_an_idle_kept_alive_connection_uses_the_reloaded_config(start_gateway, upstream):
    """configuration.md, Reload: "the next request on every connection uses the new one". The
    session takes its snapshot before waiting for the next request, so the first request after a
    reload on an idle keep-alive connection runs on the old config: here a removed route still
    forwards (it would equally accept a removed agent key or a withdrawn grant)."""
    both = delegation_config(route("a", "/a", upstream.url) + route("b", "/b", upstream.url))
    gw = start_gateway(both, env=TOKEN_ENV)
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=3)
    try:
        s.sendall(b"GET /a/echo HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        gw.write_config(delegation_config(route("b", "/b", upstream.url)))
        assert request("127.0.0.1", gw.admin_port, "POST", "/v1/reload", headers=ADMIN)[0] == 200
        assert request("127.0.0.1", gw.port, "GET", "/a/echo")[0] == 404  # a new connection: new config
        s.sendall(b"GET /a/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, _ = read_until_close(s)
    finally:
        s.close()
    assert data.startswith(b"HTTP/1.1 404"), data[:80]


def test_upstream_latency_excludes_the_clients_upload_and_requests_never_sent(start_gateway, upstream):
    """protocol.md §8: scopegate_upstream_duration_seconds runs "from the request's head going
    upstream to the end of the upstream's response (forwarded requests only)". send_request marks
    the request forwarded and starts the upstream clock before it has read the first piece of the
    client's body (the head goes out with it), so (1) a client that stalls its upload until
    client_body_idle (408, the upstream never sees a byte) adds an upstream observation of that
    whole wait, and (2) a slow upload is counted as upstream latency. Any client can raise the
    upstream p99 (and tool latency) of a route at will."""
    extra = "timeouts:\n  client_body_idle: 1s\n"
    gw = start_gateway(delegation_config(route("a", "/a", upstream.url), extra=extra), env=TOKEN_ENV)
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    try:
        s.sendall(b"POST /a/sink HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        data, _ = read_until_close(s)
    finally:
        s.close()
    assert data.startswith(b"HTTP/1.1 408")
    s = samples(scrape(gw)[1])
    assert value(s, "scopegate_upstream_duration_seconds_count", route="a") == 0
    assert value(s, "scopegate_upstream_duration_seconds_sum", route="a") < 0.5
