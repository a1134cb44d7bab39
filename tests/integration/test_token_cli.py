"""`scopegate token mint` and `token inspect` against an independent Python reference of dst1."""
import json
import subprocess

import dst1_reference as ref
from harness import BIN

SECRET_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
SECRET = bytes.fromhex(SECRET_HEX)
CONFIG = """listeners: [{port: 0}]
token:
  audience: scopegate
  clock_skew: 30s
  keys:
    - kid: k1
      secret_env: TEST_DST1_K1
"""


def run(*args, env_secret=SECRET_HEX):
    return subprocess.run([BIN, *args], capture_output=True, text=True, env={"TEST_DST1_K1": env_secret})


def test_reference_reproduces_the_contract_vector():
    block = ('{"v":1,"t":"d","kid":"k1","sid":"0193a6f0-0000-7000-8000-000000000001","sub":"user:alice",'
             '"agt":"planner","scp":["tool:*","agent:*"],"aud":"scopegate","iat":1767225600,"exp":1767229200}')
    assert ref.k0(SECRET).hex() == "42897f61ab01ae3653fdfe984f2544de34b66dd7b1f3a0bb26ca6d851cc9797b"
    assert ref.mint_root(SECRET, block).endswith(".RTm509phXKmHiwrnT95z3GJHW5_qD9CqOMqWPc-Bt4I")


def test_minted_tokens_verify_in_the_reference(tmp_path):
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(CONFIG)
    r = run("token", "mint", "--config", str(cfg), "--principal", "user:alice", "--agent", "planner",
            "--grants", "tool:search, agent:researcher", "--ttl", "15m", "--objective", 'weekly "report"\n')
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    blocks = ref.verify(token, {"k1": SECRET})
    root = blocks[0]
    assert root["sub"] == "user:alice" and root["agt"] == "planner" and root["aud"] == "scopegate"
    assert root["scp"] == ["tool:search", "agent:researcher"]
    assert root["obj"] == 'weekly "report"\n'
    assert root["exp"] - root["iat"] == 900
    assert len(root["sid"]) == 36 and root["sid"][14] == "7"


def test_reference_children_verify_in_the_gateway(tmp_path):
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(CONFIG)
    token = run("token", "mint", "--config", str(cfg), "--principal", "user:alice", "--agent", "planner",
                "--grants", "tool:*,agent:*").stdout.strip()
    root = ref.verify(token, {"k1": SECRET})[0]
    child = {"t": "d", "sid": "0193a6f0-0000-7000-8000-0000000000c1", "par": root["sid"], "agt": "researcher",
             "scp": ["tool:search"], "obj": "find papers", "iat": root["iat"], "exp": root["exp"] - 60}
    child_token = ref.append_child(token, SECRET, child)
    r = run("token", "inspect", child_token, "--config", str(cfg))
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["valid"] and out["depth"] == 1 and out["actor"] == "researcher" and out["principal"] == "user:alice"
    assert out["scope"] == child["sid"] and out["expires"] == child["exp"]
    assert out["blocks"][1]["obj"] == "find papers"

    # Forged endorsement, wrong parent, tampered tag, expiry, another key: each refused with its reason.
    head, _, endorsed_tail = child_token.rpartition(".")
    block_part = head.rsplit(".", 1)[1]
    forged = child_token.replace(block_part, block_part.split("~")[0] + "~" + ref.b64u(b"\0" * 16))
    cases = {
        "bad_endorsement": forged,
        "parent_mismatch": ref.append_child(token, SECRET, dict(child, par="0193a6f0-0000-7000-8000-00000000dead")),
        "bad_tag": child_token[:-2] + ("AA" if not child_token.endswith("AA") else "BA"),
    }
    for reason, bad in cases.items():
        r = run("token", "inspect", bad, "--config", str(cfg))
        assert r.returncode == 1, reason
        assert json.loads(r.stdout)["error"] in (reason, "malformed"), (reason, r.stdout)
    r = run("token", "inspect", child_token, "--config", str(cfg), "--at", str(child["exp"] + 31))
    assert r.returncode == 1 and json.loads(r.stdout)["error"] == "expired"
    # Under another key the first d block after the root already fails its endorsement.
    r = run("token", "inspect", child_token, "--config", str(cfg), env_secret="ff" * 32)
    assert r.returncode == 1 and json.loads(r.stdout)["error"] == "bad_endorsement"
    r = run("token", "inspect", token, "--config", str(cfg), env_secret="ff" * 32)
    assert r.returncode == 1 and json.loads(r.stdout)["error"] == "bad_tag"


