#!/usr/bin/env python3
"""A stand-in model server for scopegate's LLM routes: OpenAI-compatible and Anthropic endpoints
that answer in the documented wire formats, JSON and server-sent events, with token usage that a
test can predict from its own request. Standard library only; the HTTP/1.1 plumbing (keep-alive,
request parsing, chunked request bodies) is demo_upstream.py's. Responses are never compressed.

Endpoints:

  POST /v1/chat/completions   OpenAI Chat Completions. Without `stream`: a `chat.completion` with
        usage {prompt_tokens, completion_tokens, total_tokens, prompt_tokens_details:
        {cached_tokens}, completion_tokens_details: {reasoning_tokens}}.
        With "stream": true: text/event-stream of `data: {chat.completion.chunk}` lines: a first
        chunk with delta {role: "assistant", content: ""}, one chunk per output word, a chunk
        with finish_reason "stop"; then, only when the request has stream_options.include_usage
        true, one more chunk with "choices": [] and the usage (the other chunks then carry
        "usage": null; without include_usage no chunk has a usage key); then `data: [DONE]`.
        stream_options on a request that does not stream is a 400 (param stream_options), as
        OpenAI answers it.
  POST /v1/responses          OpenAI Responses. Without `stream`: a `response` object (status
        completed) with usage {input_tokens, input_tokens_details: {cached_tokens},
        output_tokens, output_tokens_details: {reasoning_tokens}, total_tokens}.
        With "stream": true: `event:` + `data:` pairs, each with a rising sequence_number:
        response.created, response.in_progress, response.output_item.added,
        response.content_part.added, one response.output_text.delta per output word,
        response.output_text.done, response.content_part.done, response.output_item.done,
        response.completed (its `response.usage` is the usage; no [DONE] line).
  POST /v1/embeddings         {object: "list", data: [{object: "embedding", index, embedding}],
        model, usage: {prompt_tokens, total_tokens}}: one embedding per input (a string, a list of
        strings, a token list or a list of token lists), each of `dimensions` floats (default 8),
        so a large `dimensions` makes a large body. encoding_format "base64" (what the OpenAI
        SDK asks for by default) sends each embedding as base64 of little-endian float32s.
  POST /v1/messages           Anthropic Messages. Without `stream`: a `message` with usage
        {input_tokens, output_tokens, cache_read_input_tokens, cache_creation_input_tokens}.
        With "stream": true: `event:` + `data:` pairs: message_start (the message with empty
        content and usage {input_tokens, cache_read_input_tokens, cache_creation_input_tokens,
        output_tokens: 1}), content_block_start, ping, one content_block_delta (text_delta) per
        output word, content_block_stop, message_delta (delta {stop_reason: "end_turn",
        stop_sequence: null}, usage {output_tokens: <final output tokens>}), message_stop.
  GET  /stats                 {"requests": n}: requests received, /stats and /requests excluded.
  GET  /requests              the last 50 requests received (same exclusion), oldest first, as a
        list of {method, path, headers: [[name, value], ...], body: parsed JSON or null}.
  anything else               404 with OpenAI's error shape.

Usage, computed from the request so a test can predict it:
  W  words: the whitespace-separated words of every text in the request's `messages` (chat,
     Anthropic) or `input` (Responses, embeddings): string contents and the `text` of content
     parts; for Anthropic also the `system` prompt. Responses `instructions` is not counted.
     An embeddings token list counts one per token. W is at least 1.
  N  output tokens: the request's max_completion_tokens, max_tokens or max_output_tokens (the
     first present, in that order), else 8. The output text is N words of a fixed sentence,
     repeated; streams send one word per delta event.
  C  cached tokens: W // 2 when any counted word is `cached` (case and surrounding punctuation
     ignored), else 0.
  R  reasoning tokens: 3 when the model name contains `reason`, else 0 (OpenAI only).
  K  cache-write tokens: 2 when any counted word is `cachewrite`, else 0 (Anthropic only).
  Chat:      prompt_tokens W, cached_tokens C (part of W), completion_tokens N + R,
             reasoning_tokens R (part of completion_tokens), total_tokens W + N + R.
  Responses: input_tokens W, cached_tokens C, output_tokens N + R, reasoning_tokens R,
             total_tokens W + N + R.
  Embeddings: prompt_tokens W, total_tokens W.
  Anthropic: input_tokens W - C (the cache read is not part of it, as Anthropic reports),
             cache_read_input_tokens C, cache_creation_input_tokens K, output_tokens N.

Errors: unparseable JSON, a body that is not an object, or no `model` is a 400 with the API's
error shape: OpenAI {"error": {message, type: "invalid_request_error", param, code}}, Anthropic
{"type": "error", "error": {type: "invalid_request_error", message}, "request_id"}.

Pacing: each stream event is its own chunk, written and drained on its own. When the model name
starts with `slow-`, the server waits 400 ms after the first event before sending the rest.

Usage: model_upstream.py --port 0 [--host 127.0.0.1] [--name NAME]
Prints "listening <port>" on stdout once ready.
"""
import argparse
import asyncio
import base64
import collections
import http
import json
import math
import os
import string
import struct
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demo_upstream import MAX_HEADER, Server, read_body, response_head  # noqa: E402

