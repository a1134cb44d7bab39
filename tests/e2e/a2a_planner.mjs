// The "planner": sends one A2A message to a sub-agent (the researcher unless named) through
// scopegate with the official A2A client, authenticated as the planner and running under its
// Delegation-Token; with a plan task, the delegation carries it (Delegation-Task).
// Usage: node a2a_planner.mjs <gateway base url> <planner key> <token> <message text> [<agent> [<plan>/<task>]]
// Prints the researcher's answer (its JSON text) on one line.
import { Role } from "@a2a-js/sdk";
import { ClientFactory, DefaultAgentCardResolver, JsonRpcTransportFactory } from "@a2a-js/sdk/client";

const [gateway, key, token, message, agent = "researcher", task] = process.argv.slice(2);
const authFetch = (url, init = {}) => {
  const headers = new Headers(init.headers ?? {});
  headers.set("Authorization", `Bearer ${key}`);
  headers.set("Delegation-Token", token);
  // Set on every request the client makes, as SDK users set headers: the gateway reads it only on
  // the delegation itself (the message), not on the agent card's GET.
  if (task) headers.set("Delegation-Task", task);
  return fetch(url, { ...init, headers });
};

const factory = new ClientFactory({
  transports: [new JsonRpcTransportFactory({ fetchImpl: authFetch })],
  cardResolver: new DefaultAgentCardResolver({ fetchImpl: authFetch }),
});
const client = await factory.createFromUrl(`${gateway}/agents/${agent}/`);
const result = await client.sendMessage({
  tenant: "",
  message: {
    messageId: crypto.randomUUID(),
    contextId: "",
    taskId: "",
    role: Role.ROLE_USER,
    parts: [{ content: { $case: "text", value: message }, metadata: undefined, filename: "", mediaType: "" }],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
  },
  configuration: undefined,
  metadata: undefined,
});
const reply = result.payload?.value ?? result;
const parts = reply.parts ?? reply.message?.parts ?? [];
console.log(parts.map((p) => p.content?.value ?? p.text).join(""));
