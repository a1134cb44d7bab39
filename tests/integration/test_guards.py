"""The guards against runaway use (docs/policies.md, "Budgets, rate limits and the loop guard") with
the real binary and a real upstream: a runaway loop stopped first by the loop guard and then by the
budget, the upstream seeing exactly the calls that were let through; a child's actions spending its
parent's budget; budgets intact after a restart; rate limits per agent and route with Retry-After.
Every refusal is a 429 naming its rule, in the reply, the audit record and the metrics."""
import json
import socket
import struct
import threading
import time

from audit_helpers import records
from harness import (TOKEN_ENV, agent_yaml, auth, delegation_config, free_port, open_root, open_scope, request,
                     route)
from test_metrics import samples, scrape, value

ADMIN = {"Authorization": "Bearer test-admin-token"}


def mcp_routes(url):
    return (route("mcp", "/mcp", url, access="scoped", kind="mcp") +
            route("search", "/tools/search", url, access="scoped"))


AGENTS = (agent_yaml("planner", may_open_root=True, grants=["tool:*", "agent:*"]) +
          agent_yaml("researcher", grants=["tool:*", "agent:*"]) + agent_yaml("writer"))


def start(start_gateway, upstream, tmp_path, guards):
    extra = "audit:\n  dir: %s\n%s" % (tmp_path / "audit", guards)
    return start_gateway(delegation_config(mcp_routes(upstream.url), agents=AGENTS, extra=extra), env=TOKEN_ENV)


def call_tool(gw, agent, token, tool, arguments, raw=None):
    body = raw if raw is not None else json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})
    return request("127.0.0.1", gw.port, "POST", "/mcp",
                   headers=auth(agent, token, **{"Content-Type": "application/json"}), body=body)


def researcher_scope(gw, grants=("tool:*", "agent:researcher")):
    _, root_token = open_root(gw, grants=list(grants))
    status, child = open_scope(gw, "planner", {"agent": "researcher", "grants": ["tool:*"]}, token=root_token)
    assert status == 201, child
    return root_token, child


def test_a_runaway_loop_is_stopped_by_the_loop_guard_then_by_the_budget(start_gateway, upstream, tmp_path):
    gw = start(start_gateway, upstream, tmp_path,
               "loop_guard:\n  max_repeats: 3\n  window: 60s\nbudgets:\n  default: {max_actions: 8}\n")
    root_token, child = researcher_scope(gw)
    before = upstream.stats()["requests"]
    # The same call again and again; reordered members and spacing are the same call.
    same = [None, None, '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"arguments":{"q":"same"} , "name":"search"}}']
    answers = [call_tool(gw, "researcher", child["token"], "search", {"q": "same"}, raw=same[i % 3]) for i in range(6)]
    assert [a[0] for a in answers] == [200, 200, 200, 429, 429, 429], [a[0] for a in answers]
    status, head, body = answers[3]
    err = json.loads(body)["error"]
    assert err["code"] == "loop_detected" and err["rule"] == "loop_guard"
    assert "tool:search" in err["message"]
    assert 1 <= int(head["retry-after"]) <= 60
    # A progress token in _meta does not make it another call.
    meta = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                       "params": {"name": "search", "arguments": {"q": "same"}, "_meta": {"progressToken": 7}}})
    assert call_tool(gw, "researcher", child["token"], "search", None, raw=meta)[0] == 429
    # The loop varies its arguments: the budget of 8 actions for the root's subtree stops it. The
    # POST /v1/scopes that opened the child (agent:researcher) spent one and the repeats three, so
    # four more calls pass.
    statuses = [call_tool(gw, "researcher", child["token"], "search", {"q": i})[0] for i in range(10)]
    assert statuses == [200] * 4 + [429] * 6, statuses
    status, head, body = call_tool(gw, "researcher", child["token"], "search", {"q": "x"})
    err = json.loads(body)["error"]
    assert status == 429 and err["code"] == "budget_exhausted" and err["rule"] == "budget:actions"
    assert "retry-after" not in head  # waiting does not refill a budget
    # The upstream saw exactly what was let through: 3 repeats and 4 varied calls (stats() counts
    # its own request).
    assert upstream.stats()["requests"] - before - 1 == 7
    s = samples(scrape(gw)[1])
    assert value(s, "scopegate_loop_detected_total", agent="researcher") == 4
    assert value(s, "scopegate_budget_exhausted_total", kind="actions") == 7
    gw.stop()
    reqs = [r for r in records(tmp_path / "audit") if r["event"] == "request" and r.get("route") == "mcp"]
    loops = [r for r in reqs if r.get("reason") == "loop_detected"]
    spent = [r for r in reqs if r.get("reason") == "budget_exhausted"]
    assert len(loops) == 4 and all(r["rule"] == "loop_guard" and r["decision"] == "deny" for r in loops)
    assert len(spent) == 7 and all(r["rule"] == "budget:actions" for r in spent)
    assert len([r for r in reqs if r["decision"] == "allow"]) == 7


