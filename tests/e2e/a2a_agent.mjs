// The "researcher" sub-agent, built with the official A2A JavaScript SDK (v1.0, JSON-RPC).
// It is reached through scopegate; when a message arrives it acts under the Delegation-Token the
// gateway handed it: it calls MCP tools through scopegate with its own credential and that token,
// and answers with what happened (JSON text).
// Usage: node a2a_agent.mjs <gateway base url> <agent key> [<agent name> [<tool>,<tool>...]]
// (default: researcher, calling search and hr_lookup). Prints "listening <port>".
import express from "express";
import { Role } from "@a2a-js/sdk";
import { DefaultRequestHandler, InMemoryTaskStore } from "@a2a-js/sdk/server";
import { agentCardHandler, jsonRpcHandler, UserBuilder } from "@a2a-js/sdk/server/express";
import { callTools } from "./mcp_client.mjs";

const [gateway, agentKey, agentName = "researcher", toolList = "search,hr_lookup"] = process.argv.slice(2);
const toolsToCall = toolList.split(",").filter(Boolean);

function text(value) {
  return { content: { $case: "text", value }, metadata: undefined, filename: "", mediaType: "" };
}

function header(headers, name) {
  const v = headers?.[name];
  return Array.isArray(v) ? v[0] : v;
}

class Researcher {
  async execute(requestContext, eventBus) {
    const headers = requestContext.context.state.get("headers") ?? {};
    const seen = {};
    for (const name of ["delegation-scope", "delegation-parent", "delegation-root", "delegation-depth",
      "delegation-principal", "delegation-actor", "delegation-objective"]) {
      seen[name] = header(headers, name);
    }
    const token = header(headers, "delegation-token");
    let tools;
    try {
      tools = await callTools(`${gateway}/mcp`, agentKey, token, toolsToCall);
    } catch (err) {
      tools = { error: String(err) };
    }
    eventBus.publish({
      kind: "message",
      data: {
        messageId: crypto.randomUUID(),
        contextId: requestContext.contextId,
        taskId: "",
        role: Role.ROLE_AGENT,
        parts: [text(JSON.stringify({ received: seen, had_token: Boolean(token), tools }))],
        metadata: undefined,
        extensions: [],
        referenceTaskIds: [],
      },
    });
    eventBus.finished();
  }

  async cancelTask() {}
}

const card = {
  name: agentName,
  description: "Finds things, under the scope it was delegated",
  supportedInterfaces: [
    // Clients reach the agent through the gateway, never directly.
    { url: `${gateway}/agents/${agentName}/a2a/jsonrpc`, protocolBinding: "JSONRPC", tenant: "", protocolVersion: "1.0" },
  ],
  provider: undefined,
  version: "1.0.0",
  capabilities: { streaming: false, pushNotifications: false, extensions: [], extendedAgentCard: false },
  securitySchemes: {},
  securityRequirements: [],
  defaultInputModes: ["text/plain"],
  defaultOutputModes: ["text/plain"],
  skills: [{ id: agentName, name: agentName, description: agentName, tags: [agentName], examples: [],
    inputModes: [], outputModes: [], securityRequirements: [] }],
  signatures: [],
};

const handler = new DefaultRequestHandler(card, new InMemoryTaskStore(), new Researcher());
const app = express();
app.use("/.well-known/agent-card.json", agentCardHandler({ agentCardProvider: handler }));
app.use("/a2a/jsonrpc", jsonRpcHandler({ requestHandler: handler, userBuilder: UserBuilder.noAuthentication }));
const server = app.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
