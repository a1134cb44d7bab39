"""Signed checkpoints of the audit log (docs/audit.md, "Signed checkpoints") with the real binary:
`audit keygen`, a gateway that seals checkpoints as it writes, and `audit verify --checkpoints`
against a log that is intact, cut at its end, rewritten whole with a valid chain, or verified with a
tampered checkpoint, the wrong key, or no checkpoint directory. Each checkpoint's signature is also
checked with the openssl command line, independently of the gateway's code."""
import hashlib
import json
import os
import shutil
import stat
import subprocess
import time

import pytest

from audit_helpers import cli, records, segments
from harness import Gateway, config, request, route
from test_audit import schema_validator as validator

NODE = "gw-test"


def keygen(prefix):
    code, out, err = cli("audit", "keygen", "--out", str(prefix))
    assert code == 0, err
    return str(prefix) + ".key", str(prefix) + ".pub"


def checkpoint_config(upstream, audit_dir, checkpoint_dir, key_line, extra=""):
    audit = ("audit:\n  dir: %s\n  segment_max_bytes: 8KiB\n  checkpoints:\n    dir: %s\n"
             "    every_records: 5\n    %s\n%s" % (audit_dir, checkpoint_dir, key_line, extra))
    return config(route("tools", "/tools", upstream.url), extra=audit)


def traffic(gw, n, path="/tools/item"):
    for i in range(n):
        assert request("127.0.0.1", gw.port, "GET", "%s/%d" % (path, i))[0] == 200


def checkpoint_files(d):
    node_dir = os.path.join(d, NODE)
    return sorted(os.path.join(node_dir, f) for f in os.listdir(node_dir) if f.endswith(".json"))


def verify(log_dir, checkpoint_dir, public_key, fmt="json"):
    code, out, err = cli("audit", "verify", "--log", log_dir, "--checkpoints", checkpoint_dir,
                         "--public-key", public_key, "--format", fmt)
    if fmt == "json" and out.strip().startswith("{"):
        report = json.loads(out)
        validator("audit-verify.schema.json").validate(report)
        return code, report, err
    return code, out, err


@pytest.fixture(scope="module")
def signed_log(tmp_path_factory, upstream):
    """A gateway run with checkpoints every 5 records and 8 KiB segments, stopped cleanly."""
    base = tmp_path_factory.mktemp("signed")
    private_key, public_key = keygen(base / "signing")
    audit_dir, checkpoint_dir = str(base / "audit"), str(base / "checkpoints")
    gw = Gateway(checkpoint_config(upstream, audit_dir, checkpoint_dir, "private_key_file: " + private_key))
    traffic(gw, 40)
    gw.stop()
    return {"audit": audit_dir, "checkpoints": checkpoint_dir, "key": private_key, "pub": public_key}


def copy(signed_log, tmp_path):
    audit_dir, checkpoint_dir = str(tmp_path / "audit"), str(tmp_path / "checkpoints")
    shutil.copytree(signed_log["audit"], audit_dir)
    shutil.copytree(signed_log["checkpoints"], checkpoint_dir)
    return audit_dir, checkpoint_dir


def test_keygen_writes_a_0600_private_key_and_never_overwrites(tmp_path):
    code, out, err = cli("audit", "keygen", "--out", str(tmp_path / "k"))
    assert code == 0, err
    private_key, public_key = str(tmp_path / "k.key"), str(tmp_path / "k.pub")
    assert stat.S_IMODE(os.stat(private_key).st_mode) == 0o600
    with open(private_key) as f:
        before = f.read()
    assert before.startswith("-----BEGIN PRIVATE KEY-----")
    with open(public_key) as f:
        assert f.read().startswith("-----BEGIN PUBLIC KEY-----")
    # The key id it prints is the SHA-256 of the raw public key (the last 32 bytes of its DER).
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", public_key, "-outform", "DER"],
                         capture_output=True, check=True).stdout
    assert ("key id:      %s" % hashlib.sha256(der[-32:]).hexdigest()) in out

    code, _, err = cli("audit", "keygen", "--out", str(tmp_path / "k"))
    assert code == 1 and "never overwritten" in err
    with open(private_key) as f:
        assert f.read() == before
    keygen(tmp_path / "other")
    os.remove(str(tmp_path / "other.pub"))
    code, _, err = cli("audit", "keygen", "--out", str(tmp_path / "other"))  # its .key is still there
    assert code == 1 and "other.key exists" in err
    assert not os.path.exists(str(tmp_path / "other.pub"))
    assert cli("audit", "keygen")[0] == 64
    assert cli("audit", "keygen", "--bogus")[0] == 64


