"""Access policies on the request path (docs/policies.md) with the real binary and a real upstream:
a deny names its rule in the reply, the audit record and the metrics, and the upstream never sees
the request; shadow rules are recorded and change nothing; POST /v1/scopes is an action too; a
broken policy file is refused by check and by a reload, which keeps the running set."""
import json
import os
import subprocess

from audit_helpers import records
from harness import (BIN, TOKEN_ENV, agent_yaml, auth, delegation_config, error_code, open_root, open_scope,
                     request, route)
from test_metrics import samples, scrape, value

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
      action: ["tool:search"]
  - id: no-delegation-to-writer
    effect: forbid
    reason: "the writer is outside the research team"
    when:
      kind: [scopes, agent]
      action: ["agent:writer"]
  - id: watch-deep-search
    effect: forbid
    mode: shadow
    when:
      action: ["tool:search"]
      depth: {ge: 1}
"""

ADMIN = {"Authorization": "Bearer test-admin-token"}


def scoped(name, prefix, url, **extra):
    extra.setdefault("access", "scoped")
    return route(name, prefix, url, **extra)


def start(start_gateway, upstream, tmp_path, policy=POLICY):
    policy_file = tmp_path / "policies" / "team.yaml"
    policy_file.parent.mkdir(exist_ok=True)
    policy_file.write_text(policy)
    routes = scoped("search", "/tools/search", upstream.url) + scoped("files", "/tools/files", upstream.url)
    agents = (agent_yaml("planner", may_open_root=True, grants=["tool:*", "agent:*"]) +
              agent_yaml("researcher", grants=["tool:*", "agent:*"]) + agent_yaml("writer") + agent_yaml("intruder"))
    extra = "audit:\n  dir: %s\npolicies: [%s]\n" % (tmp_path / "audit", policy_file.parent)
    gw = start_gateway(delegation_config(routes, agents=agents, extra=extra), env=TOKEN_ENV)
    return gw, policy_file


def test_a_deny_names_its_rule_and_never_reaches_the_upstream(start_gateway, upstream, tmp_path):
    gw, _ = start(start_gateway, upstream, tmp_path)
    _, root_token = open_root(gw, grants=["tool:*", "agent:researcher", "agent:writer"])
    status, child = open_scope(gw, "planner", {"agent": "researcher", "grants": ["tool:*"]}, token=root_token)
    assert status == 201, child
    status, _, body = request("127.0.0.1", gw.port, "GET", "/tools/files/x", headers=auth("researcher", child["token"]))
    assert status == 403 and error_code(body) == "policy_denied"
    err = json.loads(body)["error"]
    assert err["rule"] == "researchers-only-search"
    assert "tool:files" in err["message"] and "researchers may only call the search tool" in err["message"]
    # Search is allowed; the shadow rule (depth ≥ 1) would have refused it: recorded, not enforced.
    status, _, _ = request("127.0.0.1", gw.port, "GET", "/tools/search/x", headers=auth("researcher", child["token"]))
    assert status == 200
    # Opening a scope is an action: the planner may not delegate to the writer, by POST /v1/scopes.
    status, refused = open_scope(gw, "planner", {"agent": "writer"}, token=root_token)
    assert status == 403 and refused["error"]["code"] == "policy_denied"
    assert refused["error"]["rule"] == "no-delegation-to-writer"
    s = samples(scrape(gw)[1])
    assert value(s, "scopegate_policy_decisions_total", rule="researchers-only-search", decision="deny",
                 mode="enforce") == 1
    assert value(s, "scopegate_policy_decisions_total", rule="no-delegation-to-writer", decision="deny",
                 mode="enforce") == 1
    assert value(s, "scopegate_policy_decisions_total", rule="watch-deep-search", decision="deny",
                 mode="shadow") == 1
    assert value(s, "scopegate_policy_decisions_total", rule="default", decision="allow", mode="enforce") >= 3
    gw.stop()

    reqs = [r for r in records(tmp_path / "audit") if r["event"] == "request"]
    files = next(r for r in reqs if r.get("route") == "files")
    assert files["decision"] == "deny" and files["reason"] == "policy_denied"
    assert files["rule"] == "researchers-only-search"
    search = next(r for r in reqs if r.get("route") == "search")
    assert search["decision"] == "allow" and "rule" not in search
    assert search["shadow"] == [{"rule": "watch-deep-search", "decision": "deny"}]
    writer = [r for r in reqs if r.get("route") == "scopegate:scopes" and r.get("reason") == "policy_denied"]
    assert len(writer) == 1 and writer[0]["rule"] == "no-delegation-to-writer"
    # Nothing refused reached the tool: the only files request in the upstream's log is none.
    assert not [r for r in reqs if r.get("route") == "files" and r["decision"] == "allow"]


def test_a_depth_3_sub_agent_is_refused_restricted_data_its_depth_1_ancestor_may_read(start_gateway, upstream,
                                                                                        tmp_path):
    """The example policy restricted-depth.yaml, as shipped: restricted data only at depth 0 or 1."""
    example = os.path.join(os.path.dirname(__file__), "..", "..", "policies", "restricted-depth.yaml")
    routes = scoped("hr", "/tools/hr", upstream.url, datasets="[hr-records]", classification="restricted")
    agents = "".join(agent_yaml(a, may_open_root=(a == "planner"), grants=["tool:*", "agent:*"])
                     for a in ("planner", "researcher", "writer", "intruder"))
    extra = "audit:\n  dir: %s\npolicies: [%s]\n" % (tmp_path / "audit", os.path.abspath(example))
    gw = start_gateway(delegation_config(routes, agents=agents, extra=extra), env=TOKEN_ENV)
    _, token = open_root(gw, grants=["tool:*", "agent:*"])
    chain = {"planner": token}
    parent = "planner"
    for agent in ("researcher", "writer", "intruder"):  # depths 1, 2 and 3
        status, child = open_scope(gw, parent, {"agent": agent, "grants": ["tool:*", "agent:*"]}, token=chain[parent])
        assert status == 201, child
        chain[agent] = child["token"]
        parent = agent
    before = upstream.stats()["requests"]
    answers = {a: request("127.0.0.1", gw.port, "GET", "/tools/hr/E1042", headers=auth(a, chain[a]))
               for a in ("planner", "researcher", "writer", "intruder")}
    assert {a: r[0] for a, r in answers.items()} == {"planner": 200, "researcher": 200, "writer": 403,
                                                      "intruder": 403}
    err = json.loads(answers["intruder"][2])["error"]
    assert err["code"] == "policy_denied" and err["rule"] == "restricted-data-shallow"
    assert "depth 0 or 1" in err["message"]
    assert upstream.stats()["requests"] - before - 1 == 2  # stats() counts its own request
    gw.stop()
    hr = [r for r in records(tmp_path / "audit") if r["event"] == "request" and r.get("route") == "hr"]
    assert sorted((r["scope"]["depth"], r["decision"], r.get("rule")) for r in hr) == [
        (0, "allow", None), (1, "allow", None), (2, "deny", "restricted-data-shallow"),
        (3, "deny", "restricted-data-shallow")]
    assert all(r["datasets"] == ["hr-records"] for r in hr)


def test_a_broken_policy_file_is_refused_and_the_running_set_stays(start_gateway, upstream, tmp_path):
    gw, policy_file = start(start_gateway, upstream, tmp_path)
    _, root_token = open_root(gw, grants=["tool:*", "agent:researcher"])
    status, child = open_scope(gw, "planner", {"agent": "researcher", "grants": ["tool:*"]}, token=root_token)
    assert status == 201
    policy_file.write_text(POLICY.replace("effect: forbid\n    reason", "effect: forbids\n    reason", 1))
    status, _, body = request("127.0.0.1", gw.admin_port, "POST", "/v1/reload", headers=ADMIN)
    assert status == 400 and b"team.yaml:5" in body and b"effect" in body, body
    # The old set still decides.
    status, _, body = request("127.0.0.1", gw.port, "GET", "/tools/files/x", headers=auth("researcher", child["token"]))
    assert status == 403 and json.loads(body)["error"]["rule"] == "researchers-only-search"
    # check names the file, the line and the key.
    checked = subprocess.run([BIN, "check", "--config", gw.config_path], capture_output=True, text=True,
                             env=dict(os.environ, **TOKEN_ENV))
    assert checked.returncode == 1 and "team.yaml:5: rules[0].effect" in checked.stderr, checked.stderr
    # A good edit applies on reload.
    policy_file.write_text(POLICY.replace("action: [\"tool:search\"]\n  - id: no-delegation",
                                          "action: [\"tool:search\", \"tool:files\"]\n  - id: no-delegation", 1))
    assert request("127.0.0.1", gw.admin_port, "POST", "/v1/reload", headers=ADMIN)[0] == 200
    status, _, _ = request("127.0.0.1", gw.port, "GET", "/tools/files/x", headers=auth("researcher", child["token"]))
    assert status == 200


def test_the_example_policies_load_with_the_example_config(tmp_path):
    """policies/ holds the examples docs/policies.md explains: they load with `check`."""
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    config = os.path.join(root, "examples", "scopegate.yaml")
    assert '"${SCOPEGATE_POLICY_DIR:-../policies}"' in open(config).read()  # the demo runs on them
    checked = subprocess.run([BIN, "check", "--config", config], capture_output=True, text=True,
                             env=dict(os.environ, SCOPEGATE_TOKEN_KEY="ab" * 32, SCOPEGATE_ADMIN_TOKEN="x"))
    assert checked.returncode == 0, checked.stderr
    assert "warning" not in checked.stderr, checked.stderr
