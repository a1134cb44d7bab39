#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses (tests/fuzz/corpus/<harness>/).

Seeds are small, real inputs the fuzzer starts from: request and response heads with every
framing the gateway handles, dst1 tokens made with the docs/protocol.md §2 key (bytes 00..1f, kid k1)
by the Python reference implementation (and the same blocks as JSON lines, which the harness signs
itself), MCP and A2A bodies, configs from examples/ and the
integration tests, and audit records written by a real gateway.

    python3 tests/fuzz/make_corpus.py [--audit-log SEGMENT.jsonl]

The audit seeds are cut from a real segment (the one committed as corpus/audit/tour-log.jsonl came
from examples/tour.sh against scripts/demo.sh); without --audit-log that committed segment is used.
Rerunning rewrites every generated seed; seeds the fuzzer found and someone added by hand
(regressions, named regress-*) are kept.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CORPUS = os.path.join(HERE, "corpus")
sys.dont_write_bytecode = True  # nothing left behind in tests/integration
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import dst1_reference as dst1  # noqa: E402
import harness  # noqa: E402  (config builders only; nothing is started)


def write(harness_name, name, data):
    d = os.path.join(CORPUS, harness_name)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def crlf(*lines):
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --- request and response heads ------------------------------------------------------------------

def http_seeds():
    token = "dst1.eyJ2IjoxfQ.AAAA"
    seeds = {
        "get-simple": crlf("GET /tools/search/hello?q=q3 HTTP/1.1", "Host: gw.example:8080", "User-Agent: curl/8.0",
                           "Accept: */*"),
        "get-http10-no-host": crlf("GET / HTTP/1.0"),
        "post-content-length": crlf("POST /tools/search/x HTTP/1.1", "Host: a", "Content-Type: application/json",
                                    "Content-Length: 13") + b'{"q":"hello"}',
        "post-chunked": crlf("POST /tools/files HTTP/1.1", "Host: a", "Transfer-Encoding: chunked")
        + b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
        "post-chunked-bare-lf": b"POST /tools/files HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\nhello\n0\n\n",
        "smuggle-cl-te": crlf("POST / HTTP/1.1", "Host: a", "Content-Length: 4", "Transfer-Encoding: chunked")
        + b"0\r\n\r\n",
        "te-gzip-chunked": crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip, chunked") + b"0\r\n\r\n",
        "te-not-last-chunked": crlf("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked, identity"),
        "te-http10": crlf("POST / HTTP/1.0", "Host: a", "Transfer-Encoding: chunked") + b"0\r\n\r\n",
        "cl-differing": crlf("POST / HTTP/1.1", "Host: a", "Content-Length: 5, 6") + b"hello",
        "cl-list-same": crlf("POST / HTTP/1.1", "Host: a", "Content-Length: 5, 5") + b"hello",
        "host-twice": crlf("GET / HTTP/1.1", "Host: a", "Host: b"),
        "host-ipv6": crlf("GET /mcp HTTP/1.1", "Host: [::1]:8080"),
        "host-bad": crlf("GET / HTTP/1.1", "Host: a b@c"),
        "dot-segments": crlf("GET /tools/../admin HTTP/1.1", "Host: a"),
        "dot-encoded": crlf("GET /tools/%2e%2E/admin?x=/../ HTTP/1.1", "Host: a"),
        "escaped-slash": crlf("GET /tools/search/..%2f..%2fetc;x=1 HTTP/1.1", "Host: a"),
        "absolute-form": crlf("GET http://evil.example/ HTTP/1.1", "Host: evil.example"),
        "asterisk-form": crlf("OPTIONS * HTTP/1.1", "Host: a"),
        "connect": crlf("CONNECT upstream.internal:443 HTTP/1.1", "Host: upstream.internal:443"),
        "spoofed-underscore": crlf("GET /tools/search/x HTTP/1.1", "Host: a", "Delegation_Scope: forged",
                                   "X_Forwarded_For: 10.0.0.1"),
        "gateway-owned": crlf("GET /tools/search/x HTTP/1.1", "Host: a", "Delegation-Scope: forged",
                              "delegation-depth: 0", "Delegation-Token: " + token, "X-Request-Id: not-a-uuid"),
        "hop-by-hop": crlf("GET /tools/search/x HTTP/1.1", "Host: a", "Connection: keep-alive, X-Secret, Te",
                           "X-Secret: 1", "Keep-Alive: timeout=5", "TE: trailers", "Proxy-Authorization: Basic x",
                           "Proxy-Connection: close", "Trailer: X-T"),
        "forwarded-lists": crlf("GET / HTTP/1.1", "Host: a", "Forwarded: for=192.0.2.1;proto=https",
                                "Forwarded: for=\"[2001:db8::1]\"", "X-Forwarded-For: 10.0.0.1, 10.0.0.2",
                                "Via: 1.0 fred, 1.1 p.example", "X-Forwarded-Host: evil", "X-Forwarded-Proto: https"),
        "upgrade-websocket": crlf("GET /ws HTTP/1.1", "Host: a", "Connection: Upgrade", "Upgrade: websocket",
                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"),
        "upgrade-h2c": crlf("GET / HTTP/1.1", "Host: a", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
                            "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"),
        "expect-continue": crlf("PUT /tools/files/big HTTP/1.1", "Host: a", "Expect: 100-continue",
                                "Content-Length: 5") + b"hello",
        "mcp-post": crlf("POST /mcp HTTP/1.1", "Host: tools.example", "Content-Type: application/json",
                         "Accept: application/json, text/event-stream", "Mcp-Method: tools/call", "Mcp-Name: search",
                         "Mcp-Session-Id: 1868a90c", "Authorization: Bearer planner-key",
                         "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                         "baggage: a=1,b=2", "Content-Length: 2") + b"{}",
        "obs-fold": b"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n",
        "space-before-colon": b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 0\r\n\r\n",
        "nul-in-value": b"GET / HTTP/1.1\r\nHost: a\r\nX-Nul: a\x00b\r\n\r\n",
        "obs-text-value": b"GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9 \xff\r\n\r\n",
        "pipelined": crlf("GET /a HTTP/1.1", "Host: a") + crlf("GET /b HTTP/1.1", "Host: a"),
        "lowercase-method": crlf("get / HTTP/1.1", "Host: a"),
        "custom-method": crlf("PURGE /cache HTTP/1.1", "Host: a"),
        "http2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        # Response heads (the same harness reads its input as an upstream's response too).
        "response-200-cl": crlf("HTTP/1.1 200 OK", "Content-Type: application/json", "Content-Length: 2",
                                "Connection: keep-alive, X-Up", "X-Up: 1", "Via: 1.1 upstream") + b"{}",
        "response-chunked-sse": crlf("HTTP/1.1 200 OK", "Content-Type: text/event-stream",
                                     "Transfer-Encoding: chunked") + b"e\r\ndata: hello\n\n\r\n0\r\n\r\n",
        "response-cl-te": crlf("HTTP/1.1 200 OK", "Content-Length: 3", "Transfer-Encoding: chunked"),
        "response-204": crlf("HTTP/1.1 204 No Content", "X-Request-Id: 0193a6f0-0000-7000-8000-000000000001"),
        "response-101": crlf("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade"),
        "response-http10": b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until close",
        "response-no-reason": crlf("HTTP/1.1 599 ", "Content-Length: 0"),
    }
    for name, data in seeds.items():
        write("http_head", name + ".http", data)


# --- dst1 tokens ---------------------------------------------------------------------------------

SECRET = bytes(range(32))
SECRET_K2 = bytes(range(0x20, 0x40))
IAT, EXP = 1767225600, 1767229200
EXAMPLE_ROOT = ('{"v":1,"t":"d","kid":"k1","sid":"0193a6f0-0000-7000-8000-000000000001","sub":"user:alice",'
                 '"agt":"planner","scp":["tool:*","agent:*"],"aud":"scopegate","iat":1767225600,"exp":1767229200}')


def root_json(**over):
    block = {"v": 1, "t": "d", "kid": "k1", "sid": "0193a6f0-0000-7000-8000-000000000001", "sub": "user:alice",
             "agt": "planner", "scp": ["tool:*", "agent:*"], "aud": "scopegate", "iat": IAT, "exp": EXP}
    block.update(over)
    return json.dumps({k: v for k, v in block.items() if v is not None}, separators=(",", ":"), ensure_ascii=False)


def child(sid, par, agt, scp, obj=None, exp=EXP - 600):
    c = {"t": "d", "sid": sid, "par": par, "agt": agt, "scp": scp, "iat": IAT + 10, "exp": exp}
    if obj is not None:
        c["obj"] = obj
    return c


def token_seeds():
    root = dst1.mint_root(SECRET, EXAMPLE_ROOT)
    assert root.endswith(".RTm509phXKmHiwrnT95z3GJHW5_qD9CqOMqWPc-Bt4I"), "the worked example of docs/protocol.md §2"
    c1 = dst1.append_child(root, SECRET, child("0193a6f0-0000-7000-8000-000000000002",
                                               "0193a6f0-0000-7000-8000-000000000001", "researcher",
                                               ["tool:search", "agent:writer"], "find the Q3 figures"))
    c2 = dst1.append_child(c1, SECRET, child("0193a6f0-0000-7000-8000-000000000003",
                                             "0193a6f0-0000-7000-8000-000000000002", "writer", ["tool:search"]))
    seeds = {
        "contract-root": root,
        "child-depth1": c1,
        "child-depth2": c2,
        "caveat-scp": dst1.attenuate(root, {"t": "c", "scp": ["tool:search"]}),
        "caveat-exp": dst1.attenuate(c1, {"t": "c", "exp": EXP - 1200}),
        "caveat-both": dst1.attenuate(dst1.attenuate(root, {"t": "c", "scp": ["tool:s*"], "exp": EXP - 60}),
                                      {"t": "c", "scp": ["tool:search", "tool:sql"]}),
        "objective-unicode": dst1.mint_root(SECRET, root_json(obj="Zusammenfassung \u00fcber \u201cQ3\u201d \U0001F4C8 "
                                                              "\\u00e9 \\\" \\n tab\\t")),
        "objective-escapes": dst1.mint_root(SECRET, '{"v":1,"t":"d","kid":"k1","sid":"s\\u0000id","sub":"user:\\/x",'
                                                    '"agt":"planner","scp":["tool:\\u002a"],"obj":"\\ud83d\\ude00\\u007f",'
                                                    '"aud":"scopegate","iat":1767225600,"exp":1767229200}'),
        "whitespace-json": dst1.mint_root(SECRET, EXAMPLE_ROOT.replace(",", " ,\n ").replace(":", " : ")),
        "key-k2": dst1.mint_root(SECRET_K2, root_json(kid="k2")),
        "unknown-kid": dst1.mint_root(SECRET, root_json(kid="k9")),
        "expired": dst1.mint_root(SECRET, root_json(exp=IAT + 1)),
        "wrong-audience": dst1.mint_root(SECRET, root_json(aud="other-gateway")),
        "unknown-key": dst1.mint_root(SECRET, root_json(extra=1)),
        "duplicate-key": dst1.mint_root(SECRET, EXAMPLE_ROOT[:-1] + ',"scp":["*"]}'),
        "missing-sub": dst1.mint_root(SECRET, root_json(sub=None)),
        "version-2": dst1.mint_root(SECRET, root_json(v=2)),
        "iat-float": dst1.mint_root(SECRET, root_json(iat=1767225600.5)),
        "caveat-as-root": dst1.mint_root(SECRET, '{"t":"c","scp":["*"]}'),
        "child-par-mismatch": dst1.append_child(root, SECRET, child("c2", "not-the-parent", "researcher", ["*"])),
        "child-no-endorsement": dst1.attenuate(root, child("c2", "0193a6f0-0000-7000-8000-000000000001",
                                                           "researcher", ["*"])),
        "bad-tag": root[:-4] + "AAAA",
        "padded-base64": ".".join([root.split(".")[0], root.split(".")[1] + "==", root.split(".")[2]]),
        "prefix-only": "dst1",
        "two-dots": "dst1..",
        "not-dst1": "Bearer abc.def.ghi",
    }
    for name, text in seeds.items():
        write("token", name + ".tok", text)
    # The same as the blocks' JSON, one per line ('~' marks a block to endorse): the harness signs them.
    d1 = json.dumps(child("0193a6f0-0000-7000-8000-000000000002", "0193a6f0-0000-7000-8000-000000000001",
                          "researcher", ["tool:search"], "find the Q3 figures"), separators=(",", ":"))
    lines = {
        "json-root": EXAMPLE_ROOT,
        "json-child-caveat": "\n".join([EXAMPLE_ROOT, "~" + d1, '{"t":"c","scp":["tool:s*"],"exp":1767228000}']),
        "json-child-unendorsed": "\n".join([EXAMPLE_ROOT, d1]),
        "json-caveat-endorsed": "\n".join([EXAMPLE_ROOT, '~{"t":"c","exp":1767228000}']),
    }
    for name, text in lines.items():
        write("token", name + ".json", text)


# --- MCP and A2A bodies --------------------------------------------------------------------------

def jsonrpc_seeds():
    def rpc(method, params=None, id_=1):
        body = {"jsonrpc": "2.0", "id": id_, "method": method}
        if params is not None:
            body["params"] = params
        return json.dumps(body, ensure_ascii=False)

    message = {"role": "user", "messageId": "9229e770-767c-417b-a0b0-f0741243c589", "contextId": "ctx-1",
               "taskId": "task-7", "parts": [{"kind": "text", "text": "Find the Q3 revenue figures"},
                                             {"kind": "data", "data": {"quarter": 3}},
                                             {"kind": "text", "text": "and cite sources"}]}
    seeds = {
        "mcp-initialize": rpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                             "clientInfo": {"name": "agent", "version": "1.0"}}, 0),
        "mcp-initialized": '{"jsonrpc":"2.0","method":"notifications/initialized"}',
        "mcp-ping": rpc("ping"),
        "mcp-tools-list": rpc("tools/list", {"cursor": "abc"}),
        "mcp-tools-call": rpc("tools/call", {"name": "search", "arguments": {"q": "q3 revenue", "limit": 5,
                                                                             "filters": [{"f": True}, None, 1.5e3]}}, 2),
        "mcp-tools-call-meta": rpc("tools/call", {"name": "hr_lookup", "arguments": {},
                                                  "_meta": {"progressToken": "p-1"}}, "req-3"),
        "mcp-resources-read": rpc("resources/read", {"uri": "file:///srv/reports/q3.pdf"}),
        "mcp-prompts-get": rpc("prompts/get", {"name": "summarise", "arguments": {"style": "brief"}}),
        "mcp-other-method": rpc("sampling/createMessage", {"messages": []}),
        "mcp-response": '{"jsonrpc":"2.0","id":5,"result":{"content":[{"type":"text","text":"ok"}]}}',
        "mcp-error-response": '{"jsonrpc":"2.0","id":5,"error":{"code":-32601,"message":"Method not found"}}',
        "mcp-method-and-result": '{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}',
        "mcp-batch": "[" + rpc("tools/call", {"name": "a"}) + "," + rpc("tools/call", {"name": "b"}) + "]",
        "dup-params-name": '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search","arguments":{},'
                           '"name":"hr_lookup"}}',
        "dup-method": '{"method":"tools/list","jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}',
        "dup-deep": '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"s","arguments":{"a":[{"k":1,'
                    '"k":2}]}}}',
        "dup-escaped-name": '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","n\\u0061me":"b"}}',
        "many-members": json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                    "params": dict([("name", "s")] + [("k%d" % i, i) for i in range(40)])}),
        "name-not-string": rpc("tools/call", {"name": 7}),
        "method-empty": rpc(""),
        "unicode-name": rpc("tools/call", {"name": "r\u00e9sum\u00e9_\U0001F50D", "arguments": {"t": "\u0000\u001f"}}),
        "trailing-bytes": rpc("ping") + ' {"x":1}',
        "trailing-whitespace": rpc("ping") + " \n\t",
        "invalid-utf8": b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"s\xff\xfe"}}',
        "lone-surrogate": '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\\ud800"}}',
        "bom-prefix": "\ufeff" + rpc("ping"),
        "not-object": '"tools/call"',
        "deep-nesting": '{"a":' * 64 + "1" + "}" * 64,
        "big-number": '{"jsonrpc":"2.0","id":1e400,"method":"ping"}',
        "a2a-message-send": rpc("message/send", {"message": message, "configuration": {"blocking": True}}),
        "a2a-message-stream": rpc("message/stream", {"message": dict(message, parts=[{"kind": "text", "text": "go"}])}),
        "a2a-send-message-v1": rpc("SendMessage", {"message": {"messageId": "m1", "role": "ROLE_USER", "task_id": "t1",
                                                                "context_id": "c1", "parts": [{"text": "hello"}]}}),
        "a2a-tasks-get": rpc("tasks/get", {"id": "task-7", "historyLength": 2}),
        "a2a-tasks-cancel": rpc("tasks/cancel", {"id": "task-7"}),
        "a2a-get-task-v1": rpc("GetTask", {"name": "tasks/task-7"}),
        "a2a-dup-text": rpc("message/send", {"message": {"parts": [{"kind": "text", "text": "x"}]}}).replace(
            '"text": "x"', '"text": "x", "text": "secret objective"'),
        "a2a-rest-message": json.dumps({"message": message, "configuration": {"acceptedOutputModes": ["text"]}}),
        "a2a-rest-request": json.dumps({"request": {"messageId": "m2", "parts": [{"text": "older field name"}]}}),
        "a2a-rest-both": json.dumps({"message": {"parts": []}, "request": {"parts": []}}),
        "a2a-parts-not-objects": rpc("message/send", {"message": {"parts": ["text", 1, None, [], {"text": 5}]}}),
        "a2a-message-send-get": "/v1/message:send",
        "a2a-rest-path-query": "/agents/researcher/v1/message:stream?x=1",
    }
    for name, data in seeds.items():
        write("jsonrpc", name + ".json", data)