def test_a_childs_actions_spend_its_parents_budget(start_gateway, upstream, tmp_path):
    gw = start(start_gateway, upstream, tmp_path,
               "budgets:\n  agents:\n    planner: {max_actions: 5, max_children: 2}\n")
    _, root_token = open_root(gw, grants=["tool:*", "agent:researcher", "agent:writer"])
    root_id = open_scope(gw, "planner", {"agent": "researcher"}, token=root_token)
    status, child = root_id
    assert status == 201
    # The researcher has no budget of its own; its calls spend the planner's root budget (the
    # POST /v1/scopes that opened it spent one action: agent:researcher).
    statuses = [request("127.0.0.1", gw.port, "GET", "/tools/search/x",
                        headers=auth("researcher", child["token"]))[0] for _ in range(6)]
    assert statuses == [200] * 4 + [429] * 2, statuses
    status, _, body = request("127.0.0.1", gw.port, "GET", "/tools/search/x", headers=auth("researcher", child["token"]))
    err = json.loads(body)["error"]
    assert err["code"] == "budget_exhausted" and err["rule"] == "budget:actions"
    root_scope = child["scope"]["parent"]
    assert root_scope in err["message"] and "ancestor" in err["message"] and "planner" in err["message"]
    # The planner's own calls are refused too: the subtree spent the root's budget.
    status, _, body = request("127.0.0.1", gw.port, "GET", "/tools/search/x", headers=auth("planner", root_token))
    assert status == 429 and json.loads(body)["error"]["rule"] == "budget:actions"
    # What the admin endpoint shows: limits of the agent acting in the scope, own and subtree use.
    status, _, body = request("127.0.0.1", gw.admin_port, "GET", "/v1/scopes/%s/budget" % root_scope)
    assert status == 200, body
    b = json.loads(body)
    assert b["agent"] == "planner" and b["limits"]["max_actions"] == 5 and b["limits"]["max_bytes_out"] is None
    assert b["use"]["subtree"]["actions"] == 5 and b["use"]["own"]["actions"] == 1
    assert b["use"]["children"] == 1 and b["use"]["subtree"]["delegations"] == 1
    assert b["use"]["subtree"]["bytes_out"] > 0
    status, _, body = request("127.0.0.1", gw.admin_port, "GET", "/v1/scopes/%s/budget" % child["scope"]["id"])
    c = json.loads(body)
    assert c["agent"] == "researcher" and c["limits"]["max_actions"] is None
    assert c["use"]["own"]["actions"] == 4
    # An id the node has never seen is not a budget of zeros.
    status, _, body = request("127.0.0.1", gw.admin_port, "GET",
                              "/v1/scopes/01900000-0000-7000-8000-000000000000/budget")
    assert status == 404
    assert request("127.0.0.1", gw.admin_port, "POST", "/v1/scopes/%s/budget" % root_scope, headers=ADMIN)[0] == 405


def test_fan_out_is_bounded_per_scope(start_gateway, upstream, tmp_path):
    gw = start(start_gateway, upstream, tmp_path, "budgets:\n  default: {max_children: 2, max_delegations: 3}\n")
    _, root_token = open_root(gw, grants=["tool:*", "agent:*"])
    opened = [open_scope(gw, "planner", {"agent": "researcher"}, token=root_token) for _ in range(3)]
    assert [o[0] for o in opened] == [201, 201, 429]
    assert opened[2][1]["error"]["rule"] == "budget:children"
    # A child opens its own: fan-out is per scope; the subtree's delegations stop at 3.
    child = opened[0][1]
    assert open_scope(gw, "researcher", {"agent": "writer"}, token=child["token"])[0] == 201
    status, refused = open_scope(gw, "researcher", {"agent": "writer"}, token=child["token"])
    assert status == 429 and refused["error"]["rule"] == "budget:delegations"


