#!/usr/bin/env python3
"""Soak: 1,000 (or --cycles) kill -9 cycles of a gateway under load in strict audit mode. After
each, the audit log must verify and hold a record of every request that received a response.
The test suite runs the same cycle 50 times (tests/integration/test_audit.py). Needs the build.

Usage: python3 bench/soak_kill9.py [--cycles 1000] [--load-seconds 0.15]
"""
import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from audit_helpers import kill9_cycle, segments, verify  # noqa: E402
from harness import TOKEN_ENV, Gateway, Upstream, delegation_config, open_root, route  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--load-seconds", type=float, default=0.15)
    args = ap.parse_args()
    up = Upstream("soak")
    d = tempfile.mkdtemp(prefix="scopegate-soak-")
    cfg = delegation_config(route("search", "/tools/search", up.url, access="scoped", strip_prefix="true"),
                            extra="audit:\n  dir: %s\n  durability: strict\n  segment_max_bytes: 1MiB\n" % d)
    gw = Gateway(cfg, env=TOKEN_ENV)
    _, token = open_root(gw, grants=["tool:search"], ttl_s=86400)
    gw.stop()
    seen, done = set(), set()
    answered_total = 0
    try:
        for cycle in range(1, args.cycles + 1):
            answered = kill9_cycle(cfg, TOKEN_ENV, "/tools/search/q", token, "planner", args.load_seconds)
            answered_total += len(answered)
            code, report = verify(d)
            if code != 0:
                sys.exit("cycle %d: the log does not verify: %s" % (cycle, report))
            # Every start opens a new segment, so all but the newest are final: each is read once.
            for name in segments(d):
                if name in done:
                    continue
                with open(os.path.join(d, name)) as f:
                    for line in f:
                        r = json.loads(line)
                        if r["event"] == "request":
                            seen.add(r["request_id"])
                done.add(name)
            done.discard(segments(d)[-1])
            missing = [rid for rid, _ in answered if rid not in seen]
            if missing:
                sys.exit("cycle %d: %d answered requests have no record" % (cycle, len(missing)))
            if cycle % 50 == 0:
                print("cycle %d: %d answered requests so far, all recorded; log verifies" % (cycle, answered_total),
                      flush=True)
    finally:
        up.stop()
    print("%d cycles, %d answered requests, 0 lost; log in %s" % (args.cycles, answered_total, d))


if __name__ == "__main__":
    main()
