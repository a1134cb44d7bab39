// Calls tools through scopegate with the official MCP client (Streamable HTTP transport).
// Usage: node mcp_client.mjs <url> <agent key> <delegation token> <tool> [<tool> ...]
// Prints one JSON line: {"tools": [...listed names], "results": {tool: {ok, text|error}}}.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

export async function callTools(url, key, token, tools) {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${key}`, "Delegation-Token": token } },
  });
  const client = new Client({ name: "scopegate-e2e-client", version: "1.0.0" });
  await client.connect(transport);
  const listed = (await client.listTools()).tools.map((t) => t.name);
  const results = {};
  for (const tool of tools) {
    try {
      const r = await client.callTool({ name: tool, arguments: {} });
      results[tool] = { ok: true, text: r.content[0].text };
    } catch (err) {
      results[tool] = { ok: false, error: String(err.message ?? err) };
    }
  }
  await client.close();
  return { tools: listed, results };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [url, key, token, ...tools] = process.argv.slice(2);
  callTools(url, key, token, tools).then(
    (out) => console.log(JSON.stringify(out)),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
