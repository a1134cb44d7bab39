// Calls model APIs with the official OpenAI and Anthropic SDKs, through scopegate or straight at
// a model server (examples/upstreams/model_upstream.py), and reports the usage each SDK hands back.
//
// Usage: node llm_client.mjs < job.json
// The job: {"base_url": "http://127.0.0.1:PORT", "headers": {name: value, ...}, "concurrency": 1,
//           "calls": [{"api": "openai"|"anthropic", "kind": "chat"|"responses"|"embeddings"|"messages",
//                      "model": "...", "stream": false, "text": "...", "max_tokens": N,
//                      "dimensions": N, "include_usage": true|false, "system": "...",
//                      "inputs": ["...", ...], "encoding_format": "float"|"base64"}]}
// headers go on every request; the last five call fields are optional extras: include_usage sets
// stream_options (chat streams; left unset otherwise, so a proxy may add it), system adds a system
// prompt (chat: a system message, responses: a developer message, anthropic: the system field),
// inputs replaces text as the embeddings input, encoding_format is passed on to embeddings
// (unset, the OpenAI SDK asks for base64 and decodes it).
// max_tokens is sent as max_completion_tokens (chat), max_output_tokens (responses) or max_tokens
// (anthropic, where the API requires it: 8 when the call has none). No call is retried. error is
// the error response's body (parsed when it is JSON, whatever its shape), else the SDK's message.
//
// Prints one JSON line per call, in call order:
//   {"index", "ok", "usage", "first_event_ms" (streams), "total_ms", "events" (streams),
//    "text" (generated text), "dimensions" (embeddings: floats in the first embedding),
//    "status" (HTTP status, on error), "error" (error body or message, on error)}
// usage is what the SDK gives its caller: non-stream response.usage; chat stream: the usage of the
// chunk that has one (null if none); responses stream: the response.completed event's
// response.usage; anthropic stream: (await stream.finalMessage()).usage from
// client.messages.stream(). events counts the events the SDK yields (the Anthropic SDK does not
// yield ping). Exits 0 when the job ran, whatever the calls did; 2 on a bad job.
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";

const KINDS = { openai: ["chat", "responses", "embeddings"], anthropic: ["messages"] };

function badJob(message) {
  console.error(`llm_client: bad job: ${message}`);
  process.exit(2);
}

function checkJob(job) {
  if (job === null || typeof job !== "object" || Array.isArray(job)) badJob("not a JSON object");
  if (typeof job.base_url !== "string" || !/^https?:\/\//.test(job.base_url)) badJob("base_url must be an http(s) URL");
  if (job.headers !== undefined && (typeof job.headers !== "object" || job.headers === null || Array.isArray(job.headers)))
    badJob("headers must be an object");
  for (const [name, value] of Object.entries(job.headers ?? {}))
    if (typeof value !== "string") badJob(`header ${name} must be a string`);
  if (!Array.isArray(job.calls)) badJob("calls must be a list");
  const concurrency = job.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) badJob("concurrency must be a positive integer");
  job.calls.forEach((call, i) => {
    if (call === null || typeof call !== "object") badJob(`call ${i} is not an object`);
    if (!(KINDS[call.api] ?? []).includes(call.kind)) badJob(`call ${i}: no kind ${call.kind} for api ${call.api}`);
    if (typeof call.model !== "string") badJob(`call ${i}: model must be a string`);
    if (call.kind === "embeddings" && call.stream) badJob(`call ${i}: embeddings do not stream`);
    for (const key of ["max_tokens", "dimensions"])
      if (call[key] !== undefined && !Number.isInteger(call[key])) badJob(`call ${i}: ${key} must be an integer`);
  });
  return concurrency;
}

// Clients for one call. Their fetch keeps the body of an error response in `capture.body`: the
// OpenAI SDK hands its caller only the body's `error` member, and a proxy's refusal may not have one.
function clients(job, capture) {
  const base = job.base_url.replace(/\/+$/, "");
  const fetchKeepingErrors = async (url, init) => {
    const response = await fetch(url, init);
    if (response.status >= 400) capture.body = await response.clone().text();
    return response;
  };
  const common = { defaultHeaders: job.headers ?? {}, maxRetries: 0, fetch: fetchKeepingErrors };
  return {
    openai: new OpenAI({ apiKey: "sk-scopegate-dummy", baseURL: `${base}/v1`, ...common }),
    anthropic: new Anthropic({ apiKey: "sk-ant-scopegate-dummy", authToken: null, baseURL: base, ...common }),
  };
}

