"""Plans (docs/plans.md) through the real gateway: registering a plan for a scope, binding
delegations to its tasks, every deviation kind in observe mode (recorded, let through) and in
enforce mode (refused, the tool never reached), the task state machine with its cascade, a real
deadline, and `scopegate query plan` rebuilding from the audit log what GET /v1/plans/{id} shows."""
import json
import os
import time

import pytest

from audit_helpers import cli, segments
from harness import (AGENT_KEYS, TOKEN_ENV, Gateway, agent_yaml, auth, delegation_config, error_code, open_root,
                     request, route)

AGENTS = (agent_yaml("planner", may_open_root=True) + agent_yaml("researcher") + agent_yaml("analyst") +
          agent_yaml("writer"))


def plan_config(upstream, audit_dir):
    tools = "".join(route(name, "/tools/" + name, upstream.url, access="scoped", strip_prefix="true")
                    for name in ("search", "calc", "doc", "hr"))
    agents = "".join(route(name, "/agents/" + name, upstream.url, kind="agent", access="scoped", target_agent=name,
                           strip_prefix="true")
                     for name in ("researcher", "analyst", "writer"))
    return delegation_config(tools + agents, agents=AGENTS,
                             extra="audit:\n  dir: %s\n" % audit_dir)


def three_tasks(mode, deadline_s=None):
    research = {"id": "research", "agent": "researcher", "objective": "find sources", "actions": ["tool:search"],
                "critical": True}
    if deadline_s:
        research["deadline_s"] = deadline_s
    return {"goal": "a report", "mode": mode, "tasks": [
        research,
        {"id": "analyse", "agent": "analyst", "actions": ["tool:calc"], "depends_on": ["research"], "critical": True},
        {"id": "write", "agent": "writer", "actions": ["tool:doc"], "depends_on": ["research", "analyse"]},
    ]}


def register(gw, token, plan, agent="planner"):
    status, _, data = request("127.0.0.1", gw.port, "POST", "/v1/plans", headers=auth(agent, token),
                              body=json.dumps(plan))
    return status, json.loads(data)


def view(gw, token, plan_id, agent="planner"):
    status, _, data = request("127.0.0.1", gw.port, "GET", "/v1/plans/" + plan_id, headers=auth(agent, token))
    assert status == 200, data
    return json.loads(data)


def delegate(gw, token, target, task=None, path=""):
    """A delegation on the agent route of `target` (the demo upstream answers it at once); returns
    (status, body, the child token the sub-agent received)."""
    headers = auth("planner", token)
    if task:
        headers["Delegation-Task"] = task
    status, _, data = request("127.0.0.1", gw.port, "POST", "/agents/%s%s" % (target, path), headers=headers,
                              body="{}")
    body = json.loads(data)
    child = None
    if status == 200:
        child = next((v for k, v in body["headers"] if k.lower() == "delegation-token"), None)
    return status, body, child


def open_for_task(gw, token, agent, task):
    """POST /v1/scopes opening a scope for `agent` carrying `task` (it stays running: no reply ends it)."""
    status, _, data = request("127.0.0.1", gw.port, "POST", "/v1/scopes", headers=auth("planner", token),
                              body=json.dumps({"agent": agent, "task": task, "objective": task}))
    body = json.loads(data)
    assert status == 201, body
    return body["token"]


def tool(gw, agent, token, name):
    status, _, data = request("127.0.0.1", gw.port, "POST", "/tools/" + name, headers=auth(agent, token), body="{}")
    return status, data


def records(audit_dir):
    """The records written so far: the gateway is running, so a line still being written (no newline
    yet) is left for the next look."""
    out = []
    for name in segments(audit_dir):
        with open(os.path.join(audit_dir, name)) as f:
            out += [json.loads(line) for line in f if line.endswith("\n")]
    return out


def plan_records(audit_dir, event, plan_id):
    return [r for r in records(audit_dir) if r["event"] == event and r.get("plan") == plan_id]


@pytest.fixture
def plan_gateway(start_gateway, upstream, tmp_path):
    audit_dir = str(tmp_path / "audit")
    gw = start_gateway(plan_config(upstream, audit_dir), env=TOKEN_ENV)
    return gw, audit_dir


