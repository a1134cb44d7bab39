"""What users see matches schema/: scope records (POST /v1/scopes, GET /v1/scopes/{id}), token
blocks (`scopegate token inspect` of real tokens), delegation error bodies, and the audit record
schema's own consistency (the audit writer that emits records lands with the audit log)."""
import json
import os
import subprocess

import jsonschema
import pytest

import dst1_reference as ref
from harness import (BIN, ROOT, TOKEN_ENV, TOKEN_SECRET, auth, delegation_config, open_root, open_scope, request, route)


def load(name):
    with open(os.path.join(ROOT, "schema", name)) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def validator(name, definition=None):
    """A validator for a schema file, or for one of its $defs (refs resolved within the file)."""
    schema = load(name)
    store = {load(n)["$id"]: load(n) for n in os.listdir(os.path.join(ROOT, "schema"))}
    if definition:
        schema = {"$ref": schema["$id"] + "#/$defs/" + definition}
    resolver = jsonschema.RefResolver(base_uri=schema.get("$id", ""), referrer=schema, store=store)
    return jsonschema.Draft202012Validator(schema, resolver=resolver)


def test_scope_records_and_views(start_gateway, upstream):
    gw = start_gateway(delegation_config(route("search", "/tools/search", upstream.url, access="scoped")),
                       env=TOKEN_ENV)
    status, body = open_scope(gw, "planner", {"principal": "user:alice", "objective": "caf\u00e9 report",
                                              "grants": ["tool:*", "agent:researcher"], "ttl_s": 300})
    assert status == 201
    validator("scope.schema.json", "open_response").validate(body)
    status, child = open_scope(gw, "planner", {"agent": "researcher", "grants": ["tool:search"]}, token=body["token"])
    assert status == 201
    validator("scope.schema.json", "open_response").validate(child)
    status, _, data = request("127.0.0.1", gw.admin_port, "GET", "/v1/scopes/" + body["scope"]["id"])
    view = json.loads(data)
    validator("scope.schema.json", "view").validate(view)
    assert view["children"][0]["delegator"] == "planner"
    # Delegation errors match the error schema (a token presented by an agent it does not belong to).
    status, _, data = request("127.0.0.1", gw.port, "GET", "/tools/search",
                              headers=auth("planner", child["token"]))
    assert status == 401
    validator("error.schema.json").validate(json.loads(data))

    # Every block of a real depth-2 token with a caveat matches the token block schema.
    now = int(__import__("time").time())
    deeper = ref.append_child(child["token"], TOKEN_SECRET, {
        "t": "d", "sid": "s-3", "par": child["scope"]["id"], "agt": "writer", "scp": ["tool:search"],
        "iat": now, "exp": now + 60})
    deeper = ref.attenuate(deeper, {"t": "c", "scp": ["tool:search"], "exp": now + 30})
    out = subprocess.run([BIN, "token", "inspect", deeper], capture_output=True, text=True)
    blocks = json.loads(out.stdout)["blocks"]
    assert [b["t"] for b in blocks] == ["d", "d", "d", "c"]
    v = validator("token-block.schema.json")
    for block in blocks:
        v.validate(block)
    with pytest.raises(jsonschema.ValidationError):
        v.validate(dict(blocks[1], extra=1))  # unknown keys make a token invalid
    with pytest.raises(jsonschema.ValidationError):
        v.validate({"t": "c"})                # a caveat restricts something


