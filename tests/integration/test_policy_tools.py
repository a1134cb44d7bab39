"""The policy authors' tools with the real binary (docs/policies.md): `scopegate policy explain`
(allow, deny with the deciding rule, a token, errors exit 2), agreement between explain and the
running gateway on the same request, `scopegate check` warnings, and GET /v1/policies (the files'
real SHA-256, hits that grow with the requests a rule decides)."""
import hashlib
import json
import os
import re
import subprocess

from harness import (BIN, ROOT, TOKEN_ENV, agent_yaml, auth, delegation_config, open_root, open_scope, request, route)

POLICY = """version: 1
default: allow
rules:
  - id: researchers-only-search
    effect: forbid
    reason: "researchers may only call the search tool"
    when:
      agent: [researcher]
      action: ["tool:*"]
    unless:
      action: ["tool:search", "tool:hr.lookup"]
  - id: no-wildcard-ids
    effect: forbid
    reason: "hr.lookup takes one employee id such as E123"
    when:
      action: ["tool:hr.lookup"]
    unless:
      arguments: [{pointer: /employee_id, matches: "^E[0-9]+$"}]
  - id: watch-deep-search
    effect: forbid
    mode: shadow
    when:
      action: ["tool:search"]
      depth: {ge: 1}
"""

AGENTS = (agent_yaml("planner", may_open_root=True, grants=["tool:*", "agent:*"]) +
          agent_yaml("researcher", grants=["tool:*", "agent:*"]) + agent_yaml("writer"))


def routes(upstream_url="http://127.0.0.1:9"):
    return (route("search", "/tools/search", upstream_url, access="scoped", datasets="[web-index]") +
            route("files", "/tools/files", upstream_url, access="scoped") +
            route("hr", "/mcp/hr", upstream_url, access="scoped", kind="mcp",
                  tools="{hr.lookup: {datasets: [payroll], classification: restricted}}"))


def write_config(tmp_path, policy=POLICY, upstream_url="http://127.0.0.1:9", extra=""):
    policy_file = tmp_path / "policies" / "team.yaml"
    policy_file.parent.mkdir(exist_ok=True)
    policy_file.write_text(policy)
    config = tmp_path / "scopegate.yaml"
    config.write_text(delegation_config(routes(upstream_url), agents=AGENTS,
                                        extra=extra + "policies: [%s]\n" % policy_file.parent))
    return config, policy_file


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=dict(os.environ, **TOKEN_ENV))


def explain(config, *args):
    return run("policy", "explain", "--config", str(config), *args)


def explained(config, *args):
    """explain --format json, parsed; and the exit status."""
    done = explain(config, "--format", "json", *args)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


SCOPE = ["--agent", "researcher", "--depth", "1", "--ancestor", "planner", "--principal", "user:alice"]


def test_explain_denies_naming_the_deciding_rule_and_why_each_rule_did_or_did_not_match(tmp_path):
    config, policy_file = write_config(tmp_path)
    done = explain(config, *SCOPE, "--route", "files")
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["decision", "deny"]
    assert lines[1].split() == ["rule", "researchers-only-search", "(%s:4)" % policy_file]
    assert "researchers may only call the search tool" in lines[2]

    status, out = explained(config, *SCOPE, "--route", "files")
    assert status == 1
    assert out["decision"] == "deny" and out["rule"] == "researchers-only-search"
    assert out["location"] == "%s:4" % policy_file
    assert out["request"]["action"] == "tool:files" and out["request"]["depth"] == 1
    assert out["request"]["ancestors"] == ["planner"] and out["request"]["delegator"] == "planner"
    # Every rule, in file order, with whether it was a candidate, whether it matched, and why.
    assert [r["id"] for r in out["rules"]] == ["researchers-only-search", "no-wildcard-ids", "watch-deep-search"]
    first, args, shadow = out["rules"]
    assert first["matched"] and first["why"] == "every condition holds"
    assert not args["candidate"] and not args["matched"]
    assert args["why"] == "when.action: 'tool:files' is not one of: tool:hr.lookup"
    assert shadow["mode"] == "shadow" and not shadow["matched"]


