"""Attribution under interleaving: scopes at four depths (siblings included) call the same tool
at once over kept-alive connections, with the same and with different arguments. Every call the
tool received must carry the scope of the caller that made it: checked call by call."""
import http.client
import json
import threading
import uuid

from harness import TOKEN_ENV, auth, delegation_config, open_root, open_scope, route

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
