"""Delegation scopes end to end (docs/protocol.md §1–§4) with the real binary and a real tool server:
authentication, token verification, stamping, grants, delegations, POST /v1/scopes, revocation."""
import json
import time
import uuid

import dst1_reference as ref
from audit_helpers import records
from harness import (AGENT_KEYS, TOKEN_ENV, TOKEN_SECRET, Gateway, agent_yaml, auth, delegation_config, error_code,
                     exchange, open_root, open_scope, parse_responses, request, route)


def scoped(name, prefix, url, **extra):
    extra.setdefault("access", "scoped")
    return route(name, prefix, url, **extra)


def routes(upstream):
    return (scoped("search", "/tools/search", upstream.url) +
            scoped("files", "/tools/files", upstream.url) +
            scoped("mcp", "/mcp", upstream.url, kind="mcp") +
            scoped("researcher", "/agents/researcher", upstream.url, kind="agent", target_agent="researcher",
                   grants='["tool:*"]', stamp_objective="true") +
            scoped("writer", "/agents/writer", upstream.url, kind="agent", target_agent="writer") +
            route("card", "/public", upstream.url, access="open") +
            route("whoami", "/whoami", upstream.url, access="authenticated"))


def start(start_gateway, upstream, **kwargs):
    return start_gateway(delegation_config(routes(upstream), **kwargs), env=dict(TOKEN_ENV, SG_TOKEN_K2="ab" * 32))


def echoed(body):
    """The headers the tool received, as {lower-case name: [values]}."""
    out = {}
    for name, value in json.loads(body)["headers"]:
        out.setdefault(name.lower(), []).append(value)
    return out


def call(gw, agent, token, path="/tools/search", method="GET", headers=None, body=None):
    h = auth(agent, token)
    h.update(headers or {})
    return request("127.0.0.1", gw.port, method, path, headers=h, body=body)


def test_credentials_are_checked_first_and_nothing_reaches_the_tool(start_gateway, upstream):
    gw = start(start_gateway, upstream)
    _, token = open_root(gw)
    before = upstream.stats()["requests"]
    cases = [
        ({}, "unauthenticated"),                                                    # no credential
        ({"Authorization": "Bearer wrong"}, "unauthenticated"),                    # wrong key
        ({"Authorization": "Basic " + AGENT_KEYS["planner"]}, "unauthenticated"),  # wrong scheme
        ({"Authorization": "Bearer " + AGENT_KEYS["planner"]}, "token_invalid"),   # no token on a scoped route
        ({"Authorization": "Bearer " + AGENT_KEYS["researcher"], "Delegation-Token": token}, "token_invalid"),
        ({"Authorization": "Bearer " + AGENT_KEYS["planner"], "Delegation-Token": token[:-3] + "AAA"},
         "token_invalid"),
        ({"Authorization": "Bearer " + AGENT_KEYS["planner"], "Delegation-Token": "dst1.garbage"}, "token_invalid"),
    ]
    for headers, code in cases:
        status, h, body = request("127.0.0.1", gw.port, "GET", "/tools/search", headers=headers)
        assert status == 401 and error_code(body) == code, (headers, body)
        assert json.loads(body)["error"]["request_id"] == h["x-request-id"]
    # A wrong key is refused before routing: even a path no route matches answers 401.
    status, _, body = request("127.0.0.1", gw.port, "GET", "/nowhere", headers={"Authorization": "Bearer x"})
    assert status == 401
    # Open routes need nothing; authenticated routes a credential but no token.
    assert request("127.0.0.1", gw.port, "GET", "/public/card")[0] == 200
    assert request("127.0.0.1", gw.port, "GET", "/whoami")[0] == 401
    status, _, body = request("127.0.0.1", gw.port, "GET", "/whoami", headers=auth("writer"))
    assert status == 200 and echoed(body)["delegation-actor"] == ["writer"]
    assert "authorization" not in echoed(body)
    assert upstream.stats()["requests"] == before + 3  # the two open/authenticated calls and this stats call


