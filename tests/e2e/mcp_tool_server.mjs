// An MCP tool server built with the official TypeScript SDK (Streamable HTTP, stateless).
// /mcp answers with JSON, /mcp-sse with server-sent events. Every tool call records the
// delegation headers it received; GET /calls returns them, so a test can check attribution
// call by call. Prints "listening <port>" once ready.
import http from "node:http";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";

const calls = [];
const STAMPED = ["delegation-scope", "delegation-parent", "delegation-root", "delegation-depth",
  "delegation-principal", "delegation-actor", "delegation-token", "traceparent", "baggage", "authorization",
  "mcp-session-id"];

function received(extra) {
  const headers = extra.requestInfo?.headers ?? {};
  const out = {};
  for (const name of STAMPED) if (headers[name] !== undefined) out[name] = headers[name];
  return out;
}

function makeServer() {
  const server = new McpServer({ name: "scopegate-e2e-tools", version: "1.0.0" });
  for (const name of ["search", "hr_lookup", "analyse", "draft"]) {
    server.registerTool(name, { description: `the ${name} tool` }, async (extra) => {
      const seen = received(extra);
      calls.push({ tool: name, ...seen });
      return { content: [{ type: "text", text: JSON.stringify(seen) }] };
    });
  }
  // A tool that is up but fails every call: it answers with isError, as MCP tools report their
  // own errors (a circuit breaker must not take it for a dead server unless told to).
  server.registerTool("failing", { description: "a tool whose every call fails" }, async (extra) => {
    calls.push({ tool: "failing", ...received(extra) });
    return { content: [{ type: "text", text: "the backend of this tool is down" }], isError: true };
  });
  return server;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? JSON.parse(text) : undefined;
}

const httpServer = http.createServer(async (req, res) => {
  const path = new URL(req.url, "http://x").pathname;
  if (path === "/calls") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(calls));
    return;
  }
  if (path !== "/mcp" && path !== "/mcp-sse") {
    res.writeHead(404).end();
    return;
  }
  try {
    const body = req.method === "POST" ? await readBody(req) : undefined;
    const server = makeServer();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: path === "/mcp",
    });
    res.on("close", () => {
      transport.close();
      server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  } catch (err) {
    if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
    res.end(String(err));
  }
});

httpServer.listen(0, "127.0.0.1", () => {
  console.log(`listening ${httpServer.address().port}`);
});
