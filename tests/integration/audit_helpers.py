"""Shared by the audit tests and bench/soak_kill9.py: reading segments, the CLI, kill -9 cycles."""
import json
import os
import subprocess
import threading
import uuid

from harness import BIN, Gateway, auth, request


def segments(d):
    return sorted(f for f in os.listdir(d) if f.endswith(".jsonl"))


def records(d):
    out = []
    for name in segments(d):
        with open(os.path.join(d, name)) as f:
            out += [json.loads(line) for line in f]
    return out


def cli(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


def verify(*dirs):
    args = ["audit", "verify", "--format", "json"]
    for d in dirs:
        args += ["--log", d]
    code, out, err = cli(*args)
    return code, json.loads(out) if out.strip().startswith("{") else err


def query(verb, scope, d, *extra):
    code, out, err = cli("query", verb, scope, "--log", d, "--format", "json", *extra)
    assert out.strip(), err
    return code, json.loads(out)


def kill9_cycle(config_text, env, path, token, agent, load_seconds, threads=4):
    """Starts a gateway, loads it from `threads` clients with their own request ids (on `path`, or
    in turn on each of a list of paths), kills it with SIGKILL mid-load, starts it again (recovery)
    and stops it cleanly. Returns the ids that received a response (any status)."""
    gw = Gateway(config_text, env=env)
    answered = []
    lock = threading.Lock()
    stop = threading.Event()

    paths = path if isinstance(path, (list, tuple)) else [path]

    def client():
        n = 0
        while not stop.is_set():
            rid = str(uuid.uuid4())
            n += 1
            try:
                status, _, _ = request("127.0.0.1", gw.port, "GET", paths[n % len(paths)],
                                       headers=auth(agent, token, **{"X-Request-Id": rid}), timeout=2)
            except OSError:
                continue
            with lock:
                answered.append((rid, status))

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for w in workers:
        w.start()
    stop.wait(load_seconds)
    gw.proc.kill()
    gw.proc.wait()
    stop.set()
    for w in workers:
        w.join()
    gw._reader.join(5)
    Gateway(config_text, env=env).stop()  # recovery at start: a torn tail is set aside
    return answered