def test_budgets_survive_a_restart(start_gateway, upstream, tmp_path):
    guards = "budgets:\n  default: {max_actions: 6}\n"
    gw = start(start_gateway, upstream, tmp_path, guards)
    root_token, child = researcher_scope(gw)
    for _ in range(3):
        assert request("127.0.0.1", gw.port, "GET", "/tools/search/x", headers=auth("researcher", child["token"]))[0] == 200
    root_scope = child["scope"]["parent"]
    used = json.loads(request("127.0.0.1", gw.admin_port, "GET", "/v1/scopes/%s/budget" % root_scope)[2])["use"]
    gw.stop()
    gw = start(start_gateway, upstream, tmp_path, guards)
    assert gw.wait_for_log("budget counters rebuilt from the audit log")
    status, _, body = request("127.0.0.1", gw.admin_port, "GET", "/v1/scopes/%s/budget" % root_scope)
    assert status == 200, body
    assert json.loads(body)["use"] == used  # bytes included
    # 1 (the delegation) + 3 were spent before the restart: 2 more, then the budget is spent.
    statuses = [request("127.0.0.1", gw.port, "GET", "/tools/search/x",
                        headers=auth("researcher", child["token"]))[0] for _ in range(4)]
    assert statuses == [200, 200, 429, 429], statuses


def test_rate_limits_per_agent_and_route_answer_retry_after(start_gateway, upstream, tmp_path):
    gw = start(start_gateway, upstream, tmp_path,
               "rate_limits:\n  - id: researcher-search\n    per: agent_route\n    rate: 1/min\n    burst: 3\n"
               "    agents: [researcher]\n    routes: [search]\n")
    root_token, child = researcher_scope(gw)
    before = upstream.stats()["requests"]
    answers = [request("127.0.0.1", gw.port, "GET", "/tools/search/x", headers=auth("researcher", child["token"]))
               for _ in range(5)]
    assert [a[0] for a in answers] == [200, 200, 200, 429, 429]
    status, head, body = answers[3]
    err = json.loads(body)["error"]
    assert err["code"] == "rate_limited" and err["rule"] == "rate_limit:researcher-search"
    assert 1 <= int(head["retry-after"]) <= 60
    # Another agent, or the same agent on another route, has its own room.
    assert request("127.0.0.1", gw.port, "GET", "/tools/search/x", headers=auth("planner", root_token))[0] == 200
    assert call_tool(gw, "researcher", child["token"], "search", {"q": 1})[0] == 200
    assert upstream.stats()["requests"] - before - 1 == 5
    s = samples(scrape(gw)[1])
    assert value(s, "scopegate_rate_limited_total", route="search", agent="researcher") == 2
    # A reload keeps the bucket's level: still empty afterwards.
    assert request("127.0.0.1", gw.admin_port, "POST", "/v1/reload", headers=ADMIN)[0] == 200
    assert request("127.0.0.1", gw.port, "GET", "/tools/search/x", headers=auth("researcher", child["token"]))[0] == 429


def budget_of(gw, scope_id):
    status, _, body = request("127.0.0.1", gw.admin_port, "GET", "/v1/scopes/%s/budget" % scope_id)
    assert status == 200, body
    return json.loads(body)["use"]


