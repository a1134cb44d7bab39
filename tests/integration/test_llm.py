"""LLM calls through the gateway (docs/llm.md), driven by the official OpenAI and Anthropic SDKs
(tests/e2e/llm_client.mjs) against a stand-in model server that answers as each API documents
(examples/upstreams/model_upstream.py): the audit record of every call carries the usage the SDK
reported to its caller and the cost at the configured prices; streams are not held back; a
delegation tree's footprint totals what its calls used; token and cost budgets of a subtree stop
the next model call of any descendant; models are actions that grants and policies decide."""
import json
import os
import subprocess
import threading
import time
from decimal import Decimal

from audit_helpers import query, records
from harness import (AGENT_KEYS, ROOT, TOKEN_ENV, agent_yaml, auth, delegation_config,
                     open_root, open_scope, request, route)
from test_metrics import samples, scrape, value
from test_schemas import validator

E2E = os.path.join(ROOT, "tests", "e2e")
PRICES = {"gpt-4o": (Decimal("2.5"), Decimal("10"), Decimal("1.25")),
          "o-reason-mini": (Decimal("1.1"), Decimal("4.4"), Decimal("0.55")),
          "claude-sonnet": (Decimal("3"), Decimal("15"), Decimal("0.3")),
          "slow-gpt": (Decimal("1"), Decimal("1"), Decimal("1"))}
LLM_SECTION = "llm:\n  currency: USD\n  prices:\n" + "".join(
    "    %s: {input: %s, output: %s, cache_read: %s}\n" % (m, *p) for m, p in PRICES.items())
AGENTS = (agent_yaml("planner", may_open_root=True, grants=["*"]) + agent_yaml("researcher") +
          agent_yaml("writer"))


def llm_routes(url, tool_url):
    return (route("openai", "/openai", url, kind="llm", access="scoped", strip_prefix="true") +
            route("anthropic", "/anthropic", url, kind="llm", api="anthropic", access="scoped", strip_prefix="true") +
            route("search", "/tools/search", tool_url, access="scoped"))


def start(start_gateway, model_server, tmp_path, extra="", agents=AGENTS, routes=None, tool_url="http://127.0.0.1:9"):
    routes = routes or llm_routes(model_server.url, tool_url)
    text = "audit:\n  dir: %s\n%s%s" % (tmp_path / "audit", LLM_SECTION, extra)
    return start_gateway(delegation_config(routes, agents=agents, extra=text), env=TOKEN_ENV)


def call(api, kind, model, text, stream=False, **more):
    c = {"api": api, "kind": kind, "model": model, "text": text, "stream": stream}
    c.update(more)
    return c


def otel(api, usage):
    """What the SDK reported, in the record's names (OpenTelemetry GenAI: input includes cached
    tokens, output includes reasoning tokens)."""
    if api == "anthropic":
        read = usage.get("cache_read_input_tokens") or 0
        written = usage.get("cache_creation_input_tokens") or 0
        return {"input_tokens": usage["input_tokens"] + read + written, "output_tokens": usage["output_tokens"],
                "cache_read_input_tokens": read, "reasoning_output_tokens": 0}
    if "prompt_tokens" in usage:  # chat completions, embeddings
        return {"input_tokens": usage["prompt_tokens"], "output_tokens": usage.get("completion_tokens", 0),
                "cache_read_input_tokens": (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0),
                "reasoning_output_tokens": (usage.get("completion_tokens_details") or {}).get("reasoning_tokens", 0)}
    return {"input_tokens": usage["input_tokens"], "output_tokens": usage["output_tokens"],
            "cache_read_input_tokens": (usage.get("input_tokens_details") or {}).get("cached_tokens", 0),
            "reasoning_output_tokens": (usage.get("output_tokens_details") or {}).get("reasoning_tokens", 0)}


def cost(model, usage):
    if model not in PRICES:
        return Decimal(0)
    p_in, p_out, p_cache = PRICES[model]
    cached = usage["cache_read_input_tokens"]
    return ((usage["input_tokens"] - cached) * p_in + cached * p_cache + usage["output_tokens"] * p_out) / 1000000