def test_explain_allows_and_reports_the_shadow_rule_that_would_deny(tmp_path):
    config, _ = write_config(tmp_path)
    status, out = explained(config, *SCOPE, "--route", "search")
    assert status == 0
    assert out["decision"] == "allow" and out["rule"] == "default" and out["reason"] == "allowed by default"
    assert out["shadow"] == [{"rule": "watch-deep-search", "decision": "deny"}]
    assert out["request"]["datasets"] == ["web-index"]
    # At the root the shadow rule's depth bound fails, and explain says so.
    status, out = explained(config, "--agent", "researcher", "--depth", "0", "--principal", "user:alice",
                            "--route", "search")
    assert status == 0 and out["shadow"] == []
    assert out["rules"][2]["why"] == "when.depth: depth 0 fails ge 1"
    # Deeper than the agent may act: the gateway refuses it before the policies, and a note says so.
    status, out = explained(config, "--agent", "researcher", "--principal", "user:alice", "--route", "search",
                            *["--ancestor=planner"] * 9)
    assert status == 0 and out["request"]["depth"] == 9
    assert out["notes"] == ["the scope is at depth 9, deeper than agent researcher may act (8): the gateway refuses "
                            "the request (403 depth_exceeded) before the policies are asked"]


def test_explain_reads_tool_arguments_as_the_gateway_does(tmp_path):
    config, _ = write_config(tmp_path)
    status, out = explained(config, *SCOPE, "--route", "hr", "--action", "tool:hr.lookup",
                            "--args", '{"employee_id": "*"}')
    assert status == 1 and out["rule"] == "no-wildcard-ids"
    assert out["request"]["mcp_method"] == "tools/call"
    assert out["request"]["arguments"] == {"employee_id": "*"}
    assert out["request"]["datasets"] == ["payroll"] and out["request"]["classification"] == "restricted"
    status, out = explained(config, *SCOPE, "--route", "hr", "--action", "tool:hr.lookup",
                            "--args", '{"employee_id": "E123"}')
    assert status == 0, out
    # A body the gateway refuses (a name twice) is no request to explain.
    done = explain(config, *SCOPE, "--route", "hr", "--action", "tool:hr.lookup",
                   "--args", '{"employee_id": "E1", "employee_id": "*"}')
    assert done.returncode == 2 and "appears twice" in done.stderr
    # Housekeeping names no action; a tool action with it is a contradiction, not a guess.
    status, out = explained(config, *SCOPE, "--route", "hr", "--mcp-method", "tools/list")
    assert status == 0 and out["request"]["action"] == ""
    done = explain(config, *SCOPE, "--route", "hr", "--mcp-method", "tools/list", "--action", "tool:hr.lookup")
    assert done.returncode == 2 and "no action (housekeeping)" in done.stderr


def test_explain_with_a_token_takes_the_scope_from_it_and_refuses_a_forged_one(tmp_path):
    config, _ = write_config(tmp_path)
    minted = run("token", "mint", "--config", str(config), "--principal", "user:bob", "--agent", "researcher",
                 "--grants", "tool:search,tool:files", "--objective", "find the report")
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    status, out = explained(config, "--token", token, "--route", "files")
    assert status == 1 and out["rule"] == "researchers-only-search"
    req = out["request"]
    assert (req["agent"], req["principal"], req["depth"], req["objective"]) == ("researcher", "user:bob", 0,
                                                                                 "find the report")
    assert req["root_agent"] == "researcher" and req["delegator"] == ""
    # Outside the token's grants: said, since the gateway refuses it before the policies.
    status, out = explained(config, "--token", token, "--route", "hr", "--action", "tool:hr.lookup",
                            "--args", '{"employee_id": "E1"}')
    assert status == 0 and any("grant_exceeded" in n for n in out["notes"])
    # A token that does not verify is an error, not a guess.
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    done = explain(config, "--token", forged, "--route", "files")
    assert done.returncode == 2 and "does not verify" in done.stderr and done.stdout == ""
    done = explain(config, "--token", token, "--agent", "writer", "--route", "files")
    assert done.returncode == 2 and "token_invalid" in done.stderr
    done = explain(config, "--token", token, "--route", "files", "--at", "2999-01-01T00:00:00Z")
    assert done.returncode == 2 and "expired" in done.stderr


