"""Fleet mode (docs/fleet.md) with real parts: a real redis-server on loopback, three real gateway
nodes sharing it, and a real HAProxy spreading requests over them round robin. A revocation made on
one node refuses the scope on all three within the target time; a budget spread over the three
holds fleet-wide within the lease slack; a rate limit holds fleet-wide; Redis killed mid-run gives
the configured behaviour (budgets closed: 503; the last known revocations hold; a revocation made
meanwhile is published when Redis is back) and the fleet recovers when it returns."""
import json
import os
import signal
import subprocess
import time

import pytest

from audit_helpers import records
from harness import (HAPROXY, REDIS, TOKEN_ENV, HAProxy, agent_yaml, auth, delegation_config, error_code, open_root,
                     request, route)

ADMIN = {"Authorization": "Bearer test-admin-token"}

pytestmark = pytest.mark.skipif(not REDIS or not HAPROXY,
                                reason="redis-server and haproxy come with scripts/setup.sh (tests group)")

AGENTS = agent_yaml("planner", may_open_root=True, grants=["tool:*", "agent:*"]) + agent_yaml("researcher")


def node_config(name, upstream, tmp_path, redis, fleet_extra="", guards=""):
    routes = route("search", "/tools/search", upstream.url, access="scoped")
    fleet = ("fleet:\n  redis:\n    url: redis://127.0.0.1:%d\n    key_prefix: \"sg-test:\"\n    timeout: 200ms\n%s"
             % (redis.port, fleet_extra))
    extra = "audit:\n  dir: %s\n%s%s" % (tmp_path / ("audit-" + name), guards, fleet)
    return delegation_config(routes, agents=AGENTS, extra=extra).replace("node: gw-test", "node: " + name)


def start_nodes(start_gateway, upstream, tmp_path, redis, names=("gw-a", "gw-b", "gw-c"), **kwargs):
    nodes = [start_gateway(node_config(n, upstream, tmp_path, redis, **kwargs), env=TOKEN_ENV) for n in names]
    for n in nodes:
        wait_ready(n)
    return nodes


