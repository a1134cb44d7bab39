#!/usr/bin/env python3
"""Soak of fleet mode (docs/fleet.md): three gateway nodes sharing one real redis-server behind a real
HAProxy, under steady load for --minutes (10 by default), with Redis restarted --redis-restarts times
(2 by default) along the way. Throughout, root scopes are opened, spent through the load balancer
against a budget, and some are revoked on a random node. At the end it checks:
  - zero lost revocations: every revoked scope is refused (401 scope_revoked) on every node;
  - budgets within the slack: no scope had more actions let through than its budget, and scopes run
    to exhaustion were let through at least the budget minus the lease slack;
  - every node's audit chain verifies (scopegate audit verify).
Exit 0 when all hold, 1 with what failed. Needs the build (SCOPEGATE_BIN or build/gateway/scopegate).

Usage: python3 bench/fleet_soak.py [--minutes 10] [--redis-restarts 2] [--budget 40]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from harness import (BIN, TOKEN_ENV, Gateway, HAProxy, Redis, Upstream, agent_yaml, auth,  # noqa: E402
                     delegation_config, error_code, open_root, request, route)

ADMIN = {"Authorization": "Bearer test-admin-token"}
LEASE = 0.1


def node_config(name, upstream, d, redis, budget):
    agents = agent_yaml("planner", may_open_root=True, grants=["tool:*"])
    extra = ("audit:\n  dir: %s/audit-%s\nbudgets:\n  default: {max_actions: %d}\n"
             "fleet:\n  redis:\n    url: redis://127.0.0.1:%d\n    key_prefix: \"soak:\"\n"
             "  budgets: {lease: %s, lease_idle: 1s}\n" % (d, name, budget, redis.port, LEASE))
    cfg = delegation_config(route("search", "/tools/search", upstream.url, access="scoped"), agents=agents, extra=extra)
    return cfg.replace("node: gw-test", "node: " + name)


def search(port, token):
    try:
        status, _, body = request("127.0.0.1", port, "GET", "/tools/search/x", headers=auth("planner", token), timeout=5)
        return status, body
    except OSError:
        return 0, b""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--redis-restarts", type=int, default=2)
    ap.add_argument("--budget", type=int, default=40)
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="scopegate-fleet-soak-")
    up = Upstream("soak")
    redis = Redis()
    names = ["gw-a", "gw-b", "gw-c"]
    nodes = [Gateway(node_config(n, up, d, redis, args.budget), env=TOKEN_ENV) for n in names]
    lb = HAProxy([n.port for n in nodes])
    lock = threading.Lock()
    scopes = []      # {"id", "token", "allowed", "exhausted"}
    revoked = []     # (id, token)
    failures = []
    stop = threading.Event()
    counts = {"requests": 0, "503": 0}

    def ready_all():
        deadline = time.time() + 20
        while time.time() < deadline:
            if all(request("127.0.0.1", n.admin_port, "GET", "/readyz")[0] == 200 for n in nodes):
                return
            time.sleep(0.1)
        failures.append("a node never became ready")

    def spender():
        while not stop.is_set():
            try:
                scope, token = open_root(nodes[random.randrange(3)], grants=["tool:*"], ttl_s=3600)
            except (AssertionError, OSError):
                time.sleep(0.2)
                continue
            entry = {"id": scope["id"], "token": token, "allowed": 0, "exhausted": False, "refused": 0}
            with lock:
                scopes.append(entry)
            while not stop.is_set() and entry["refused"] < 6:
                status, body = search(lb.port, token)
                with lock:
                    counts["requests"] += 1
                    if status == 200:
                        entry["allowed"] += 1
                        entry["refused"] = 0
                    elif status == 429 and error_code(body) == "budget_exhausted":
                        entry["refused"] += 1
                    elif status == 503:
                        counts["503"] += 1
                        time.sleep(0.05)
                    elif status == 401:
                        break
                    else:
                        failures.append("unexpected %s on %s: %s" % (status, scope["id"], body[:200]))
                        break
            entry["exhausted"] = entry["refused"] >= 6

    def revoker():
        while not stop.is_set():
            time.sleep(1.0)
            with lock:
                live = [s for s in scopes if not s["exhausted"]]
            if not live:
                continue
            victim = random.choice(live)
            node = random.choice(nodes)
            status, _, body = request("127.0.0.1", node.admin_port, "POST", "/v1/scopes/%s/revoke" % victim["id"],
                                      headers=ADMIN)
            if status == 200:
                with lock:
                    revoked.append((victim["id"], victim["token"]))

    ready_all()
    threads = [threading.Thread(target=spender, daemon=True) for _ in range(4)] + [
        threading.Thread(target=revoker, daemon=True)]
    for t in threads:
        t.start()
    total = args.minutes * 60
    started = time.time()
    restarts = [started + total * (i + 1) / (args.redis_restarts + 1) for i in range(args.redis_restarts)]
    for at in restarts:
        time.sleep(max(0, at - time.time()))
        print("%.0fs: restarting Redis" % (time.time() - started), flush=True)
        redis.kill()
        time.sleep(2)
        redis.start()
    time.sleep(max(0, started + total - time.time()))
    stop.set()
    for t in threads:
        t.join(30)
    time.sleep(2)  # revocations pending while Redis was away are published by now

    # Zero lost revocations: every node refuses every revoked scope.
    lost = []
    for scope_id, token in revoked:
        for n in nodes:
            status, body = search(n.port, token)
            if status != 401 or error_code(body) != "scope_revoked":
                lost.append((scope_id, n.listeners["data"], status))
    if lost:
        failures.append("%d revocations not in force: %s" % (len(lost), lost[:5]))
    # Budgets: never over; scopes run to the end within the slack.
    slack = len(nodes) * max(1, int(args.budget * LEASE))
    over = [s for s in scopes if s["allowed"] > args.budget]
    short = [s for s in scopes if s["exhausted"] and s["allowed"] < args.budget - slack]
    if over:
        failures.append("%d scopes over budget: %s" % (len(over), [(s["id"], s["allowed"]) for s in over[:5]]))
    if short:
        failures.append("%d exhausted scopes short of budget - slack: %s" % (
            len(short), [(s["id"], s["allowed"]) for s in short[:5]]))
    lb.stop()
    for n in nodes:
        n.stop()
    redis.stop()
    up.stop()
    # Every node's chain verifies.
    for name in names:
        out = subprocess.run([BIN, "audit", "verify", "--log", os.path.join(d, "audit-" + name)], capture_output=True,
                             text=True)
        if out.returncode != 0:
            failures.append("audit chain of %s: %s" % (name, out.stdout + out.stderr))
    exhausted = [s for s in scopes if s["exhausted"]]
    print(json.dumps({"minutes": args.minutes, "redis_restarts": args.redis_restarts, "requests": counts["requests"],
                      "answered_503_while_redis_away": counts["503"], "scopes": len(scopes),
                      "scopes_exhausted": len(exhausted),
                      "allowed_per_exhausted_scope": sorted({s["allowed"] for s in exhausted}),
                      "budget": args.budget, "slack": slack, "revocations": len(revoked),
                      "revocations_lost": len(lost), "failures": failures}, indent=1))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