def test_root_scope_stamps_every_header_and_strips_spoofing(start_gateway, upstream):
    gw = start(start_gateway, upstream)
    scope, token = open_root(gw, grants=["tool:search", "agent:*"], objective="find Q3 numbers")
    assert scope["depth"] == 0 and scope["root"] == scope["id"] == scope["path"]
    assert scope["principal"] == "user:alice" and scope["actor"] == "planner"
    assert uuid.UUID(scope["id"]).version == 7
    inbound_trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    spoof = {
        "Delegation-Scope": "forged", "delegation-root": "forged", "DELEGATION-DEPTH": "99",
        "Delegation-Principal": "user:mallory", "Delegation-Actor": "root",
        "Connection": "close, Delegation-Parent", "Delegation-Parent": "forged",
        "traceparent": inbound_trace, "baggage": "tenant=acme, delegation.scope=forged",
    }
    status, _, body = call(gw, "planner", token, headers=spoof)
    assert status == 200, body
    got = echoed(body)
    assert got["delegation-scope"] == [scope["id"]]
    assert got["delegation-root"] == [scope["id"]]
    assert got["delegation-depth"] == ["0"]
    assert got["delegation-principal"] == ["user:alice"]
    assert got["delegation-actor"] == ["planner"]
    assert "delegation-parent" not in got and "delegation-token" not in got and "authorization" not in got
    trace = got["traceparent"][0].split("-")
    assert trace[1] == "0af7651916cd43dd8448eb211c80319c" and trace[2] != "b7ad6b7169203331" and trace[3] == "01"
    assert got["baggage"] == ["tenant=acme,delegation.scope=" + scope["id"]]
    # Without an inbound traceparent a new trace starts.
    status, _, body = call(gw, "planner", token)
    t = echoed(body)["traceparent"][0].split("-")
    assert len(t[1]) == 32 and t[1] != "0" * 32


def test_underscore_variants_are_refused_not_forwarded(start_gateway, upstream):
    gw = start(start_gateway, upstream)
    _, token = open_root(gw)
    before = upstream.stats()["requests"]
    for name in ("Delegation_Scope", "delegation_token", "Delegation_Depth"):
        status, _, body = call(gw, "planner", token, headers={name: "x"})
        assert status == 400 and error_code(body) == "header_spoofing"
    assert upstream.stats()["requests"] == before + 1  # only the stats call itself


def test_grants_decide_which_tools_a_scope_may_call(start_gateway, upstream):
    gw = start(start_gateway, upstream)
    scope, token = open_root(gw, grants=["tool:search"])
    assert call(gw, "planner", token)[0] == 200
    status, _, body = call(gw, "planner", token, path="/tools/files")
    assert status == 403 and error_code(body) == "grant_exceeded"
    assert json.loads(body)["error"]["scope"] == scope["id"]
    # A caveat appended offline by the holder narrows the token further.
    narrowed = ref.attenuate(token, {"t": "c", "scp": ["tool:nothing"]})
    status, _, body = call(gw, "planner", narrowed)
    assert status == 403 and error_code(body) == "grant_exceeded"
    # The agent's ceiling applies even to a token minted offline with more.
    now = int(time.time())
    offline = ref.mint_root(TOKEN_SECRET, json.dumps({
        "v": 1, "t": "d", "kid": "k1", "sid": str(uuid.uuid4()), "sub": "user:bob", "agt": "intruder",
        "scp": ["*"], "aud": "scopegate", "iat": now, "exp": now + 60}, separators=(",", ":")))
    assert call(gw, "intruder", offline)[0] == 200
    status, _, body = call(gw, "intruder", offline, path="/tools/files")
    assert status == 403 and error_code(body) == "grant_exceeded"


def test_expired_and_wrong_audience_tokens(start_gateway, upstream):
    gw = start(start_gateway, upstream, token_extra="  clock_skew: 1s\n")
    now = int(time.time())

    def mint(**over):
        block = {"v": 1, "t": "d", "kid": "k1", "sid": str(uuid.uuid4()), "sub": "user:alice", "agt": "planner",
                 "scp": ["*"], "aud": "scopegate", "iat": now - 100, "exp": now + 100}
        block.update(over)
        return ref.mint_root(TOKEN_SECRET, json.dumps(block, separators=(",", ":")))

    assert call(gw, "planner", mint())[0] == 200
    status, _, body = call(gw, "planner", mint(exp=now - 5))
    assert status == 401 and error_code(body) == "token_expired"
    status, _, body = call(gw, "planner", mint(aud="elsewhere"))
    assert status == 401 and error_code(body) == "token_invalid"
    status, _, body = call(gw, "planner", mint(kid="k9"))
    assert status == 401 and error_code(body) == "token_invalid"


