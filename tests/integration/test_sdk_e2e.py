"""Real agent SDKs through the real gateway: the official MCP TypeScript SDK (client and server,
Streamable HTTP with JSON and SSE responses) and the official A2A JavaScript SDK (client and
agent server). Node and the npm packages are installed by scripts/setup.sh (tests/e2e/)."""
import json
import os
import subprocess
import time
import urllib.parse

import pytest

from audit_helpers import cli
from harness import (AGENT_KEYS, ROOT, TOKEN_ENV, agent_yaml, auth, delegation_config, error_code, free_port, open_root,
                     request, route)

E2E = os.path.join(ROOT, "tests", "e2e")
NODE = "node"

# Not skipped when missing: the suite's own setup installs them, so absence is a failure.
assert os.path.isdir(os.path.join(E2E, "node_modules")), "tests/e2e/node_modules missing: run scripts/setup.sh"


class NodeServer:
    def __init__(self, script, *args):
        self.proc = subprocess.Popen([NODE, os.path.join(E2E, script), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=E2E)
        line = self.proc.stdout.readline()
        assert line.startswith("listening "), "%s did not start: %r %s" % (script, line, self.proc.stderr.read())
        self.port = int(line.split()[1])
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def node(script, *args):
    out = subprocess.run([NODE, os.path.join(E2E, script), *args], capture_output=True, text=True, cwd=E2E,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def tool_server():
    s = NodeServer("mcp_tool_server.mjs")
    yield s
    s.stop()


def tool_calls(server):
    return json.loads(request("127.0.0.1", server.port, "GET", "/calls")[2])


def gateway_config(tool_url, agent_url="http://127.0.0.1:9"):
    routes = (route("mcp-sse", "/mcp-sse", tool_url, kind="mcp", access="scoped") +
              route("mcp", "/mcp", tool_url, kind="mcp", access="scoped") +
              route("researcher", "/agents/researcher", agent_url, kind="a2a", access="scoped",
                    target_agent="researcher", strip_prefix="true", grants='["tool:search"]',
                    stamp_objective="true"))
    return delegation_config(routes)


def test_mcp_sdk_client_and_server_through_the_gateway(start_gateway, tool_server):
    gw = start_gateway(gateway_config(tool_server.url), env=TOKEN_ENV)
    root, token = open_root(gw, grants=["tool:search"], objective="mcp e2e")
    base = "http://127.0.0.1:%d" % gw.port
    for path in ("/mcp", "/mcp-sse"):  # JSON responses, then SSE responses
        before = len(tool_calls(tool_server))
        out = node("mcp_client.mjs", base + path, AGENT_KEYS["planner"], token, "search", "hr_lookup")
        assert sorted(out["tools"]) == ["analyse", "draft", "failing", "hr_lookup", "search"]  # listing is housekeeping
        assert out["results"]["search"]["ok"], out
        seen = json.loads(out["results"]["search"]["text"])
        assert seen["delegation-scope"] == root["id"] and seen["delegation-root"] == root["id"]
        assert seen["delegation-depth"] == "0" and seen["delegation-actor"] == "planner"
        assert seen["delegation-principal"] == "user:alice"
        assert "delegation-parent" not in seen and "authorization" not in seen and "delegation-token" not in seen
        assert seen["baggage"] == "delegation.scope=" + root["id"]
        # hr_lookup is not granted: the gateway answers 403 and the tool never runs.
        assert not out["results"]["hr_lookup"]["ok"] and "grant_exceeded" in out["results"]["hr_lookup"]["error"]
        calls = tool_calls(tool_server)[before:]
        assert [c["tool"] for c in calls] == ["search"]


def test_mcp_sdk_client_sees_the_policy_rule_and_its_reason(start_gateway, tool_server, tmp_path):
    """A policy refusal reaches the agent's model: the SDK's error carries the rule and its reason."""
    policy = tmp_path / "hr.yaml"
    policy.write_text("""version: 1
default: allow
rules:
  - id: hr-lookup-needs-ticket
    effect: forbid
    reason: "hr_lookup needs a scope whose objective names a ticket, such as TICKET-42"
    when:
      action: ["tool:hr_lookup"]
    unless:
      objective: {glob: "*ticket-?*"}
""")
    config = gateway_config(tool_server.url).replace("routes:\n", "policies: [%s]\nroutes:\n" % policy, 1)
    gw = start_gateway(config, env=TOKEN_ENV)
    base = "http://127.0.0.1:%d" % gw.port
    _, token = open_root(gw, grants=["tool:search", "tool:hr_lookup"], objective="weekly report")
    before = len(tool_calls(tool_server))
    out = node("mcp_client.mjs", base + "/mcp", AGENT_KEYS["planner"], token, "search", "hr_lookup")
    assert out["results"]["search"]["ok"], out
    error = out["results"]["hr_lookup"]["error"]
    assert not out["results"]["hr_lookup"]["ok"]
    assert "policy_denied" in error and "hr-lookup-needs-ticket" in error, error
    assert "needs a scope whose objective names a ticket" in error, error
    assert [c["tool"] for c in tool_calls(tool_server)[before:]] == ["search"]
    # With a ticket in the objective the same SDK call runs.
    _, ticketed = open_root(gw, grants=["tool:hr_lookup"], objective="TICKET-42: update the org chart")
    out = node("mcp_client.mjs", base + "/mcp", AGENT_KEYS["planner"], ticketed, "hr_lookup")
    assert out["results"]["hr_lookup"]["ok"], out


def test_mcp_sdk_client_sees_breaker_open_with_the_retry_hint(start_gateway):
    """A dead MCP server behind a breaker: after two failures the SDK's calls fail at once with
    breaker_open and the seconds to wait, instead of each waiting on the dead server."""
    dead = "http://127.0.0.1:%d" % free_port()
    routes = route("mcp", "/mcp", dead, kind="mcp", access="scoped") + \
        "    breaker: { consecutive_failures: 2, open: 30s, max_open: 60s }\n"
    gw = start_gateway(delegation_config(routes), env=TOKEN_ENV)
    _, token = open_root(gw, grants=["tool:search"])
    url = "http://127.0.0.1:%d/mcp" % gw.port
    errors = []
    for _ in range(3):
        out = subprocess.run([NODE, os.path.join(E2E, "mcp_client.mjs"), url, AGENT_KEYS["planner"], token, "search"],
                             capture_output=True, text=True, cwd=E2E, timeout=60)
        assert out.returncode != 0  # the SDK cannot even initialize
        errors.append(out.stderr)
    assert "upstream_unavailable" in errors[0] and "upstream_unavailable" in errors[1], errors[:2]
    assert "breaker_open" in errors[2] and "retry in" in errors[2], errors[2]


def test_a2a_sdk_delegation_to_a_dead_sub_agent_fails_fast_with_breaker_open(start_gateway):
    """A dead sub-agent behind a breaker: once open, the A2A SDK's delegation fails at once."""
    dead = "http://127.0.0.1:%d" % free_port()
    routes = route("researcher", "/agents/researcher", dead, kind="a2a", access="scoped", target_agent="researcher",
                   strip_prefix="true") + "    breaker: { consecutive_failures: 2, open: 30s, max_open: 60s }\n"
    gw = start_gateway(delegation_config(routes), env=TOKEN_ENV)
    _, token = open_root(gw, grants=["agent:researcher"])
    base = "http://127.0.0.1:%d" % gw.port
    errors = []
    for _ in range(3):
        out = subprocess.run([NODE, os.path.join(E2E, "a2a_planner.mjs"), base, AGENT_KEYS["planner"], token, "hello"],
                             capture_output=True, text=True, cwd=E2E, timeout=60)
        assert out.returncode != 0
        errors.append(out.stderr)
    assert "502" in errors[0], errors[0]
    # The A2A SDK reports the status of the card fetch it failed on, not the body: 503, at once;
    # the gateway says why.
    assert "503" in errors[2], errors[2]
    breakers = json.loads(request("127.0.0.1", gw.admin_port, "GET", "/v1/breakers")[2])["breakers"]
    assert [(b["route"], b["state"]) for b in breakers] == [("researcher", "open")]
    status, head, body = request("127.0.0.1", gw.port, "POST", "/agents/researcher/", headers=auth("planner", token),
                                 body=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {
                                     "message": {"messageId": "m1", "role": "user",
                                                 "parts": [{"kind": "text", "text": "hello"}]}}}))
    assert status == 503 and error_code(body) == "breaker_open" and int(head["retry-after"]) >= 1


