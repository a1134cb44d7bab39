"""Policy reloads and their evidence (docs/policies.md, "Reloading"; docs/protocol.md §6), with the
real binary and a real upstream: a policy file changed on disk (renamed into place or rewritten in
place) applies within a few seconds; a broken one keeps the running set and says where it is
broken; under continuous load every request is decided by one whole version of the policies; and
every reload, whatever set it off, is one policy.reload record naming the files' SHA-256."""
import hashlib
import http.client
import json
import os
import shutil
import signal
import threading
import time
import uuid

import jsonschema
import pytest

from audit_helpers import segments, verify
from harness import TOKEN_ENV, agent_yaml, auth, delegation_config, open_root, request, route
from test_audit import schema_validator

ADMIN = {"Authorization": "Bearer test-admin-token"}

# Two versions of one policy file. Under A the search tool is allowed and the files tool refused;
# under B the other way round, each decided by a rule of its own version. A set made of parts of
# both would decide a request by a pair neither version gives: search allowed by b-permit, files
# allowed by a-permit.
VERSION = """version: 1
default: deny
rules:
  - id: {v}-permit
    effect: permit
    when:
      action: ["tool:*"]
  - id: {v}-forbid
    effect: forbid
    when:
      action: ["tool:{refused}"]
  - id: open-scopes
    effect: permit
    when:
      kind: [scopes]
"""
A = VERSION.format(v="a", refused="files")
B = VERSION.format(v="b", refused="search")
# What each version decides: route → (decision, rule).
DECIDES = {
    A: {"search": ("allow", "a-permit"), "files": ("deny", "a-forbid")},
    B: {"search": ("deny", "b-forbid"), "files": ("allow", "b-permit")},
}
BROKEN = A.replace("effect: forbid", "effect: forbids")  # line 9


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def start(start_gateway, upstream, tmp_path, name_the="directory", policy=A):
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir(exist_ok=True)
    policy_file = policy_dir / "team.yaml"
    policy_file.write_text(policy)
    named = policy_dir if name_the == "directory" else policy_file
    routes = (route("search", "/tools/search", upstream.url, access="scoped") +
              route("files", "/tools/files", upstream.url, access="scoped"))
    agents = agent_yaml("planner", may_open_root=True, grants=["tool:*"])
    extra = "audit:\n  dir: %s\npolicies: [%s]\n" % (tmp_path / "audit", named)
    gw = start_gateway(delegation_config(routes, agents=agents, extra=extra), env=TOKEN_ENV)
    _, token = open_root(gw, grants=["tool:*"])
    return gw, policy_file, token


def replace_file(path, text):
    """An editor's or a deployment's save: a new file renamed over the old one."""
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def rewrite_in_place(path, text):
    with open(path, "w") as f:
        f.write(text)


def audit_records(d, event=None):
    """The records written so far; a line still being written (no newline yet) is left for later."""
    out = []
    for name in segments(d):
        with open(os.path.join(d, name)) as f:
            for line in f:
                if line.endswith("\n") and (event is None or ('"event":"%s"' % event) in line):
                    out.append(json.loads(line))
    return out


def reloads(tmp_path):
    got = audit_records(str(tmp_path / "audit"), "policy.reload")
    for record in got:
        schema_validator().validate(record)
    return got


def wait_for_reloads(tmp_path, count, timeout=8):
    deadline = time.time() + timeout
    while True:
        got = reloads(tmp_path)
        if len(got) >= count or time.time() > deadline:
            return got
        time.sleep(0.05)


def decide(gw, token, route_name):
    """(status, request id) of one request on the route."""
    rid = str(uuid.uuid4())
    status, _, _ = request("127.0.0.1", gw.port, "GET", "/tools/%s/x" % route_name,
                           headers=auth("planner", token, **{"X-Request-Id": rid}))
    return status, rid


def assert_applied(record, trigger, text, path):
    assert record["trigger"] == trigger and record["result"] == "applied", record
    assert record["files"] == [{"path": str(path), "sha256": sha(text), "rules": 3}], record
    assert record["rules"] == 3 and record["default"] == "deny" and "errors" not in record