SENTENCE = ("every token the stand-in model writes travels back through the gateway to the agent "
            "that asked for it").split()
DEFAULT_OUTPUT = 8
DEFAULT_DIMENSIONS = 8
SLOW_PAUSE = 0.4
KEPT_REQUESTS = 50


class BadRequest(Exception):
    def __init__(self, message, param=None):
        super().__init__(message)
        self.param = param


def words_in(value):
    """The words of every text in a chat/Responses/Anthropic message list or content value."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [w for item in value for w in words_in(item)]
    if isinstance(value, dict):
        found = value["text"].split() if isinstance(value.get("text"), str) else []
        return found + words_in(value.get("content"))
    return []


def embedding_inputs(value):
    """The embeddings request's inputs as a list, and how many tokens they count for."""
    if isinstance(value, str):
        return [value], len(value.split())
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [value], len(value)
    if isinstance(value, list):
        count = 0
        for item in value:
            count += len(item.split()) if isinstance(item, str) else len(item) if isinstance(item, list) else 0
        return value, count
    raise BadRequest("'input' must be a string or an array", "input")


class Tally:
    """The deterministic token counts for one request (see the module docstring)."""

    def __init__(self, body, words):
        self.input = max(1, len(words))
        plain = {w.strip(string.punctuation).lower() for w in words}
        self.cached = self.input // 2 if "cached" in plain else 0
        self.cache_write = 2 if "cachewrite" in plain else 0
        self.output = DEFAULT_OUTPUT
        for key in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
            if isinstance(body.get(key), int) and not isinstance(body.get(key), bool):
                self.output = body[key]
                break
        self.reasoning = 3 if "reason" in str(body.get("model")) else 0
        self.words = [SENTENCE[i % len(SENTENCE)] for i in range(max(0, self.output))]

    def pieces(self):
        """The output text one word at a time; joined they make the whole text."""
        return [w if i == 0 else " " + w for i, w in enumerate(self.words)]

    def text(self):
        return " ".join(self.words)

    def chat_usage(self):
        completion = self.output + self.reasoning
        return {"prompt_tokens": self.input, "completion_tokens": completion,
                "total_tokens": self.input + completion,
                "prompt_tokens_details": {"cached_tokens": self.cached},
                "completion_tokens_details": {"reasoning_tokens": self.reasoning}}

    def responses_usage(self):
        out = self.output + self.reasoning
        return {"input_tokens": self.input, "input_tokens_details": {"cached_tokens": self.cached},
                "output_tokens": out, "output_tokens_details": {"reasoning_tokens": self.reasoning},
                "total_tokens": self.input + out}

    def anthropic_usage(self, output_tokens=None):
        return {"input_tokens": self.input - self.cached,
                "cache_creation_input_tokens": self.cache_write,
                "cache_read_input_tokens": self.cached,
                "output_tokens": self.output if output_tokens is None else output_tokens}


def new_id(prefix):
    return prefix + uuid.uuid4().hex[:24]


def compact(obj):
    return json.dumps(obj, separators=(",", ":"))


def sse(data, event=None):
    head = "event: %s\n" % event if event else ""
    return (head + "data: " + (data if isinstance(data, str) else compact(data)) + "\n\n").encode()