# --- configs -------------------------------------------------------------------------------------

def config_seeds():
    with open(os.path.join(ROOT, "examples", "scopegate.yaml"), "rb") as f:
        write("config", "examples-scopegate.yaml", f.read())
    # The reference block of docs/configuration.md, as documented.
    with open(os.path.join(ROOT, "docs", "configuration.md")) as f:
        doc = f.read()
    start = doc.index("## Reference")
    block = doc[doc.index("```yaml", start) + len("```yaml\n"):]
    write("config", "docs-reference.yaml", block[:block.index("```")])

    up = "http://127.0.0.1:9001"
    r = harness.route
    seeds = {
        "minimal": "listeners: [{port: 0}]\nroutes:\n  - { name: a, access: open, match: { path_prefix: / }, "
                   "upstream: http://127.0.0.1:9 }\n",
        "open-routes": harness.config(r("search", "/tools/search", up + "/base", strip_prefix="true") +
                                      r("events", "/tools/events", up + "/sse", timeouts="{ request_total: off }") +
                                      r("files", "/tools/files", up, max_body_bytes="1GiB", preserve_host="true")),
        "delegation": harness.delegation_config(
            r("search", "/tools/search", up, access="scoped") +
            r("mcp", "/mcp", up, access="scoped", kind="mcp",
              tools="{ hr_lookup: { datasets: [payroll], classification: restricted, audit: strict } }") +
            r("researcher", "/agents/researcher", up, access="scoped", kind="a2a", target_agent="researcher",
              grants='["tool:*"]', stamp_objective="true"),
            token_extra="  audience: scopegate\n  clock_skew: 30s\n  max_depth: 4\n  delegation_ttl: 15m\n",
            extra="audit:\n  dir: /tmp/scopegate-fuzz-audit\n  durability: strict\n  segment_max_bytes: 64KiB\n"),
        "tls-listener": harness.config(r("a", "/", up), listeners="  - name: tls\n    port: 0\n    tls:\n"
                                       "      certificate: /nonexistent/server.pem\n      key: /nonexistent/k.pem\n"),
        "upstream-long-form": harness.config("  - name: a\n    access: open\n    match: { path_prefix: /a, host: "
                                             "Tools.Example, methods: [GET, POST] }\n    upstream:\n      url: "
                                             "https://[::1]:8443/base\n      verify: false\n      server_name: t\n"
                                             "      pool_size: 8\n"),
        "env-references": "node: ${NODE:-gw-1}\nlisteners: [{ port: '${PORT:-8080}' }]\nadmin: { token: "
                          "${SCOPEGATE_ADMIN_TOKEN} }\ntoken:\n  keys: [{ kid: k1, secret_env: SG_TOKEN_K1 }]\n"
                          "routes: [{ name: a, match: { path_prefix: /a }, upstream: 'http://h:${UNSET_PORT}' }]\n",
        "errors-unknown-keys": "node: gw\nlistners: []\nroutes:\n  - name: a\n    upstream: { url: http://h, "
                               "pool_sise: 3 }\n    match: { path_prefix: a }\n",
        "errors-shadowed-route": harness.config(r("all", "/", up) + r("never", "/tools", up)),
        "errors-types": "workers: many\nlimits: { max_header_bytes: 12XB, max_connections: -1 }\ntimeouts: "
                        "{ client_header: 10 parsecs, drain: off }\nroutes: {}\n",
        "yaml-anchors": "defaults: &d { access: open, upstream: http://h:1 }\nroutes:\n  - <<: *d\n    name: a\n"
                        "    match: { path_prefix: /a }\n",
        "yaml-tags-multi-doc": "--- !!map\nroutes: !!seq []\n...\n---\nnode: second\n",
        "yaml-complex-key": "routes:\n  - name: m\n    kind: mcp\n    access: open\n    match: { path_prefix: /m }\n"
                            "    upstream: http://h:1\n    tools: { ? [a, b] : { audit: none } }\n",
        "secret-file": "token:\n  keys: [{ kid: k1, secret_file: /etc/hostname }]\nroutes: []\n",
    }
    for name, text in seeds.items():
        write("config", name + ".yaml", text)