def test_post_scopes_opens_roots_and_children_within_bounds(start_gateway, upstream):
    gw = start(start_gateway, upstream,
               agents=agent_yaml("planner", may_open_root=True, grants=["tool:*", "agent:*"]) +
               agent_yaml("researcher", grants=["tool:*", "agent:*"], max_depth=1) + agent_yaml("writer") +
               agent_yaml("intruder"))
    # Roots: only agents allowed to; never wider than the agent's ceiling.
    status, body = open_scope(gw, "researcher", {"principal": "user:alice", "grants": ["tool:search"]})
    assert status == 403 and body["error"]["code"] == "policy_denied"
    status, body = open_scope(gw, "planner", {"principal": "user:alice", "grants": ["*"]})
    assert status == 403 and body["error"]["code"] == "grant_exceeded"
    status, body = open_scope(gw, "planner", {"grants": ["tool:search"]})
    assert status == 400 and body["error"]["code"] == "bad_request"
    status, body = open_scope(gw, "planner", {"principal": "user:alice", "grants": ["tool:*", "agent:researcher"],
                                              "ttl_s": 600, "objective": "quarterly report", "colour": "red"})
    assert status == 400 and "colour" in body["error"]["message"]
    root, root_token = open_root(gw, grants=["tool:*", "agent:researcher"], ttl_s=600)

    # Children: narrower only, never past the parent's expiry, not deeper than allowed.
    status, body = open_scope(gw, "planner", {"agent": "researcher", "grants": ["tool:search", "tool:files"],
                                              "ttl_s": 86000, "objective": "search"}, token=root_token)
    assert status == 201, body
    child = body["scope"]
    assert child["parent"] == root["id"] and child["root"] == root["id"] and child["depth"] == 1
    assert child["path"] == root["id"] + "/" + child["id"]
    assert child["actor"] == "researcher" and child["delegator"] == "planner"
    assert child["exp"] <= root["exp"]
    assert ref.verify(body["token"], {"k1": TOKEN_SECRET})[-1]["sid"] == child["id"]
    status, widen = open_scope(gw, "planner", {"agent": "researcher", "grants": ["*"]}, token=root_token)
    assert status == 403 and widen["error"]["code"] == "grant_exceeded"
    status, other = open_scope(gw, "planner", {"agent": "writer"}, token=root_token)
    assert status == 403 and other["error"]["code"] == "grant_exceeded"   # root holds agent:researcher only
    # The researcher may act at depth 1 at most: a child of its own scope would be depth 2.
    status, deep = open_scope(gw, "researcher", {"grants": ["tool:search"]}, token=body["token"])
    assert status == 403 and deep["error"]["code"] == "depth_exceeded"
    # The admin API shows the tree.
    status, _, data = request("127.0.0.1", gw.admin_port, "GET", "/v1/scopes/" + root["id"])
    view = json.loads(data)
    assert status == 200 and [c["id"] for c in view["children"]] == [child["id"]]


