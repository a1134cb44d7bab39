"""Attribution under interleaving: scopes at four depths (siblings included) call the same tool
at once over kept-alive connections, with the same and with different arguments. Every call the
tool received must carry the scope of the caller that made it: checked call by call.
And attribution of refusals: every attempt by an authenticated agent whose token verifies is in
its scope's records, whichever stage refused it."""
import http.client
import json
import threading
import time
import uuid

import dst1_reference as ref
from audit_helpers import query, records, verify
from harness import TOKEN_ENV, TOKEN_SECRET, auth, delegation_config, error_code, open_root, open_scope, request, route

CALLS_PER_THREAD = 250
THREADS_PER_SCOPE = 2


def test_every_call_carries_its_own_scope(start_gateway, upstream):
    gw = start_gateway(delegation_config(route("search", "/tools/search", upstream.url, access="scoped")),
                       env=TOKEN_ENV)
    root, root_token = open_root(gw)
    scopes = {"root": (root, root_token, "planner")}

    def child(parent, agent, name):
        scope, token, actor = scopes[parent]
        status, body = open_scope(gw, actor, {"agent": agent, "objective": name}, token=token)
        assert status == 201, body
        scopes[name] = (body["scope"], body["token"], agent)

    child("root", "researcher", "d1")      # depth 1
    child("root", "writer", "d1-sibling")  # depth 1, a sibling of d1
    child("d1", "writer", "d2")            # depth 2
    child("d2", "researcher", "d3")        # depth 3
    assert sorted(s[0]["depth"] for s in scopes.values()) == [0, 1, 1, 2, 3]

    failures = []
    checked = []
    lock = threading.Lock()

    def worker(name, n):
        scope, token, agent = scopes[name]
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
        headers = auth(agent, token)
        mine = 0
        for i in range(CALLS_PER_THREAD):
            # Half the calls carry the same arguments from every scope, half their own.
            query = "q=same" if i % 2 == 0 else "q=%s-%d-%d" % (name, n, i)
            request_id = str(uuid.uuid4())
            conn.request("GET", "/tools/search?" + query, headers=dict(headers, **{"X-Request-Id": request_id}))
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                failures.append((name, i, resp.status, body[:200]))
                continue
            got = {}
            for k, v in json.loads(body)["headers"]:
                got.setdefault(k.lower(), []).append(v)
            expected = {
                "delegation-scope": [scope["id"]], "delegation-root": [root["id"]],
                "delegation-depth": [str(scope["depth"])], "delegation-actor": [agent],
                "x-request-id": [request_id],
            }
            if scope.get("parent"):
                expected["delegation-parent"] = [scope["parent"]]
            wrong = {k: got.get(k) for k, v in expected.items() if got.get(k) != v}
            if "delegation-parent" not in expected and "delegation-parent" in got:
                wrong["delegation-parent"] = got["delegation-parent"]
            if json.loads(body)["path"] != "/tools/search?" + query:
                wrong["path"] = json.loads(body)["path"]
            if wrong:
                failures.append((name, i, wrong))
            mine += 1
        conn.close()
        with lock:
            checked.append(mine)

    threads = [threading.Thread(target=worker, args=(name, n)) for name in scopes for n in range(THREADS_PER_SCOPE)]
    before = upstream.stats()["requests"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:5]
    total = len(scopes) * THREADS_PER_SCOPE * CALLS_PER_THREAD
    assert sum(checked) == total
    # The tool received exactly these calls (plus the two stats calls): nothing lost, nothing extra.
    assert upstream.stats()["requests"] == before + total + 1