# --- audit records -------------------------------------------------------------------------------

def audit_seeds(log_path):
    with open(log_path, "rb") as f:
        log = f.read()
    lines = log.split(b"\n")[:-1]
    write("audit", "tour-log.jsonl", log)
    write("audit", "first-three.jsonl", b"\n".join(lines[:3]) + b"\n")
    write("audit", "torn-tail.jsonl", b"\n".join(lines[:4]) + b"\n" + lines[4][: len(lines[4]) // 2])
    edited = lines[:5]
    edited[2] = edited[2].replace(b"user:alice", b"user:mallory")
    write("audit", "edited-record.jsonl", b"\n".join(edited) + b"\n")
    write("audit", "record-missing.jsonl", b"\n".join(lines[:3] + lines[4:7]) + b"\n")
    write("audit", "record-duplicated.jsonl", b"\n".join(lines[:4] + lines[3:5]) + b"\n")
    by_event = {}
    for line in lines:
        record = json.loads(line)
        key = record["event"] + "-" + record.get("decision", "")
        by_event.setdefault(key.rstrip("-"), line)
    for key, line in by_event.items():
        write("audit", "one-" + key.replace(".", "-") + ".jsonl", line + b"\n")
    write("audit", "empty-segment.jsonl", b"")


def plan_seeds():
    """A plan body, a NUL, then an A2A answer (JSON, or server-sent events) as a sub-agent sends it."""
    three = {"goal": "a report", "mode": "enforce", "tasks": [
        {"id": "research", "agent": "researcher", "objective": "find", "actions": ["tool:search", "tool:fetch*"],
         "critical": True, "deadline_s": 60},
        {"id": "analyse", "agent": "analyst", "actions": ["tool:calc"], "depends_on": ["research"], "critical": True},
        {"id": "write", "agent": "writer", "actions": ["tool:doc"], "depends_on": ["research", "analyse"]}]}
    answers = {
        "message-1.0": {"jsonrpc": "2.0", "id": 1, "result": {"message": {"messageId": "m", "role": "ROLE_AGENT",
                                                                           "parts": [{"text": "done"}]}}},
        "task-0.3": {"jsonrpc": "2.0", "id": 1, "result": {"kind": "task", "id": "t-1",
                                                           "status": {"state": "working"}}},
        "task-1.0": {"jsonrpc": "2.0", "id": 1, "result": {"task": {"id": "t-1",
                                                                    "status": {"state": "TASK_STATE_COMPLETED"}}}},
        "error": {"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "boom"}},
        "rest": {"id": "t-2", "status": {"state": "failed"}},
    }
    stream = "".join("data: %s\n\n" % json.dumps(e) for e in (
        {"jsonrpc": "2.0", "id": 1, "result": {"kind": "task", "id": "t-3", "status": {"state": "submitted"}}},
        {"jsonrpc": "2.0", "id": 1, "result": {"statusUpdate": {"taskId": "t-3",
                                                                "status": {"state": "TASK_STATE_COMPLETED"}}}}))
    plan = json.dumps(three)
    for name, answer in answers.items():
        write("plan", name + ".bin", plan + "\0" + json.dumps(answer))
    write("plan", "stream.bin", plan + "\0" + stream)
    write("plan", "stream-crlf.bin", json.dumps({"tasks": [{"id": "a", "agent": "x", "actions": []}]}) + "\0" +
          stream.replace("\n", "\r\n"))
    write("plan", "cycle.bin", json.dumps({"tasks": [{"id": "a", "agent": "x", "actions": [], "depends_on": ["b"]},
                                                     {"id": "b", "agent": "x", "actions": [], "depends_on": ["a"]}]}))


def llm_seeds():
    """A flags byte (bit 0: Anthropic, bit 1: an event stream), a request body, a NUL, then an answer."""
    chat = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    usage = {"prompt_tokens": 12, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 4},
             "completion_tokens_details": {"reasoning_tokens": 3}}
    chunks = "".join("data: %s\n\n" % json.dumps(c) for c in (
        {"choices": [{"delta": {"content": "hi"}}], "usage": None}, {"choices": [], "usage": usage})) + "data: [DONE]\n\n"
    anthropic = "".join("event: %s\ndata: %s\n\n" % (e["type"], json.dumps(e)) for e in (
        {"type": "message_start", "message": {"content": [], "usage": {"input_tokens": 25,
                                                                        "cache_read_input_tokens": 10,
                                                                        "output_tokens": 1}}},
        {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "x"}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 15}}))
    responses = "event: response.completed\ndata: %s\n\n" % json.dumps(
        {"type": "response.completed", "response": {"usage": {"input_tokens": 6, "output_tokens": 4}}})
    seeds = {
        "chat-stream": ("\x02", chat, chunks),
        "chat-stream-crlf": ("\x02", dict(chat, stream_options={"include_usage": False}), chunks.replace("\n", "\r\n")),
        "chat-json": ("\x00", dict(chat, stream=False), json.dumps({"choices": [], "usage": usage})),
        "anthropic-stream": ("\x03", {"model": "claude", "stream": True, "max_tokens": 9}, anthropic),
        "anthropic-json": ("\x01", {"model": "claude", "max_tokens": 9},
                           json.dumps({"content": [], "usage": {"input_tokens": 5, "output_tokens": 7}})),
        "responses-stream": ("\x02", {"model": "o", "stream": True, "max_output_tokens": 5}, responses),
        "escaped": ("\x02", '{"model":"m","stream":true,"stream\\u005foptions":null}', chunks),
        "duplicate-usage": ("\x00", dict(chat, stream=False),
                            '{"usage":{"prompt_tokens":1},"usage":{"prompt_tokens":18446744073709551615,"completion_tokens":2}}'),
    }
    for name, (flags, request, answer) in seeds.items():
        body = request if isinstance(request, str) else json.dumps(request)
        write("llm", name + ".bin", flags + body + "\0" + answer)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audit-log", default=os.path.join(CORPUS, "audit", "tour-log.jsonl"))
    args = parser.parse_args()
    log = open(args.audit_log, "rb").read()  # read before the seeds (tour-log itself) are rewritten
    http_seeds()
    token_seeds()
    jsonrpc_seeds()
    config_seeds()
    plan_seeds()
    llm_seeds()
    tmp = os.path.join(CORPUS, "audit", ".source.jsonl")
    os.makedirs(os.path.dirname(tmp), exist_ok=True)
    with open(tmp, "wb") as f:
        f.write(log)
    try:
        audit_seeds(tmp)
    finally:
        os.remove(tmp)


if __name__ == "__main__":
    main()