def test_an_intact_log_verifies_against_its_checkpoints(signed_log, tmp_path):
    files = checkpoint_files(signed_log["checkpoints"])
    recs = records(signed_log["audit"])
    # Sealed every 5 durable records; only the newest waits to be written, so a few are superseded.
    assert len(files) >= 3, files
    by_seq = {r["seq"]: r for r in recs}
    v = validator("audit-checkpoint.schema.json")
    for path in files:
        with open(path, "rb") as f:
            raw = f.read()
        c = json.loads(raw)
        v.validate(c)
        assert os.path.basename(path) == "%020d.json" % c["seq"]
        assert by_seq[c["seq"]]["hash"] == c["hash"]        # the record it names, as the log has it
        with open(os.path.join(signed_log["audit"], c["segment"])) as f:  # the segment that holds it
            assert any(json.loads(line)["seq"] == c["seq"] for line in f)
        # Independently of the gateway: the signature is Ed25519 over the bytes before ,"sig".
        signed = raw[:raw.rindex(b',"sig":"')] + b"}"
        (tmp_path / "msg").write_bytes(signed)
        (tmp_path / "sig").write_bytes(bytes.fromhex(c["sig"]))
        ok = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", signed_log["pub"], "-rawin",
                             "-in", str(tmp_path / "msg"), "-sigfile", str(tmp_path / "sig")],
                            capture_output=True, text=True)
        assert ok.returncode == 0, ok.stdout + ok.stderr
    newest = json.loads(open(files[-1]).read())
    assert newest["seq"] == recs[-1]["seq"]  # the clean shutdown sealed the very last record
    assert len(segments(signed_log["audit"])) > 2  # rotation seals too (the segment's end)

    code, report, err = verify(signed_log["audit"], signed_log["checkpoints"], signed_log["pub"])
    assert code == 0, (report, err)
    assert report["intact"] is True and report["checkpoints"]["intact"] is True
    assert report["checkpoints"]["checked"] == len(files)
    node = report["nodes"][0]["checkpoints"]
    assert node["newest"]["seq"] == recs[-1]["seq"] and node["uncovered_records"] == 0
    code, text, _ = verify(signed_log["audit"], signed_log["checkpoints"], signed_log["pub"], fmt="table")
    assert code == 0 and ("newest at seq %d" % recs[-1]["seq"]) in text


def test_records_cut_from_the_end_are_found(signed_log, tmp_path):
    audit_dir, checkpoint_dir = copy(signed_log, tmp_path)
    last = os.path.join(audit_dir, segments(audit_dir)[-1])
    with open(last) as f:
        lines = f.readlines()
    cut = min(3, len(lines) - 1)  # whole lines, keeping the segment's segment.start
    assert cut >= 1
    end = json.loads(lines[-1])["seq"]
    with open(last, "w") as f:
        f.writelines(lines[:-cut])
    # The chain alone cannot tell...
    code, out, _ = cli("audit", "verify", "--log", audit_dir)
    assert code == 0, out
    # ...the checkpoints can.
    code, report, _ = verify(audit_dir, checkpoint_dir, signed_log["pub"])
    assert code == 1 and report["intact"] is False
    problem = report["nodes"][0]["checkpoints"]["problem"]
    assert problem["seq"] == end - cut + 1
    assert ("log ends at seq %d but checkpoint at seq %d" % (end - cut, end)) in problem["why"]
    assert "%020d.json" % end in problem["file"] and "proves records up to %d existed" % end in problem["why"]
    code, text, _ = verify(audit_dir, checkpoint_dir, signed_log["pub"], fmt="table")
    assert code == 1 and "log ends at seq %d" % (end - cut) in text


def rechain(lines, start_prev):
    """The lines with prev and hash recomputed as the gateway computes them (SHA-256 of the line
    without its hash member), as whoever rewrites a whole log would do."""
    out, prev = [], start_prev
    for line in lines:
        line = line.rstrip("\n")
        at = line.rindex(',"prev":"')
        body = line[:at] + ',"prev":"%s"}' % prev
        prev = hashlib.sha256(body.encode()).hexdigest()
        out.append(body[:-1] + ',"hash":"%s"}\n' % prev)
    return out, prev