def wait_ready(node, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, _, body = request("127.0.0.1", node.admin_port, "GET", "/readyz")
        if status == 200:
            return json.loads(body)
        time.sleep(0.05)
    raise AssertionError("node never became ready: %s" % body)


def search(port, token):
    status, _, body = request("127.0.0.1", port, "GET", "/tools/search/x", headers=auth("planner", token))
    return status, body


def test_a_revocation_on_one_node_refuses_the_scope_on_every_node_within_the_target(start_gateway, upstream,
                                                                                     tmp_path, redis):
    nodes = start_nodes(start_gateway, upstream, tmp_path, redis)
    scope, token = open_root(nodes[0], grants=["tool:*"])
    assert [search(n.port, token)[0] for n in nodes] == [200, 200, 200]
    started = time.monotonic()
    status, _, body = request("127.0.0.1", nodes[1].admin_port, "POST", "/v1/scopes/%s/revoke" % scope["id"],
                              headers=ADMIN)
    assert status == 200 and json.loads(body)["fleet"] == "published", body
    refused_after = {}
    while len(refused_after) < 3 and time.monotonic() - started < 5:
        for i, n in enumerate(nodes):
            if i not in refused_after:
                status, body = search(n.port, token)
                if status == 401:
                    assert error_code(body) == "scope_revoked"
                    refused_after[i] = time.monotonic() - started
    assert len(refused_after) == 3, refused_after
    # The target is 100 ms on loopback; the bound here leaves room for a loaded CI machine.
    assert max(refused_after.values()) < 1.0, refused_after
    # Each node's own log says when and how it learnt it: by the admin call, or from the fleet.
    for i, n in enumerate(nodes):
        n.stop()
        revokes = [r for r in records(tmp_path / ("audit-" + ["gw-a", "gw-b", "gw-c"][i])) if r["event"] == "scope.revoke"]
        assert len(revokes) == 1, revokes
        assert revokes[0]["scope"]["id"] == scope["id"]
    # A node started afterwards loads the whole set before it serves the token.
    late = start_gateway(node_config("gw-d", upstream, tmp_path, redis), env=TOKEN_ENV)
    wait_ready(late)
    status, body = search(late.port, token)
    assert status == 401 and error_code(body) == "scope_revoked"


def test_a_budget_spread_over_three_nodes_holds_fleet_wide_within_the_lease_slack(start_gateway, upstream,
                                                                                  tmp_path, redis):
    limit, lease = 30, 0.1
    nodes = start_nodes(start_gateway, upstream, tmp_path, redis,
                        guards="budgets:\n  default: {max_actions: %d}\n" % limit,
                        fleet_extra="  budgets: {lease: %s, lease_idle: 30s}\n" % lease)
    lb = HAProxy([n.port for n in nodes])
    try:
        _, token = open_root(nodes[0], grants=["tool:*"])
        before = upstream.stats()["requests"]
        statuses = []
        refused_in_a_row = 0
        while refused_in_a_row < 9 and len(statuses) < 3 * limit:
            status, _ = search(lb.port, token)
            statuses.append(status)
            refused_in_a_row = refused_in_a_row + 1 if status == 429 else 0
        allowed = statuses.count(200)
        slack = 3 * max(1, int(limit * lease))  # what the three nodes may hold unspent (docs/fleet.md)
        assert limit - slack <= allowed <= limit, statuses
        assert set(statuses) <= {200, 429}, statuses
        assert upstream.stats()["requests"] - before - 1 == allowed  # (/stats counts itself)
        # Every node refuses now, each on its own port.
        for n in nodes:
            status, body = search(n.port, token)
            assert status == 429 and error_code(body) == "budget_exhausted", body
    finally:
        lb.stop()


def test_a_rate_limit_holds_fleet_wide(start_gateway, upstream, tmp_path, redis):
    guards = ("rate_limits:\n  - id: per-agent\n    per: agent\n    rate: 2/s\n    burst: 10\n")
    nodes = start_nodes(start_gateway, upstream, tmp_path, redis, guards=guards,
                        fleet_extra="  rate_limits: {lease: 0.2}\n")
    lb = HAProxy([n.port for n in nodes])
    try:
        _, token = open_root(nodes[0], grants=["tool:*"])
        started = time.monotonic()
        statuses = [search(lb.port, token)[0] for _ in range(45)]
        elapsed = time.monotonic() - started
        allowed = statuses.count(200)
        # One bucket for the fleet: its burst and what refilled meanwhile; three nodes each with
        # their own bucket would have let 30 through.
        assert 10 - 3 * 2 <= allowed <= 10 + 2 * elapsed + 1, (allowed, elapsed, statuses)
        assert 429 in statuses
    finally:
        lb.stop()


def test_redis_killed_mid_run_fails_as_configured_and_the_fleet_recovers(start_gateway, upstream, tmp_path, redis):
    nodes = start_nodes(start_gateway, upstream, tmp_path, redis,
                        guards="budgets:\n  default: {max_actions: 100}\n",
                        fleet_extra="  budgets: {lease: 0.05, on_store_unavailable: closed}\n")
    revoked_scope, revoked_token = open_root(nodes[0], grants=["tool:*"])
    request("127.0.0.1", nodes[0].admin_port, "POST", "/v1/scopes/%s/revoke" % revoked_scope["id"], headers=ADMIN)
    later_scope, later_token = open_root(nodes[0], grants=["tool:*"])
    _, token = open_root(nodes[0], grants=["tool:*"])
    assert search(nodes[1].port, token)[0] == 200  # node b takes a lease: 5 of the 100
    redis.kill()
    deadline = time.time() + 5
    while time.time() < deadline:
        ready = json.loads(request("127.0.0.1", nodes[2].admin_port, "GET", "/readyz")[2])
        if ready["fleet"]["store"] == "down":
            break
        time.sleep(0.05)
    assert ready["fleet"]["store"] == "down", ready
    # The last known revocations hold on every node.
    for n in nodes:
        status, body = search(n.port, revoked_token)
        assert status == 401 and error_code(body) == "scope_revoked"
    # Budgets closed: what a node holds of its lease is spent, then 503, never an uncounted action.
    before = upstream.stats()["requests"]
    statuses = [search(nodes[1].port, token)[0] for _ in range(12)]
    assert statuses == [200] * 4 + [503] * 8, statuses
    assert upstream.stats()["requests"] - before - 1 == 4
    # A node that held no lease refuses at once.
    status, body = search(nodes[2].port, token)
    assert status == 503 and error_code(body) == "overloaded", body
    # A revocation made meanwhile is kept by its node and published when Redis is back.
    status, _, body = request("127.0.0.1", nodes[0].admin_port, "POST", "/v1/scopes/%s/revoke" % later_scope["id"],
                              headers=ADMIN)
    assert status == 200 and json.loads(body)["fleet"] == "pending", body
    redis.start()
    deadline = time.time() + 10
    recovered = False
    while time.time() < deadline and not recovered:
        recovered = (search(nodes[2].port, later_token)[0] == 401 and search(nodes[1].port, token)[0] == 200)
        time.sleep(0.1)
    assert recovered
    for n in nodes:
        ready = json.loads(request("127.0.0.1", n.admin_port, "GET", "/readyz")[2])
        assert ready["fleet"]["store"] == "up", ready
        status, body = search(n.port, later_token)
        assert status == 401 and error_code(body) == "scope_revoked"
    # No crash: every node stops cleanly (the fixture asserts exit 0).
    for n in nodes:
        n.stop()


def test_a_node_without_redis_is_not_ready_and_serves_no_token(start_gateway, upstream, tmp_path, redis):
    redis.kill()
    gw = start_gateway(node_config("gw-a", upstream, tmp_path, redis), env=TOKEN_ENV)
    status, _, body = request("127.0.0.1", gw.admin_port, "GET", "/readyz")
    assert status == 503 and json.loads(body)["status"] == "fleet_unavailable", body
    # Opening a root needs no token; serving one waits for the fleet's revocations.
    _, token = open_root(gw, grants=["tool:*"])
    status, body = search(gw.port, token)
    assert status == 503 and error_code(body) == "overloaded", body
    redis.start()
    wait_ready(gw)
    assert search(gw.port, token)[0] == 200


def test_the_fleet_examples_are_valid_as_written():
    root = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "fleet")
    check = subprocess.run([HAPROXY, "-c", "-f", os.path.join(root, "haproxy.cfg")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    from harness import BIN
    env = dict(os.environ, SCOPEGATE_TOKEN_KEY="00" * 32)
    out = subprocess.run([BIN, "check", "--config", os.path.join(root, "node.yaml")], capture_output=True, text=True,
                         env=env)
    assert out.returncode == 0, out.stdout + out.stderr


def test_strict_revocations_refuse_scopes_minted_after_the_last_sync(start_gateway, upstream, tmp_path, redis):
    gw = start_gateway(node_config("gw-a", upstream, tmp_path, redis, fleet_extra="  revocations: {strict: true}\n"),
                       env=TOKEN_ENV)
    wait_ready(gw)
    _, before = open_root(gw, grants=["tool:*"])
    time.sleep(1.1)  # scope times are whole seconds
    redis.kill()
    deadline = time.time() + 5
    while json.loads(request("127.0.0.1", gw.admin_port, "GET", "/readyz")[2])["fleet"]["store"] != "down":
        assert time.time() < deadline
        time.sleep(0.05)
    time.sleep(1.1)
    _, after = open_root(gw, grants=["tool:*"])
    assert search(gw.port, before)[0] == 200  # known complete when it was minted
    status, body = search(gw.port, after)
    assert status == 503 and error_code(body) == "overloaded", body
    redis.start()
    deadline = time.time() + 10
    while search(gw.port, after)[0] != 200:
        assert time.time() < deadline, "not served after Redis came back"
        time.sleep(0.1)


def test_a_redis_stall_loses_no_budget(start_gateway, upstream, tmp_path, redis):
    """Leases whose replies came too late (Redis frozen, the script run when it wakes) are not lost:
    Redis counts what each node holds, and a node learns it at its next lease (docs/fleet.md)."""
    limit = 50
    nodes = start_nodes(start_gateway, upstream, tmp_path, redis, names=("gw-a", "gw-b"),
                        guards="budgets:\n  default: {max_actions: %d}\n" % limit,
                        fleet_extra="  budgets: {lease: 0.1, lease_idle: 500ms}\n")
    _, token = open_root(nodes[0], grants=["tool:*"])
    allowed = sum(search(nodes[0].port, token)[0] == 200 for _ in range(3))
    redis.proc.send_signal(signal.SIGSTOP)
    try:
        for _ in range(15):  # each a lease asked of a frozen Redis: 503 (closed), the script queued
            status, _ = search(nodes[1].port, token)
            allowed += status == 200
            time.sleep(0.05)
    finally:
        redis.proc.send_signal(signal.SIGCONT)
    refused_in_a_row, i = 0, 0
    while refused_in_a_row < 16 and i < 400:
        status, _ = search(nodes[i % 2].port, token)
        i += 1
        allowed += status == 200
        refused_in_a_row = refused_in_a_row + 1 if status != 200 else 0
        if status != 200:
            time.sleep(0.1)  # past lease_idle, what a node holds unspent goes back
    assert limit - 2 * 5 <= allowed <= limit, allowed


def test_a_revocation_pending_at_exit_reaches_the_fleet_from_the_revocations_file(start_gateway, upstream, tmp_path,
                                                                                  redis):
    revocations = tmp_path / "revoked.jsonl"
    a_config = node_config("gw-a", upstream, tmp_path, redis).replace(
        "token:\n", "token:\n  revocations_file: %s\n" % revocations, 1)
    a = start_gateway(a_config, env=TOKEN_ENV)
    b = start_gateway(node_config("gw-b", upstream, tmp_path, redis), env=TOKEN_ENV)
    for n in (a, b):
        wait_ready(n)
    scope, token = open_root(a, grants=["tool:*"])
    redis.kill()
    for _ in range(2):  # a second revoke of the same scope is no more "published" than the first
        status, _, body = request("127.0.0.1", a.admin_port, "POST", "/v1/scopes/%s/revoke" % scope["id"],
                                  headers=ADMIN)
        assert status == 200 and json.loads(body)["fleet"] == "pending", body
    a.stop()
    assert any(e.get("msg", "").startswith("fleet: revocations not yet written") for e in a.logs())
    redis.start()
    wait_ready(b)
    assert search(b.port, token)[0] == 200  # b never heard of it
    a2 = start_gateway(a_config, env=TOKEN_ENV)
    wait_ready(a2)
    deadline = time.time() + 5
    while search(b.port, token)[0] != 401:
        assert time.time() < deadline, "the revocation from a's file never reached b"
        time.sleep(0.05)


def test_requests_at_once_share_one_lease_instead_of_emptying_the_fleet_bucket(start_gateway, upstream, tmp_path,
                                                                                redis):
    import threading
    guards = ("budgets:\n  default: {max_actions: 100000}\n"
              "rate_limits:\n  - id: wide\n    per: agent\n    rate: 1000/s\n    burst: 1000\n")
    (gw,) = start_nodes(start_gateway, upstream, tmp_path, redis, names=("gw-a",), guards=guards)
    _, token = open_root(gw, grants=["tool:*"])
    statuses = []
    barrier = threading.Barrier(24)

    def burst():
        barrier.wait()
        for _ in range(5):
            statuses.append(search(gw.port, token)[0])

    threads = [threading.Thread(target=burst) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 120 requests against a bucket of 1000: each lease a tenth of it, asked for once at a time.
    assert statuses.count(200) == 120, sorted(set(statuses))
    leases = [l for l in request("127.0.0.1", gw.admin_port, "GET", "/metrics")[2].decode().splitlines()
              if l.startswith("scopegate_fleet_rate_leases_total ")]
    assert leases and int(leases[0].split()[1]) <= 2, leases


def node_without_audit(name, upstream, redis, guards):
    routes = route("search", "/tools/search", upstream.url, access="scoped")
    fleet = "fleet:\n  redis:\n    url: redis://127.0.0.1:%d\n    key_prefix: \"sg-test:\"\n" % redis.port
    return delegation_config(routes, agents=AGENTS, extra=guards + fleet).replace("node: gw-test", "node: " + name)


def test_a_node_restarted_without_an_audit_log_does_not_spend_its_budget_again(start_gateway, upstream, redis):
    """Its counters restart at zero; what Redis says it held before counts as spent."""
    guards = "budgets:\n  default: {max_actions: 10}\n"
    gw = start_gateway(node_without_audit("gw-a", upstream, redis, guards), env=TOKEN_ENV)
    wait_ready(gw)
    _, token = open_root(gw, grants=["tool:*"])
    first = [search(gw.port, token)[0] for _ in range(12)]
    assert first.count(200) == 10, first
    gw.stop()
    again = start_gateway(node_without_audit("gw-a", upstream, redis, guards), env=TOKEN_ENV)
    wait_ready(again)
    status, body = search(again.port, token)
    assert status == 429 and error_code(body) == "budget_exhausted", body


def test_two_running_nodes_with_one_name_do_not_share_its_leases(start_gateway, upstream, tmp_path, redis):
    guards = "budgets:\n  default: {max_actions: 10}\n"
    a = start_gateway(node_config("gw-a", upstream, tmp_path, redis, guards=guards), env=TOKEN_ENV)
    wait_ready(a)
    _, token = open_root(a, grants=["tool:*"])
    assert search(a.port, token)[0] == 200
    # A second gateway under the same name (its own audit directory): it takes no lease.
    twin = start_gateway(node_config("gw-a", upstream, tmp_path / "twin", redis, guards=guards), env=TOKEN_ENV)
    time.sleep(1.5)
    status, body = search(twin.port, token)
    assert status == 503 and error_code(body) == "overloaded", body
    ready = json.loads(request("127.0.0.1", twin.admin_port, "GET", "/readyz")[2])
    assert "holds this node's name" in ready["fleet"]["reason"], ready
    allowed = 1 + sum(search(a.port, token)[0] == 200 for _ in range(12))
    assert allowed == 10


def test_response_bytes_over_a_lease_reach_the_fleet_when_the_request_ends(start_gateway, upstream, tmp_path, redis):
    """Sequential 400 kB answers against a max_bytes_out of 1 MB over two nodes: as on one node, the
    answer that crosses the limit runs to its end and the next one anywhere is refused."""
    routes = route("bytes", "/tools/bytes", upstream.url, access="scoped", strip_prefix="true")
    extra = ("audit:\n  dir: %s\nbudgets:\n  default: {max_bytes_out: 1000000}\n"
             "fleet:\n  redis:\n    url: redis://127.0.0.1:%d\n    key_prefix: \"sg-test:\"\n")
    nodes = []
    for name in ("gw-a", "gw-b"):
        cfg = delegation_config(routes, agents=AGENTS, extra=extra % (tmp_path / name, redis.port))
        nodes.append(start_gateway(cfg.replace("node: gw-test", "node: " + name), env=TOKEN_ENV))
    for n in nodes:
        wait_ready(n)
    _, token = open_root(nodes[0], grants=["tool:*"])
    statuses = []
    for i in range(6):
        status, _, _ = request("127.0.0.1", nodes[i % 2].port, "GET", "/tools/bytes/bytes?n=400000",
                               headers=auth("planner", token))
        statuses.append(status)
    assert statuses[:3] == [200, 200, 200] and set(statuses[3:]) == {429}, statuses