def test_counters_rebuilt_at_start_match_the_live_ones_strict_routes_and_unreachable_upstreams_included(
        start_gateway, upstream, tmp_path):
    # Strict routes write their record before forwarding ("decision":"allow"); when the upstream
    # then cannot be reached the record still says the request was let through, so it stays spent,
    # live as after a restart. On a batch route the record says deny, and nothing stays spent.
    dead = "http://127.0.0.1:%d" % free_port()
    routes = (mcp_routes(upstream.url) +
              route("ledger", "/tools/ledger", upstream.url, access="scoped", audit="strict") +
              route("vault", "/tools/vault", dead, access="scoped", audit="strict") +
              route("cache", "/tools/cache", dead, access="scoped") +
              route("helper", "/agents/writer", dead, access="scoped", audit="strict", kind="agent",
                    target_agent="writer") +
              route("scribe", "/agents/scribe", dead, access="scoped", kind="agent", target_agent="writer"))
    extra = "audit:\n  dir: %s\nbudgets:\n  default: {max_actions: 100}\n" % (tmp_path / "audit")
    cfg = delegation_config(routes, agents=AGENTS, extra=extra)
    gw = start_gateway(cfg, env=TOKEN_ENV)
    _, root_token = open_root(gw, grants=["tool:*", "agent:*"])
    status, child = open_scope(gw, "planner", {"agent": "researcher", "grants": ["tool:*", "agent:writer"]},
                               token=root_token)
    assert status == 201, child
    h = auth("researcher", child["token"])
    answers = {path: request("127.0.0.1", gw.port, "GET", path, headers=h)[0]
               for path in ("/tools/search/x", "/tools/ledger/x", "/tools/vault/x", "/tools/cache/x")}
    answers["writer"] = request("127.0.0.1", gw.port, "POST", "/agents/writer/go", headers=h, body=b"{}")[0]
    answers["scribe"] = request("127.0.0.1", gw.port, "POST", "/agents/scribe/go", headers=h, body=b"{}")[0]
    answers["mcp"] = call_tool(gw, "researcher", child["token"], "search", {"q": 1})[0]
    assert answers == {"/tools/search/x": 200, "/tools/ledger/x": 200, "/tools/vault/x": 502,
                       "/tools/cache/x": 502, "writer": 502, "scribe": 502, "mcp": 200}, answers
    root_scope, child_scope = child["scope"]["parent"], child["scope"]["id"]
    live = {s: budget_of(gw, s) for s in (root_scope, child_scope)}
    # search, ledger, vault (strict: its record says allow), the strict delegation and the MCP call;
    # not the batch route nor the batch delegation that could not reach their upstreams.
    assert live[child_scope]["own"]["actions"] == 5, live
    assert live[child_scope]["own"]["delegations"] == 1 and live[child_scope]["children"] == 1, live
    gw.stop()
    gw = start_gateway(cfg, env=TOKEN_ENV)
    assert gw.wait_for_log("budget counters rebuilt from the audit log")
    assert {s: budget_of(gw, s) for s in (root_scope, child_scope)} == live


def test_a_request_whose_client_left_before_it_was_forwarded_gives_its_budget_back(start_gateway, tmp_path):
    # The upstream's accept queue is full, so the gateway's connect waits for a SYN retry (about a
    # second); meanwhile the client resets its connection. Writing 100 Continue then fails and the
    # request ends with no reply and no record: what it reserved of the budget must come back.
    slow = socket.socket()
    slow.bind(("127.0.0.1", 0))
    slow.listen(0)
    filler = socket.create_connection(slow.getsockname())
    routes = route("slow", "/tools/slow", "http://127.0.0.1:%d" % slow.getsockname()[1], access="scoped")
    extra = "budgets:\n  default: {max_actions: 10}\n"
    gw = start_gateway(delegation_config(routes, agents=AGENTS, extra=extra), env=TOKEN_ENV)
    root, root_token = open_root(gw, grants=["tool:*"])
    c = socket.create_connection(("127.0.0.1", gw.port))
    head = "\r\n".join(["POST /tools/slow/x HTTP/1.1", "Host: x", "Content-Length: 5", "Expect: 100-continue"] +
                        ["%s: %s" % kv for kv in auth("planner", root_token).items()]) + "\r\n\r\n"
    c.sendall(head.encode())
    time.sleep(0.4)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()  # a reset
    accepted = []
    threading.Thread(target=lambda: accepted.extend(slow.accept() for _ in range(2)), daemon=True).start()
    deadline = time.time() + 5
    while time.time() < deadline and len(accepted) < 2:
        time.sleep(0.05)
    time.sleep(0.3)
    assert len(accepted) == 2, "the gateway never connected to the upstream"
    assert budget_of(gw, root["id"])["own"]["actions"] == 0
    for conn, _ in accepted:
        conn.close()
    filler.close()
    slow.close()


def test_members_a_server_ignores_or_another_spelling_of_a_number_do_not_make_another_call(
        start_gateway, upstream, tmp_path):
    gw = start(start_gateway, upstream, tmp_path, "loop_guard:\n  max_repeats: 2\n  window: 60s\n")
    _, child = researcher_scope(gw)
    bodies = [
        {"name": "search", "arguments": {"q": "same", "n": 10000000000000000}},
        {"name": "search", "arguments": {"n": 1e16, "q": "same"}, "nonce": 1},
        {"name": "search", "arguments": {"q": "same", "n": 1.0e16}, "nonce": 2, "_meta": {"progressToken": 3}},
    ]
    statuses = [call_tool(gw, "researcher", child["token"], "search", None,
                          raw=json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": p}))[0]
                for i, p in enumerate(bodies)]
    assert statuses == [200, 200, 429], statuses
