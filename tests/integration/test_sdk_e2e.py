"""Real agent SDKs through the real gateway: the official MCP TypeScript SDK (client and server,
Streamable HTTP with JSON and SSE responses) and the official A2A JavaScript SDK (client and
agent server). Node and the npm packages are installed by scripts/setup.sh (tests/e2e/)."""
import json
import os
import subprocess
import urllib.parse

import pytest

from harness import (AGENT_KEYS, ROOT, TOKEN_ENV, delegation_config, open_root, request, route)

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
        assert sorted(out["tools"]) == ["hr_lookup", "search"]  # listing is housekeeping: allowed
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