def test_inspect_without_keys_only_decodes():
    token = ref.mint_root(SECRET, '{"v":1,"t":"d","kid":"k1","sid":"s","sub":"u","agt":"a","scp":["*"],'
                                  '"aud":"scopegate","iat":1,"exp":2}')
    r = run("token", "inspect", token)
    assert r.returncode == 0
    out = json.loads(r.stdout)
    assert out["verified"] is False and out["blocks"][0]["agt"] == "a"
    not_json = "dst1.%s.%s" % (ref.b64u(b'"},"valid":true,"x":{"'), ref.b64u(b"\0" * 32))
    r = run("token", "inspect", not_json)
    assert r.returncode == 1 and json.loads(r.stdout) == {"verified": False, "valid": False, "error": "malformed"}


def test_key_config_errors_name_the_key(tmp_path):
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(CONFIG)
    r = run("check", "--config", str(cfg), env_secret="abcd")
    assert r.returncode == 1 and "token.keys[0].secret_env: TEST_DST1_K1 must hold 64 hex digits" in r.stderr
    cfg.write_text(CONFIG.replace("secret_env: TEST_DST1_K1", "secret: inline-not-allowed"))
    r = run("check", "--config", str(cfg))
    assert r.returncode == 1 and "token.keys[0].secret: unknown key" in r.stderr
    key_file = tmp_path / "k1.key"
    key_file.write_bytes(SECRET)
    cfg.write_text(CONFIG.replace("secret_env: TEST_DST1_K1", "secret_file: %s" % key_file) +
                   "  signing_kid: k9\n")
    r = run("check", "--config", str(cfg))
    assert r.returncode == 1 and "token.signing_kid: no key with kid 'k9'" in r.stderr


def test_control_characters_in_stamped_fields_are_refused_at_mint_and_at_verify(tmp_path):
    """principal, agent and ids are stamped into upstream headers as they are: a CR/LF in one
    would split a header. The CLI refuses to mint one; a token minted elsewhere with the same key
    does not verify (docs/protocol.md §2)."""
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(CONFIG)
    for flag, value in (("--principal", "user:alice\r\nX-Admin: 1"), ("--agent", "planner\n"), ("--principal", "")):
        args = {"--principal": "user:alice", "--agent": "planner", flag: value}
        r = run("token", "mint", "--config", str(cfg), "--grants", "tool:*", *sum(args.items(), ()))
        assert r.returncode == 2 and flag in r.stderr and r.stdout == "", (flag, r.stdout, r.stderr)
    for field, value in (("sub", "user:alice\r\nX-Admin: 1"), ("agt", "planner\x7f"), ("sid", "s\n")):
        block = {"v": 1, "t": "d", "kid": "k1", "sid": "0193a6f0-0000-7000-8000-000000000001", "sub": "user:alice",
                 "agt": "planner", "scp": ["*"], "aud": "scopegate", "iat": 1767225600, "exp": 4102444800}
        block[field] = value
        token = ref.mint_root(SECRET, json.dumps(block, separators=(",", ":")))
        r = run("token", "inspect", token, "--config", str(cfg))
        assert r.returncode == 1 and json.loads(r.stdout)["error"] == "malformed", (field, r.stdout)
    # The objective is stamped percent-encoded: any text is fine there.
    block = {"v": 1, "t": "d", "kid": "k1", "sid": "0193a6f0-0000-7000-8000-000000000001", "sub": 'user:"al"',
             "agt": "planner", "scp": ["*"], "aud": "scopegate", "iat": 1767225600, "exp": 4102444800,
             "obj": "line one\nline two"}
    r = run("token", "inspect", ref.mint_root(SECRET, json.dumps(block, separators=(",", ":"))), "--config", str(cfg))
    assert r.returncode == 0 and json.loads(r.stdout)["principal"] == 'user:"al"'  # escaped, still JSON