def test_a2a_delegation_then_the_sub_agent_calls_a_tool(start_gateway, tool_server):
    gw = start_gateway(gateway_config(tool_server.url, "http://127.0.0.1:1"), env=TOKEN_ENV)
    base = "http://127.0.0.1:%d" % gw.port
    agent = NodeServer("a2a_agent.mjs", base, AGENT_KEYS["researcher"])
    try:
        # The gateway's route to the agent is rewritten now that the agent's port is known.
        gw.write_config(gateway_config(tool_server.url, agent.url))
        status, _, _ = request("127.0.0.1", gw.admin_port, "POST", "/v1/reload",
                               headers={"Authorization": "Bearer test-admin-token"})
        assert status == 200
        root, token = open_root(gw, grants=["tool:search", "tool:hr_lookup", "agent:researcher"])
        before = len(tool_calls(tool_server))
        message = "Find the Q3 revenue figures\r\nX-Injected: yes"
        out = node("a2a_planner.mjs", base, AGENT_KEYS["planner"], token, message)
        received = out["received"]
        child = received["delegation-scope"]
        assert out["had_token"]
        assert child != root["id"]
        assert received["delegation-parent"] == root["id"] and received["delegation-root"] == root["id"]
        assert received["delegation-depth"] == "1" and received["delegation-actor"] == "planner"
        assert urllib.parse.unquote(received["delegation-objective"]) == message

        # The researcher's own tool call: depth 1, its child scope, the planner's scope as parent.
        search = out["tools"]["results"]["search"]
        assert search["ok"], out
        seen = json.loads(search["text"])
        assert seen["delegation-scope"] == child and seen["delegation-parent"] == root["id"]
        assert seen["delegation-root"] == root["id"] and seen["delegation-depth"] == "1"
        assert seen["delegation-actor"] == "researcher"
        # The route's ceiling gave the child tool:search only: hr_lookup is refused at the gateway.
        assert not out["tools"]["results"]["hr_lookup"]["ok"]
        assert "grant_exceeded" in out["tools"]["results"]["hr_lookup"]["error"]
        assert [c["tool"] for c in tool_calls(tool_server)[before:]] == ["search"]

        status, _, data = request("127.0.0.1", gw.admin_port, "GET", "/v1/scopes/" + root["id"])
        children = json.loads(data)["children"]
        assert [c["id"] for c in children] == [child]
        assert children[0]["actor"] == "researcher" and children[0]["grants"] == ["tool:search"]
        assert children[0]["objective"] == message
    finally:
        agent.stop()


