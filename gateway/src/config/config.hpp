// Plain configuration structs. Built once by config/loader.cpp, then only read:
// a running gateway holds them inside an immutable runtime::Snapshot.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace scopegate::config {

using Duration = std::chrono::milliseconds;  // zero means "off" where a setting allows it

struct TlsServer {
  std::string certificate;
  std::string key;
  std::string client_ca;  // non-empty: clients must present a certificate signed by it (mTLS)
};

struct Listener {
  std::string name;
  std::string address = "0.0.0.0";
  std::uint16_t port = 8080;
  std::optional<TlsServer> tls;
  // Where agents present their API key. `Authorization` takes "Bearer <key>"; any other header
  // carries the key alone. Removed before forwarding either way.
  std::string credential_header = "Authorization";
};

// A registered caller (docs/protocol.md §1). The API key is known only by its SHA-256.
struct Agent {
  std::string id;
  std::string api_key_sha256;       // 32 raw bytes; empty when the agent uses a certificate only
  std::string certificate_subject;  // RFC 2253 subject of its TLS client certificate; may be empty
  bool may_open_root = false;
  std::vector<std::string> grants{"*"};  // ceiling: no scope this agent acts in may hold more
  int max_depth = 8;                     // the deepest scope it may act in (root = 0)
};

struct Admin {
  std::string address = "127.0.0.1";
  std::uint16_t port = 9901;
  std::string token;  // bearer token for mutations; empty disables them
};

struct Limits {
  std::size_t max_header_bytes = 32 * 1024;
  std::size_t max_header_count = 100;
  std::uint64_t max_body_bytes = 10 * 1024 * 1024;
  std::size_t max_connections = 10000;
  std::size_t max_connections_per_peer = 256;  // open connections from one client address; 0 = no cap
  std::uint64_t max_inspect_bytes = 1024 * 1024;  // mcp/a2a request bodies are read whole, up to this
};

