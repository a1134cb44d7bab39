#!/usr/bin/env python3
"""A small HTTP/1.1 tool server for scopegate's demo and integration tests.

Standard library only. Speaks keep-alive, chunked and Content-Length bodies, server-sent events,
optional TLS; it also misbehaves on request, so the gateway's handling of broken upstreams is
tested against a real process. Endpoints (any method):

  /echo, anything else      JSON: method, path, headers, body length and sha256, connection number
  /sse?n=5&interval_ms=200  text/event-stream, one event per interval
  /bytes?n=1048576          n bytes of body (Content-Length), or chunked with &chunked=1
  /sink                     reads the body and reports its length and sha256
  /delay?ms=500             waits before answering (first-byte timeout tests)
  /stall-body?ms=2000       sends half a body then waits (upstream idle tests)
  /cut-body                 sends half a body then closes the connection (a cut response)
  /status?code=204          answers with that status
  /close-delimited          a body ended by closing the connection
  /bad-framing              Content-Length together with Transfer-Encoding
  /no-response              closes the connection without answering
  /conn                     the connection number only (keep-alive reuse tests)
  /stats                    requests and connections served so far, requests being answered now
                            (`active`, this one included), the most at once (`peak_active`), and how
                            many of the requests were scopegate's active health checks
                            (`health_checks`: User-Agent scopegate-health-check)

Usage: demo_upstream.py --port 0 [--host 127.0.0.1] [--name NAME] [--cert C --key K]
Prints "listening <port>" on stdout once ready.
"""
import argparse
import asyncio
import hashlib
import json
import ssl
import sys
import urllib.parse

MAX_HEADER = 64 * 1024


class Request:
    def __init__(self, method, target, version, headers):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers  # list of (name, value)
        parsed = urllib.parse.urlsplit(target)
        self.path = parsed.path
        self.query = dict(urllib.parse.parse_qsl(parsed.query))

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