def duplicate_key_config(tool_url, agent_url, audit_dir):
    routes = (route("mcp", "/mcp", tool_url, kind="mcp", access="scoped") +
              route("researcher", "/agents/researcher", agent_url, kind="a2a", access="scoped",
                    target_agent="researcher", strip_prefix="true", grants='["tool:search"]'))
    return delegation_config(routes, extra="audit:\n  dir: %s\n" % audit_dir)


def test_bodies_two_parsers_read_differently_never_reach_the_sdk_server(start_gateway, tool_server, tmp_path):
    """The probe's bypass (issue 9): simdjson read the first of two "name" members, the SDK server
    the last, so an ungranted tool ran while the log said the granted one did. Such a body is now
    400 bad_request, the SDK server never sees it, and `query never` still answers from evidence."""
    from audit_helpers import cli, records
    audit_dir = str(tmp_path / "audit")
    gw = start_gateway(duplicate_key_config(tool_server.url, "http://127.0.0.1:9", audit_dir), env=TOKEN_ENV)
    root, token = open_root(gw, grants=["tool:search", "agent:researcher"])
    before = len(tool_calls(tool_server))
    headers = auth("planner", token, **{"Content-Type": "application/json",
                                         "Accept": "application/json, text/event-stream"})
    bodies = [
        ('{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search","arguments":{},"name":"hr_lookup"}}',
         {"Mcp-Method": "tools/call", "Mcp-Name": "search"}),
        ('{"jsonrpc":"2.0","id":3,"method":"tools/list","method":"tools/call","params":{"name":"hr_lookup","arguments":{}}}', {}),
        ('{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"search","arguments":{"q":1,"q":2}}}', {}),
        ('{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"search","arguments":{}}} {}', {}),
        ('{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"se\\ud800arch","arguments":{}}}', {}),
        ('{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"search","na\\u006de":"hr_lookup"}}', {}),
    ]
    for body, more in bodies:
        status, _, data = request("127.0.0.1", gw.port, "POST", "/mcp", headers={**headers, **more},
                                  body=body.encode())
        assert status == 400 and error_code(data) == "bad_request", (body, data)
    body = b'\xff{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"search"}}'
    status, _, data = request("127.0.0.1", gw.port, "POST", "/mcp", headers=headers, body=body)
    assert status == 400
    # A2A: a second "method" would have delivered a message with no child scope minted.
    a2a = '{"jsonrpc":"2.0","id":1,"method":"tasks/get","method":"message/send","params":{"message":{"role":"user","parts":[{"kind":"text","text":"hi"}],"messageId":"m1"}}}'
    status, _, data = request("127.0.0.1", gw.port, "POST", "/agents/researcher", headers=headers, body=a2a)
    assert status == 400 and error_code(data) == "bad_request"
    # Methods MCP's transport does not define are 405; a GET carrying a body is refused.
    call = '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"hr_lookup","arguments":{}}}'
    for method in ("PUT", "PATCH"):
        status, _, data = request("127.0.0.1", gw.port, method, "/mcp", headers=headers, body=call)
        assert status == 405 and error_code(data) == "method_not_allowed", (method, data)
    status, _, data = request("127.0.0.1", gw.port, "GET", "/mcp", headers=headers, body=call)
    assert status == 400
    # The SDK server ran nothing; a plain, well-formed call still works.
    assert len(tool_calls(tool_server)) == before
    ok = '{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"search","arguments":{}}}'
    status, _, data = request("127.0.0.1", gw.port, "POST", "/mcp", headers=headers, body=ok)
    assert status == 200, data
    assert [c["tool"] for c in tool_calls(tool_server)[before:]] == ["search"]
    gw.stop()
    refused = [r for r in records(audit_dir) if r["event"] == "request" and r.get("decision") == "deny"]
    assert len(refused) == len(bodies) + 5
    assert all(r["reason"] in ("bad_request", "method_not_allowed") for r in refused)
    code, out, _ = cli("query", "never", root["id"], "--log", audit_dir, "--tool", "hr_lookup")
    assert code == 0, out  # never executed: the evidence says so and the log verifies