const round = (ms) => Math.round(ms * 10) / 10;

// Runs one call; `seen()` is called on every streamed event. Returns {usage, text, dimensions}.
async function perform(sdk, call, seen) {
  const text = call.text ?? "";
  const stream = Boolean(call.stream);
  if (call.kind === "chat") {
    const messages = [...(call.system ? [{ role: "system", content: call.system }] : []), { role: "user", content: text }];
    const params = { model: call.model, messages };
    if (call.max_tokens !== undefined) params.max_completion_tokens = call.max_tokens;
    if (call.include_usage !== undefined) params.stream_options = { include_usage: call.include_usage };
    if (!stream) {
      const r = await sdk.openai.chat.completions.create(params);
      return { usage: r.usage, text: r.choices[0]?.message?.content ?? "" };
    }
    let usage = null;
    let out = "";
    for await (const chunk of await sdk.openai.chat.completions.create({ ...params, stream: true })) {
      seen();
      if (chunk.usage) usage = chunk.usage;
      out += chunk.choices[0]?.delta?.content ?? "";
    }
    return { usage, text: out };
  }
  if (call.kind === "responses") {
    const input = [...(call.system ? [{ role: "developer", content: call.system }] : []), { role: "user", content: text }];
    const params = { model: call.model, input };
    if (call.max_tokens !== undefined) params.max_output_tokens = call.max_tokens;
    if (!stream) {
      const r = await sdk.openai.responses.create(params);
      return { usage: r.usage, text: r.output_text };
    }
    let usage = null;
    let out = "";
    for await (const event of await sdk.openai.responses.create({ ...params, stream: true })) {
      seen();
      if (event.type === "response.output_text.delta") out += event.delta;
      if (event.type === "response.completed") usage = event.response.usage;
    }
    return { usage, text: out };
  }
  if (call.kind === "embeddings") {
    const params = { model: call.model, input: call.inputs ?? text };
    if (call.dimensions !== undefined) params.dimensions = call.dimensions;
    if (call.encoding_format !== undefined) params.encoding_format = call.encoding_format;
    const r = await sdk.openai.embeddings.create(params);
    return { usage: r.usage, dimensions: r.data[0]?.embedding?.length ?? 0 };
  }
  const params = { model: call.model, max_tokens: call.max_tokens ?? 8, messages: [{ role: "user", content: text }] };
  if (call.system) params.system = call.system;
  if (!stream) {
    const m = await sdk.anthropic.messages.create(params);
    return { usage: m.usage, text: m.content.map((b) => b.text ?? "").join("") };
  }
  const messageStream = sdk.anthropic.messages.stream(params);
  for await (const event of messageStream) {
    void event;
    seen();
  }
  const final = await messageStream.finalMessage();
  return { usage: final.usage, text: final.content.map((b) => b.text ?? "").join("") };
}

function errorBody(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function runCall(job, call, index) {
  const capture = {};
  const sdk = clients(job, capture);
  const start = performance.now();
  let first = null;
  let events = 0;
  const seen = () => {
    events += 1;
    if (first === null) first = performance.now() - start;
  };
  const line = { index };
  try {
    const { usage, text, dimensions } = await perform(sdk, call, seen);
    Object.assign(line, { ok: true, usage: usage ?? null });
    if (text !== undefined) line.text = text;
    if (dimensions !== undefined) line.dimensions = dimensions;
  } catch (err) {
    line.ok = false;
    if (typeof err?.status === "number") line.status = err.status;
    const cause = err?.cause?.cause?.code ?? err?.cause?.code ?? err?.cause?.message;
    const message = String(err?.message ?? err) + (cause ? ` (${cause})` : "");
    line.error = capture.body !== undefined ? errorBody(capture.body) : message;
  }
  line.total_ms = round(performance.now() - start);
  if (call.stream) {
    line.first_event_ms = first === null ? null : round(first);
    line.events = events;
  }
  return line;
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  let job;
  try {
    job = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (err) {
    badJob(`stdin is not JSON (${err.message})`);
  }
  const concurrency = checkJob(job);
  const lines = new Array(job.calls.length);
  let next = 0;
  const worker = async () => {
    while (next < job.calls.length) {
      const index = next++;
      lines[index] = await runCall(job, job.calls[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, job.calls.length) }, worker));
  for (const line of lines) console.log(JSON.stringify(line));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