def test_post_scopes_passes_the_stages_of_every_route(start_gateway, upstream, tmp_path):
    """POST /v1/scopes is the route "scopegate:scopes": its refusals come from the same stages as any
    route's (method, credential, grants against the scope and the caller's ceiling) and its
    records name the route."""
    audit_dir = tmp_path / "audit"
    # The planner's ceiling holds no agent:* grant, so it may never delegate, whatever its token says.
    agents = (agent_yaml("planner", may_open_root=True, grants=["tool:*"]) + agent_yaml("researcher") +
              agent_yaml("writer") + agent_yaml("intruder"))
    gw = start_gateway(delegation_config(routes(upstream), agents=agents, extra="audit:\n  dir: %s\n" % audit_dir),
                       env=TOKEN_ENV)
    status, _, data = request("127.0.0.1", gw.port, "GET", "/v1/scopes", headers=auth("planner"))
    assert status == 405 and error_code(data) == "method_not_allowed"
    status, _, data = request("127.0.0.1", gw.port, "POST", "/v1/scopes", body=b"{}")
    assert status == 401 and error_code(data) == "unauthenticated"
    # A token minted elsewhere that grants agent:researcher: the scope allows it, the ceiling does not.
    now = int(time.time())
    sid = str(uuid.uuid4())
    offline = ref.mint_root(TOKEN_SECRET, json.dumps({
        "v": 1, "t": "d", "kid": "k1", "sid": sid, "sub": "user:alice", "agt": "planner",
        "scp": ["tool:*", "agent:researcher"], "aud": "scopegate", "iat": now, "exp": now + 60},
        separators=(",", ":")))
    status, body = open_scope(gw, "planner", {"agent": "researcher", "grants": ["tool:search"]}, token=offline)
    assert status == 403 and body["error"]["code"] == "grant_exceeded", body
    assert "planner may never agent:researcher" in body["error"]["message"]
    status, body = open_scope(gw, "planner", {"agent": "nobody"}, token=offline)
    assert status == 400 and "nobody" in body["error"]["message"]
    # A narrower scope for itself passes nothing on: allowed.
    status, body = open_scope(gw, "planner", {"grants": ["tool:search"]}, token=offline)
    assert status == 201, body
    gw.stop()

    reqs = [r for r in records(audit_dir) if r["event"] == "request"]
    assert [(r["route"], r["status"], r.get("reason")) for r in reqs] == [
        ("scopegate:scopes", 405, "method_not_allowed"), ("scopegate:scopes", 401, "unauthenticated"),
        ("scopegate:scopes", 403, "grant_exceeded"), ("scopegate:scopes", 400, "bad_request"),
        ("scopegate:scopes", 201, None)]
    # Refusals under the token name its scope, as on any route.
    assert [r.get("scope", {}).get("id") for r in reqs[2:]] == [sid, sid, sid]
    assert reqs[4]["decision"] == "allow" and reqs[4]["child_scope"]


def test_delegation_mints_a_child_for_the_sub_agent(start_gateway, upstream):
    gw = start(start_gateway, upstream)
    root, token = open_root(gw, grants=["tool:search", "tool:files", "agent:researcher"])
    objective = "find\r\nX-Evil: 1 the Q3 numbers \u00e9"
    status, _, body = call(gw, "planner", token, path="/agents/researcher/task", method="POST",
                           headers={"Delegation-Objective": "find%0D%0AX-Evil%3A%201%20the%20Q3%20numbers%20%C3%A9",
                                    "Delegation-Grants": "tool:search"}, body=b"{}")
    assert status == 200, body
    got = echoed(body)
    assert "x-evil" not in got
    child_id = got["delegation-scope"][0]
    assert got["delegation-parent"] == [root["id"]] and got["delegation-root"] == [root["id"]]
    assert got["delegation-depth"] == ["1"] and got["delegation-actor"] == ["planner"]
    assert got["delegation-objective"] == ["find%0D%0AX-Evil%3A%201%20the%20Q3%20numbers%20%C3%A9"]
    child_token = got["delegation-token"][0]
    blocks = ref.verify(child_token, {"k1": TOKEN_SECRET})
    assert blocks[-1]["sid"] == child_id and blocks[-1]["agt"] == "researcher" and blocks[-1]["scp"] == ["tool:search"]
    assert blocks[-1]["obj"] == objective

    # The sub-agent calls the tool with its own credential and the token it was handed.
    status, _, body = call(gw, "researcher", child_token)
    assert status == 200
    got = echoed(body)
    assert got["delegation-scope"] == [child_id] and got["delegation-parent"] == [root["id"]]
    assert got["delegation-depth"] == ["1"] and got["delegation-actor"] == ["researcher"]
    status, _, body = call(gw, "researcher", child_token, path="/tools/files")
    assert status == 403 and error_code(body) == "grant_exceeded"
    # Without the researcher's credential the token is worthless.
    status, _, body = call(gw, "planner", child_token)
    assert status == 401 and error_code(body) == "token_invalid"

    # Asking for more than the caller holds, or delegating where the scope does not reach.
    status, _, body = call(gw, "planner", token, path="/agents/researcher/task", method="POST",
                           headers={"Delegation-Grants": "tool:*"}, body=b"{}")
    assert status == 403 and error_code(body) == "grant_exceeded"
    status, _, body = call(gw, "planner", token, path="/agents/writer/task", method="POST", body=b"{}")
    assert status == 403 and error_code(body) == "grant_exceeded"