def test_a_policy_file_edited_on_disk_applies_with_one_record_per_edit(start_gateway, upstream, tmp_path):
    for name_the in ("directory", "file"):
        case = tmp_path / name_the
        case.mkdir()
        gw, policy_file, token = start(start_gateway, upstream, case, name_the)
        assert decide(gw, token, "search")[0] == 200 and decide(gw, token, "files")[0] == 403
        time.sleep(0.6)  # past the look the watch takes once it is set: the files are as loaded, no record

        # A new file renamed into place.
        started = time.time()
        replace_file(policy_file, B)
        got = wait_for_reloads(case, 1)
        assert len(got) == 1, "no reload within 8 s of the rename (%s named)" % name_the
        assert time.time() - started < 5  # a few seconds, on a busy machine too
        assert_applied(got[0], "file", B, policy_file)
        assert decide(gw, token, "search")[0] == 403 and decide(gw, token, "files")[0] == 200

        # The same file rewritten in place.
        rewrite_in_place(policy_file, A)
        got = wait_for_reloads(case, 2)
        assert len(got) == 2, "no reload within 8 s of the rewrite (%s named)" % name_the
        assert_applied(got[1], "file", A, policy_file)
        assert got[1]["generation"] == got[0]["generation"] + 1
        assert decide(gw, token, "search")[0] == 200 and decide(gw, token, "files")[0] == 403

        # Touched, or saved unchanged: the bytes are the running ones, so nothing is reloaded.
        os.utime(policy_file)
        replace_file(policy_file, A)
        time.sleep(1.2)
        assert len(reloads(case)) == 2, "one record per edit, none for an unchanged save"
        gw.stop()
        assert verify(str(case / "audit"))[0] == 0


def test_a_broken_file_on_disk_keeps_the_running_set_until_it_is_fixed(start_gateway, upstream, tmp_path):
    gw, policy_file, token = start(start_gateway, upstream, tmp_path)
    replace_file(policy_file, BROKEN)
    got = wait_for_reloads(tmp_path, 1)
    assert len(got) == 1
    refused = got[0]
    assert refused["trigger"] == "file" and refused["result"] == "refused", refused
    # Where it is broken, as check says it; and the files still running, by their SHA-256.
    assert any(e.startswith("%s:9: rules[1].effect: " % policy_file) for e in refused["errors"]), refused
    assert refused["files"] == [{"path": str(policy_file), "sha256": sha(A), "rules": 3}]
    # The old set still decides.
    assert decide(gw, token, "search")[0] == 200 and decide(gw, token, "files")[0] == 403
    # The log says it too.
    errors = [e["error"] for e in gw.logs() if e.get("msg") == "config error"]
    assert any(e.startswith("%s:9: rules[1].effect" % policy_file) for e in errors), errors
    rejected = gw.wait_for_log("reload rejected: the running config is kept")
    assert rejected["trigger"] == "file"

    # The fix applies.
    replace_file(policy_file, B)
    got = wait_for_reloads(tmp_path, 2)
    assert len(got) == 2
    assert_applied(got[1], "file", B, policy_file)
    assert got[1]["generation"] == refused["generation"] + 1
    assert decide(gw, token, "search")[0] == 403 and decide(gw, token, "files")[0] == 200
    gw.stop()
    assert verify(str(tmp_path / "audit"))[0] == 0


def test_a_policy_directory_removed_and_created_again_is_watched_again(start_gateway, upstream, tmp_path):
    gw, policy_file, token = start(start_gateway, upstream, tmp_path)
    shutil.rmtree(policy_file.parent)
    got = wait_for_reloads(tmp_path, 1)
    assert len(got) == 1 and got[0]["result"] == "refused", got
    assert any("no such policy file or directory" in e for e in got[0]["errors"]), got[0]
    assert decide(gw, token, "files")[0] == 403  # A still decides
    # The directory comes back empty (refused again: no policy files), then its file comes.
    policy_file.parent.mkdir()
    got = wait_for_reloads(tmp_path, 2)
    assert len(got) == 2 and got[1]["result"] == "refused", got
    time.sleep(0.5)
    replace_file(policy_file, B)
    got = wait_for_reloads(tmp_path, 3)
    assert len(got) == 3
    assert_applied(got[2], "file", B, policy_file)
    assert decide(gw, token, "files")[0] == 200
    gw.stop()