def settle(audit_dir, event, plan_id, n, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = plan_records(audit_dir, event, plan_id)
        if len(found) >= n:
            return found
        time.sleep(0.05)
    return plan_records(audit_dir, event, plan_id)


def test_a_plan_is_registered_for_the_callers_scope_and_validated(plan_gateway):
    gw, audit_dir = plan_gateway
    scope, token = open_root(gw)
    status, body = register(gw, token, three_tasks("observe"))
    assert status == 201, body
    assert body["scope"] == scope["id"] and body["agent"] == "planner" and body["state"] == "active"
    assert [t["state"] for t in body["tasks"]] == ["pending"] * 3
    assert body["critical_path"] == {"tasks": ["research", "analyse", "write"], "length": 3, "remaining": 3}
    opened = settle(audit_dir, "plan.open", body["plan"], 1)
    assert len(opened) == 1
    assert opened[0]["scope"]["id"] == scope["id"]
    assert [t["id"] for t in opened[0]["tasks"]] == ["research", "analyse", "write"]
    # One unfinished plan per scope.
    status, again = register(gw, token, three_tasks("observe"))
    assert status == 400 and "already runs plan" in again["error"]["message"]

    # Refused with the reason: a cycle, an unknown agent, actions beyond the scope, no token.
    _, narrow = open_root(gw, grants=("tool:search", "agent:*"))
    cases = [
        ({"tasks": [{"id": "a", "agent": "researcher", "actions": [], "depends_on": ["b"]},
                    {"id": "b", "agent": "researcher", "actions": [], "depends_on": ["a"]}]}, token, "cycle"),
        ({"tasks": [{"id": "a", "agent": "ghost", "actions": []}]}, token, "no agent with id 'ghost'"),
        ({"tasks": [{"id": "a", "agent": "researcher", "actions": ["tool:hr"]}]}, narrow, "not within"),
        ({"tasks": [{"id": "a", "agent": "researcher", "actions": []}], "tasks": []}, token, "twice"),
    ]
    for plan, tok, why in cases:
        status, _, data = request("127.0.0.1", gw.port, "POST", "/v1/plans", headers=auth("planner", tok),
                                  body=json.dumps(plan) if "twice" not in why else
                                  '{"tasks":[{"id":"a","agent":"researcher","actions":[]}],"tasks":[]}')
        assert status == 400, data
        assert why in json.loads(data)["error"]["message"]
    status, _, data = request("127.0.0.1", gw.port, "POST", "/v1/plans", headers=auth("planner"),
                              body=json.dumps(three_tasks("observe")))
    assert status == 401 and error_code(data) == "token_invalid"
    # Seen from the plan's scope and below, not from another root; all of them on the admin listener.
    _, other = open_root(gw)
    status, _, _ = request("127.0.0.1", gw.port, "GET", "/v1/plans/" + body["plan"], headers=auth("planner", other))
    assert status == 404
    status, _, data = request("127.0.0.1", gw.admin_port, "GET", "/v1/plans")
    assert status == 200 and body["plan"] in [p["plan"] for p in json.loads(data)["plans"]]


def deviations(audit_dir, plan_id, n=1):
    return settle(audit_dir, "plan.deviation", plan_id, n)


def calls(upstream):
    return upstream.stats()["requests"]


@pytest.mark.parametrize("mode", ["observe", "enforce"])
def test_each_deviation_kind_is_recorded_once_and_refused_only_in_enforce_mode(plan_gateway, upstream, mode):
    gw, audit_dir = plan_gateway
    enforce = mode == "enforce"

    def expect(kind, status, data, before, plan_id, task, agent, scope, refused_status=403):
        """One deviation of `kind`; the request refused (nothing reached the upstream) or let through."""
        if enforce:
            assert status == refused_status, data
            assert error_code(data) == "plan_deviation"
            assert calls(upstream) - before == 1  # only the stats request itself
        else:
            assert 200 <= status < 300, data
        found = [d for d in deviations(audit_dir, plan_id) if d["kind"] == kind]
        assert len(found) == 1, found
        d = found[0]
        assert d.get("task") == task and d["agent"] == agent and d["scope"]["id"] == scope
        assert d["enforced"] is enforce
        return d

    # wrong_agent: the research task (the researcher's) delegated to the writer.
    scope, token = open_root(gw)
    status, body = register(gw, token, three_tasks(mode))
    plan_id = body["plan"]
    before = calls(upstream)
    status, data, _ = delegate(gw, token, "writer", task=plan_id + "/research")
    expect("wrong_agent", status, json.dumps(data), before, plan_id, "research", "writer", scope["id"])
    if enforce:
        assert "is assigned to agent researcher, not writer" in data["error"]["message"]
        assert data["error"]["rule"] == "plan:%s/research" % plan_id

    # sequence_violation: write delegated before research and analyse completed.
    scope, token = open_root(gw)
    plan_id = register(gw, token, three_tasks(mode))[1]["plan"]
    before = calls(upstream)
    status, data, _ = delegate(gw, token, "writer", task=plan_id + "/write")
    expect("sequence_violation", status, json.dumps(data), before, plan_id, "write", "writer", scope["id"])

    # unapproved_action: under the research task's scope, a tool the task does not approve.
    scope, token = open_root(gw)
    plan_id = register(gw, token, three_tasks(mode))[1]["plan"]
    child = open_for_task(gw, token, "researcher", plan_id + "/research")
    assert tool(gw, "researcher", child, "search")[0] == 200
    before = calls(upstream)
    status, data = tool(gw, "researcher", child, "hr")
    d = expect("unapproved_action", status, data, before, plan_id, "research", "researcher",
               view(gw, token, plan_id)["tasks"][0]["scope"])
    assert d["action"] == "tool:hr"
    if enforce:
        assert "does not approve tool:hr" in json.loads(data)["error"]["message"]
    # The same deviation again is one deviation still; the request is refused (or let through) again.
    status, _ = tool(gw, "researcher", child, "hr")
    assert status == (403 if enforce else 200)
    assert len(deviations(audit_dir, plan_id)) == 1

    # after_completion: the delegation of research answered 2xx (the task completed), then an action under it.
    scope, token = open_root(gw)
    plan_id = register(gw, token, three_tasks(mode))[1]["plan"]
    status, _, child = delegate(gw, token, "researcher", task=plan_id + "/research")
    assert status == 200
    assert view(gw, token, plan_id)["tasks"][0]["state"] == "completed"
    before = calls(upstream)
    status, data = tool(gw, "researcher", child, "search")
    expect("after_completion", status, data, before, plan_id, "research", "researcher",
           view(gw, token, plan_id)["tasks"][0]["scope"])

    # unplanned_delegation: a delegation from the plan's scope that names no task.
    scope, token = open_root(gw)
    plan_id = register(gw, token, three_tasks(mode))[1]["plan"]
    before = calls(upstream)
    status, data, _ = delegate(gw, token, "analyst")
    expect("unplanned_delegation", status, json.dumps(data), before, plan_id, None, "planner", scope["id"])

    # Every refused (or let through) request's own record names the plan and the task.
    want = 6 if enforce else 0
    deadline = time.time() + 5
    while True:
        request_records = [r for r in records(audit_dir) if r["event"] == "request" and r.get("reason") == "plan_deviation"]
        if len(request_records) >= want or time.time() > deadline:
            break
        time.sleep(0.05)
    assert len(request_records) == want
    assert all(r.get("plan") for r in request_records)


@pytest.mark.parametrize("mode", ["observe", "enforce"])
def test_a_missed_deadline_fails_the_task_and_a_late_action_is_a_timing_violation(plan_gateway, upstream, mode):
    gw, audit_dir = plan_gateway
    scope, token = open_root(gw)
    plan_id = register(gw, token, three_tasks(mode, deadline_s=1))[1]["plan"]
    child = open_for_task(gw, token, "researcher", plan_id + "/research")
    time.sleep(1.5)  # the deadline passes with no action: the plan's clock fails the task on its own
    changes = settle(audit_dir, "plan.task", plan_id, 4)
    failed = [c for c in changes if c["to"] == "failed"]
    assert len(failed) == 1 and failed[0]["task"] == "research" and failed[0]["cause"] == "deadline"
    # research was critical: analyse and write are blocked by it, and the plan has ended.
    blocked = [c for c in changes if c["to"] == "blocked"]
    assert sorted(c["task"] for c in blocked) == ["analyse", "write"]
    assert all(c["blocked_by"] == "research" for c in blocked)
    v = view(gw, token, plan_id)
    assert v["state"] == "finished" and v["outcome"] == "failed"
    assert v["cascades"][0]["failed"] == "research" and v["cascades"][0]["blocked"] == ["analyse", "write"]
    before = calls(upstream)
    status, data = tool(gw, "researcher", child, "search")
    d = [x for x in deviations(audit_dir, plan_id) if x["kind"] == "timing_violation"]
    assert len(d) == 1 and d[0]["task"] == "research"
    if mode == "enforce":
        assert status == 403 and error_code(data) == "plan_deviation"
        assert calls(upstream) - before == 1
    else:
        assert status == 200


def test_a_failed_critical_delegation_blocks_its_dependents_and_raises_the_cascade(plan_gateway, upstream):
    gw, audit_dir = plan_gateway
    scope, token = open_root(gw)
    plan_id = register(gw, token, three_tasks("enforce"))[1]["plan"]
    # The researcher's agent answers 500: the task fails, analyse and write are blocked.
    status, _, _ = delegate(gw, token, "researcher", task=plan_id + "/research", path="/status?code=500")
    assert status == 500
    v = view(gw, token, plan_id)
    assert [t["state"] for t in v["tasks"]] == ["failed", "blocked", "blocked"]
    assert v["cascades"] == [{"failed": "research", "blocked": ["analyse", "write"], "at": v["tasks"][0]["ended"]}]
    # A blocked task can no longer be handed out: after_completion, refused in enforce mode.
    status, data, _ = delegate(gw, token, "analyst", task=plan_id + "/analyse")
    assert status == 403 and error_code(json.dumps(data)) == "plan_deviation"
    status, _, data = request("127.0.0.1", gw.admin_port, "GET", "/metrics")
    text = data.decode()
    assert 'scopegate_plan_tasks{state="blocked"} 2' in text
    assert 'scopegate_plan_deviations_total{kind="after_completion"} 1' in text
    assert "scopegate_plan_duration_seconds_count 1" in text


def test_delegation_task_is_checked_before_anything_is_minted(plan_gateway, upstream):
    gw, _ = plan_gateway
    scope, token = open_root(gw)
    plan_id = register(gw, token, three_tasks("observe"))[1]["plan"]
    # Unknown plan or task: 400; a plan of another root's scope: 403 whatever the mode.
    for task, code in [("nope/research", "bad_request"), (plan_id + "/nope", "bad_request"),
                       ("no-slash", "bad_request")]:
        status, data, _ = delegate(gw, token, "researcher", task=task)
        assert status == 400 and error_code(json.dumps(data)) == code, data
    _, stranger = open_root(gw)
    status, data, _ = delegate(gw, stranger, "researcher", task=plan_id + "/research")
    assert status == 403 and error_code(json.dumps(data)) == "plan_deviation"
    # Not a delegation (SDKs send their headers on every request): the header binds nothing there,
    # and like every Delegation-* header it never reaches the upstream.
    headers = auth("planner", token, **{"Delegation-Task": plan_id + "/research"})
    status, _, data = request("127.0.0.1", gw.port, "POST", "/tools/search", headers=headers, body="{}")
    assert status == 200
    assert not [k for k, _ in json.loads(data)["headers"] if k.lower() == "delegation-task"]
    assert view(gw, token, plan_id)["tasks"][0]["state"] == "pending"


def query_plan(audit_dir, plan_id, fmt="json"):
    code, out, err = cli("query", "plan", plan_id, "--log", audit_dir, "--format", fmt)
    return code, out, err


def test_query_plan_rebuilds_from_the_log_what_the_gateway_showed(plan_gateway, upstream):
    gw, audit_dir = plan_gateway
    scope, token = open_root(gw)
    plan_id = register(gw, token, three_tasks("observe"))[1]["plan"]
    child = open_for_task(gw, token, "researcher", plan_id + "/research")
    assert tool(gw, "researcher", child, "search")[0] == 200
    assert tool(gw, "researcher", child, "hr")[0] == 200                 # unapproved_action, observed
    delegate(gw, token, "writer", task=plan_id + "/write")                # sequence_violation
    status, _, _ = request("127.0.0.1", gw.port, "POST", "/v1/plans/%s/tasks/research/complete" % plan_id,
                           headers=auth("researcher", child))
    assert status == 200
    delegate(gw, token, "analyst", task=plan_id + "/analyse")             # completes at once (2xx)
    live = view(gw, token, plan_id)
    assert live["state"] == "finished" and live["outcome"] == "completed"
    assert [t["state"] for t in live["tasks"]] == ["completed", "completed", "completed"]
    assert live["tasks"][0]["requests"] == 3 and float(live["tasks"][0]["tool_ms"]) > 0

    # Wait until the writer has put every record down, then rebuild.
    deadline = time.time() + 5
    while time.time() < deadline:
        code, out, err = query_plan(audit_dir, plan_id)
        if code == 0 and json.loads(out)["tasks"] == live["tasks"]:
            break
        time.sleep(0.1)
    assert code == 0, err
    rebuilt = json.loads(out)
    evidence = rebuilt.pop("evidence")
    assert evidence["chain"] == "verified" and evidence["plan_records"] > 0
    assert rebuilt == live  # field for field
    # A prefix resolves; the table and the CSV say the same.
    code, table, _ = query_plan(audit_dir, plan_id[:20], "table")
    assert code == 0 and "unapproved_action" in table and "chain verified" in table
    code, csv_text, _ = query_plan(audit_dir, plan_id, "csv")
    rows = csv_text.strip().splitlines()
    assert code == 0 and len(rows) == 4 and rows[1].startswith(plan_id + ",research,researcher,completed")

    # An id the log never opened proves nothing: exit 2, no answer.
    code, out, err = query_plan(audit_dir, "01ffffff-0000-7000-8000-000000000000")
    assert code == 2 and out == "" and "no plan.open record" in err

    # A broken chain still answers, but says so and exits 1.
    path = next(os.path.join(audit_dir, name) for name in sorted(os.listdir(audit_dir))
                if name.endswith(".jsonl") and '"plan.deviation"' in open(os.path.join(audit_dir, name)).read())
    with open(path) as f:
        lines = f.readlines()
    victim = next(i for i, l in enumerate(lines) if '"plan.deviation"' in l)
    lines[victim] = lines[victim].replace('"unapproved_action"', '"sequence_violation"')
    with open(path, "w") as f:
        f.writelines(lines)
    code, out, _ = query_plan(audit_dir, plan_id)
    assert code == 1 and json.loads(out)["evidence"]["chain"] == "broken"


def test_what_the_probe_found_stays_closed(plan_gateway, upstream, tmp_path):
    """An enforce plan cannot be escaped: by a worker's own sub-plan, by naming another task from a
    bound scope, by the coordinator opening a scope for itself, by ending others' tasks through the
    API, or by the gateway forgetting the plan (restart)."""
    gw, audit_dir = plan_gateway
    scope, token = open_root(gw)
    plan_id = register(gw, token, three_tasks("enforce"))[1]["plan"]
    child = open_for_task(gw, token, "researcher", plan_id + "/research")
    # A sub-plan of the researcher's own, approving everything, does not loosen the task it carries.
    status, sub = register(gw, child, {"mode": "observe", "tasks": [{"id": "x", "agent": "researcher",
                                                                      "actions": ["tool:*"]}]}, agent="researcher")
    assert status == 201, sub
    status, _, data = request("127.0.0.1", gw.port, "POST", "/v1/scopes", headers=auth("researcher", child),
                              body=json.dumps({"task": sub["plan"] + "/x"}))
    assert status == 201, data
    nested = json.loads(data)["token"]
    before = calls(upstream)
    status, data = tool(gw, "researcher", nested, "hr")
    assert status == 403 and error_code(data) == "plan_deviation"
    assert calls(upstream) - before == 1
    assert tool(gw, "researcher", nested, "search")[0] == 200
    # Naming another task of the plan from a bound scope is an action of that scope too (agent:analyst
    # is not among research's actions).
    headers = auth("researcher", child, **{"Delegation-Task": plan_id + "/analyse"})
    status, _, data = request("127.0.0.1", gw.port, "POST", "/agents/analyst", headers=headers, body="{}")
    assert status == 403 and error_code(data) == "plan_deviation"
    # The researcher may end its own task, not the analyst's.
    status, _, data = request("127.0.0.1", gw.port, "POST", "/v1/plans/%s/tasks/analyse/skip" % plan_id,
                              headers=auth("researcher", child))
    assert status == 403 and error_code(data) == "policy_denied"
    # The coordinator's scope for itself, under no task, is still the plan's: delegating from it
    # without naming a task is an unplanned delegation.
    status, _, data = request("127.0.0.1", gw.port, "POST", "/v1/scopes", headers=auth("planner", token),
                              body=json.dumps({"objective": "side door"}))
    assert status == 201
    side = json.loads(data)["token"]
    before = calls(upstream)
    status, data, _ = delegate(gw, side, "analyst")
    assert status == 403 and error_code(json.dumps(data)) == "plan_deviation"
    assert calls(upstream) - before == 1

    # A restarted gateway rebuilds its plans from its audit log: the bound scopes are checked as
    # before, and the plan shows as it did.
    shown = view(gw, token, plan_id)
    gw.stop()
    again = Gateway(plan_config(upstream, audit_dir), env=TOKEN_ENV)
    try:
        assert view(again, token, plan_id) == shown
        assert tool(again, "researcher", child, "search")[0] == 200
        status, data = tool(again, "researcher", child, "hr")
        assert status == 403 and error_code(data) == "plan_deviation"
    finally:
        again.stop()
    # A gateway that never held the plan (another node, another log) refuses what it cannot check.
    elsewhere = Gateway(plan_config(upstream, str(tmp_path / "other-audit")), env=TOKEN_ENV)
    try:
        before = calls(upstream)
        status, _, data = request("127.0.0.1", elsewhere.port, "POST", "/tools/search",
                                  headers=auth("researcher", child), body="{}")
        assert status == 403 and error_code(data) == "plan_deviation"
        assert "not held by this gateway" in json.loads(data)["error"]["message"]
        assert calls(upstream) - before == 1
    finally:
        elsewhere.stop()


def test_a_sub_agent_whose_breaker_is_open_fails_the_task_it_was_handed(start_gateway, upstream, tmp_path):
    import socket
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        audit_dir = str(tmp_path / "audit")
        routes = route("researcher", "/agents/researcher", "http://127.0.0.1:%d" % dead.getsockname()[1], kind="agent",
                       access="scoped", target_agent="researcher", strip_prefix="true")
        routes += "    breaker: { consecutive_failures: 1, open: 30s }\n"
        gw = start_gateway(delegation_config(routes, agents=AGENTS, extra="audit:\n  dir: %s\n" % audit_dir),
                           env=TOKEN_ENV)
        _, token = open_root(gw)
        plan = {"mode": "enforce", "tasks": [{"id": "a", "agent": "researcher", "actions": []},
                                             {"id": "b", "agent": "researcher", "actions": []}]}
        plan_id = register(gw, token, plan)[1]["plan"]
        status, data, _ = delegate(gw, token, "researcher", task=plan_id + "/a")
        assert status == 502, data  # its scope opened, the agent could not be reached: failed
        status, data, _ = delegate(gw, token, "researcher", task=plan_id + "/b")
        assert status == 503 and data["error"]["code"] == "breaker_open"  # refused before its scope opened
        v = view(gw, token, plan_id)
        assert [t["state"] for t in v["tasks"]] == ["failed", "failed"]
        causes = [c["cause"] for c in settle(audit_dir, "plan.task", plan_id, 3) if c["to"] == "failed"]
        assert causes == ["upstream_unavailable", "breaker_open"]
    finally:
        dead.close()


def test_a_workers_own_plan_is_enforced_under_the_task_it_carries(plan_gateway, upstream):
    gw, audit_dir = plan_gateway
    _, token = open_root(gw)
    outer = register(gw, token, {"mode": "observe", "tasks": [{"id": "a", "agent": "researcher", "actions": ["*"]}]})[1]
    child = open_for_task(gw, token, "researcher", outer["plan"] + "/a")
    status, sub = register(gw, child, {"mode": "enforce", "tasks": [{"id": "x", "agent": "analyst",
                                                                      "actions": ["tool:calc"]}]}, agent="researcher")
    assert status == 201, sub
    # Handing work on without naming a task of its own plan: unplanned, refused by its enforce plan.
    headers = auth("researcher", child)
    status, _, data = request("127.0.0.1", gw.port, "POST", "/agents/analyst", headers=headers, body="{}")
    assert status == 403 and error_code(data) == "plan_deviation"
    assert json.loads(data)["error"]["rule"] == "plan:" + sub["plan"]
    headers["Delegation-Task"] = sub["plan"] + "/x"
    status, _, data = request("127.0.0.1", gw.port, "POST", "/agents/analyst", headers=headers, body="{}")
    assert status == 200, data
    inner = view(gw, child, sub["plan"], agent="researcher")
    assert inner["tasks"][0]["state"] == "completed"
    assert [d["kind"] for d in inner["deviations"]] == ["unplanned_delegation"]
    # The outer plan (actions "*") saw nothing wrong.
    assert view(gw, token, outer["plan"])["deviations"] == []
