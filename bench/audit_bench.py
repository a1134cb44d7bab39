#!/usr/bin/env python3
"""Audit-log benchmarks (figures in docs/performance.md). A benchmark, not a test.

1. Writer throughput: N request records handed to the real audit writer from two threads; it
   serialises, hash-chains, writes and fsyncs them (batch mode by default).
2. Query speed: a log of --records records (default 1,000,000) under a forest of delegation trees,
   written by the same writer; then `scopegate query footprint` (no chain check, as by default)
   and `query never` (which verifies every hash) over it, best of three, in seconds and MB/s.

3. With --checkpoints EVERY[,EVERY...]: the writer in batch mode again, sealing a signed checkpoint
   every EVERY durable records (audit.checkpoints.every_records; the key from `scopegate audit
   keygen`), beside a run without, alternating --rounds times; --writer-only skips the queries.

Usage: python3 bench/audit_bench.py [--records N] [--writer-records N] [--dir DIR]
                                    [--checkpoints 10000,1000 [--rounds 3] [--writer-only]]
Needs the build (bash scripts/build.sh): build/gateway/scopegate, build/bench/micro/scopegate_audit_bench
(SCOPEGATE_BUILD_DIR names another build directory).
"""
import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.join(ROOT, os.environ.get("SCOPEGATE_BUILD_DIR", "build"))
BIN = os.path.join(BUILD, "gateway", "scopegate")
BENCH = os.path.join(BUILD, "bench", "micro", "scopegate_audit_bench")


def du(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".jsonl"))


def best_of(n, args):
    best = None
    for _ in range(n):
        start = time.perf_counter()
        r = subprocess.run(args, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if r.returncode not in (0, 1):
            raise RuntimeError("%s: exit %d\n%s" % (args, r.returncode, r.stderr))
        best = elapsed if best is None else min(best, elapsed)
    return best, r


def writer(d, records, mode, checkpoint_args=()):
    out = subprocess.run([BENCH, "writer", d, str(records), mode, *checkpoint_args], capture_output=True,
                         text=True, check=True).stdout
    shutil.rmtree(d)
    return json.loads(out)


def checkpoint_rows(base, records, cadences, rounds):
    """Batch mode without and with checkpoints, interleaved so that both see the same machine."""
    subprocess.run([BIN, "audit", "keygen", "--out", os.path.join(base, "bench")], capture_output=True, check=True)
    key = os.path.join(base, "bench.key")
    runs = {"off": []}
    for every in cadences:
        runs[every] = []
    for _ in range(rounds):
        runs["off"].append(writer(os.path.join(base, "writer-off"), records, "batch"))
        for every in cadences:
            ckpt = os.path.join(base, "checkpoints-%d" % every)
            runs[every].append(writer(os.path.join(base, "writer-ckpt"), records, "batch", (ckpt, key, str(every))))
            shutil.rmtree(ckpt)
    rows = []
    for name, results in runs.items():
        rates = sorted(r["records_per_second"] for r in results)
        label = "no checkpoints" if name == "off" else "checkpoint every %d records" % name
        extra = "" if name == "off" else ", %d sealed, %d written" % (results[-1]["checkpoints_sealed"],
                                                                     results[-1]["checkpoints_written"])
        rows.append("| writer, batch, %s, %d records, %d rounds | median %.0f records/s (min %.0f, max %.0f)%s |" % (
            label, records, rounds, rates[len(rates) // 2], rates[0], rates[-1], extra))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--writer-records", type=int, default=1_000_000)
    ap.add_argument("--dir", help="where to write (default: a temp dir on the same disk as /tmp)")
    ap.add_argument("--checkpoints", help="comma-separated every_records cadences to compare with none")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--writer-only", action="store_true", help="skip the query benchmarks")
    args = ap.parse_args()
    base = args.dir or tempfile.mkdtemp(prefix="scopegate-audit-bench-")
    os.makedirs(base, exist_ok=True)
    try:
        rows = []
        if args.checkpoints:
            cadences = [int(x) for x in args.checkpoints.split(",")]
            rows += checkpoint_rows(base, args.writer_records, cadences, args.rounds)
        for mode in () if args.writer_only else ("batch", "none"):
            w = writer(os.path.join(base, "writer-" + mode), args.writer_records, mode)
            rows.append("| writer, %s mode, %d records | %.0f records/s (%.0f MB/s, %d fsyncs) |" % (
                mode, w["records"], w["records_per_second"], w["mb_per_second"], w["fsyncs"]))
        if args.writer_only:
            print("| benchmark | result |\n|---|---|")
            print("\n".join(rows))
            return
        d = os.path.join(base, "log")
        scope = subprocess.run([BENCH, "generate", d, str(args.records)], capture_output=True, text=True,
                               check=True).stdout.strip()
        size = du(d)
        secs, r = best_of(3, [BIN, "query", "footprint", scope, "--log", d, "--format", "json"])
        fp = json.loads(r.stdout)
        assert fp["scopes"], "the queried scope has no records"
        rows.append("| query footprint, %d records (%.0f MB) | %.3f s (%.0f MB/s); %d scopes in the subtree |" % (
            args.records, size / 1e6, secs, size / 1e6 / secs, len(fp["scopes"])))
        secs, r = best_of(3, [BIN, "query", "never", scope, "--log", d, "--dataset", "payroll", "--format", "json"])
        nv = json.loads(r.stdout)
        assert nv["scanned"]["nodes"][0]["chain"] == "verified"
        rows.append("| query never (verifies every hash), same log | %.3f s (%.0f MB/s), answer: %s |" % (
            secs, size / 1e6 / secs, nv["answer"]))
        secs, r = best_of(3, [BIN, "audit", "verify", "--log", d])
        rows.append("| audit verify, same log | %.3f s (%.0f MB/s) |" % (secs, size / 1e6 / secs))
        print("| benchmark | result |\n|---|---|")
        print("\n".join(rows))
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