def test_explain_errors_exit_2(tmp_path):
    config, policy_file = write_config(tmp_path)
    done = explain(config, *SCOPE, "--route", "nope")
    assert done.returncode == 2
    assert "no route 'nope'" in done.stderr and "search, files, hr, scopegate:scopes" in done.stderr
    done = explain(config, "--agent", "ghost", "--depth", "0", "--principal", "u", "--route", "search")
    assert done.returncode == 2 and "no agent 'ghost'" in done.stderr and "planner, researcher, writer" in done.stderr
    # A scoped route without a scope would be refused before policies.
    done = explain(config, "--agent", "researcher", "--route", "search")
    assert done.returncode == 2 and "needs a Delegation-Token" in done.stderr
    # An http route is one action.
    done = explain(config, *SCOPE, "--route", "search", "--action", "tool:other")
    assert done.returncode == 2 and "is the action tool:search" in done.stderr
    done = explain(config, *SCOPE, "--route", "search", "--format", "xml")
    assert done.returncode == 2
    # A broken policy file: file, line and key, exit 2 (1 means deny).
    policy_file.write_text(POLICY.replace("effect: forbid\n    reason", "effect: forbids\n    reason", 1))
    done = explain(config, *SCOPE, "--route", "search")
    assert done.returncode == 2 and "team.yaml:5: rules[0].effect" in done.stderr, done.stderr
    # A broken config: the same.
    config.write_text(config.read_text() + "bogus: 1\n")
    done = explain(config, *SCOPE, "--route", "search")
    assert done.returncode == 2 and "bogus" in done.stderr


def test_explain_and_the_running_gateway_decide_alike(start_gateway, upstream, tmp_path):
    """The same requests, explained and sent: the same decision and deciding rule."""
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir()
    (policy_dir / "team.yaml").write_text(POLICY)
    gw = start_gateway(delegation_config(routes(upstream.url), agents=AGENTS,
                                         extra="policies: [%s]\n" % policy_dir), env=TOKEN_ENV)
    _, root_token = open_root(gw, grants=["tool:*", "agent:researcher"])
    status, child = open_scope(gw, "planner", {"agent": "researcher", "grants": ["tool:*"]}, token=root_token)
    assert status == 201, child
    token = child["token"]
    cases = [("files", "/tools/files/x", None, None),
             ("search", "/tools/search/x", None, None),
             ("hr", "/mcp/hr", "hr.lookup", {"employee_id": "*"}),
             ("hr", "/mcp/hr", "hr.lookup", {"employee_id": "E42"})]
    for route_name, path, tool, args in cases:
        flags = ["--token", token, "--route", route_name]
        body, headers = None, auth("researcher", token)
        if tool:
            flags += ["--action", "tool:" + tool, "--args", json.dumps(args)]
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                               "params": {"name": tool, "arguments": args}})
            headers["Content-Type"] = "application/json"
        status, out = explained(gw.config_path, *flags)
        live, _, answer = request("127.0.0.1", gw.port, "POST", path, headers=headers, body=body)
        assert (status == 0) == (live == 200), (route_name, args, live, answer)
        if status == 1:
            assert live == 403 and json.loads(answer)["error"]["rule"] == out["rule"]


def test_check_warns_about_rules_that_can_never_match_and_still_exits_0(tmp_path):
    policy = POLICY + """  - id: typo
    effect: forbid
    when: {route: [serch]}
  - id: impossible-depth
    effect: forbid
    when: {depth: {ge: 3, le: 1}}
  - id: not-overridden
    effect: permit
    when: {agent: [researcher], action: ["tool:hr.lookup"], arguments: [{pointer: /employee_id, equals: "*"}]}
"""
    config, policy_file = write_config(tmp_path, policy)
    done = run("check", "--config", str(config))
    assert done.returncode == 0, done.stderr
    warnings = [l for l in done.stderr.splitlines() if l.startswith("warning: %s" % policy_file)]
    assert len(warnings) == 2, done.stderr
    assert warnings[0].startswith("warning: %s:25: rules[3].when.route: rule 'typo': no route 'serch'" % policy_file)
    assert warnings[1].startswith("warning: %s:28: rules[4].when.depth: rule 'impossible-depth'" % policy_file)
    assert "2 policy warning(s)" in done.stdout