// Deadlines for each phase of a request, named like nginx's.
struct Timeouts {
  Duration client_first_byte{5'000};    // a new connection's first byte (TLS: its ClientHello)
  Duration client_header{10'000};       // absolute, from the first byte of a request's header
  Duration client_body_idle{30'000};    // between reads of a request body
  Duration client_send{30'000};         // between writes to the client
  Duration keepalive_idle{60'000};      // waiting for the next request on a kept-alive connection
  Duration upstream_connect{5'000};     // TCP connect plus TLS handshake
  Duration upstream_first_byte{30'000}; // request sent → response header received
  Duration upstream_idle{60'000};       // between reads of a response body
  Duration request_total{0};            // whole request; zero = off (the default, so streams live)
  Duration upstream_pool_idle{30'000};  // how long an idle upstream connection is kept
  Duration drain{15'000};               // SIGTERM: how long in-flight requests may finish
  Duration lingering_close{5'000};      // reading what a client still sends after the gateway's
                                        // last reply, before closing; zero = close at once
};

// Delegation-token settings (docs/protocol.md §2). Secrets come from the environment or files only.
struct TokenKey {
  std::string kid;
  std::string secret;  // exactly 32 bytes
};

struct TokenSettings {
  std::string audience = "scopegate";  // the `aud` every accepted token carries
  Duration clock_skew{30'000};
  std::string signing_kid;  // resolved: the first key's kid when unset
  std::vector<TokenKey> keys;
  int max_depth = 8;                 // global limit on scope depth (a token holds at most 16 blocks)
  Duration delegation_ttl{900'000};  // lifetime of a scope minted on an agent/a2a route (capped by the parent's)
  Duration max_ttl{86'400'000};      // the longest ttl_s POST /v1/scopes accepts
  std::string revocations_file;      // where revocations are kept across restarts; empty: memory only
};

// When a request's audit record must be on disk (docs/protocol.md §6, docs/audit.md).
enum class Durability {
  none,    // written at once, fsynced only at rotation and shutdown (the OS flushes it)
  batch,   // fsynced at most every audit.fsync_interval or audit.fsync_records (the default)
  strict,  // durable before the request is forwarded or answered (group commit)
};

// What data a route or an MCP tool touches, copied into every record of it.
struct DataLabel {
  std::vector<std::string> datasets;
  std::string classification;       // public, internal, confidential or restricted; "" unlabelled
  std::optional<Durability> audit;  // unset: strict when restricted, else audit.durability
  bool operator==(const DataLabel&) const = default;
};

// Signed checkpoints of the audit log (docs/audit.md, "Signed checkpoints"): now and then the
// writer signs the seq and hash of the last durable record and keeps them in a directory that lives
// elsewhere, so a log cut at its end or rewritten whole no longer verifies. Off while `dir` is empty.
struct Checkpoints {
  std::string dir;                      // checkpoints go to <dir>/<node>/
  std::uint64_t every_records = 10000;  // a checkpoint after this many durable records...
  Duration every{60'000};               // ...or this long after the last one, whichever comes first
  std::string key_source;               // "private_key_file '<path>'" or "private_key_env <NAME>", for messages
  std::string private_key_pem;          // the Ed25519 private key, read at load (not by load_audit_section)
  bool operator==(const Checkpoints&) const = default;
};

// The audit log (docs/protocol.md §6). Fixed for the life of the process: a reload that changes it
// is refused, because the writer owns the files, the chain and its thread.
struct Audit {
  std::string dir;                             // empty: no audit log (decisions go to the debug log)
  Durability durability = Durability::batch;   // for routes and tools that set none
  Duration fsync_interval{20};                 // batch: fsync at most this long after a write...
  std::size_t fsync_records = 4096;            // ...or after this many records, whichever first
  std::uint64_t segment_max_bytes = 64ull << 20;
  Duration segment_max_age{3'600'000};
  std::size_t queue_records = 65536;           // records waiting for the writer; full → 503
  std::uint64_t queue_bytes = 32ull << 20;     // ...and their bytes: memory stays bounded while it fails
  std::uint64_t journal_bytes = 16ull << 20;   // records mapped to disk before the response ends; 0 = off
  std::uint64_t disk_reserve = 64ull << 20;    // free bytes below which audited requests get 503
  Checkpoints checkpoints;                     // signed checkpoints; off by default
  bool operator==(const Audit&) const = default;
};

// `scopes` and `plans` are the gateway's own POST /v1/scopes and /v1/plans (runtime::Snapshot's
// scopes_route and plans_route): never read from a config file, they pass the same stages as every
// route and are answered by the gateway. `llm` routes lead to a model API (docs/llm.md).
enum class RouteKind { http, mcp, agent, a2a, scopes, plans, llm };

// The API an llm route speaks: OpenAI's (and every server compatible with it: /v1/chat/completions,
// /v1/responses, /v1/embeddings) or Anthropic's (/v1/messages).
enum class LlmApi { openai, anthropic };

// What an llm route does beyond forwarding (docs/llm.md).
struct LlmRoute {
  LlmApi api = LlmApi::openai;
  // A streamed chat completion reports its usage only when asked (stream_options.include_usage):
  // the gateway asks for it, so that no streamed call goes uncounted.
  bool stream_usage = true;
  // The provider's API key, sent upstream on every request of the route (Authorization: Bearer
  // for openai, x-api-key for anthropic) in place of whatever the agent sent: agents never hold
  // it. Empty: the agent's own header goes through. A secret: ${ENV} only.
  std::string api_key;
  bool operator==(const LlmRoute&) const = default;
};

// Path forms that upstreams read differently from the gateway (docs/configuration.md, "Paths").
enum class EscapedSlashes { reject, keep, unescape };  // %2F and %5C in a path
enum class PathParams { reject, keep };                 // ';' in a path segment

struct PathRules {
  EscapedSlashes escaped_slashes = EscapedSlashes::reject;
  PathParams path_params = PathParams::reject;
};

// The top-level `paths` section: the rules every route starts from, and what applies before any
// route is known.
struct Paths {
  bool merge_slashes = true;  // before routing, so for every route alike
  PathRules rules;
};

// What a route demands of its callers.
enum class Access {
  scoped,         // agent credential and a Delegation-Token (the default)
  authenticated,  // agent credential; a Delegation-Token is verified and stamped when present
  open,           // neither (an agent card, a health probe); Delegation-* is still stripped
};

struct Upstream {
  std::string url;         // as written
  bool tls = false;        // https
  std::string host;
  std::uint16_t port = 0;
  std::string base_path;   // prefixed to the forwarded path; "" for none
  std::string ca_file;     // empty: the system store
  bool verify = true;
  std::string server_name; // SNI and the name verified; defaults to host
  std::size_t pool_size = 64;  // idle keep-alive connections kept per worker
  std::uint32_t weight = 1;    // its share of the route's requests, against the other endpoints'
};

// Retries of a request that failed before the upstream could have acted on it (docs/resilience.md,
// "Retries"): a connect failure, or a reset before the response head of an idempotent request
// without a body. Always to an endpoint of the route not yet tried; a tool call, or any request
// whose body began streaming upstream, is never sent twice.
struct Retries {
  std::uint32_t max = 1;          // retries of one request; 0: none
  Duration backoff{25};           // the first retry waits up to this (full jitter), doubling...
  Duration max_backoff{250};      // ...up to this
  double budget = 0.2;            // retries in flight at most this share of the route's active requests...
  std::uint32_t min_retries = 3;  // ...or this many, whichever is more (Envoy's retry budget)
  bool operator==(const Retries&) const = default;
};

struct RouteMatch {
  std::string path_prefix = "/";
  std::string host;                  // empty: any host
  std::vector<std::string> methods;  // empty: any method
};

// A route's circuit breaker (docs/resilience.md). Off unless the route sets `breaker:`.
struct Breaker {
  std::uint32_t consecutive_failures = 5;  // closed → open after this many failures in a row; 0: not used
  double failure_ratio = 0;                // ...or this share of failures in `window`; 0: not used
  std::uint32_t min_requests = 20;         // the ratio counts once the window holds this many
  Duration window{30'000};
  Duration open{5'000};                    // the first open time; doubles on each trip in a row...
  Duration max_open{60'000};               // ...up to this
  std::uint32_t half_open_probes = 1;      // requests let through at once while half-open
  // What counts as a failure: the gateway's upstream errors by kind, 5xx, and listed statuses.
  bool on_connect = true;   // upstream_unavailable: no connection, or it closed before a response
  bool on_timeout = true;   // upstream_timeout
  bool on_reset = true;     // the upstream cut its response after the head
  bool on_protocol = true;  // upstream_protocol_error: a broken response
  bool on_5xx = true;
  std::vector<unsigned> statuses;  // other statuses that count (e.g. 429)
  // mcp routes: a tool that answers is working, so its errors count only when listed.
  bool on_jsonrpc_error = false;  // a JSON-RPC error response
  bool on_tool_error = false;     // a tools/call result with isError: true
  // One breaker per endpoint, or (mcp routes) one per tool: a broken tool then stops only itself.
  enum class Per { endpoint, tool };
  Per per = Per::endpoint;
  bool operator==(const Breaker&) const = default;
};

// Active health checks of a route's endpoints (docs/resilience.md, "Health checks"): a GET per
// interval per endpoint whose passing closes an open breaker without risking a real request. Only
// with a breaker: a check never opens one.
struct HealthCheck {
  std::string path;                // the request target, sent as written (not under the upstream's base path)
  Duration interval{5'000};        // between checks of one endpoint (jittered by 10% either way)
  Duration timeout{2'000};         // connect, send and read the response head, all within this
  std::vector<unsigned> expect;    // statuses that pass; empty: any 2xx
  bool operator==(const HealthCheck&) const = default;
};

// What a route does when none of its endpoints can take a request (every breaker open, or no
// connection after the retries): answer with the error, or let another route's endpoints serve it.
enum class OnUnavailable { error, fallback };
// A route's concurrency limit (docs/resilience.md, "Concurrency limits"). Off unless the route sets
// `concurrency:`, and then max_inflight is required.
struct Concurrency {
  std::uint32_t max_inflight = 0;  // most requests to the upstream at once, across every worker
  std::uint32_t max_pending = 0;   // most requests waiting for a slot; 0: over the limit is refused at once
  Duration pending_timeout{1'000};  // the longest a request waits for a slot before 503 overloaded
  bool operator==(const Concurrency&) const = default;
};

struct Route {
  std::string name;
  RouteKind kind = RouteKind::http;
  RouteMatch match;
  std::vector<Upstream> upstreams;  // its endpoints, one or more (balanced, docs/resilience.md)
  Retries retries;
  OnUnavailable on_unavailable = OnUnavailable::error;
  std::string fallback;             // on_unavailable: fallback: the route whose endpoints serve instead
  bool strip_prefix = false;
  bool preserve_host = false;  // forward the client's Host instead of the upstream's
  Access access = Access::scoped;
  std::string target_agent;              // agent/a2a routes: the agent a delegation opens a scope for
  std::vector<std::string> grants{"*"};  // agent/a2a routes: ceiling of what a delegation may pass on
  bool stamp_objective = false;          // stamp Delegation-Objective on forwarded requests
  std::uint64_t max_body_bytes = 0;  // resolved: the route's own or limits.max_body_bytes
  std::uint64_t max_inspect_bytes = 0;  // resolved: largest mcp/a2a JSON body read before forwarding
  Timeouts timeouts;                 // resolved: global values with the route's overrides
  PathRules paths;                   // resolved: the top-level paths rules with the route's overrides
  DataLabel data;                    // datasets and classification of everything behind the route
  std::map<std::string, DataLabel, std::less<>> tools;  // mcp routes: labels per tool name
  std::optional<Breaker> breaker;    // the route's circuit breaker; unset: none
  std::optional<Concurrency> concurrency;  // the route's concurrency limit; unset: none
  std::optional<HealthCheck> health_check;  // active checks of its endpoints; only with a breaker
  LlmRoute llm;                      // llm routes: the API and what the gateway adds
  std::string location;              // "file:line" of the route, for messages
};

// Guards against runaway use (docs/policies.md, "Budgets, rate limits and the loop guard").

// What one scope's subtree may spend: every action, delegation and response byte under the scope
// counts against it and against every scope above it. Unset fields are unlimited.
struct BudgetLimits {
  std::optional<std::uint64_t> max_actions;      // actions let through (tool calls, reads, delegations...)
  std::optional<std::uint64_t> max_delegations;  // scopes opened below it (delegations), at any depth
  std::optional<std::uint64_t> max_children;     // scopes it opened itself (fan-out); not rolled up
  std::optional<std::uint64_t> max_bytes_out;    // response bytes sent to its agents
  std::optional<std::uint64_t> max_tokens;       // LLM tokens, input and output (docs/llm.md)
  std::optional<std::uint64_t> max_cost;         // LLM cost, in pico-units of llm.currency
  bool any() const { return max_actions || max_delegations || max_children || max_bytes_out || max_tokens || max_cost; }
  bool operator==(const BudgetLimits&) const = default;
};

// The limits of a scope are chosen by the agent acting in it: its entry under `agents`, else
// `defaults`. An agent's entry is merged with the defaults at load: each key set there replaces
// the default's, the others are the default's.
struct Budgets {
  BudgetLimits defaults;
  std::map<std::string, BudgetLimits, std::less<>> agents;
  bool any() const;
  const BudgetLimits& for_agent(std::string_view agent) const;
};

// A token bucket: `rate` tokens a second up to `burst`; a request takes one. One bucket per agent,
// per route, or per agent and route, for the agents and routes listed (all when none are).
struct RateLimit {
  enum class Per { agent, route, agent_route };
  std::string id;
  Per per = Per::agent;
  double rate = 0;   // tokens per second
  double burst = 0;  // bucket size; at least 1
  std::vector<std::string> agents;  // empty: every agent (and, per route, requests without one)
  std::vector<std::string> routes;  // empty: every route, POST /v1/scopes included
  std::string location;             // file:line, for messages
};

// The same scope repeating the identical action with identical arguments more than max_repeats
// times within `window` of the first of them is a loop. Off while max_repeats is zero.
struct LoopGuard {
  std::uint32_t max_repeats = 0;
  Duration window{60'000};
  std::size_t max_entries = 100'000;  // calls remembered at once; memory stays bounded
};

// What a model costs (docs/llm.md, "Cost"): micro-units of the currency per million tokens, by
// type. Cached input tokens cost `cache_read` (the input price unless set); reasoning tokens are
// output tokens and cost the output price.
struct ModelPrice {
  std::uint64_t input = 0, output = 0, cache_read = 0;
  bool operator==(const ModelPrice&) const = default;
};

// The `llm` section: one currency, and the price of each model by the name requests give it.
// Models listed here are also the only model names metrics use as labels (the rest are "other").
struct Llm {
  std::string currency = "USD";
  std::map<std::string, ModelPrice, std::less<>> prices;
  const ModelPrice* price(std::string_view model) const {
    auto it = prices.find(model);
    return it == prices.end() ? nullptr : &it->second;
  }
};

// Fleet mode (docs/fleet.md): several nodes behind a load balancer share revocations, budgets and
// rate limits through one Redis. Unset (`enabled` false): a single node, exactly as without it.
struct Fleet {
  enum class OnUnavailable { closed, local };
  bool enabled = false;
  // The Redis every node of the fleet uses: redis://host:port[/db], or rediss:// for TLS.
  struct Redis {
    std::string url;
    bool tls = false;
    std::string host;
    std::uint16_t port = 6379;
    unsigned db = 0;
    std::string ca_file;      // rediss: empty means the system store
    bool verify = true;
    std::string server_name;  // rediss: SNI and the name verified; defaults to host
    std::string username;     // Redis ACL user; empty: the default user
    std::string password;     // resolved from password_env; empty: no AUTH
    std::string password_env;
    std::string key_prefix = "scopegate:";
    Duration timeout{250};    // connect, and every command's reply
  } redis;
  // Revocations while Redis is unreachable: the last known set always holds; strict also refuses
  // tokens whose newest scope was minted after the last moment the set was known to be current.
  bool revocations_strict = false;
  // A node takes `lease` of a budget (of each limit), or of a rate limit's burst, at a time, and
  // spends it locally; unused budget leases go back after lease_idle without spending.
  double budget_lease = 0.1;
  Duration budget_lease_idle{1000};
  OnUnavailable budgets_unavailable = OnUnavailable::closed;
  double rate_lease = 0.1;
  Duration rate_lease_ttl{1000};
  OnUnavailable rate_limits_unavailable = OnUnavailable::closed;
  bool operator==(const Fleet& o) const;
};

struct Config {
  std::string source_file;
  std::string node = "scopegate";
  unsigned workers = 0;  // resolved: never zero after loading
  std::vector<Listener> listeners;
  Admin admin;
  Limits limits;
  Timeouts timeouts;
  Paths paths;
  TokenSettings token;
  Audit audit;
  std::vector<Agent> agents;
  std::vector<Route> routes;
  // Access policy files or directories (their *.yaml and *.yml, by name), in order, resolved
  // against the config file's directory; loaded with the snapshot (docs/policies.md).
  std::vector<std::string> policies;
  Budgets budgets;
  std::vector<RateLimit> rate_limits;
  LoopGuard loop_guard;
  Llm llm;
  Fleet fleet;
};

const char* to_string(RateLimit::Per per);
const char* to_string(Fleet::OnUnavailable on);

const char* to_string(RouteKind kind);
const char* to_string(LlmApi api);
const char* to_string(Access access);
const char* to_string(Durability durability);

// The durability a request's record needs: the tool's label, then the route's, then "restricted
// means strict", then audit.durability.
Durability effective_durability(const Audit& audit, const Route& route, std::string_view tool);

}  // namespace scopegate::config
