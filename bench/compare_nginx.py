#!/usr/bin/env python3
"""scopegate side by side with nginx as a reverse proxy, in the same run.

Three targets share one upstream (an nginx serving static 200 B and 16 KiB files, access log off):
  direct    wrk → upstream
  nginx     wrk → nginx (1 worker, upstream keep-alive, access log on, buffered) → upstream
  scopegate wrk → scopegate (workers: 1) → upstream
For each body size × connection count, wrk (1 thread) runs against each target in turn. Printed:
req/s, p50/p99 latency, CPU seconds per request of the proxy process, and scopegate/nginx ratios.
Peak RSS of both proxies is read from /proc at the end. Machines are noisy: compare ratios from
the same run, never absolute figures across runs.

With --tokens, scopegate runs as agents see it: the route is scoped, every request carries an
agent key and a depth-2 Delegation-Token (opened through POST /v1/scopes), and scopegate
authenticates, verifies, checks the grant, strips and stamps the delegation headers. nginx gets
the same request headers and just forwards them.

With --policies N (and --guards), a second scopegate runs beside the first on the same config plus N
access policy rules (a realistic mix: most name other routes or tools, some apply to every request
by agent, depth or objective; none refuses the benchmark's request) and, with --guards, budgets, a
rate limit and the loop guard set high enough never to refuse. Its columns compare it with the
first scopegate of the same run: what loading policies and guards costs.

With --resilience, that second scopegate's route also has two endpoints (the upstream listens on a
second port) balanced by the power of two choices, a circuit breaker per endpoint counting the
failure ratio, a concurrency limit with a pending queue, and retries: the bookkeeping every
request pays on a resilient route (docs/resilience.md). It may be given alone or with --policies.

With --fleet, both scopegates run the guards (budgets and a rate limit set high enough never to
refuse), and the second also runs in fleet mode (docs/fleet.md) against a redis-server the benchmark
starts: its columns compare fleet mode with a single node on the same config, which is what fleet
mode costs per request (leases: no Redis round trip on the request path).

Usage: bench/compare_nginx.py [--duration 10] [--connections 32,256] [--rounds 1] [--markdown] [--tokens]
                              [--audit none|batch|strict] [--policies N] [--guards] [--resilience] [--fleet]
"""
import hashlib
import json
import urllib.request
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BIN = os.environ.get("SCOPEGATE_BIN", os.path.join(ROOT, "build", "gateway", "scopegate"))
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d did not open" % port)


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / TICKS


def status_kib(pids, key):
    total = 0
    for pid in pids:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
    return total


def nginx_conf(d, name, body):
    path = os.path.join(d, name + ".conf")
    with open(path, "w") as f:
        f.write("""worker_processes 1;
daemon off;
pid %(d)s/%(name)s.pid;
error_log %(d)s/%(name)s.error.log warn;
events { worker_connections 20000; }
http {
  client_body_temp_path %(d)s/%(name)s-body;
  proxy_temp_path %(d)s/%(name)s-proxy;
  fastcgi_temp_path %(d)s/%(name)s-fastcgi;
  uwsgi_temp_path %(d)s/%(name)s-uwsgi;
  scgi_temp_path %(d)s/%(name)s-scgi;
  keepalive_requests 1000000;
  %(body)s
}
""" % {"d": d, "name": name, "body": body})
    return path


def start(args, log):
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)


def run_wrk(port, path, connections, duration, headers=()):
    extra = []
    for h in headers:
        extra += ["-H", h]
    run = subprocess.run(["wrk", "-t1", "-c%d" % connections, "-d%ds" % duration, "--latency", *extra,
                          "http://127.0.0.1:%d%s" % (port, path)], capture_output=True, text=True)
    out = run.stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not found:
        raise RuntimeError("wrk against port %d failed:\n%s%s" % (port, out, run.stderr))
    rps = float(found.group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)

    def pct(p):
        m = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)" % p, out)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {"rps": rps, "requests": total, "p50": pct(50), "p99": pct(99),
            "errors": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}