def test_every_refused_attempt_is_in_its_scopes_records(start_gateway, upstream, tmp_path):
    """Refusals made before the pipeline reaches the token (header spoofing, no route, a body over
    the route's limit, a method the MCP route lacks) were recorded without a scope, so `query actions`
    of the scope did not show them. Now they are attributed whenever the caller's credential is
    valid and its token verifies; the client's answer is the same, nothing is minted, and a forged,
    expired or borrowed token attributes nothing."""
    d = str(tmp_path / "audit")
    routes = (route("search", "/tools/search", upstream.url, access="scoped", max_body_bytes="1KiB") +
              route("mcp", "/mcp", upstream.url, access="scoped", kind="mcp") +
              route("card", "/public", upstream.url, access="open", max_body_bytes="1KiB"))
    gw = start_gateway(delegation_config(routes, extra="audit:\n  dir: %s\n" % d), env=TOKEN_ENV)
    root, root_token = open_root(gw)
    status, body = open_scope(gw, "planner", {"agent": "researcher", "objective": "look"}, token=root_token)
    assert status == 201, body
    scope, token = body["scope"], body["token"]
    before = upstream.stats()["requests"]
    mcp_call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                           "params": {"name": "search", "arguments": {}}}).encode()
    attempts = [  # (method, path, extra headers, body, status, code)
        ("GET", "/tools/search/q", {"Delegation_Scope": "forged"}, None, 400, "header_spoofing"),
        ("GET", "/nowhere", {}, None, 404, "no_route"),
        ("POST", "/tools/search/q", {}, b"x" * 2048, 413, "payload_too_large"),
        ("POST", "/mcp", {"Mcp-Method": "tools/list", "Content-Type": "application/json"}, mcp_call, 400,
         "mcp_header_mismatch"),
        ("POST", "/mcp", {"Content-Type": "application/json"}, b'{"jsonrpc":"2.0","id":1,"id":2}', 400, "bad_request"),
        ("PUT", "/mcp", {}, None, 405, "method_not_allowed"),
    ]
    ids = {}
    for method, path, headers, data, status, code in attempts:
        rid = str(uuid.uuid4())
        got, _, answer = request("127.0.0.1", gw.port, method, path, body=data,
                                 headers=auth("researcher", token, **{"X-Request-Id": rid}, **headers))
        assert (got, error_code(answer)) == (status, code), (path, answer)
        assert json.loads(answer)["error"]["scope"] == scope["id"]  # the reply names the scope the record does
        ids[rid] = code

    # Tokens that do not verify, or are not the caller's, attribute nothing (the answers are as before).
    now = int(time.time())
    expired = ref.mint_root(TOKEN_SECRET, json.dumps({
        "v": 1, "t": "d", "kid": "k1", "sid": str(uuid.uuid4()), "sub": "user:alice", "agt": "researcher",
        "scp": ["*"], "aud": "scopegate", "iat": now - 600, "exp": now - 300}, separators=(",", ":")))
    unattributed = [  # (agent, token, path, extra headers, body, status, code)
        ("researcher", token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"), "/tools/search/q",
         {"Delegation_Scope": "forged"}, None, 400, "header_spoofing"),
        ("researcher", expired, "/nowhere", {}, None, 404, "no_route"),
        ("planner", token, "/nowhere", {}, None, 404, "no_route"),        # another agent's token
        ("researcher", token, "/public/x", {}, b"x" * 2048, 413, "payload_too_large"),  # open: runs under no scope
        ("researcher", None, "/tools/search/q", {"Delegation_Scope": "forged"}, None, 400, "header_spoofing"),
    ]
    unattributed_ids = {}
    for agent, tok, path, headers, data, status, code in unattributed:
        rid = str(uuid.uuid4())
        got, _, answer = request("127.0.0.1", gw.port, "POST" if data else "GET", path, body=data,
                                 headers=auth(agent, tok, **{"X-Request-Id": rid}, **headers))
        assert (got, error_code(answer)) == (status, code), (path, answer)
        assert "scope" not in json.loads(answer)["error"]
        unattributed_ids[rid] = (agent, code)

    # A token minted offline that this node never saw: its first refused attempt introduces the
    # scope (scope.open, first_seen) before the attempt's record, as an allowed call would.
    offline_sid = str(uuid.uuid4())
    offline = ref.mint_root(TOKEN_SECRET, json.dumps({
        "v": 1, "t": "d", "kid": "k1", "sid": offline_sid, "sub": "user:bob", "agt": "planner",
        "scp": ["tool:search"], "aud": "scopegate", "iat": now, "exp": now + 600}, separators=(",", ":")))
    offline_rid = str(uuid.uuid4())
    got, _, answer = request("127.0.0.1", gw.port, "GET", "/nowhere",
                             headers=auth("planner", offline, **{"X-Request-Id": offline_rid}))
    assert got == 404 and json.loads(answer)["error"]["scope"] == offline_sid
    assert upstream.stats()["requests"] == before + 1  # none of them reached the tool (a /stats call counts itself)
    gw.stop()

    assert verify(d)[0] == 0
    code, actions = query("actions", scope["id"], d)
    assert code == 0
    found = {r["request_id"]: r for r in actions["records"]}
    for rid, reason in ids.items():
        r = found.get(rid)
        assert r, "%s attempt missing from query actions" % reason
        assert (r["decision"], r["reason"]) == ("deny", reason)
        assert r["scope"] == {"id": scope["id"], "parent": root["id"], "root": root["id"], "depth": 1,
                              "path": root["id"] + "/" + scope["id"]}
        assert r["principal"] == "user:alice" and r["agent"] == "researcher"
    recs = records(d)
    by_id = {r["request_id"]: r for r in recs if r["event"] == "request"}
    for rid, (agent, reason) in unattributed_ids.items():
        r = by_id[rid]
        assert r["reason"] == reason and "scope" not in r and "principal" not in r, r
        assert r["agent"] == agent  # the credential was valid: who tried is known, under no scope
    # Nothing was minted for a refusal: the only scope.open records are the two opened above and
    # the offline scope's first sighting, just before its attempt's record.
    opens = [r for r in recs if r["event"] == "scope.open"]
    assert [(o["how"], o["scope"]["id"]) for o in opens] == [
        ("minted", root["id"]), ("minted", scope["id"]), ("first_seen", offline_sid)]
    assert opens[2]["request_id"] == offline_rid and opens[2]["seq"] < by_id[offline_rid]["seq"]
    assert by_id[offline_rid]["scope"]["id"] == offline_sid and by_id[offline_rid]["principal"] == "user:bob"