def test_a_log_rewritten_whole_with_a_valid_chain_is_found(signed_log, tmp_path):
    audit_dir, checkpoint_dir = copy(signed_log, tmp_path)
    names = segments(audit_dir)
    target = None
    prev = "0" * 64
    for name in names:
        path = os.path.join(audit_dir, name)
        with open(path) as f:
            lines = f.readlines()
        if target is None:
            for i, line in enumerate(lines):
                if '"path":"/tools/item/17"' in line:
                    target = json.loads(line)["seq"]
                    lines[i] = line.replace('"path":"/tools/item/17"', '"path":"/tools/item/71"')
        lines, prev = rechain(lines, prev)
        with open(path, "w") as f:
            f.writelines(lines)
    assert target is not None
    code, out, _ = cli("audit", "verify", "--log", audit_dir)
    assert code == 0, out  # the chain verifies: every hash was recomputed
    first_after = min(json.loads(open(p).read())["seq"] for p in checkpoint_files(checkpoint_dir)
                      if json.loads(open(p).read())["seq"] >= target)
    code, report, _ = verify(audit_dir, checkpoint_dir, signed_log["pub"])
    assert code == 1 and report["intact"] is False
    assert report["nodes"][0]["intact"] is True  # the chain itself is sound
    problem = report["nodes"][0]["checkpoints"]["problem"]
    assert problem["seq"] == first_after, (problem, target)
    assert ("seq %d has hash" % first_after) in problem["why"] and "rewritten" in problem["why"]


def test_a_tampered_checkpoint_or_the_wrong_key_is_damage(signed_log, tmp_path):
    audit_dir, checkpoint_dir = copy(signed_log, tmp_path)
    victim = checkpoint_files(checkpoint_dir)[2]
    with open(victim) as f:
        text = f.read()
    at = text.index('"sig":"') + 10
    with open(victim, "w") as f:
        f.write(text[:at] + ("0" if text[at] != "0" else "1") + text[at + 1:])
    code, report, _ = verify(audit_dir, checkpoint_dir, signed_log["pub"])
    assert code == 1 and report["checkpoints"]["intact"] is False
    problem = report["nodes"][0]["checkpoints"]["problem"]
    assert "bad signature" in problem["why"] and problem["file"].endswith(os.path.basename(victim))

    # A member edited (the seq moved back) is as bad as a forged signature.
    with open(victim, "w") as f:
        f.write(text.replace('"seq":', '"seq":1', 1))
    assert verify(audit_dir, checkpoint_dir, signed_log["pub"])[0] == 1

    # Checkpoints no key given has signed are not evidence: exit 1, as a forgery would be.
    _, other = keygen(tmp_path / "other")
    code, report, _ = verify(signed_log["audit"], signed_log["checkpoints"], other)
    assert code == 1
    assert "not a key given with --public-key" in report["nodes"][0]["checkpoints"]["problem"]["why"]
    # Several keys may be given (a rotation): the right one among them verifies.
    code, out, err = cli("audit", "verify", "--log", signed_log["audit"], "--checkpoints", signed_log["checkpoints"],
                         "--public-key", other, "--public-key", signed_log["pub"])
    assert code == 0, out + err


def test_unreadable_checkpoints_or_key_prove_nothing_and_a_node_without_log_is_damage(signed_log, tmp_path):
    code, _, err = cli("audit", "verify", "--log", signed_log["audit"], "--checkpoints", str(tmp_path / "none"),
                       "--public-key", signed_log["pub"])
    assert code == 2 and "cannot read the checkpoints" in err
    code, _, err = cli("audit", "verify", "--log", signed_log["audit"], "--checkpoints", signed_log["checkpoints"],
                       "--public-key", str(tmp_path / "missing.pub"))
    assert code == 2
    code, _, err = cli("audit", "verify", "--log", signed_log["audit"], "--checkpoints", signed_log["checkpoints"],
                       "--public-key", signed_log["key"])  # a private key where the public one belongs
    assert code == 2 and "not an Ed25519 public key" in err
    assert cli("audit", "verify", "--log", signed_log["audit"], "--checkpoints", signed_log["checkpoints"])[0] == 64

    # The whole log gone (or verified without it), its checkpoints still there.
    empty = tmp_path / "empty-log"
    empty.mkdir()
    (empty / "other-00000000000000000001.jsonl").write_text(open(os.path.join(
        signed_log["audit"], segments(signed_log["audit"])[0])).readline().replace('"node":"gw-test"', '"node":"other"'))
    code, report, _ = verify(str(empty), signed_log["checkpoints"], signed_log["pub"])
    assert code == 1
    missing = [n for n in report["nodes"] if n["node"] == NODE][0]
    assert missing["intact"] is False and "has no log" in missing["checkpoints"]["problem"]["why"]