def test_depth_limits_on_delegation(start_gateway, upstream):
    gw = start(start_gateway, upstream,
               agents=agent_yaml("planner", may_open_root=True) + agent_yaml("researcher", max_depth=0) +
               agent_yaml("writer") + agent_yaml("intruder"))
    root, token = open_root(gw)
    status, _, body = call(gw, "planner", token, path="/agents/researcher/x", method="POST", body=b"{}")
    assert status == 403 and error_code(body) == "depth_exceeded"
    # A chain built offline (with the key) deeper than the researcher may act is refused on use.
    now = int(time.time())
    deep = ref.append_child(token, TOKEN_SECRET, {"t": "d", "sid": str(uuid.uuid4()), "par": root["id"],
                                                   "agt": "researcher", "scp": ["tool:*"], "iat": now, "exp": now + 60})
    status, _, body = call(gw, "researcher", deep)
    assert status == 403 and error_code(body) == "depth_exceeded"


def test_revocation_covers_descendants(start_gateway, upstream):
    gw = start(start_gateway, upstream)
    root, token = open_root(gw)
    status, child = open_scope(gw, "planner", {"agent": "researcher", "grants": ["tool:*"]}, token=token)
    assert status == 201
    assert call(gw, "researcher", child["token"])[0] == 200
    path = "/v1/scopes/%s/revoke" % root["id"]
    assert request("127.0.0.1", gw.admin_port, "GET", path)[0] == 405
    assert request("127.0.0.1", gw.admin_port, "POST", path)[0] == 401
    status, _, data = request("127.0.0.1", gw.admin_port, "POST", path,
                              headers={"Authorization": "Bearer test-admin-token"})
    assert status == 200 and set(json.loads(data)["revoked"]) == {root["id"], child["scope"]["id"]}
    for agent, tok in (("planner", token), ("researcher", child["token"])):
        status, _, body = call(gw, agent, tok)
        assert status == 401 and error_code(body) == "scope_revoked"
    # A descendant this node never saw (minted offline from the revoked chain) is refused too.
    now = int(time.time())
    unseen = ref.append_child(child["token"], TOKEN_SECRET, {
        "t": "d", "sid": str(uuid.uuid4()), "par": child["scope"]["id"], "agt": "writer", "scp": ["tool:*"],
        "iat": now, "exp": now + 60})
    status, _, body = call(gw, "writer", unseen)
    assert status == 401 and error_code(body) == "scope_revoked"
    status, _, data = request("127.0.0.1", gw.admin_port, "GET", "/v1/scopes/" + root["id"])
    assert json.loads(data)["revoked"] is True


def test_tokens_from_elsewhere_are_accepted_and_recorded(start_gateway, upstream):
    gw = start(start_gateway, upstream)
    now = int(time.time())
    sid = str(uuid.uuid4())
    offline = ref.mint_root(TOKEN_SECRET, json.dumps({
        "v": 1, "t": "d", "kid": "k1", "sid": sid, "sub": "service:nightly", "agt": "planner",
        "scp": ["tool:*"], "aud": "scopegate", "iat": now, "exp": now + 60}, separators=(",", ":")))
    assert request("127.0.0.1", gw.admin_port, "GET", "/v1/scopes/" + sid)[0] == 404
    assert call(gw, "planner", offline)[0] == 200
    status, _, data = request("127.0.0.1", gw.admin_port, "GET", "/v1/scopes/" + sid)
    assert status == 200 and json.loads(data)["scope"]["principal"] == "service:nightly"


def mcp_body(method, **params):
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()