def test_get_policies_lists_files_with_their_sha256_and_rules_with_hits(start_gateway, upstream, tmp_path):
    policy_dir = tmp_path / "policies"
    policy_dir.mkdir()
    (policy_dir / "team.yaml").write_text(POLICY)
    (policy_dir / "zz-extra.yaml").write_text("version: 1\ndefault: allow\n")
    gw = start_gateway(delegation_config(routes(upstream.url), agents=AGENTS,
                                         extra="policies: [%s]\n" % policy_dir), env=TOKEN_ENV)

    def policies():
        status, headers, body = request("127.0.0.1", gw.admin_port, "GET", "/v1/policies")
        assert status == 200 and headers["content-type"] == "application/json"
        return json.loads(body)

    listed = policies()
    assert listed["default"] == "allow"
    assert [(f["path"], f["rules"]) for f in listed["files"]] == [(str(policy_dir / "team.yaml"), 3),
                                                                  (str(policy_dir / "zz-extra.yaml"), 0)]
    for f in listed["files"]:
        with open(f["path"], "rb") as data:
            assert f["sha256"] == hashlib.sha256(data.read()).hexdigest()
    assert [(r["id"], r["effect"], r["mode"], r["hits"]) for r in listed["rules"]] == [
        ("researchers-only-search", "forbid", "enforce", 0), ("no-wildcard-ids", "forbid", "enforce", 0),
        ("watch-deep-search", "forbid", "shadow", 0)]
    assert listed["rules"][0]["location"] == "%s:4" % (policy_dir / "team.yaml")

    _, root_token = open_root(gw, grants=["tool:*", "agent:researcher"])
    _, child = open_scope(gw, "planner", {"agent": "researcher", "grants": ["tool:*"]}, token=root_token)
    researcher = auth("researcher", child["token"])
    for _ in range(2):
        assert request("127.0.0.1", gw.port, "GET", "/tools/files/x", headers=researcher)[0] == 403
    status, _, _ = request("127.0.0.1", gw.port, "GET", "/tools/search/x", headers=researcher)
    assert status == 200
    hits = {r["id"]: r["hits"] for r in policies()["rules"]}
    assert hits == {"researchers-only-search": 2, "no-wildcard-ids": 0, "watch-deep-search": 1}

    # A read: other methods are 405.
    status, _, body = request("127.0.0.1", gw.admin_port, "POST", "/v1/policies")
    assert status == 405 and json.loads(body)["error"]["code"] == "method_not_allowed"


def test_get_policies_without_policies(start_gateway, upstream):
    gw = start_gateway(delegation_config(routes(upstream.url), agents=AGENTS), env=TOKEN_ENV)
    status, _, body = request("127.0.0.1", gw.admin_port, "GET", "/v1/policies")
    assert status == 200 and json.loads(body) == {"default": "allow", "files": [], "rules": []}


def test_the_docs_examples_run_as_written(tmp_path):
    """docs/policies.md, "Tools for policy authors": every sh block runs, in order, from the top of
    the repository with scopegate on the PATH; a text block right after one is its output (compared
    with runs of spaces squashed: the demo directory is a temporary one here, of another length)."""
    with open(os.path.join(ROOT, "docs", "policies.md")) as f:
        section = f.read().split("## Tools for policy authors", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, re.S)
    demo = str(tmp_path / "policy-demo")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(BIN, bin_dir / "scopegate")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOPEGATE_")}
    env["PATH"] = str(bin_dir) + os.pathsep + env["PATH"]

    def squashed(text):
        return [" ".join(line.split()) for line in text.strip().splitlines()]

    compared = 0
    for i, (lang, body) in enumerate(blocks):
        if lang != "sh":
            continue
        done = subprocess.run(["bash", "-c", body.replace("/tmp/policy-demo", demo)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.stderr == "", (body, done.stderr)
        if i + 1 < len(blocks) and blocks[i + 1][0] == "text":
            assert squashed(done.stdout) == squashed(blocks[i + 1][1].replace("/tmp/policy-demo", demo)), body
            compared += 1
    assert compared == 4