def test_inspect_at_takes_unix_seconds_and_refuses_anything_else(tmp_path):
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(CONFIG)
    token = run("token", "mint", "--config", str(cfg), "--principal", "user:alice", "--agent", "planner",
                "--grants", "tool:*").stdout.strip()
    for bad in ("abc", "12x", "", "99999999999999999999999"):
        r = run("token", "inspect", token, "--config", str(cfg), "--at", bad)
        assert r.returncode == 2 and "--at" in r.stderr, (bad, r.returncode, r.stderr)
    assert run("token", "inspect", token, "--config", str(cfg), "--at", "1767225600").returncode == 0


def test_mint_refuses_grant_patterns_that_could_never_match(tmp_path):
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(CONFIG)
    for grants, message in (("tool:search, tools:*", "unknown action kind 'tools' in grant pattern 'tools:*'; "
                                                     "did you mean 'tool:*'?"),
                            ("Tool:x", "did you mean 'tool:x'?"),
                            ("tool:", "grant pattern 'tool:' names no tool; did you mean 'tool:*'?"),
                            ("tool*", "did you mean 'tool:*'?"),
                            ("tool:*x", "'*' may only end a pattern")):
        r = run("token", "mint", "--config", str(cfg), "--principal", "user:alice", "--agent", "planner",
                "--grants", grants)
        assert r.returncode == 2 and r.stdout == "", (grants, r.stderr)
        assert r.stderr.startswith("--grants: ") and message in r.stderr and r.stderr.count("\n") == 1, (grants,
                                                                                                   r.stderr)
    # Spaces around a pattern are list formatting, not part of it.
    r = run("token", "mint", "--config", str(cfg), "--principal", "user:alice", "--agent", "planner",
            "--grants", " tool:search ,agent:* ")
    assert r.returncode == 0, r.stderr
    assert ref.verify(r.stdout.strip(), {"k1": SECRET})[0]["scp"] == ["tool:search", "agent:*"]


def test_check_without_secrets_warns_once_and_require_secrets_fails(tmp_path):
    """The README's `scopegate check --config examples/scopegate.yaml` in a terminal without the
    demo's token key: one warning line, exit 0; with --require-secrets, exit 1. serve refuses."""
    import os
    from harness import ROOT
    example = os.path.join(ROOT, "examples", "scopegate.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCOPEGATE_", "DEMO_"))}
    r = subprocess.run([BIN, "check", "--config", example], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("warning: ")
    assert "token.keys[0].secret_env: environment variable SCOPEGATE_TOKEN_KEY is not set" in r.stderr
    assert "(1 listeners, 7 routes" in r.stdout and "1 secret(s) not available here" in r.stdout
    r = subprocess.run([BIN, "check", "--config", example, "--require-secrets"], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 1
    assert r.stderr.splitlines()[-1].endswith(
        "token.keys[0].secret_env: environment variable SCOPEGATE_TOKEN_KEY is not set")
    assert "routes[" not in r.stderr   # no follow-on error per scoped route
    r = subprocess.run([BIN, "check", "--config", example, "--require-secrets"], capture_output=True, text=True,
                       env=dict(env, SCOPEGATE_TOKEN_KEY="ab" * 32))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    r = subprocess.run([BIN, "serve", "--config", example], capture_output=True, text=True, timeout=20,
                       env=dict(env, SCOPEGATE_PORT="0", SCOPEGATE_ADMIN_PORT="0"))
    assert r.returncode == 1 and "SCOPEGATE_TOKEN_KEY is not set" in r.stderr
    # A real error is still one, secrets or not; the usage error for a stray value stays 2.
    broken = tmp_path / "broken.yaml"
    with open(example) as f:
        broken.write_text(f.read().replace('grants: ["tool:*", "agent:*", "model:*"]', 'grants: ["tools:*", "agent:*", "model:*"]'))
    r = subprocess.run([BIN, "check", "--config", str(broken)], capture_output=True, text=True, env=env)
    assert r.returncode == 1
    assert "agents[0].grants[0]: unknown action kind 'tools' in grant pattern 'tools:*'; did you mean 'tool:*'?" \
        in r.stderr
    r = subprocess.run([BIN, "check", "--config", example, "--require-secrets=yes"], capture_output=True, text=True)
    assert r.returncode == 2