def test_a_charset_or_content_coding_the_gateway_did_not_read_is_refused(start_gateway, tool_server, tmp_path):
    """The probe's second bypass: express.json() (the SDKs' own Express helpers) decodes
    `charset=utf-7`, so `+ACI-` became a quote the gateway never saw and a second "name" appeared.
    Inspected bodies must be UTF-8 with no content coding."""
    gw = start_gateway(duplicate_key_config(tool_server.url, "http://127.0.0.1:9", str(tmp_path / "audit")),
                       env=TOKEN_ENV)
    root, token = open_root(gw, grants=["tool:search"])
    before = len(tool_calls(tool_server))
    body = ('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{},'
            '"x":"+ACIALAAiAG4AYQBtAGUAIgA6ACIAaAByAF8AbABvAG8AawB1AHAAIgAsACIAeQAiADoAIg-"}}')
    for content_type, coding in (("application/json; charset=utf-7", None),
                                 ('application/json; charset="UTF-16"', None),
                                 ("application/json; CHARSET=utf-7; x=y", None),
                                 ("application/json", "gzip"),
                                 ("application/json", "identity, gzip")):
        headers = auth("planner", token, **{"Content-Type": content_type,
                                             "Accept": "application/json, text/event-stream"})
        if coding:
            headers["Content-Encoding"] = coding
        status, _, data = request("127.0.0.1", gw.port, "POST", "/mcp", headers=headers, body=body)
        assert status == 400 and error_code(data) == "bad_request", (content_type, coding, data)
    for content_type in ("application/json; charset=utf-8", "application/json;charset=\"UTF-8\"", "application/json"):
        headers = auth("planner", token, **{"Content-Type": content_type,
                                             "Accept": "application/json, text/event-stream"})
        status, _, data = request("127.0.0.1", gw.port, "POST", "/mcp", headers=headers, body=body)
        assert status == 200, (content_type, data)
    assert [c["tool"] for c in tool_calls(tool_server)[before:]] == ["search"] * 3