def test_audit_record_schema_describes_the_contract_fields():
    v = validator("audit-record.schema.json")
    zero = "0" * 64
    request_record = {
        "v": 1, "seq": 7, "ts": "2026-11-21T10:00:00.123456Z", "node": "gw-1", "event": "request",
        "request_id": "0193a6f0-0000-7000-8000-000000000001", "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "span_id": "b7ad6b7169203331",
        "scope": {"id": "c", "parent": "r", "root": "r", "depth": 1, "path": "r/c"},
        "principal": "user:alice", "agent": "researcher", "route": "mcp", "operation": "execute_tool",
        "tool": "search", "datasets": ["public-web"], "method": "POST", "path": "/mcp", "upstream": "http://t",
        "decision": "allow", "status": 200, "duration_ms": 1.5, "bytes_in": 10, "bytes_out": 20,
        "prev": zero, "hash": "a" * 64}
    v.validate(request_record)
    v.validate({"v": 1, "seq": 8, "ts": "2026-11-21T10:00:00.200000Z", "node": "gw-1", "event": "scope.revoke",
                "scope": {"id": "r", "root": "r", "depth": 0, "path": "r"}, "revoked": ["r", "c"],
                "prev": "a" * 64, "hash": "b" * 64})
    # A strict route: the request record written ahead of forwarding, then its outcome.
    ahead = dict({k: x for k, x in request_record.items() if k not in ("status", "duration_ms", "bytes_out")},
                 recorded="before_forward")
    v.validate(ahead)
    outcome = {
        "v": 1, "seq": 9, "ts": "2026-11-21T10:00:00.300000Z", "node": "gw-1", "event": "request.outcome",
        "request_id": request_record["request_id"], "trace_id": request_record["trace_id"],
        "span_id": request_record["span_id"], "scope": request_record["scope"], "principal": "user:alice",
        "agent": "researcher", "route": "mcp", "status": 200, "outcome": "upstream_cut", "duration_ms": 3.25,
        "bytes_out": 5, "model": "gpt-4o",
        "usage": {"input_tokens": 10, "output_tokens": 2, "cache_read_input_tokens": 4, "reasoning_output_tokens": 0},
        "cost": 0.000035, "prev": "b" * 64, "hash": "c" * 64}
    v.validate(outcome)
    v.validate({k: x for k, x in outcome.items() if k not in ("usage", "cost", "outcome", "trace_id", "span_id")})
    # Usage is whole: every count, as the gateway writes it.
    for partial in ({"input_tokens": 10, "output_tokens": 2}, dict(outcome["usage"], extra=1)):
        with pytest.raises(jsonschema.ValidationError):
            v.validate(dict(outcome, usage=partial))
    for broken in ({k: x for k, x in request_record.items() if k != "hash"},
                   dict(request_record, decision="maybe"),
                   dict(request_record, ts="2026-11-21 10:00:00"),
                   {k: x for k, x in request_record.items() if k != "status"},
                   {k: x for k, x in outcome.items() if k != "status"},
                   {k: x for k, x in outcome.items() if k != "bytes_out"},
                   dict(outcome, usage={"input_tokens": -1}),
                   dict(outcome, usage={"prompt_tokens": 3}),
                   dict(outcome, outcome="finished")):
        with pytest.raises(jsonschema.ValidationError):
            v.validate(broken)


def test_plan_bodies_views_records_and_query_output_match_their_schemas(start_gateway, upstream, tmp_path):
    """schema/plan.schema.json (the body, the view, the admin list), schema/query-plan.schema.json,
    and the plan.* audit records, from a real plan with a binding, a deviation and a cascade."""
    from audit_helpers import cli, segments
    audit_dir = str(tmp_path / "audit")
    routes = (route("search", "/tools/search", upstream.url, access="scoped") +
              route("researcher", "/agents/researcher", upstream.url, kind="agent", access="scoped",
                    target_agent="researcher", strip_prefix="true"))
    gw = start_gateway(delegation_config(routes, extra="audit:\n  dir: %s\n" % audit_dir), env=TOKEN_ENV)
    _, token = open_root(gw)
    body = {"goal": "g", "mode": "enforce", "tasks": [
        {"id": "a", "agent": "researcher", "objective": "o", "actions": ["tool:search"], "critical": True, "deadline_s": 60},
        {"id": "b", "agent": "writer", "actions": [], "depends_on": ["a"]}]}
    validator("plan.schema.json").validate(body)
    status, _, data = request("127.0.0.1", gw.port, "POST", "/v1/plans", headers=auth("planner", token),
                              body=json.dumps(body))
    assert status == 201
    view = json.loads(data)
    validator("plan.schema.json", "view_reply").validate(view)
    plan_id = view["plan"]
    # The delegation of task a: its child scope carries the task in its token and its record.
    headers = auth("planner", token, **{"Delegation-Task": plan_id + "/a"})
    status, _, data = request("127.0.0.1", gw.port, "POST", "/agents/researcher/status?code=500", headers=headers,
                              body="{}")
    assert status == 500
    status, _, data = request("127.0.0.1", gw.port, "POST", "/agents/researcher", headers=headers, body="{}")
    assert status == 403
    status, _, data = request("127.0.0.1", gw.port, "GET", "/v1/plans/" + plan_id, headers=auth("planner", token))
    view = json.loads(data)
    validator("plan.schema.json", "view_reply").validate(view)
    assert view["cascades"] and view["deviations"]
    status, _, data = request("127.0.0.1", gw.admin_port, "GET", "/v1/plans")
    validator("plan.schema.json", "list").validate(json.loads(data))
    v = validator("audit-record.schema.json")
    gw.stop()  # every record written and the log closed
    seen = set()
    for name in segments(audit_dir):
        with open(os.path.join(audit_dir, name)) as f:
            for line in f:
                record = json.loads(line)
                v.validate(record)
                seen.add(record["event"])
    assert {"plan.open", "plan.task", "plan.deviation"} <= seen
    code, out, err = cli("query", "plan", plan_id, "--log", audit_dir, "--format", "json")
    assert code == 0, err
    validator("query-plan.schema.json").validate(json.loads(out))
    with pytest.raises(jsonschema.ValidationError):
        validator("query-plan.schema.json").validate(dict(json.loads(out), extra=1))