class ModelServer(Server):
    def __init__(self, name):
        super().__init__(name)
        self.log = collections.deque(maxlen=KEPT_REQUESTS)

    async def respond(self, req, reader, writer, conn_id):
        raw = bytearray()
        await read_body(reader, req, raw.extend)
        keep = (req.header("Connection") or "").lower() != "close"
        path = req.path.rstrip("/") or "/"
        if req.method == "GET" and path == "/stats":
            return await self.send_json(writer, 200, {"requests": self.requests}, keep)
        if req.method == "GET" and path == "/requests":
            return await self.send_json(writer, 200, list(self.log), keep)

        self.requests += 1
        try:
            body, parsed = (json.loads(raw), True) if raw else (None, False)
        except ValueError:
            body, parsed = None, False
        self.log.append({"method": req.method, "path": req.target, "headers": [list(h) for h in req.headers],
                         "body": body})

        routes = {"/v1/chat/completions": self.chat, "/v1/responses": self.responses,
                  "/v1/embeddings": self.embeddings, "/v1/messages": self.messages}
        handler = routes.get(path)
        anthropic = path == "/v1/messages"
        if handler is None or req.method != "POST":
            status = 404 if handler is None else 405
            return await self.send_error(writer, status, "no route for %s %s" % (req.method, path), keep,
                                         anthropic, kind="not_found_error" if anthropic else "invalid_request_error")
        try:
            if not parsed:
                raise BadRequest("the request body could not be parsed as JSON")
            if not isinstance(body, dict):
                raise BadRequest("the request body is not a JSON object")
            if not isinstance(body.get("model"), str) or not body["model"]:
                raise BadRequest("'model' is required", "model")
            return await handler(body, writer, keep)
        except BadRequest as bad:
            return await self.send_error(writer, 400, str(bad), keep, anthropic, param=bad.param)
        except (ConnectionError, asyncio.IncompleteReadError):
            raise
        except Exception as err:  # a request this stand-in cannot serve: answer, keep serving
            return await self.send_error(writer, 500, "stand-in failure: %r" % err, False, anthropic,
                                         kind="api_error" if anthropic else "server_error")

    # -- plumbing ---------------------------------------------------------------------------------

    async def send_json(self, writer, status, obj, keep):
        data = compact(obj).encode()
        writer.write(response_head(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                                            ("X-Upstream", self.name),
                                            ("Connection", "keep-alive" if keep else "close")],
                                   http.HTTPStatus(status).phrase) + data)
        await writer.drain()
        return keep

    async def send_error(self, writer, status, message, keep, anthropic, param=None, kind="invalid_request_error"):
        if anthropic:
            obj = {"type": "error", "error": {"type": kind, "message": message}, "request_id": new_id("req_")}
        else:
            obj = {"error": {"message": message, "type": kind, "param": param, "code": None}}
        return await self.send_json(writer, status, obj, keep)

    async def send_stream(self, writer, model, events, keep):
        """Writes each event as its own chunk and drains it; pauses after the first for slow- models."""
        writer.write(response_head(200, [("Content-Type", "text/event-stream; charset=utf-8"),
                                         ("Cache-Control", "no-cache"), ("X-Upstream", self.name),
                                         ("Transfer-Encoding", "chunked"),
                                         ("Connection", "keep-alive" if keep else "close")]))
        for i, event in enumerate(events):
            writer.write(b"%x\r\n%s\r\n" % (len(event), event))
            await writer.drain()
            if i == 0 and model.startswith("slow-"):
                await asyncio.sleep(SLOW_PAUSE)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return keep

    # -- OpenAI Chat Completions ------------------------------------------------------------------

    async def chat(self, body, writer, keep):
        tally = Tally(body, words_in(body.get("messages")))
        model = body["model"]
        ident, created = new_id("chatcmpl-"), int(time.time())
        options = body.get("stream_options")
        if not body.get("stream"):
            if options is not None:
                raise BadRequest("stream_options may only be set when stream is true", "stream_options")
            return await self.send_json(writer, 200, {
                "id": ident, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": tally.text(), "refusal": None,
                                                     "annotations": []},
                             "logprobs": None, "finish_reason": "stop"}],
                "usage": tally.chat_usage(), "service_tier": "default", "system_fingerprint": "fp_" + self.name,
            }, keep)

        with_usage = isinstance(options, dict) and options.get("include_usage") is True

        def chunk(choices, usage=None):
            obj = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                   "service_tier": "default", "system_fingerprint": "fp_" + self.name, "choices": choices}
            if with_usage:
                obj["usage"] = usage
            return sse(obj)

        def choice(delta, finish=None):
            return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

        events = [chunk(choice({"role": "assistant", "content": "", "refusal": None}))]
        events += [chunk(choice({"content": piece})) for piece in tally.pieces()]
        events.append(chunk(choice({}, "stop")))
        if with_usage:
            events.append(chunk([], tally.chat_usage()))
        events.append(sse("[DONE]"))
        return await self.send_stream(writer, model, events, keep)

    # -- OpenAI Responses -------------------------------------------------------------------------

    async def responses(self, body, writer, keep):
        tally = Tally(body, words_in(body.get("input")))
        model = body["model"]
        created = int(time.time())
        message_id = new_id("msg_")

        def response(status, output, usage):
            return {"id": response_id, "object": "response", "created_at": created, "status": status,
                    "background": False, "completed_at": int(time.time()) if status == "completed" else None,
                    "error": None, "incomplete_details": None, "instructions": body.get("instructions"),
                    "max_output_tokens": body.get("max_output_tokens"), "model": model, "output": output,
                    "parallel_tool_calls": True, "previous_response_id": None,
                    "reasoning": {"effort": None, "summary": None}, "service_tier": "default", "store": True,
                    "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [],
                    "top_p": 1.0, "truncation": "disabled", "usage": usage, "user": None, "metadata": {}}

        def part(text):
            return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

        def item(status, content):
            return {"id": message_id, "type": "message", "status": status, "role": "assistant", "content": content}

        response_id = new_id("resp_")
        done_item = item("completed", [part(tally.text())])
        if not body.get("stream"):
            return await self.send_json(writer, 200, response("completed", [done_item], tally.responses_usage()), keep)

        sequence = []

        def event(kind, **fields):
            obj = {"type": kind, "sequence_number": len(sequence)}
            obj.update(fields)
            sequence.append(sse(obj, kind))

        where = {"item_id": message_id, "output_index": 0, "content_index": 0}
        event("response.created", response=response("in_progress", [], None))
        event("response.in_progress", response=response("in_progress", [], None))
        event("response.output_item.added", output_index=0, item=item("in_progress", []))
        event("response.content_part.added", part=part(""), **where)
        for piece in tally.pieces():
            event("response.output_text.delta", delta=piece, logprobs=[], **where)
        event("response.output_text.done", text=tally.text(), logprobs=[], **where)
        event("response.content_part.done", part=part(tally.text()), **where)
        event("response.output_item.done", output_index=0, item=done_item)
        event("response.completed", response=response("completed", [done_item], tally.responses_usage()))
        return await self.send_stream(writer, model, sequence, keep)

    # -- OpenAI Embeddings ------------------------------------------------------------------------

    async def embeddings(self, body, writer, keep):
        inputs, count = embedding_inputs(body.get("input"))
        dims = body.get("dimensions", DEFAULT_DIMENSIONS)
        if not isinstance(dims, int) or isinstance(dims, bool) or dims < 1:
            raise BadRequest("'dimensions' must be a positive integer", "dimensions")
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index in range(len(inputs)):
            vector = [round(math.sin(index + 1 + j * 0.01), 6) for j in range(dims)]
            if as_base64:
                vector = base64.b64encode(struct.pack("<%df" % dims, *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        count = max(1, count)
        return await self.send_json(writer, 200, {"object": "list", "data": data, "model": body["model"],
                                                  "usage": {"prompt_tokens": count, "total_tokens": count}}, keep)

    # -- Anthropic Messages -----------------------------------------------------------------------

    async def messages(self, body, writer, keep):
        tally = Tally(body, words_in(body.get("system")) + words_in(body.get("messages")))
        model = body["model"]

        def message(content, stop_reason, usage):
            return {"id": new_id("msg_"), "type": "message", "role": "assistant", "model": model,
                    "content": content, "stop_reason": stop_reason, "stop_sequence": None, "usage": usage}

        if not body.get("stream"):
            return await self.send_json(writer, 200, message([{"type": "text", "text": tally.text()}], "end_turn",
                                                             tally.anthropic_usage()), keep)
        events = [sse({"type": "message_start", "message": message([], None, tally.anthropic_usage(1))},
                      "message_start"),
                  sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                      "content_block_start"),
                  sse({"type": "ping"}, "ping")]
        events += [sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                       "content_block_delta") for piece in tally.pieces()]
        events += [sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
                   sse({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                        "usage": {"output_tokens": tally.output}}, "message_delta"),
                   sse({"type": "message_stop"}, "message_stop")]
        return await self.send_stream(writer, model, events, keep)


async def serve(args):
    app = ModelServer(args.name)
    listener = await asyncio.start_server(app.handle, args.host, args.port, limit=MAX_HEADER)
    print("listening %d" % listener.sockets[0].getsockname()[1], flush=True)
    async with listener:
        await listener.serve_forever()


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--host", default="127.0.0.1")
    cli.add_argument("--port", type=int, default=0)
    cli.add_argument("--name", default="model")
    try:
        asyncio.run(serve(cli.parse_args()))
    except KeyboardInterrupt:
        sys.exit(0)
