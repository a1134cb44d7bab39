#!/usr/bin/env python3
"""Memory per idle keep-alive client connection: opens N connections to scopegate, sends one
request on each (so each has been through the whole request path), keeps them open and idle, and
reads scopegate's RSS before and after. Target: 10,000 idle connections in at most 100 MiB RSS.

Usage: bench/idle_connections.py [--connections 10000]
"""
import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BIN = os.environ.get("SCOPEGATE_BIN", os.path.join(ROOT, "build", "gateway", "scopegate"))
UPSTREAM = os.path.join(ROOT, "examples", "upstreams", "demo_upstream.py")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=10000)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.connections + 100
    if hard < want:
        sys.exit("the open-file limit (%d) is below %d: raise it (ulimit -n) first" % (hard, want))
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))

    up = subprocess.Popen([sys.executable, UPSTREAM, "--port", "0"], stdout=subprocess.PIPE, text=True)
    up_port = int(up.stdout.readline().split()[1])
    port = free_port()
    d = tempfile.mkdtemp(prefix="scopegate-idle-")
    cfg = os.path.join(d, "scopegate.yaml")
    with open(cfg, "w") as f:
        f.write("""workers: 1
listeners: [{ name: data, address: 127.0.0.1, port: %d }]
admin: { address: 127.0.0.1, port: 0 }
limits: { max_connections: %d, max_connections_per_peer: 0 }
timeouts: { keepalive_idle: 10m }
routes:
  - name: t
    match: { path_prefix: / }
    upstream: http://127.0.0.1:%d
""" % (port, args.connections + 100, up_port))
    gw = subprocess.Popen([BIN, "serve", "--config", cfg, "--log-level", "warn"])
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        warm = socket.create_connection(("127.0.0.1", port))
        warm.sendall(b"GET /conn HTTP/1.1\r\nHost: x\r\n\r\n")
        warm.recv(65536)
        time.sleep(0.3)
        before = rss_kib(gw.pid)
        socks = []
        started = time.time()
        for i in range(args.connections):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /conn HTTP/1.1\r\nHost: x\r\n\r\n")
            data = s.recv(65536)
            if not data.startswith(b"HTTP/1.1 200"):
                sys.exit("connection %d got %r" % (i, data[:60]))
            socks.append(s)
        time.sleep(1)
        after = rss_kib(gw.pid)
        print("%d idle keep-alive connections (opened in %.1f s): scopegate RSS %.1f MiB before, %.1f MiB after; "
              "%.2f KiB per connection" % (len(socks), time.time() - started, before / 1024, after / 1024,
                                           (after - before) / len(socks)))
        print("target: <= 100 MiB total -> %s" % ("met" if after <= 100 * 1024 else "MISSED"))
        for s in socks:
            s.close()
    finally:
        gw.terminate()
        gw.wait()
        up.kill()


if __name__ == "__main__":
    main()