def test_mcp_actions_are_named_from_the_body(start_gateway, upstream):
    gw = start(start_gateway, upstream)
    _, token = open_root(gw, grants=["tool:search", "resource:file:///reports/*"])
    json_type = {"Content-Type": "application/json"}
    ok = [mcp_body("tools/call", name="search", arguments={"q": "x"}),
          mcp_body("resources/read", uri="file:///reports/q3.txt"),
          mcp_body("initialize", protocolVersion="2025-06-18"), mcp_body("tools/list")]
    for body in ok:
        status, _, data = call(gw, "planner", token, path="/mcp", method="POST", headers=json_type, body=body)
        assert status == 200, (body, data)
        assert json.loads(data)["body_sha256"] == __import__("hashlib").sha256(body).hexdigest()
    denied = [mcp_body("tools/call", name="delete_everything"), mcp_body("resources/read", uri="file:///hr/salaries"),
              mcp_body("prompts/get", name="x"), mcp_body("sampling/createMessage")]
    for body in denied:
        status, _, data = call(gw, "planner", token, path="/mcp", method="POST", headers=json_type, body=body)
        assert status == 403 and error_code(data) == "grant_exceeded", (body, data)
    mismatch = [({"Mcp-Method": "tools/list"}, mcp_body("tools/call", name="search")),
                ({"Mcp-Name": "search"}, mcp_body("tools/call", name="delete_everything"))]
    for headers, body in mismatch:
        status, _, data = call(gw, "planner", token, path="/mcp", method="POST", headers=headers, body=body)
        assert status == 400 and error_code(data) == "mcp_header_mismatch"
    status, _, data = call(gw, "planner", token, path="/mcp", method="POST",
                           headers={"Mcp-Method": "tools/call", "Mcp-Name": "search"},
                           body=mcp_body("tools/call", name="search"))
    assert status == 200 and echoed(data)["mcp-name"] == ["search"]
    # The MCP session id passes through both ways; a GET (the session's SSE stream) is housekeeping.
    status, _, data = call(gw, "planner", token, path="/mcp", method="POST",
                           headers={"Mcp-Session-Id": "3f0e-session"}, body=mcp_body("tools/list"))
    assert status == 200 and echoed(data)["mcp-session-id"] == ["3f0e-session"]
    status, _, data = call(gw, "planner", token, path="/mcp", headers={"Mcp-Session-Id": "3f0e-session"})
    assert status == 200 and json.loads(data)["method"] == "GET"
    for bad in (b"not json", b"[" + mcp_body("tools/call", name="search") + b"]", mcp_body("tools/call"),
                mcp_body("resources/read", name="x")):
        status, _, data = call(gw, "planner", token, path="/mcp", method="POST", body=bad)
        assert status == 400 and error_code(data) == "bad_request"


def test_mcp_body_over_the_inspection_limit_is_refused(start_gateway, upstream):
    gw = start(start_gateway, upstream, extra="limits: { max_inspect_bytes: 1KiB }\n")
    _, token = open_root(gw)
    big = mcp_body("tools/call", name="search", arguments={"q": "x" * 2000})
    status, _, data = call(gw, "planner", token, path="/mcp", method="POST", body=big)
    assert status == 413 and error_code(data) == "payload_too_large"
    # Chunked: the limit holds while reading, and what is under it is forwarded with a length.
    small = mcp_body("tools/call", name="search")
    raw = (b"POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nDelegation-Token: %s\r\n"
           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
           % (AGENT_KEYS["planner"].encode(), token.encode(), len(small), small))
    responses = parse_responses(exchange(gw.port, raw).data)
    assert responses[0][0] == 200
    assert json.loads(responses[0][2])["body_bytes"] == len(small)


def test_a_reload_that_drops_a_key_invalidates_cached_tokens(start_gateway, upstream):
    gw = start(start_gateway, upstream)
    _, token = open_root(gw)
    for _ in range(3):  # verified once, then served from the worker's cache
        assert call(gw, "planner", token)[0] == 200
    # Rotate: the old key k1 is gone, a new k2 signs.
    yaml = delegation_config(routes(upstream)).replace("{ kid: k1, secret_env: SG_TOKEN_K1 }",
                                                       "{ kid: k2, secret_env: SG_TOKEN_K2 }")
    gw.write_config(yaml)
    gw.signal(__import__("signal").SIGHUP)
    gw.wait_for_log("config reloaded")
    for _ in range(4):  # every worker
        status, _, body = call(gw, "planner", token)
        assert status == 401 and error_code(body) == "token_invalid"


