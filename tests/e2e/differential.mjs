// Node's reading of MCP and A2A bodies, for the parser differential test
// (tests/integration/test_parser_differential.py); the gateway's reading comes from scopegate_classify.
//
// Input, one JSON line per body (stdin, or the file named as the argument):
//   {"kind":"mcp"|"a2a"|"a2a_rest", "body_b64":"<body, base64url without padding>"}
// Output, one JSON line per input, in order, two readings of the same bytes:
//   - the JSON reading: the bytes decoded as the servers decode them, JSON.parse, then the members the
//     gateway reads, picked by the gateway's rules (a parser differential shows up here and only here);
//   - "sdk": what the SDK server itself makes of the parsed value (MCP: the zod schemas its handlers
//     parse with; A2A: the converters its JSON-RPC handler calls), or {"ok":false} if it refuses it.
import fs from "node:fs";
import readline from "node:readline";
import iconv from "iconv-lite";
import { SendMessageRequest } from "@a2a-js/sdk";
import {
  CallToolRequestSchema,
  GetPromptRequestSchema,
  JSONRPCMessageSchema,
  ReadResourceRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";

// How each server turns the bytes into text. The MCP SDK's StreamableHTTPServerTransport reads the
// body with a TextDecoder (server/requestBody.js); the A2A SDK's express handlers use express.json(),
// that is body-parser, which decodes with iconv-lite. Both drop a leading BOM and turn bytes that are
// not UTF-8 into U+FFFD rather than refusing them.
const decode = {
  mcp: (bytes) => new TextDecoder().decode(bytes),
  a2a: (bytes) => iconv.decode(bytes, "utf-8"),
  a2a_rest: (bytes) => iconv.decode(bytes, "utf-8"),
};

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

// A member the gateway reads as a string: "" when absent, marked when present with another type so
// that a disagreement on the type shows.
function stringMember(object, key) {
  if (!Object.hasOwn(object, key)) return "";
  const v = object[key];
  return typeof v === "string" ? v : { not_a_string: v };
}

function readMessage(message, out) {
  if (Array.isArray(message.parts)) {
    const texts = message.parts.filter((p) => isObject(p) && typeof p.text === "string" && p.text !== "");
    out.text = texts.map((p) => p.text).join("\n");
  }
  for (const key of ["taskId", "task_id"]) {
    if (typeof message[key] === "string" && message[key] !== "") out.task_id = message[key];
  }
  for (const key of ["contextId", "context_id"]) {
    if (typeof message[key] === "string" && message[key] !== "") out.context_id = message[key];
  }
}

const MESSAGE_METHODS = new Set(["message/send", "message/stream", "SendMessage", "SendStreamingMessage"]);

function jsonReading(kind, value) {
  if (kind === "mcp") {
    const params = isObject(value.params) ? value.params : {};
    return {
      method: stringMember(value, "method"),
      name: stringMember(params, "name"),
      uri: stringMember(params, "uri"),
      arguments: isObject(value.params) && value.params.arguments !== undefined ? value.params.arguments : null,
    };
  }
  const out = { method: "message:send", sends_message: true, text: "", task_id: "", context_id: "" };
  if (kind === "a2a") {
    out.method = stringMember(value, "method");
    out.sends_message = MESSAGE_METHODS.has(out.method);
    if (isObject(value.params)) {
      if (isObject(value.params.message)) readMessage(value.params.message, out);
      // tasks/get and the like name their task in params.id; a message send does not.
      if (!out.sends_message) out.task_id = typeof value.params.id === "string" ? value.params.id : "";
    }
  } else {
    const message = isObject(value.message) ? value.message : isObject(value.request) ? value.request : null;
    if (message) readMessage(message, out);
  }
  return out;
}

// The schema each MCP SDK handler parses its request with before acting on it.
const MCP_REQUEST_SCHEMAS = new Map([
  ["tools/call", CallToolRequestSchema],
  ["resources/read", ReadResourceRequestSchema],
  ["prompts/get", GetPromptRequestSchema],
]);

function mcpSdkReading(value) {
  const parsed = JSONRPCMessageSchema.safeParse(value);
  if (!parsed.success) return { ok: false };
  const message = parsed.data;
  const schema = MCP_REQUEST_SCHEMAS.get(message.method);
  if (!schema) return { ok: true, method: message.method ?? "" };
  const request = schema.safeParse(message);
  if (!request.success) return { ok: false };
  const params = request.data.params;
  return { ok: true, method: message.method, name: params.name ?? "", uri: params.uri ?? "" };
}

const texts = (values) => values.filter((t) => t !== "" && t !== null && t !== undefined).map(String).join("\n");

// What the A2A SDK's handlers hand to the agent. v1.0 (SendMessage over JSON-RPC, message:send over
// REST): SendMessageRequest.fromJSON, as its JsonRpcTransportHandler and REST handler call it.
// v0.3 (message/send): its compat layer (toCoreMessage/toCorePart, not exported), whose checks are
// repeated here: parts of kind "text" are text, "file" and "data" parts are not, other kinds refused.
function a2aSdkReading(kind, value) {
  const method = kind === "a2a_rest" ? "message:send" : value.method;
  if (kind === "a2a_rest" || method === "SendMessage" || method === "SendStreamingMessage") {
    const message = SendMessageRequest.fromJSON(kind === "a2a_rest" ? value : value.params ?? {}).message;
    if (!message) return { ok: false };
    const parts = message.parts.filter((p) => p.content?.$case === "text").map((p) => p.content.value);
    return { ok: true, method, text: texts(parts), task_id: message.taskId, context_id: message.contextId };
  }
  if (method === "message/send" || method === "message/stream") {
    const message = value.params?.message;
    if (!isObject(message) || typeof message.messageId !== "string" || message.messageId === "" ||
        (message.role !== "user" && message.role !== "agent") || !Array.isArray(message.parts)) {
      return { ok: false };
    }
    const parts = [];
    for (const part of message.parts) {
      if (!isObject(part)) return { ok: false };
      if (part.kind === "text") parts.push(part.text);
      else if (part.kind === "file" && !(isObject(part.file) && ("bytes" in part.file || "uri" in part.file))) {
        return { ok: false };
      } else if (part.kind !== "file" && part.kind !== "data") return { ok: false };
    }
    return { ok: true, method, text: texts(parts), task_id: message.taskId ?? "", context_id: message.contextId ?? "" };
  }
  return { ok: true, method: typeof method === "string" ? method : "" };
}

function sdkReading(kind, value) {
  try {
    return kind === "mcp" ? mcpSdkReading(value) : a2aSdkReading(kind, value);
  } catch {
    return { ok: false };
  }
}

function read(kind, bytes) {
  let value;
  try {
    const text = decode[kind](bytes);
    // body-parser's strict mode (express.json() default, the A2A JSON-RPC handler) takes only an
    // object or array; an empty body becomes {} there.
    if (kind === "a2a" && text === "") value = {};
    else value = JSON.parse(text);
  } catch (err) {
    return { accepted: false, why: String(err.message).slice(0, 200) };
  }
  if (!isObject(value)) return { accepted: false, why: "not an object" };
  return { accepted: true, ...jsonReading(kind, value), sdk: sdkReading(kind, value) };
}

// JSON.parse takes nesting deeper than JSON.stringify can write back: such arguments are marked.
function serialise(reading) {
  try {
    return JSON.stringify(reading);
  } catch {
    return JSON.stringify({ ...reading, arguments: { too_deep_to_write: true } });
  }
}

const input = process.argv[2] ? fs.createReadStream(process.argv[2]) : process.stdin;
const out = [];
for await (const line of readline.createInterface({ input, crlfDelay: Infinity })) {
  if (!line) continue;
  const { kind, body_b64: b64 } = JSON.parse(line);
  out.push(serialise(read(kind, Buffer.from(b64, "base64url"))));
  if (out.length >= 512) process.stdout.write(out.splice(0).join("\n") + "\n");
}
if (out.length) process.stdout.write(out.join("\n") + "\n");