async def read_request(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEADER:
        raise ValueError("header too large")
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers.append((name, value.strip()))
    return Request(method, target, version, headers)


async def read_body(reader, req, consume):
    """Streams the request body into consume(bytes); returns the byte count."""
    total = 0
    te = (req.header("Transfer-Encoding") or "").lower()
    if te == "chunked":
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                # trailers until the empty line
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return total
            remaining = size
            while remaining:
                chunk = await reader.read(min(remaining, 1 << 20))
                if not chunk:
                    raise ConnectionError("eof in chunk")
                consume(chunk)
                remaining -= len(chunk)
                total += len(chunk)
            await reader.readexactly(2)
    length = int(req.header("Content-Length") or 0)
    while total < length:
        chunk = await reader.read(min(length - total, 1 << 20))
        if not chunk:
            raise ConnectionError("eof in body")
        consume(chunk)
        total += len(chunk)
    return total


def response_head(status, headers, reason="OK"):
    lines = ["HTTP/1.1 %d %s" % (status, reason)] + ["%s: %s" % kv for kv in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Server:
    def __init__(self, name):
        self.name = name
        self.connections = 0
        self.requests = 0
        self.active = 0
        self.peak_active = 0
        self.health_checks = 0

    async def handle(self, reader, writer):
        self.connections += 1
        conn_id = self.connections
        try:
            while True:
                try:
                    req = await read_request(reader)
                except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                    return
                self.active += 1
                self.peak_active = max(self.peak_active, self.active)
                try:
                    keep = await self.respond(req, reader, writer, conn_id)
                    await writer.drain()
                finally:
                    self.active -= 1
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def respond(self, req, reader, writer, conn_id):
        self.requests += 1
        if req.header("User-Agent") == "scopegate-health-check":
            self.health_checks += 1
        digest = hashlib.sha256()
        body_len = await read_body(reader, req, digest.update)
        keep = (req.header("Connection") or "").lower() != "close"
        path = req.path.rstrip("/") or "/"
        leaf = path.rsplit("/", 1)[-1]

        if leaf == "sse":
            n = int(req.query.get("n", 5))
            interval = int(req.query.get("interval_ms", 200)) / 1000
            writer.write(response_head(200, [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"),
                                             ("Transfer-Encoding", "chunked")]))
            await writer.drain()
            for i in range(n):
                event = ("id: %d\nevent: tick\ndata: {\"seq\": %d, \"upstream\": \"%s\"}\n\n"
                         % (i, i, self.name)).encode()
                writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                await writer.drain()
                if i + 1 < n:
                    await asyncio.sleep(interval)
            writer.write(b"0\r\n\r\n")
            return keep

        if leaf == "bytes":
            n = int(req.query.get("n", 1024))
            block = b"x" * min(n, 1 << 20) if n else b""
            if req.query.get("chunked") == "1":
                writer.write(response_head(200, [("Content-Type", "application/octet-stream"),
                                                 ("Transfer-Encoding", "chunked")]))
                sent = 0
                while sent < n:
                    part = block[: min(len(block), n - sent)]
                    writer.write(b"%x\r\n" % len(part) + part + b"\r\n")
                    sent += len(part)
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
                return keep
            writer.write(response_head(200, [("Content-Type", "application/octet-stream"),
                                             ("Content-Length", str(n))]))
            if req.method == "HEAD":
                return keep
            sent = 0
            while sent < n:
                part = block[: min(len(block), n - sent)]
                writer.write(part)
                sent += len(part)
                await writer.drain()
            return keep

        if leaf == "delay":
            await asyncio.sleep(int(req.query.get("ms", 500)) / 1000)
        if leaf == "stall-body":
            writer.write(response_head(200, [("Content-Length", "10")]) + b"12345")
            await writer.drain()
            await asyncio.sleep(int(req.query.get("ms", 2000)) / 1000)
            writer.write(b"67890")
            return keep
        if leaf == "cut-body":
            writer.write(response_head(200, [("Content-Length", "10")]) + b"12345")
            await writer.drain()
            return False
        if leaf == "no-response":
            return False
        if leaf == "bad-framing":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            return False
        if leaf == "close-delimited":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil-close")
            return False
        if leaf == "status":
            code = int(req.query.get("code", 200))
            if code in (204, 304):
                writer.write(response_head(code, [("X-Upstream", self.name)], "Status"))
            else:
                body = b'{"status": %d}' % code
                writer.write(response_head(code, [("Content-Type", "application/json"),
                                                  ("Content-Length", str(len(body)))], "Status") + body)
            return keep
        if leaf == "stats":
            body = json.dumps({"requests": self.requests, "connections": self.connections, "active": self.active,
                               "peak_active": self.peak_active, "health_checks": self.health_checks}).encode()
            writer.write(response_head(200, [("Content-Type", "application/json"),
                                             ("Content-Length", str(len(body)))]) + body)
            return keep
        if leaf == "conn":
            body = json.dumps({"connection": conn_id, "upstream": self.name}).encode()
            writer.write(response_head(200, [("Content-Type", "application/json"),
                                             ("Content-Length", str(len(body)))]) + body)
            return keep

        body = json.dumps({
            "upstream": self.name,
            "method": req.method,
            "path": req.target,
            "version": req.version,
            "headers": req.headers,
            "body_bytes": body_len,
            "body_sha256": digest.hexdigest(),
            "connection": conn_id,
        }).encode()
        head = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("X-Upstream", self.name),
                ("Keep-Alive", "timeout=5"), ("Connection", "keep-alive" if keep else "close")]
        writer.write(response_head(200, head))
        if req.method != "HEAD":
            writer.write(body)
        return keep


async def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", default="demo")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    context = None
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
    app = Server(args.name)
    server = await asyncio.start_server(app.handle, args.host, args.port, ssl=context, limit=MAX_HEADER)
    port = server.sockets[0].getsockname()[1]
    print("listening %d" % port, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