def bench_policies(n):
    """N rules, the shape of a real set: most concern other routes or tools (the index files them
    away from the benchmark's request), a tenth apply to every request and are evaluated in full,
    one reads tool arguments. The benchmark's request (agent writer, depth 2, tool:static) is
    allowed: the set's default is allow and no forbid matches it."""
    lines = ["version: 1", "default: allow", "rules:"]
    for i in range(n):
        rid = "rule-%d" % i
        if i % 10 == 0:  # every request: by agent and depth
            lines += ["  - id: " + rid, "    effect: forbid", "    when:", "      agent: [planner, researcher]",
                      "      depth: {ge: %d}" % (3 + i % 4)]
        elif i % 10 == 1:  # every request: by objective, in shadow mode
            lines += ["  - id: " + rid, "    effect: forbid", "    mode: shadow", "    when:",
                      "      objective: {contains: \"drop table %d\"}" % i]
        elif i % 10 == 2:  # one exact tool, reading its arguments
            lines += ["  - id: " + rid, "    effect: forbid", "    when:", "      action: [\"tool:hr.lookup-%d\"]" % i,
                      "    unless:", "      arguments:", "        - pointer: /employee_id",
                      "          matches: \"^E[0-9]+$\""]
        else:  # other tools
            lines += ["  - id: " + rid, "    effect: forbid", "    when:",
                      "      action: [\"tool:t%d\", \"tool:t%d\"]" % (i, i + 1000),
                      "      ancestors: {any: [researcher]}"]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", default="32,256")
    ap.add_argument("--rounds", type=int, default=1, help="repeat the whole matrix; the best round per cell counts")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--scopegate-extra", default="", help="YAML appended to scopegate's config")
    ap.add_argument("--tokens", action="store_true", help="agents, delegation tokens and stamping on")
    ap.add_argument("--audit", choices=["none", "batch", "strict"],
                    help="scopegate writes its audit log (in the run's temp dir) with this durability")
    ap.add_argument("--policies", type=int, default=0,
                    help="a second scopegate with N access policy rules loaded, compared with the first")
    ap.add_argument("--guards", action="store_true",
                    help="the second scopegate also has budgets, a rate limit and the loop guard on")
    ap.add_argument("--resilience", action="store_true",
                    help="the second scopegate's route has two endpoints, breakers, a concurrency limit and retries")
    ap.add_argument("--fleet", action="store_true",
                    help="both scopegates run the guards; the second in fleet mode on a local redis-server")
    args = ap.parse_args()
    second = bool(args.policies or args.resilience or args.fleet)
    if args.guards and not args.policies:
        sys.exit("--guards configures the second scopegate: give --policies N too")
    if args.fleet and (args.policies or args.resilience):
        sys.exit("--fleet compares fleet mode with a single node: give it without --policies and --resilience")
    if args.fleet and not shutil.which("redis-server"):
        sys.exit("redis-server is missing: run scripts/setup.sh")
    for tool in ("nginx", "wrk"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            sys.exit("%s is missing: run scripts/setup.sh" % tool)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"

    d = tempfile.mkdtemp(prefix="scopegate-bench-")
    os.chmod(d, 0o755)  # nginx workers run as an unprivileged user and must read the files
    www = os.path.join(d, "www")
    os.makedirs(www)
    with open(os.path.join(www, "small"), "wb") as f:
        f.write(b"s" * 200)
    with open(os.path.join(www, "large"), "wb") as f:
        f.write(b"l" * 16384)
    up_port, up_port2, ngx_port, sg_port, sg_admin = free_port(), free_port(), free_port(), free_port(), free_port()
    pol_port, pol_admin = free_port(), free_port()

    up_conf = nginx_conf(d, "upstream", """access_log off;
  server { listen 127.0.0.1:%d backlog=4096; listen 127.0.0.1:%d backlog=4096; root %s; location / { } }""" % (
        up_port, up_port2, www))
    proxy_conf = nginx_conf(d, "proxy", """log_format main '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_user_agent" $request_time';
  access_log %s/proxy.access.log main buffer=64k flush=1s;
  upstream backend { server 127.0.0.1:%d; keepalive 512; }
  server {
    listen 127.0.0.1:%d backlog=4096;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header Host $host;
      proxy_buffering off;
    }
  }""" % (d, up_port, ngx_port))
    sg_conf = os.path.join(d, "scopegate.yaml")
    keys = {a: "bench-%s-key" % a for a in ("planner", "researcher", "writer")}
    delegation = ""
    if args.tokens:
        delegation = "token:\n  keys: [ { kid: k1, secret_env: SG_BENCH_KEY } ]\nagents:\n" + "".join(
            "  - { id: %s, api_key_sha256: %s%s }\n" % (a, hashlib.sha256(k.encode()).hexdigest(),
                                                         ", may_open_root: true" if a == "planner" else "")
            for a, k in keys.items())
    def sg_config(port, admin, extra, audit_dir="audit", upstream=None, route_extra=""):
        if args.audit:  # each gateway its own directory: one gateway per audit directory
            extra = "audit: { dir: %s/%s, durability: %s }\n" % (d, audit_dir, args.audit) + extra
        return """node: bench
workers: 1
listeners: [{ name: data, address: 127.0.0.1, port: %d }]
admin: { address: 127.0.0.1, port: %d }
limits: { max_connections: 20000, max_connections_per_peer: 0 }  # wrk is one peer
%s%sroutes:
  - name: static
    access: %s
    match: { path_prefix: / }
    upstream: %s
%s%s""" % (port, admin, delegation, extra, os.environ.get("SG_BENCH_ACCESS", "scoped" if args.tokens else "open"),
         upstream or '{ url: "http://127.0.0.1:%d", pool_size: 512 }' % up_port, route_extra, args.scopegate_extra)

    guards = ("budgets: { default: { max_actions: 1000000000000, max_bytes_out: 1000000GiB } }\n"
              "rate_limits: [ { id: bench, per: agent_route, rate: 1000000000/s, burst: 1000000000 } ]\n"
              "loop_guard: { max_repeats: 1000000, window: 1s }\n")
    redis_port = free_port()
    with open(sg_conf, "w") as f:
        f.write(sg_config(sg_port, sg_admin, guards if args.fleet else ""))
    pol_conf = os.path.join(d, "scopegate-policies.yaml")
    if second:
        extra, upstream, route_extra = "", None, ""
        if args.policies:
            with open(os.path.join(d, "bench-policies.yaml"), "w") as f:
                f.write(bench_policies(args.policies))
            extra = "policies: [bench-policies.yaml]\n"
        if args.resilience:
            # Thresholds the benchmark never reaches: what is measured is the bookkeeping.
            upstream = ('[ { url: "http://127.0.0.1:%d", pool_size: 512 }, { url: "http://127.0.0.1:%d", pool_size: 512 } ]'
                        % (up_port, up_port2))
            route_extra = ("    breaker: { consecutive_failures: 5, failure_ratio: 0.5, min_requests: 20, window: 30s }\n"
                           "    concurrency: { max_inflight: 10000, max_pending: 100, pending_timeout: 1s }\n"
                           "    retries: { max: 1 }\n")
        if args.guards or args.fleet:
            extra += guards
        if args.fleet:
            extra += "fleet:\n  redis: { url: \"redis://127.0.0.1:%d\" }\n" % redis_port
        with open(pol_conf, "w") as f:
            f.write(sg_config(pol_port, pol_admin, extra, "audit-policies", upstream, route_extra))
    env = dict(os.environ, SG_BENCH_KEY="5c" * 32)

    logs = open(os.path.join(d, "processes.log"), "w")
    redis = None
    if args.fleet:
        redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no"], stdout=logs, stderr=subprocess.STDOUT)
        wait_port(redis_port)
    procs = [start([nginx, "-c", up_conf, "-p", d], logs), start([nginx, "-c", proxy_conf, "-p", d], logs),
             subprocess.Popen([BIN, "serve", "--config", sg_conf, "--log-level", "warn"], stdout=logs,
                              stderr=subprocess.STDOUT, env=env)]
    if second:
        procs.append(subprocess.Popen([BIN, "serve", "--config", pol_conf, "--log-level", "warn"], stdout=logs,
                                      stderr=subprocess.STDOUT, env=env))
    try:
        for port in (up_port, ngx_port, sg_port) + ((pol_port,) if second else ()):
            wait_port(port)
        time.sleep(0.3)
        headers = ()
        if args.tokens:
            token = None
            chain = [("planner", {"principal": "user:bench", "grants": ["*"]}),
                     ("planner", {"agent": "researcher", "objective": "bench"}),
                     ("researcher", {"agent": "writer", "objective": "bench"})]
            for agent, body in chain:
                h = {"Authorization": "Bearer " + keys[agent], "Content-Type": "application/json"}
                if token:
                    h["Delegation-Token"] = token
                req = urllib.request.Request("http://127.0.0.1:%d/v1/scopes" % sg_port, json.dumps(body).encode(), h)
                token = json.loads(urllib.request.urlopen(req).read())["token"]
            headers = ("Authorization: Bearer " + keys["writer"], "Delegation-Token: " + token,
                       "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        ngx_pids = [procs[1].pid] + children(procs[1].pid)
        sg_pids = [procs[2].pid]
        targets = [("direct", up_port, None), ("nginx", ngx_port, ngx_pids), ("scopegate", sg_port, sg_pids)]
        if second:
            targets.append(("policies", pol_port, [procs[3].pid]))
        results = {}
        conns = [int(c) for c in args.connections.split(",")]
        for round_no in range(args.rounds):
            # The two scopegates swap places every other round, so neither always runs second.
            order = targets if round_no % 2 == 0 else targets[:2] + targets[2:][::-1]
            for size in ("small", "large"):
                for c in conns:
                    for name, port, pids in order:
                        run_wrk(port, "/" + size, c, 1, headers)  # warm connections and pools
                        before = cpu_seconds(pids) if pids else 0
                        r = run_wrk(port, "/" + size, c, args.duration, headers)
                        r["cpu_us"] = (cpu_seconds(pids) - before) / r["requests"] * 1e6 if pids else None
                        key = (size, c, name)
                        if key not in results or r["rps"] > results[key]["rps"]:
                            results[key] = r
        ngx_hwm = status_kib(ngx_pids, "VmHWM")
        sg_hwm = status_kib(sg_pids, "VmHWM")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if redis:
            redis.kill()
            redis.wait()

    rows = []
    for size in ("small", "large"):
        for c in conns:
            n, s, dct = results[(size, c, "nginx")], results[(size, c, "scopegate")], results[(size, c, "direct")]
            rows.append([
                "%s (%s)" % ("200 B" if size == "small" else "16 KiB", c),
                "%.0f" % dct["rps"], "%.0f" % n["rps"], "%.0f" % s["rps"], "%.2f" % (s["rps"] / n["rps"]),
                "%.2f/%.2f" % (n["p50"], n["p99"]), "%.2f/%.2f" % (s["p50"], s["p99"]), "%.2f" % (s["p99"] / n["p99"]),
                "%.1f" % n["cpu_us"], "%.1f" % s["cpu_us"], "%.2f" % (s["cpu_us"] / n["cpu_us"]),
                str(n["errors"] + s["errors"]),
            ])
    header = ["body (conns)", "direct req/s", "nginx req/s", "scopegate req/s", "req/s ratio",
              "nginx p50/p99 ms", "scopegate p50/p99 ms", "p99 ratio", "nginx CPU µs/req", "scopegate CPU µs/req",
              "CPU ratio", "non-2xx"]
    if second:
        label = " ".join(part for part in ("+%d rules" % args.policies if args.policies else "",
                                           "+guards" if args.guards else "",
                                           "+resilience" if args.resilience else "",
                                           "+fleet" if args.fleet else "") if part)
        header += [label + " req/s", "vs scopegate", label + " p99 ms", label + " CPU µs/req", "CPU vs scopegate"]
        i = 0
        for size in ("small", "large"):
            for c in conns:
                p, s = results[(size, c, "policies")], results[(size, c, "scopegate")]
                rows[i][-1] = str(int(rows[i][-1]) + p["errors"])
                rows[i] += ["%.0f" % p["rps"], "%.2f" % (p["rps"] / s["rps"]), "%.2f" % p["p99"], "%.1f" % p["cpu_us"],
                            "%.2f" % (p["cpu_us"] / s["cpu_us"])]
                i += 1
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        for r in rows:
            print("  ".join(v.ljust(w) for v, w in zip(r, widths)))
    print("\npeak RSS: nginx (master + worker) %d KiB, scopegate %d KiB, ratio %.2f" % (ngx_hwm, sg_hwm, sg_hwm / ngx_hwm))
    print("duration %ds per cell, %d round(s), wrk -t1%s%s; logs in %s" % (
        args.duration, args.rounds, ", delegation tokens on (depth 2)" if args.tokens else "",
        ", both scopegates with guards, the second in fleet mode on a local Redis" if args.fleet else "", d))


if __name__ == "__main__":
    main()