def test_revocations_survive_a_restart_with_a_revocations_file(start_gateway, upstream, tmp_path):
    path = tmp_path / "revocations"
    yaml = delegation_config(routes(upstream), token_extra="  revocations_file: %s\n" % path)
    env = dict(TOKEN_ENV, SG_TOKEN_K2="ab" * 32)
    gw = start_gateway(yaml, env=env)
    root, token = open_root(gw)
    status, child = open_scope(gw, "planner", {"agent": "researcher", "grants": ["tool:*"]}, token=token)
    status, _, data = request("127.0.0.1", gw.admin_port, "POST", "/v1/scopes/%s/revoke" % root["id"],
                              headers={"Authorization": "Bearer test-admin-token"})
    assert status == 200 and json.loads(data)["persisted"] is True
    lines = path.read_text().splitlines()
    assert sorted(l.split()[0] for l in lines) == sorted([root["id"], child["scope"]["id"]])
    gw.stop()

    # A torn last line (a crash mid-append) is dropped; expired entries are compacted away.
    with open(path, "a") as f:
        f.write("0193a6f0-0000-7000-8000-000000000099 1\n0193a6f0-dead")
    again = start_gateway(yaml, env=env)
    assert again.wait_for_log("revocations loaded")["revoked"] == "2"
    for agent, tok in (("planner", token), ("researcher", child["token"])):
        status, _, body = call(again, agent, tok)
        assert status == 401 and error_code(body) == "scope_revoked"
    assert len(path.read_text().splitlines()) == 2

    # Damage before the last line is not guessed at: the gateway refuses to start.
    path.write_text("garbage\n" + path.read_text())
    broken = Gateway(yaml, env=env, check_ready=False)  # not the fixture: it must not exit 0
    assert broken.wait(10) == 1
    broken._reader.join(5)
    assert any("revocations" in l and ":1:" in l for l in broken.log_lines)


def test_grant_patterns_that_could_never_match_are_refused_with_the_near_miss(start_gateway, upstream):
    """"tools:*" names no action kind the gateway produces: taken, it would silently grant nothing."""
    gw = start(start_gateway, upstream)
    for grants, near in ((["tools:*"], "did you mean 'tool:*'?"), (["tool:search", "Agent:researcher"],
                                                                   "did you mean 'agent:researcher'?"),
                         (["tool:"], "did you mean 'tool:*'?"), ([" tool:x"], "a space")):
        status, body = open_scope(gw, "planner", {"principal": "user:alice", "grants": grants})
        assert status == 400 and body["error"]["code"] == "bad_request", body
        assert body["error"]["message"].startswith("grants: ") and near in body["error"]["message"], body
    root, token = open_root(gw, grants=["tool:*", "agent:researcher"])
    status, _, body = call(gw, "planner", token, path="/agents/researcher/task", method="POST",
                           headers={"Delegation-Grants": "tool:search, tools:*"}, body=b"{}")
    assert status == 400 and error_code(body) == "bad_request"
    assert json.loads(body)["error"]["message"] == (
        "Delegation-Grants: unknown action kind 'tools' in grant pattern 'tools:*'; did you mean 'tool:*'?")


def test_a_bad_grant_is_not_echoed_back_at_length_probe2(start_gateway, upstream):
    """Probe (issue12-probe2): the near miss quoted the rest of the pattern whole: a POST /v1/scopes
    body with "tools:" + 60 KB was answered with a 60 KB message, and Delegation-Grants likewise
    up to the header limit. The quoted pattern is cut at 80 bytes; the suggestion must be too."""
    gw = start(start_gateway, upstream)
    status, body = open_scope(gw, "planner", {"principal": "user:alice", "grants": ["tools:" + "A" * 20000]})
    assert status == 400 and body["error"]["code"] == "bad_request", body
    assert "did you mean" in body["error"]["message"]
    assert len(body["error"]["message"]) < 400, len(body["error"]["message"])
    root, token = open_root(gw, grants=["tool:*", "agent:researcher"])
    status, _, body = call(gw, "planner", token, path="/agents/researcher/task", method="POST",
                           headers={"Delegation-Grants": "tools:" + "B" * 4000}, body=b"{}")
    assert status == 400 and error_code(body) == "bad_request"
    assert len(json.loads(body)["error"]["message"]) < 400