def mcp_call(gw, path, tool, call_id):
    body = json.dumps({"jsonrpc": "2.0", "id": call_id, "method": "tools/call",
                       "params": {"name": tool, "arguments": {}}})
    return request("127.0.0.1", gw.port, "POST", path, body=body,
                   headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"})


def test_a_tool_answering_with_errors_opens_only_its_own_breaker(start_gateway, tool_server, tmp_path):
    """A real MCP server (the SDK's) whose tool `failing` answers every call with isError: true.
    Where the route counts tool errors and keeps a breaker per tool, that tool's breaker opens and
    its calls then fail fast, while the server's other tools go on; where it does not, a tool that
    answers with an error is a working server and nothing opens. JSON and SSE answers alike."""
    per_tool = ("    tools: { search: {}, failing: {} }\n"
                "    breaker: { per: tool, consecutive_failures: 2, open: 30s, max_open: 60s,"
                " failure_on: [connect, 5xx, tool_error] }\n")
    routes = (route("json", "/mcp", tool_server.url, kind="mcp") + per_tool +
              route("sse", "/mcp-sse", tool_server.url, kind="mcp") + per_tool +
              route("lenient", "/lenient", tool_server.url + "/mcp", kind="mcp", strip_prefix="true") +
              "    breaker: { per: tool, consecutive_failures: 2, open: 30s }\n")
    gw = start_gateway(config_with_audit(routes, tmp_path))
    for path in ("/mcp", "/mcp-sse"):
        before = sum(1 for c in tool_calls(tool_server) if c["tool"] == "failing")
        statuses = [mcp_call(gw, path, "failing", i)[0] for i in range(3)]
        assert statuses == [200, 200, 503], (path, statuses)
        status, head, body = mcp_call(gw, path, "failing", 9)
        assert status == 503 and error_code(body) == "breaker_open" and "tool failing" in json.loads(body)["error"]["message"]
        assert int(head["retry-after"]) >= 1
        assert sum(1 for c in tool_calls(tool_server) if c["tool"] == "failing") - before == 2  # fast fails sent nothing
        status, _, body = mcp_call(gw, path, "search", 10)
        assert status == 200 and b"isError" not in body, body  # the server's other tool still answers
    # Tool errors not counted: the lenient route's breaker stays closed.
    assert [mcp_call(gw, "/lenient", "failing", i)[0] for i in range(4)] == [200] * 4
    breakers = json.loads(request("127.0.0.1", gw.admin_port, "GET", "/v1/breakers")[2])["breakers"]
    states = {(b["route"], b["tool"]): b["state"] for b in breakers if "tool" in b}
    assert states == {("json", "other"): "closed", ("json", "failing"): "open", ("json", "search"): "closed",
                      ("sse", "other"): "closed", ("sse", "failing"): "open", ("sse", "search"): "closed",
                      ("lenient", "other"): "closed"}
    # The server's endpoint is working: its own breaker (one per endpoint, beside the tools') is closed.
    assert {(b["route"], b["state"]) for b in breakers if "endpoint" in b} == {
        ("json", "closed"), ("sse", "closed"), ("lenient", "closed")}
    gw.stop()
    from audit_helpers import records
    opened = [(r["route"], r["tool"], r["cause"]) for r in records(tmp_path / "audit")
              if r["event"] == "breaker.transition"]
    assert opened == [("json", "failing", "consecutive_failures"), ("sse", "failing", "consecutive_failures")]
    from test_audit import schema_validator
    validator = schema_validator("audit-record.schema.json")
    for r in records(tmp_path / "audit"):
        validator.validate(r)


def config_with_audit(routes, tmp_path):
    from harness import config
    return config(routes, extra="audit:\n  dir: %s\n" % (tmp_path / "audit"))


def plan_config(tool_url, agent_urls, audit_dir):
    routes = route("mcp", "/mcp", tool_url, kind="mcp", access="scoped")
    for name, url in agent_urls.items():
        routes += route(name, "/agents/" + name, url, kind="a2a", access="scoped", target_agent=name,
                        strip_prefix="true")
    agents = "".join(agent_yaml(a, may_open_root=a == "planner") for a in ("planner", "researcher", "analyst", "writer"))
    return delegation_config(routes, agents=agents, extra="audit:\n  dir: %s\n" % audit_dir)


def test_a2a_sdk_agents_carry_out_a_registered_plan_with_no_deviation(start_gateway, tool_server, tmp_path):
    """A planner registers research -> analyse -> write (write depending on both) and hands each task
    to a real A2A agent through the gateway; each agent calls its tool under the scope it was given."""
    audit_dir = str(tmp_path / "audit")
    team = {"researcher": "search", "analyst": "analyse", "writer": "draft"}
    gw = start_gateway(plan_config(tool_server.url, {n: "http://127.0.0.1:1" for n in team}, audit_dir), env=TOKEN_ENV)
    base = "http://127.0.0.1:%d" % gw.port
    agents = {n: NodeServer("a2a_agent.mjs", base, AGENT_KEYS[n], n, tool) for n, tool in team.items()}
    try:
        gw.write_config(plan_config(tool_server.url, {n: a.url for n, a in agents.items()}, audit_dir))
        status, _, _ = request("127.0.0.1", gw.admin_port, "POST", "/v1/reload",
                               headers={"Authorization": "Bearer test-admin-token"})
        assert status == 200
        root, token = open_root(gw, grants=["tool:*", "agent:*"])
        plan = {"goal": "a quarterly report", "mode": "enforce", "tasks": [
            {"id": "research", "agent": "researcher", "actions": ["tool:search"], "critical": True, "deadline_s": 120},
            {"id": "analyse", "agent": "analyst", "actions": ["tool:analyse"], "depends_on": ["research"],
             "critical": True},
            {"id": "write", "agent": "writer", "actions": ["tool:draft"], "depends_on": ["research", "analyse"]},
        ]}
        status, _, data = request("127.0.0.1", gw.port, "POST", "/v1/plans", headers=auth("planner", token),
                                  body=json.dumps(plan))
        assert status == 201, data
        plan_id = json.loads(data)["plan"]
        before = len(tool_calls(tool_server))
        for task in ("research", "analyse", "write"):
            agent = plan["tasks"][["research", "analyse", "write"].index(task)]["agent"]
            out = node("a2a_planner.mjs", base, AGENT_KEYS["planner"], token, "please " + task, agent,
                       plan_id + "/" + task)
            result = out["tools"]["results"][team[agent]]
            assert result["ok"], out
        assert [c["tool"] for c in tool_calls(tool_server)[before:]] == ["search", "analyse", "draft"]

        status, _, data = request("127.0.0.1", gw.port, "GET", "/v1/plans/" + plan_id, headers=auth("planner", token))
        view = json.loads(data)
        assert view["state"] == "finished" and view["outcome"] == "completed"
        assert view["progress"] == {"completed": 3, "total": 3, "ratio": 1.0, "weighted": 1.0}
        assert view["deviations"] == [] and view["deviations_total"] == 0
        assert view["critical_path"] == {"tasks": ["research", "analyse", "write"], "length": 3, "remaining": 0}
        tasks = {t["id"]: t for t in view["tasks"]}
        for t in tasks.values():
            assert t["state"] == "completed" and t["started"] < t["ended"]
            assert t["requests"] >= 2  # the delegation that carried it and the agent's tool call
            assert float(t["tool_ms"]) > 0
        # In the planned order: each task started after the ones it depends on had ended.
        assert tasks["research"]["ended"] <= tasks["analyse"]["started"]
        assert tasks["analyse"]["ended"] <= tasks["write"]["started"]
        assert float(view["overhead"]["tool_ms"]) > 0 and 0 < view["overhead"]["ratio"] < 1

        # The log alone says the same, field for field.
        deadline = time.time() + 5
        while True:
            code, out, err = cli("query", "plan", plan_id, "--log", audit_dir, "--format", "json")
            rebuilt = json.loads(out) if code == 0 else {}
            evidence = rebuilt.pop("evidence", None)
            if rebuilt == view or time.time() > deadline:
                break
            time.sleep(0.1)
        assert code == 0, err
        assert evidence["chain"] == "verified"
        assert rebuilt == view
    finally:
        for a in agents.values():
            a.stop()