def llm_records(d):
    return [r for r in records(d) if r["event"] == "request" and r.get("model")]


def wait_records(d, n, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = llm_records(d)
        if len(got) >= n:
            return got
        time.sleep(0.05)
    return llm_records(d)


def base(gw, prefix):
    return "http://127.0.0.1:%d%s" % (gw.port, prefix)


def run(gw, agent, token, calls, concurrency=1):
    """calls: (prefix, call) pairs; the SDK's base URL is the gateway under the route's prefix."""
    results = []
    for prefix in ("/openai", "/anthropic"):
        mine = [(i, c) for i, (p, c) in enumerate(calls) if p == prefix]
        if not mine:
            continue
        job = {"base_url": base(gw, prefix), "concurrency": concurrency,
               "headers": {"Authorization": "Bearer " + AGENT_KEYS[agent], "Delegation-Token": token},
               "calls": [c for _, c in mine]}
        out = subprocess.run(["node", os.path.join(E2E, "llm_client.mjs")], input=json.dumps(job), capture_output=True,
                             text=True, cwd=E2E, timeout=120)
        assert out.returncode == 0, out.stderr
        lines = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
        assert len(lines) == len(mine), out.stdout
        results += [(i, line) for (i, _), line in zip(mine, lines)]
    return [line for _, line in sorted(results, key=lambda item: item[0])]


ALL_CALLS = [
    ("/openai", call("openai", "chat", "gpt-4o", "hello there model", max_tokens=5)),
    ("/openai", call("openai", "chat", "gpt-4o", "stream me some words", stream=True, max_tokens=6)),
    ("/openai", call("openai", "chat", "o-reason-mini", "think about cached things cached", stream=True, max_tokens=4)),
    ("/openai", call("openai", "chat", "gpt-4o", "asked for usage itself", stream=True, include_usage=True)),
    ("/openai", call("openai", "responses", "gpt-4o", "a responses call", max_tokens=7)),
    ("/openai", call("openai", "responses", "o-reason-mini", "a streamed responses call cached", stream=True)),
    ("/openai", call("openai", "embeddings", "text-embed-unpriced", "embed these five words", dimensions=4000)),
    ("/anthropic", call("anthropic", "messages", "claude-sonnet", "hello claude", max_tokens=9)),
    ("/anthropic", call("anthropic", "messages", "claude-sonnet", "stream this cached cachewrite prompt please",
                        stream=True, max_tokens=12)),
]


def test_each_record_carries_the_usage_the_sdk_reported_and_its_cost(start_gateway, model_server, tmp_path):
    gw = start(start_gateway, model_server, tmp_path)
    root, token = open_root(gw, grants=["model:*", "tool:*"])
    results = run(gw, "planner", token, [(p, c) for p, c in ALL_CALLS])
    for (_, c), r in zip(ALL_CALLS, results):
        assert r["ok"], r
        assert r["usage"], (c, r)  # the stand-in reported usage for every call, streams included
    got = wait_records(tmp_path / "audit", len(ALL_CALLS))
    assert len(got) == len(ALL_CALLS)
    # Records are in the order the calls ended; each call is told apart by its model and size.
    for (_, c), r in zip(ALL_CALLS, results):
        want = otel(c["api"], r["usage"])
        matching = [rec for rec in got if rec["model"] == c["model"] and rec.get("usage") == want]
        assert len(matching) == 1, (c, want, [(x["model"], x.get("usage")) for x in got])
        rec = matching[0]
        assert rec["action"] == "model:" + c["model"]
        assert rec["operation"] == ("embeddings" if c["kind"] == "embeddings" else "chat")
        assert rec["decision"] == "allow" and rec["status"] == 200
        assert Decimal(str(rec["cost"])) == cost(c["model"], want), rec
    # The gateway asked every streamed chat completion for its usage, and the upstream for
    # uncompressed answers; nothing else in the bodies changed.
    seen = json.loads(request("127.0.0.1", model_server.port, "GET", "/requests")[2])
    chats = [q for q in seen if q["path"] == "/v1/chat/completions" and q["body"].get("stream")]
    assert chats and all(q["body"]["stream_options"] == {"include_usage": True} for q in chats)
    plain = [q for q in seen if q["path"] == "/v1/chat/completions" and not q["body"].get("stream")]
    assert plain and all("stream_options" not in q["body"] for q in plain)
    for q in seen[-len(ALL_CALLS):]:
        assert [v for k, v in q["headers"] if k.lower() == "accept-encoding"] == ["identity"], q["headers"]
    # Every record as the schema says, the new members included.
    schema = validator("audit-record.schema.json")
    for rec in records(tmp_path / "audit"):
        schema.validate(rec)
    # query actions lists them per call; footprint totals them.
    code, out = query("footprint", root["id"], str(tmp_path / "audit"))
    assert code == 0, out
    validator("query-footprint.schema.json").validate(out)
    code, actions = query("actions", root["id"], str(tmp_path / "audit"))
    validator("query-actions.schema.json").validate(actions)
    assert sum(1 for r in actions["records"] if r.get("usage")) == len(ALL_CALLS)
    own = out["scopes"][0]["own"]
    assert own["llm_calls"] == len(ALL_CALLS)
    for key in ("input_tokens", "output_tokens", "cache_read_input_tokens", "reasoning_output_tokens"):
        assert own["usage"][key] == sum(otel(c["api"], r["usage"])[key] for (_, c), r in zip(ALL_CALLS, results))
    assert Decimal(str(own["cost"])) == sum(cost(c["model"], otel(c["api"], r["usage"]))
                                            for (_, c), r in zip(ALL_CALLS, results))
    assert set(own["models"]) == {c["model"] for _, c in ALL_CALLS}
    # Metrics: tokens by type for priced models, "other" for the rest; the unpriced call counted.
    s = samples(scrape(gw)[1])
    chat = [otel(c["api"], r["usage"]) for (_, c), r in zip(ALL_CALLS, results) if c["model"] == "gpt-4o"]
    assert value(s, "scopegate_llm_tokens_total", route="openai", agent="planner", model="gpt-4o",
                 type="input") == sum(u["input_tokens"] for u in chat)
    embed = [otel(c["api"], r["usage"]) for (_, c), r in zip(ALL_CALLS, results) if c["kind"] == "embeddings"][0]
    assert value(s, "scopegate_llm_tokens_total", route="openai", agent="planner", model="other",
                 type="input") == embed["input_tokens"]
    assert value(s, "scopegate_llm_unpriced_calls_total", route="openai") == 1
    claude = sum(cost(c["model"], otel(c["api"], r["usage"])) for (_, c), r in zip(ALL_CALLS, results)
                 if c["model"] == "claude-sonnet")
    assert abs(Decimal(str(value(s, "scopegate_llm_cost_total", route="anthropic", agent="planner",
                                 model="claude-sonnet"))) - claude) < Decimal("0.000001")
    streams = sum(1 for _, c in ALL_CALLS if c["stream"])
    assert value(s, "scopegate_llm_time_to_first_chunk_seconds_count", route="openai") + value(
        s, "scopegate_llm_time_to_first_chunk_seconds_count", route="anthropic") == len(ALL_CALLS)
    assert streams > 0


def test_a_stream_is_relayed_as_it_comes(start_gateway, model_server, tmp_path):
    """The stand-in sends the first event, then waits 400 ms: the SDK sees the first event long
    before the rest, through the gateway as straight from the server."""
    gw = start(start_gateway, model_server, tmp_path)
    _, token = open_root(gw, grants=["model:*"])
    calls = [("/openai", call("openai", "chat", "slow-gpt", "first token please", stream=True, max_tokens=3)),
             ("/anthropic", call("anthropic", "messages", "slow-claude", "first token please", stream=True,
                                 max_tokens=3))]
    for r in run(gw, "planner", token, calls):
        assert r["ok"], r
        assert r["total_ms"] >= 400, r
        assert r["first_event_ms"] < 250, r  # not held until the stream ends
    got = wait_records(tmp_path / "audit", 2)
    assert all(rec.get("usage") for rec in got)


def test_footprint_of_a_delegation_tree_and_a_subtree_budget(start_gateway, model_server, upstream, tmp_path):
    """planner → researcher → writer, each making model and tool calls at once: the footprint's
    totals per scope and subtree are the sums of what the SDKs reported; the researcher's token
    budget (its subtree) then stops the writer's next model call, while tool calls go on."""
    # The subtree's calls use 251 tokens (the stand-in's counts are fixed by the prompts): a budget
    # above what any six of them use lets each one start, and the seventh model call finds it spent.
    budget = 240
    gw = start(start_gateway, model_server, tmp_path, tool_url=upstream.url,
               extra="budgets:\n  agents:\n    researcher: {max_tokens: %d}\n" % budget)
    root, root_token = open_root(gw, grants=["model:*", "tool:*", "agent:*"])
    status, researcher = open_scope(gw, "planner", {"agent": "researcher", "grants": ["model:*", "tool:*", "agent:*"]},
                                    token=root_token)
    assert status == 201, researcher
    status, writer = open_scope(gw, "researcher", {"agent": "writer", "grants": ["model:*", "tool:*"]},
                                token=researcher["token"])
    assert status == 201, writer
    scopes = {"planner": (root["id"], root_token), "researcher": (researcher["scope"]["id"], researcher["token"]),
              "writer": (writer["scope"]["id"], writer["token"])}
    batches = {
        "planner": [("/openai", call("openai", "chat", "gpt-4o", "plan the work now", stream=True, max_tokens=10)),
                    ("/anthropic", call("anthropic", "messages", "claude-sonnet", "check the plan", max_tokens=6))],
        "researcher": [("/openai", call("openai", "chat", "gpt-4o", "research " * 20, stream=True, max_tokens=30)),
                       ("/openai", call("openai", "responses", "gpt-4o", "research more " * 10, max_tokens=25)),
                       ("/anthropic", call("anthropic", "messages", "claude-sonnet", "cached research " * 8,
                                           stream=True, max_tokens=20))],
        "writer": [("/openai", call("openai", "chat", "gpt-4o", "write a draft " * 10, max_tokens=40)),
                   ("/anthropic", call("anthropic", "messages", "claude-sonnet", "write the summary " * 5,
                                       stream=True, max_tokens=35))],
    }
    results, tool_status = {}, []

    def model_calls(agent):
        results[agent] = run(gw, agent, scopes[agent][1], batches[agent], concurrency=2)

    def tool_calls(agent):
        for i in range(3):
            tool_status.append(request("127.0.0.1", gw.port, "GET", "/tools/search?q=%d" % i,
                                       headers=auth(agent, scopes[agent][1]))[0])

    threads = [threading.Thread(target=f, args=(a,)) for a in scopes for f in (model_calls, tool_calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tool_status == [200] * 9
    used = {}
    for agent, batch in batches.items():
        assert all(r["ok"] for r in results[agent]), results[agent]
        used[agent] = [otel(c["api"], r["usage"]) for (_, c), r in zip(batch, results[agent])]
    wait_records(tmp_path / "audit", 7)
    code, out = query("footprint", root["id"], str(tmp_path / "audit"))
    assert code == 0, out
    by_id = {s["id"]: s for s in out["scopes"]}

    def total(usages, key):
        return sum(u[key] for u in usages)

    order = ["planner", "researcher", "writer"]
    for i, agent in enumerate(order):
        s = by_id[scopes[agent][0]]
        below = [u for a in order[i:] for u in used[a]]
        for key in ("input_tokens", "output_tokens", "cache_read_input_tokens"):
            assert s["own"]["usage"][key] == total(used[agent], key), (agent, key)
            assert s["subtree"]["usage"][key] == total(below, key), (agent, key)
        assert s["own"]["llm_calls"] == len(used[agent])
        want_cost = sum(cost(c["model"], u) for (_, c), u in zip(batches[agent], used[agent]))
        assert Decimal(str(s["own"]["cost"])) == want_cost
    # The researcher's subtree (its calls and the writer's) is over its budget of tokens...
    subtree_tokens = sum(u["input_tokens"] + u["output_tokens"] for a in ("researcher", "writer") for u in used[a])
    assert subtree_tokens >= budget, subtree_tokens
    status, _, body = admin_get(gw, "/v1/scopes/%s/budget" % scopes["researcher"][0])
    assert status == 200, body
    b = json.loads(body)
    assert b["use"]["subtree"]["tokens"] == subtree_tokens and b["limits"]["max_tokens"] == budget
    # ...so the writer's next model call is refused before it reaches the model, and audited;
    before = model_server.stats()["requests"]
    r = run(gw, "writer", scopes["writer"][1], [("/openai", call("openai", "chat", "gpt-4o", "one more"))])[0]
    assert not r["ok"] and r["status"] == 429, r
    assert r["error"]["error"]["code"] == "budget_exhausted" and r["error"]["error"]["rule"] == "budget:tokens"
    assert model_server.stats()["requests"] == before
    # tool calls are no model use: they go on; the planner, above the budget, goes on too.
    assert request("127.0.0.1", gw.port, "GET", "/tools/search?q=z", headers=auth("writer", scopes["writer"][1]))[0] == 200
    r = run(gw, "planner", root_token, [("/openai", call("openai", "chat", "gpt-4o", "still mine"))])[0]
    assert r["ok"], r
    refused = [rec for rec in records(tmp_path / "audit") if rec.get("reason") == "budget_exhausted"]
    assert len(refused) == 1 and refused[0]["rule"] == "budget:tokens" and refused[0]["model"] == "gpt-4o"


def admin_get(gw, path):
    return request("127.0.0.1", gw.admin_port, "GET", path, headers={"Authorization": "Bearer test-admin-token"})


def test_a_cost_budget_survives_a_restart(start_gateway, model_server, tmp_path):
    """max_cost counts the subtree's cost; rebuilt from the audit log at start, like every budget."""
    section = "budgets:\n  agents:\n    researcher: {max_cost: 0.0001}\n"
    gw = start(start_gateway, model_server, tmp_path, extra=section)
    _, root_token = open_root(gw, grants=["model:*", "agent:*"])
    status, child = open_scope(gw, "planner", {"agent": "researcher", "grants": ["model:*"]}, token=root_token)
    assert status == 201
    # 20 words in, 8 out at gpt-4o's prices: 20*2.5/1e6 + 8*10/1e6 = 0.00013 > 0.0001.
    r = run(gw, "researcher", child["token"], [("/openai", call("openai", "chat", "gpt-4o", "word " * 20))])[0]
    assert r["ok"], r
    wait_records(tmp_path / "audit", 1)
    gw.stop()
    gw2 = start(start_gateway, model_server, tmp_path, extra=section)
    r = run(gw2, "researcher", child["token"], [("/openai", call("openai", "chat", "gpt-4o", "again"))])[0]
    assert r["status"] == 429 and r["error"]["error"]["rule"] == "budget:cost", r
    assert "0.00013 of its 0.0001 USD" in r["error"]["error"]["message"]


def test_models_are_actions_grants_and_policies_decide(start_gateway, model_server, tmp_path):
    policy = tmp_path / "policies.yaml"
    policy.write_text("version: 1\nrules:\n  - id: everything-else\n    effect: permit\n"
                      "    when: {kind: [llm, scopes]}\n"
                      "  - id: no-claude-for-writer\n    effect: forbid\n    when:\n"
                      "      agent: [writer]\n      action: [\"model:claude-*\"]\n")
    gw = start(start_gateway, model_server, tmp_path, extra="policies: [%s]\n" % policy)
    _, root_token = open_root(gw, grants=["model:gpt-*", "model:claude-*", "agent:*"])
    status, child = open_scope(gw, "planner", {"agent": "writer", "grants": ["model:claude-*", "model:gpt-4o"]},
                               token=root_token)
    assert status == 201, child
    before = model_server.stats()["requests"]
    results = run(gw, "writer", child["token"], [
        ("/openai", call("openai", "chat", "gpt-4o", "allowed")),
        ("/openai", call("openai", "chat", "gpt-4o-mini", "not granted")),
        ("/anthropic", call("anthropic", "messages", "claude-sonnet", "forbidden by policy"))])
    assert results[0]["ok"]
    assert results[1]["status"] == 403 and results[1]["error"]["error"]["code"] == "grant_exceeded"
    assert results[2]["status"] == 403 and results[2]["error"]["error"]["code"] == "policy_denied"
    assert results[2]["error"]["error"]["rule"] == "no-claude-for-writer"
    assert model_server.stats()["requests"] - before == 1  # only the granted call (/stats is not counted)
    denied = [r for r in records(tmp_path / "audit") if r["event"] == "request" and r["decision"] == "deny"
              and r.get("model")]
    assert sorted(r["action"] for r in denied) == ["model:claude-sonnet", "model:gpt-4o-mini"]


def raw_call(gw, token, body, path="/openai/v1/chat/completions"):
    return request("127.0.0.1", gw.port, "POST", path,
                   headers=auth("planner", token, **{"Content-Type": "application/json"}), body=body)


def test_bad_llm_bodies_are_refused_and_never_reach_the_model(start_gateway, model_server, tmp_path):
    gw = start(start_gateway, model_server, tmp_path)
    _, token = open_root(gw, grants=["model:gpt-4o"])
    before = model_server.stats()["requests"]
    for body in ['{"messages":[]}', '{"model":""}', '{"model":"gpt-4o","model":"gpt-5"}', '[{"model":"gpt-4o"}]',
                 '{"model":"gpt-4o"} x', '{"model":7}',
                 # what a lax server reads as true would stream a call the gateway took for a plain one
                 '{"model":"gpt-4o","stream":1}', '{"model":"gpt-4o","stream":"true"}',
                 # a background response's usage would arrive outside the call
                 '{"model":"gpt-4o","background":true}']:
        status, _, data = raw_call(gw, token, body)
        assert status == 400 and json.loads(data)["error"]["code"] == "bad_request", (body, data)
    assert model_server.stats()["requests"] == before
    # An escaped member name is the same name: the gateway finds stream_options and adds to it,
    # rather than adding a second one the model server would read instead.
    body = '{"model":"gpt-4o","stream":true,"stream\\u005foptions":{"include_usage":false},"messages":[]}'
    status, _, data = raw_call(gw, token, body)
    assert status == 200, data
    seen = json.loads(request("127.0.0.1", model_server.port, "GET", "/requests")[2])[-1]
    assert seen["body"]["stream_options"] == {"include_usage": True}, seen["body"]


def test_a_strict_route_records_usage_in_the_outcome(start_gateway, model_server, tmp_path):
    gw = start(start_gateway, model_server, tmp_path,
               routes=route("openai", "/openai", model_server.url, kind="llm", access="scoped", strip_prefix="true",
                            classification="restricted"))
    _, token = open_root(gw, grants=["model:*"])
    r = run(gw, "planner", token, [("/openai", call("openai", "chat", "gpt-4o", "strict call", stream=True))])[0]
    assert r["ok"], r
    want = otel("openai", r["usage"])
    deadline = time.time() + 5
    while time.time() < deadline:
        recs = records(tmp_path / "audit")
        outcomes = [x for x in recs if x["event"] == "request.outcome"]
        if outcomes:
            break
        time.sleep(0.05)
    req = [x for x in recs if x["event"] == "request" and x.get("model")][0]
    assert req["recorded"] == "before_forward" and "usage" not in req and req["model"] == "gpt-4o"
    assert outcomes[0]["usage"] == want and Decimal(str(outcomes[0]["cost"])) == cost("gpt-4o", want)
    code, out = query("footprint", req["scope"]["id"], str(tmp_path / "audit"))
    assert out["scopes"][0]["own"]["usage"] == want


def test_a_client_that_leaves_mid_stream_is_charged_what_the_model_reported(start_gateway, model_server, tmp_path):
    """The provider bills a stream whose client hung up: the gateway reads the answer on to its
    usage, records it and spends it from the budget."""
    import socket
    gw = start(start_gateway, model_server, tmp_path)
    _, token = open_root(gw, grants=["model:*"])
    body = json.dumps({"model": "slow-gpt", "stream": True, "max_tokens": 20,
                       "messages": [{"role": "user", "content": "word " * 30}]})
    head = ("POST /openai/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Delegation-Token: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (AGENT_KEYS["planner"], token, len(body)))
    with socket.create_connection(("127.0.0.1", gw.port)) as sock:
        sock.sendall(head.encode() + body.encode())
        got = b""
        while b"data:" not in got:
            got += sock.recv(4096)
    # Gone after the first event: the rest arrives 400 ms later, usage last.
    recs = wait_records(tmp_path / "audit", 1)
    assert recs[0]["outcome"] == "client_cut", recs
    assert recs[0]["usage"] == {"input_tokens": 30, "output_tokens": 20, "cache_read_input_tokens": 0,
                                "reasoning_output_tokens": 0}
    assert Decimal(str(recs[0]["cost"])) == cost("slow-gpt", recs[0]["usage"])


def test_calls_at_once_cannot_all_spend_the_same_headroom(start_gateway, model_server, tmp_path):
    """While a call runs, its budget holds an estimate (body bytes / 4 and its max_tokens): calls
    started together are refused once the estimates of those in flight reach the limit."""
    gw = start(start_gateway, model_server, tmp_path, extra="budgets:\n  agents:\n    researcher: {max_tokens: 100}\n")
    _, root_token = open_root(gw, grants=["model:*", "agent:*"])
    status, child = open_scope(gw, "planner", {"agent": "researcher", "grants": ["model:*"]}, token=root_token)
    assert status == 201
    calls = [("/openai", call("openai", "chat", "slow-gpt", "go", stream=True, max_tokens=40)) for _ in range(8)]
    results = run(gw, "researcher", child["token"], calls, concurrency=8)
    ok = [r for r in results if r["ok"]]
    refused = [r for r in results if not r["ok"]]
    assert 1 <= len(ok) <= 2, results  # each holds over 40 tokens while it runs
    assert all(r["status"] == 429 and r["error"]["error"]["rule"] == "budget:tokens" for r in refused)
    status, _, body = admin_get(gw, "/v1/scopes/%s/budget" % child["scope"]["id"])
    used = json.loads(body)["use"]["subtree"]["tokens"]
    assert used == sum(otel("openai", r["usage"])["input_tokens"] + otel("openai", r["usage"])["output_tokens"]
                       for r in ok)  # estimates settled to what was used
    # A call that names no max_tokens holds a default output (4,096 tokens) while it runs: calls
    # without it cannot slip through together either. (A fresh scope: the first one's is spent.)
    status, other = open_scope(gw, "planner", {"agent": "researcher", "grants": ["model:*"]}, token=root_token)
    assert status == 201
    calls = [("/anthropic", call("anthropic", "messages", "slow-claude", "go", stream=True))] + \
            [("/openai", call("openai", "chat", "slow-gpt", "go", stream=True)) for _ in range(5)]
    for c in calls[1:]:
        c[1].pop("max_tokens", None)
    results = run(gw, "researcher", other["token"], calls[1:], concurrency=5)
    assert sum(1 for r in results if r["ok"]) == 1, results


def test_a_cost_budget_refuses_models_without_a_price(start_gateway, model_server, tmp_path):
    gw = start(start_gateway, model_server, tmp_path, extra="budgets:\n  agents:\n    researcher: {max_cost: 5}\n")
    _, root_token = open_root(gw, grants=["model:*", "agent:*"])
    status, child = open_scope(gw, "planner", {"agent": "researcher", "grants": ["model:*"]}, token=root_token)
    assert status == 201
    r = run(gw, "researcher", child["token"], [("/openai", call("openai", "chat", "gpt-4o-2024-08-06", "hi")),
                                               ("/openai", call("openai", "chat", "gpt-4o", "hi"))])
    assert r[0]["status"] == 429 and r[0]["error"]["error"]["rule"] == "budget:cost", r[0]
    assert "no price" in r[0]["error"]["error"]["message"]
    assert r[1]["ok"], r[1]


def test_the_gateway_holds_the_provider_keys(start_gateway, model_server, tmp_path):
    """With api_key, the provider sees the gateway's key (Bearer for OpenAI, x-api-key for
    Anthropic), never the agent's credential or a key header the agent sent."""
    routes = (route("openai", "/openai", model_server.url, kind="llm", access="scoped", strip_prefix="true",
                    api_key="${SG_OPENAI_KEY}") +
              route("anthropic", "/anthropic", model_server.url, kind="llm", api="anthropic", access="scoped",
                    strip_prefix="true", api_key="${SG_ANTHROPIC_KEY}"))
    text = "audit:\n  dir: %s\n%s" % (tmp_path / "audit", LLM_SECTION)
    gw = start_gateway(delegation_config(routes, agents=AGENTS, extra=text),
                       env=dict(TOKEN_ENV, SG_OPENAI_KEY="sk-openai-test", SG_ANTHROPIC_KEY="sk-ant-test"))
    _, token = open_root(gw, grants=["model:*"])
    for prefix, path, body in (("/openai", "/v1/chat/completions", {"model": "gpt-4o", "messages": []}),
                               ("/anthropic", "/v1/messages", {"model": "claude-sonnet", "max_tokens": 2,
                                                                "messages": []})):
        status, _, data = request("127.0.0.1", gw.port, "POST", prefix + path, body=json.dumps(body),
                                  headers=auth("planner", token, **{"Content-Type": "application/json",
                                                                    "X-Api-Key": "agent-guess"}))
        assert status == 200, data
    seen = json.loads(request("127.0.0.1", model_server.port, "GET", "/requests")[2])[-2:]
    openai, anthropic = ({k.lower(): v for k, v in q["headers"]} for q in seen)
    assert openai["authorization"] == "Bearer sk-openai-test" and "x-api-key" not in openai
    assert anthropic["x-api-key"] == "sk-ant-test" and "authorization" not in anthropic
    for q in seen:
        assert all(AGENT_KEYS["planner"] not in v and v != "agent-guess" for _, v in q["headers"])
    # The keys are in no record.
    with_keys = [r for r in records(tmp_path / "audit") if "sk-openai-test" in json.dumps(r)]
    assert not with_keys


def test_a_fallback_provider_gets_its_own_key(start_gateway, model_server, tmp_path):
    """A model call whose route cannot connect is served by its fallback: the fallback's provider
    key goes with it, never the first route's."""
    from harness import free_port
    routes = (route("primary", "/openai", "http://127.0.0.1:%d" % free_port(), kind="llm", access="scoped",
                    strip_prefix="true", api_key="${SG_PRIMARY_KEY}", on_unavailable="fallback", fallback="backup") +
              route("backup", "/backup", model_server.url, kind="llm", access="scoped", strip_prefix="true",
                    api_key="${SG_BACKUP_KEY}"))
    text = "audit:\n  dir: %s\n%s" % (tmp_path / "audit", LLM_SECTION)
    gw = start_gateway(delegation_config(routes, agents=AGENTS, extra=text),
                       env=dict(TOKEN_ENV, SG_PRIMARY_KEY="sk-primary", SG_BACKUP_KEY="sk-backup"))
    _, token = open_root(gw, grants=["model:*"])
    status, _, data = request("127.0.0.1", gw.port, "POST", "/openai/v1/chat/completions",
                              body=json.dumps({"model": "gpt-4o", "messages": []}),
                              headers=auth("planner", token, **{"Content-Type": "application/json"}))
    assert status == 200, data
    seen = {k.lower(): v for k, v in json.loads(request("127.0.0.1", model_server.port, "GET", "/requests")[2])[-1]["headers"]}
    assert seen["authorization"] == "Bearer sk-backup"