def test_sighup_and_admin_reload_each_write_a_policy_reload_record(start_gateway, upstream, tmp_path):
    gw, policy_file, token = start(start_gateway, upstream, tmp_path)
    gw.signal(signal.SIGHUP)
    got = wait_for_reloads(tmp_path, 1)
    assert len(got) == 1
    assert_applied(got[0], "signal", A, policy_file)
    status, _, _ = request("127.0.0.1", gw.admin_port, "POST", "/v1/reload", headers=ADMIN)
    assert status == 200
    got = wait_for_reloads(tmp_path, 2)
    assert len(got) == 2
    assert_applied(got[1], "admin", A, policy_file)
    assert got[1]["generation"] == got[0]["generation"] + 1
    # A refused one names its trigger too, and keeps A.
    gw.write_config(open(gw.config_path).read().replace("routes:", "routes: [", 1))
    gw.signal(signal.SIGHUP)
    got = wait_for_reloads(tmp_path, 3)
    assert len(got) == 3
    assert got[2]["trigger"] == "signal" and got[2]["result"] == "refused" and got[2]["errors"], got[2]
    assert got[2]["files"] == [{"path": str(policy_file), "sha256": sha(A), "rules": 3}]
    assert decide(gw, token, "files")[0] == 403
    gw.stop()
    assert verify(str(tmp_path / "audit"))[0] == 0


def test_policy_flips_under_load_lose_no_request_and_never_mix_versions(start_gateway, upstream, tmp_path):
    gw, policy_file, token = start(start_gateway, upstream, tmp_path)
    sent = []      # (request id, route, status)
    failures = []  # anything but an answer from the gateway
    lock = threading.Lock()
    stop = threading.Event()

    def client(n):
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
        routes = ("search", "files") if n % 2 else ("files", "search")
        i = 0
        while not stop.is_set():
            name = routes[i % 2]
            i += 1
            rid = str(uuid.uuid4())
            try:
                conn.request("GET", "/tools/%s/x" % name, headers=auth("planner", token, **{"X-Request-Id": rid}))
                resp = conn.getresponse()
                resp.read()
                with lock:
                    sent.append((rid, name, resp.status))
                if resp.getheader("connection", "").lower() == "close":
                    failures.append("the gateway closed a keep-alive connection")
                    conn.close()
            except Exception as e:  # noqa: BLE001 - every failure is the finding
                with lock:
                    failures.append("%s %s: %r" % (name, rid, e))
                conn.close()
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    flips = [B, A, B, A, B, A]
    try:
        time.sleep(0.5)
        for n, text in enumerate(flips, start=1):
            replace_file(policy_file, text)
            got = wait_for_reloads(tmp_path, n)
            assert len(got) == n, "flip %d was not applied within 8 s" % n
            assert_applied(got[-1], "file", text, policy_file)
            time.sleep(0.3)  # requests under this version
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    assert not failures, failures[:5]
    assert len(sent) > 100, "the load was too light to mean anything: %d requests" % len(sent)
    gw.stop()

    by_id = {r["request_id"]: r for r in audit_records(str(tmp_path / "audit"), "request")}
    seen = {A: 0, B: 0}
    for rid, name, status in sent:
        record = by_id.get(rid)
        assert record is not None, "no audit record for request %s" % rid
        decided = (record["decision"], record.get("rule"))
        versions = [v for v in (A, B) if DECIDES[v][name] == decided]
        assert len(versions) == 1, "request %s on %s decided %s: neither version alone decides so" % (
            rid, name, decided)
        seen[versions[0]] += 1
        assert status == (200 if decided[0] == "allow" else 403), (rid, name, status, decided)
    assert seen[A] > 0 and seen[B] > 0, seen
    assert len(reloads(tmp_path)) == len(flips)
    assert verify(str(tmp_path / "audit"))[0] == 0


def test_the_audit_schema_wants_the_errors_of_a_refused_reload():
    record = {"v": 1, "seq": 3, "ts": "2026-11-21T10:00:00.123456Z", "node": "gw-1", "event": "policy.reload",
              "trigger": "file", "result": "refused", "generation": 2,
              "files": [{"path": "/etc/p/a.yaml", "sha256": "a" * 64, "rules": 3}], "rules": 3, "default": "deny",
              "errors": ["/etc/p/a.yaml:9: rules[1].effect: must be permit or forbid"],
              "prev": "0" * 64, "hash": "b" * 64}
    v = schema_validator()
    v.validate(record)
    v.validate(dict({k: x for k, x in record.items() if k != "errors"}, result="applied"))
    for broken in ({k: x for k, x in record.items() if k != "errors"},
                   dict(record, trigger="inotify"),
                   dict(record, result="ok"),
                   dict(record, files=[{"path": "/etc/p/a.yaml", "sha256": "xyz", "rules": 3}]),
                   {k: x for k, x in record.items() if k != "files"}):
        with pytest.raises(jsonschema.ValidationError):
            v.validate(broken)