def test_a_bad_key_refuses_the_start_and_names_its_source_only(upstream, tmp_path):
    bad = tmp_path / "bad.key"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJp\n"
                   "-----END PRIVATE KEY-----\n")
    text = checkpoint_config(upstream, str(tmp_path / "audit"), str(tmp_path / "ckpt"), "private_key_file: %s" % bad)
    (tmp_path / "gw.yaml").write_text(text)
    code, out, err = cli("check", "--config", str(tmp_path / "gw.yaml"))
    assert code == 1
    assert "audit.checkpoints.private_key_file" in err and str(bad) in err and "Ed25519" in err
    assert "MC4CAQ" not in err + out
    gw = Gateway(text, check_ready=False)
    assert gw.wait(10) == 1
    gw._reader.join(5)
    assert not os.path.exists(str(tmp_path / "audit"))  # refused before the log was touched
    # From the environment, unset: named too. check, which may run where the secrets are not,
    # warns (one line) and checks the rest; --require-secrets and serve refuse.
    env_text = checkpoint_config(upstream, str(tmp_path / "audit"), str(tmp_path / "ckpt"), "private_key_env: SG_NO_KEY")
    (tmp_path / "gw.yaml").write_text(env_text)
    code, _, err = cli("check", "--config", str(tmp_path / "gw.yaml"))
    assert code == 0 and err.startswith("warning: ") and err.count("\n") == 1 and "SG_NO_KEY is not set" in err
    code, _, err = cli("check", "--config", str(tmp_path / "gw.yaml"), "--require-secrets")
    assert code == 1 and "audit.checkpoints.private_key_env: environment variable SG_NO_KEY is not set" in err
    gw = Gateway(env_text, check_ready=False)
    assert gw.wait(10) == 1
    gw._reader.join(5)
    assert any("SG_NO_KEY is not set" in line for line in gw.log_lines)


def test_an_unwritable_checkpoint_directory_never_stops_the_gateway(upstream, tmp_path):
    private_key, public_key = keygen(tmp_path / "k")
    blocker = tmp_path / "share"
    blocker.write_text("a file where the mounted share should be")
    audit_dir, checkpoint_dir = str(tmp_path / "audit"), str(blocker / "checkpoints")
    with open(private_key) as f:
        pem = f.read()
    gw = Gateway(checkpoint_config(upstream, audit_dir, checkpoint_dir, "private_key_env: SG_CKPT_KEY"),
                 env={"SG_CKPT_KEY": pem})
    traffic(gw, 12)
    entry = gw.wait_for_log("audit: cannot write a checkpoint; the gateway goes on, and tries again")
    assert "Not a directory" in entry["error"]
    traffic(gw, 12)  # still served, the failures are not logged each time
    failures = [e for e in gw.logs() if e.get("msg", "").startswith("audit: cannot write a checkpoint")]
    assert len(failures) == 1
    blocker.unlink()  # the share is back
    deadline = time.time() + 10
    while not os.path.isdir(os.path.join(checkpoint_dir, NODE)) and time.time() < deadline:
        traffic(gw, 5)
        time.sleep(0.1)
    gw.wait_for_log("audit: checkpoints are written again")
    gw.stop()
    assert all(pem.splitlines()[1] not in line for line in gw.log_lines)  # the key is never logged
    code, report, _ = verify(audit_dir, checkpoint_dir, public_key)
    assert code == 0, report
    assert report["nodes"][0]["checkpoints"]["newest"]["seq"] == records(audit_dir)[-1]["seq"]


def test_checkpoint_settings_change_only_on_restart(upstream, tmp_path):
    private_key, _ = keygen(tmp_path / "k")
    audit_dir, checkpoint_dir = str(tmp_path / "audit"), str(tmp_path / "ckpt")
    gw = Gateway(checkpoint_config(upstream, audit_dir, checkpoint_dir, "private_key_file: " + private_key))
    gw.write_config(checkpoint_config(upstream, audit_dir, str(tmp_path / "elsewhere"),
                                      "private_key_file: " + private_key))
    status, _, body = request("127.0.0.1", gw.admin_port, "POST", "/v1/reload",
                              headers={"Authorization": "Bearer test-admin-token"})
    assert status == 400 and b"only on restart" in body
    gw.stop()
    assert not os.path.exists(str(tmp_path / "elsewhere"))
