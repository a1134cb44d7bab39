#include "config/loader.hpp"

#include <doctest/doctest.h>

#include <map>

#include "config/units.hpp"

using namespace scopegate::config;

namespace {

std::map<std::string, std::string> g_env;
EnvLookup fake_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    auto it = g_env.find(name);
    if (it == g_env.end()) return std::nullopt;
    return it->second;
  };
}

// Routes are scoped by default, which needs a token key: configs that name none get one,
// appended at the end so that line numbers in expected errors stay as written.
LoadResult load(const std::string& yaml) {
  g_env["SG_TEST_KEY"] = std::string(64, 'a');
  std::string text = yaml;
  if (text.find("\ntoken:") == std::string::npos && text.find("routes:") != std::string::npos) {
    text += "\ntoken: { keys: [ { kid: k1, secret_env: SG_TEST_KEY } ] }\n";
  }
  return load_string(text, "gw.yaml", fake_env());
}

constexpr const char* kMinimal = R"(listeners:
  - port: 8080
routes:
  - name: search
    match: { path_prefix: /tools/search }
    upstream: http://127.0.0.1:9000
)";

// The single error of a result, asserting there is exactly one.
ConfigError only_error(const LoadResult& r) {
  REQUIRE_FALSE(r.config.has_value());
  REQUIRE(r.errors.size() == 1);
  return r.errors.front();
}

}  // namespace

TEST_CASE("units: durations and sizes") {
  CHECK(parse_duration("250ms") == Duration{250});
  CHECK(parse_duration("10s") == Duration{10'000});
  CHECK(parse_duration("2m") == Duration{120'000});
  CHECK(parse_duration("1h") == Duration{3'600'000});
  CHECK(parse_duration("15") == Duration{15'000});
  CHECK(parse_duration("off") == Duration{0});
  CHECK_FALSE(parse_duration("10 s"));
  CHECK_FALSE(parse_duration("ten"));
  CHECK_FALSE(parse_duration("-1s"));
  CHECK_FALSE(parse_duration("99999999999999999999h"));
  CHECK(parse_size("512") == 512u);
  CHECK(parse_size("32KiB") == 32u * 1024);
  CHECK(parse_size("10MB") == 10'000'000u);
  CHECK(parse_size("1GiB") == 1024ull * 1024 * 1024);
  CHECK_FALSE(parse_size("1 GiB"));
  CHECK_FALSE(parse_size("1gb"));
  CHECK_FALSE(parse_size("18446744073709551615GiB"));
}

TEST_CASE("a minimal config loads with defaults") {
  auto r = load(kMinimal);
  REQUIRE(r.errors.empty());
  const auto& c = *r.config;
  CHECK(c.workers >= 1);
  CHECK(c.limits.max_header_bytes == 32 * 1024);
  REQUIRE(c.routes.size() == 1);
  const auto& route = c.routes[0];
  CHECK(route.kind == RouteKind::http);
  CHECK(route.upstreams.at(0).host == "127.0.0.1");
  CHECK(route.upstreams.at(0).port == 9000);
  CHECK(route.max_body_bytes == c.limits.max_body_bytes);
  CHECK(route.timeouts.upstream_first_byte == c.timeouts.upstream_first_byte);
  CHECK(route.location == "gw.yaml:4");
}

TEST_CASE("route timeouts override the global ones, others are inherited") {
  auto r = load(R"(listeners: [{port: 1}]
timeouts: { upstream_connect: 2s, request_total: 30s }
routes:
  - name: stream
    match: { path_prefix: /s }
    upstream: https://tools.example:8443/base/
    timeouts: { request_total: off, upstream_idle: 5m }
)");
  REQUIRE(r.errors.empty());
  const auto& route = r.config->routes[0];
  CHECK(route.timeouts.request_total == Duration{0});
  CHECK(route.timeouts.upstream_idle == Duration{300'000});
  CHECK(route.timeouts.upstream_connect == Duration{2'000});
  CHECK(route.upstreams.at(0).tls);
  CHECK(route.upstreams.at(0).server_name == "tools.example");
  CHECK(route.upstreams.at(0).base_path == "/base");
}

TEST_CASE("unknown keys are errors with file, line and key path") {
  auto e = only_error(load(R"(listeners:
  - port: 8080
routes:
  - name: search
    match: { path_prefix: /tools }
    upstream:
      url: http://127.0.0.1:9000
      pool_sise: 4
)"));
  CHECK(e.file == "gw.yaml");
  CHECK(e.line == 8);
  CHECK(e.key == "routes[0].upstream.pool_sise");
  CHECK(e.message.find("unknown key") != std::string::npos);
  CHECK(e.to_string().starts_with("gw.yaml:8: routes[0].upstream.pool_sise: unknown key"));
}

TEST_CASE("wrong types, bad durations and bad sizes name their key") {
  auto r = load(R"(listeners:
  - port: eighty
timeouts:
  client_header: 10 seconds
limits:
  max_body_bytes: lots
routes:
  - name: a
    match: { path_prefix: /a }
    upstream: http://h:1
    strip_prefix: yes
)");
  REQUIRE(r.errors.size() == 4);
  CHECK(r.errors[0].key == "limits.max_body_bytes");
  CHECK(r.errors[0].line == 6);
  CHECK(r.errors[1].key == "timeouts.client_header");
  CHECK(r.errors[1].line == 4);
  CHECK(r.errors[2].key == "listeners[0].port");
  CHECK(r.errors[2].line == 2);
  CHECK(r.errors[3].key == "routes[0].strip_prefix");
  CHECK(r.errors[3].line == 11);
}

TEST_CASE("duplicate route names are errors") {
  auto e = only_error(load(R"(listeners: [{port: 1}]
routes:
  - name: a
    match: { path_prefix: /a }
    upstream: http://h:1
  - name: a
    match: { path_prefix: /b }
    upstream: http://h:1
)"));
  CHECK(e.key == "routes[1].name");
  CHECK(e.line == 6);
  CHECK(e.message.find("duplicate route name 'a'") != std::string::npos);
}

TEST_CASE("a route shadowed by an earlier one is unreachable") {
  auto e = only_error(load(R"(listeners: [{port: 1}]
routes:
  - name: tools
    match: { path_prefix: /tools }
    upstream: http://h:1
  - name: search
    match: { path_prefix: /tools/search, methods: [POST] }
    upstream: http://h:2
)"));
  CHECK(e.key == "routes[1].match");
  CHECK(e.line == 7);
  CHECK(e.message.find("unreachable") != std::string::npos);
  CHECK(e.message.find("'tools' (gw.yaml:3)") != std::string::npos);

  SUBCASE("the specific route first is fine") {
    auto r = load(R"(listeners: [{port: 1}]
routes:
  - name: search
    match: { path_prefix: /tools/search, methods: [POST] }
    upstream: http://h:2
  - name: tools
    match: { path_prefix: /tools }
    upstream: http://h:1
)");
    CHECK(r.errors.empty());
  }
  SUBCASE("a host-restricted earlier route does not shadow an any-host route") {
    auto r = load(R"(listeners: [{port: 1}]
routes:
  - name: internal
    match: { path_prefix: /tools, host: internal.example }
    upstream: http://h:1
  - name: tools
    match: { path_prefix: /tools }
    upstream: http://h:1
)");
    CHECK(r.errors.empty());
  }
}

TEST_CASE("environment references") {
  g_env = {{"ADMIN_TOKEN", "s3cret"}, {"PORT", "9000"}};
  auto r = load(R"(listeners: [{port: "${PORT}"}]
admin: { token: "${ADMIN_TOKEN}" }
routes:
  - name: a
    match: { path_prefix: /a }
    upstream: "http://h:${UPSTREAM_PORT:-7000}"
)");
  REQUIRE(r.errors.empty());
  CHECK(r.config->listeners[0].port == 9000);
  CHECK(r.config->admin.token == "s3cret");
  CHECK(r.config->routes[0].upstreams.at(0).port == 7000);

  auto e = only_error(load(R"(listeners: [{port: 1}]
admin: { token: "${MISSING_TOKEN}" }
)"));
  CHECK(e.key == "admin.token");
  CHECK(e.message == "environment variable MISSING_TOKEN is not set");
  g_env.clear();
}

TEST_CASE("invalid upstream URLs and route fields") {
  auto r = load(R"(listeners: [{port: 1}]
routes:
  - name: a
    match: { path_prefix: tools }
    upstream: ftp://h
  - name: "b c"
    kind: grpc
    match: { path_prefix: /b }
    upstream: http://h:99999
)");
  REQUIRE(r.errors.size() == 5);
  CHECK(r.errors[0].key == "routes[0].match.path_prefix");
  CHECK(r.errors[1].key == "routes[0].upstream");
  CHECK(r.errors[1].message.find("scheme") != std::string::npos);
  CHECK(r.errors[2].key == "routes[1].name");
  CHECK(r.errors[3].key == "routes[1].kind");
  CHECK(r.errors[4].key == "routes[1].upstream");
  CHECK(r.errors[4].message.find("port") != std::string::npos);
}

TEST_CASE("YAML syntax errors and empty files") {
  auto e = only_error(load("listeners: [\n  - port: 1\n routes: {"));
  CHECK(e.line > 0);
  auto empty = only_error(load(""));
  CHECK(empty.message == "the file is empty");
  auto missing = load_file("/nonexistent/scopegate.yaml");
  REQUIRE(missing.errors.size() == 1);
  CHECK(missing.errors[0].message == "cannot open the file");
}

TEST_CASE("listeners are required and TLS files must exist") {
  auto e = only_error(load("routes: []\n"));
  CHECK(e.key == "listeners");
  auto r = load(R"(listeners:
  - port: 8443
    tls: { certificate: /nonexistent/cert.pem, key: /nonexistent/key.pem }
)");
  REQUIRE(r.errors.size() == 2);
  CHECK(r.errors[0].key == "listeners[0].tls.certificate");
  CHECK(r.errors[0].line == 3);
  CHECK(r.errors[1].key == "listeners[0].tls.key");
}

TEST_CASE("duplicate keys in one mapping are errors") {
  auto e = only_error(load("listeners: [{port: 1}]\nnode: a\nnode: b\n"));
  CHECK(e.key == "node");
  CHECK(e.message == "duplicate key");
  CHECK(e.line == 3);
}

TEST_CASE("agents and delegating routes") {
  g_env["SG_TEST_KEY"] = std::string(64, 'a');
  auto r = load_string(R"(listeners: [{port: 1, credential_header: X-Agent-Key}]
token: { keys: [ { kid: k1, secret_env: SG_TEST_KEY } ], max_depth: 4, delegation_ttl: 5m }
agents:
  - id: planner
    api_key_sha256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
    may_open_root: true
    grants: ["tool:*", "agent:*"]
    max_depth: 2
  - id: researcher
    certificate_subject: "CN=researcher,O=Example"
routes:
  - name: researcher
    kind: a2a
    target_agent: researcher
    grants: ["tool:search"]
    stamp_objective: true
    match: { path_prefix: /agents/researcher }
    upstream: http://h:1
  - name: card
    access: open
    match: { path_prefix: /.well-known }
    upstream: http://h:1
)", "gw.yaml", fake_env());
  REQUIRE(r.errors.empty());
  const auto& c = *r.config;
  CHECK(c.listeners[0].credential_header == "X-Agent-Key");
  CHECK(c.token.max_depth == 4);
  CHECK(c.token.delegation_ttl == std::chrono::minutes(5));
  REQUIRE(c.agents.size() == 2);
  CHECK(c.agents[0].api_key_sha256.size() == 32);
  CHECK(c.agents[0].may_open_root);
  CHECK(c.agents[0].max_depth == 2);
  CHECK(c.agents[1].grants == std::vector<std::string>{"*"});
  CHECK(c.routes[0].target_agent == "researcher");
  CHECK(c.routes[0].grants == std::vector<std::string>{"tool:search"});
  CHECK(c.routes[0].access == Access::scoped);
  CHECK(c.routes[1].access == Access::open);

  auto bad = load_string(R"(listeners: [{port: 1}]
agents:
  - id: a
    api_key_sha256: nothex
  - id: a
    grants: ["tool:*x"]
routes:
  - name: x
    kind: agent
    match: { path_prefix: /x }
    upstream: http://h:1
  - name: y
    access: public
    target_agent: a
    match: { path_prefix: /y }
    upstream: http://h:1
)", "gw.yaml", fake_env());
  std::vector<std::string> keys;
  for (const auto& e : bad.errors) keys.push_back(e.key);
  CHECK(keys == std::vector<std::string>{"agents[0].api_key_sha256", "agents[1]", "agents[1].grants[0]", "agents[1].id",
                                         "routes[0].target_agent", "routes[0].access", "routes[1].access",
                                         "routes[1]", "routes[1].access"});
  g_env.clear();
}

TEST_CASE("audit settings, dataset labels and the durability each request gets") {
  auto r = load(R"(listeners: [{port: 1}]
audit:
  dir: /var/lib/scopegate/audit
  durability: batch
  fsync_interval: 5ms
  segment_max_bytes: 8MiB
  disk_reserve: 0
routes:
  - name: hr
    kind: mcp
    match: { path_prefix: /mcp/hr }
    upstream: http://127.0.0.1:9000
    datasets: [hr-records]
    classification: confidential
    tools:
      salary_lookup: { datasets: [payroll], classification: restricted }
      ping_tool: { audit: none }
  - name: web
    match: { path_prefix: /web }
    upstream: http://127.0.0.1:9000
    audit: strict
)");
  REQUIRE(r.config);
  const auto& c = *r.config;
  CHECK(c.audit.dir == "/var/lib/scopegate/audit");
  CHECK(c.audit.fsync_interval == std::chrono::milliseconds(5));
  CHECK(c.audit.segment_max_bytes == 8u << 20);
  CHECK(c.audit.disk_reserve == 0);
  const auto& hr = c.routes[0];
  CHECK(hr.data.datasets == std::vector<std::string>{"hr-records"});
  CHECK(effective_durability(c.audit, hr, "") == Durability::batch);
  CHECK(effective_durability(c.audit, hr, "salary_lookup") == Durability::strict);  // restricted
  CHECK(effective_durability(c.audit, hr, "ping_tool") == Durability::none);
  CHECK(effective_durability(c.audit, c.routes[1], "") == Durability::strict);

  auto e = only_error(load(R"(listeners: [{port: 1}]
audit:
  dir: /tmp/a
routes:
  - name: web
    match: { path_prefix: /web }
    upstream: http://127.0.0.1:9000
    audit: sometimes
)"));
  CHECK(e.line == 8);
  CHECK(e.key == "routes[0].audit");
  e = only_error(load(R"(listeners: [{port: 1}]
audit:
  durability: strict
)"));
  CHECK(e.key == "audit.dir");
  e = only_error(load(R"(listeners: [{port: 1}]
routes:
  - name: web
    match: { path_prefix: /web }
    upstream: http://127.0.0.1:9000
    tools: { x: { datasets: [a] } }
)"));
  CHECK(e.key == "routes[0].tools");
}

TEST_CASE("a secret file that is not a regular file is an error, never a crash or a hang") {
  // Found by the config fuzzer: a directory made std::ifstream throw, which ended `check` and,
  // on reload, a running gateway.
  for (const char* file : {"/tmp", "/dev/zero", "/no/such/file"}) {
    CAPTURE(file);
    auto r = load_string(std::string("listeners: [{port: 1}]\ntoken: { keys: [ { kid: k1, secret_file: ") + file +
                             " } ] }\n",
                         "gw.yaml", fake_env());
    CHECK_FALSE(r.config);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].to_string().find("secret_file") != std::string::npos);
    CHECK(r.errors[0].to_string().find("cannot read file") != std::string::npos);
  }
  auto dir = load_file("/tmp");
  CHECK_FALSE(dir.config);
  REQUIRE(dir.errors.size() == 1);
}

TEST_CASE("grant patterns with an unknown action kind are errors at the item, with the near miss") {
  g_env["SG_TEST_KEY"] = std::string(64, 'a');
  auto r = load_string(R"(listeners: [{port: 1}]
token: { keys: [ { kid: k1, secret_env: SG_TEST_KEY } ] }
agents:
  - id: planner
    api_key_sha256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
    grants:
      - "tool:*"
      - "tools:*"
  - id: researcher
    certificate_subject: "CN=researcher"
    grants: ["Tool:search", "tool:"]
routes:
  - name: researcher
    kind: agent
    target_agent: researcher
    grants: ["*", "agent*"]
    match: { path_prefix: /agents/researcher }
    upstream: http://h:1
)", "gw.yaml", fake_env());
  REQUIRE_FALSE(r.config);
  REQUIRE(r.errors.size() == 4);
  CHECK(r.errors[0].to_string() ==
        "gw.yaml:8: agents[0].grants[1]: unknown action kind 'tools' in grant pattern 'tools:*'; did you mean 'tool:*'?");
  CHECK(r.errors[1].key == "agents[1].grants[0]");
  CHECK(r.errors[1].line == 11);
  CHECK(r.errors[1].message.ends_with("did you mean 'tool:search'?"));
  CHECK(r.errors[2].key == "agents[1].grants[1]");
  CHECK(r.errors[2].message.ends_with("did you mean 'tool:*'?"));
  CHECK(r.errors[3].key == "routes[0].grants[1]");
  CHECK(r.errors[3].line == 16);
  CHECK(r.errors[3].message == "grant pattern 'agent*' names no agent; did you mean 'agent:*'?");
  g_env.clear();
}

namespace {

constexpr const char* kWithSecrets = R"(listeners: [{port: 1}]
admin: { token: "${SG_ADMIN}" }
token:
  keys:
    - { kid: k1, secret_env: SG_KEY_1 }
    - { kid: k2, secret_env: SG_KEY_1 }
    - { kid: k3, secret_file: /nonexistent/scopegate-test-key }
routes:
  - name: a
    match: { path_prefix: /a }
    upstream: http://h:1
  - name: b
    match: { path_prefix: /b }
    upstream: http://h:1
)";

}  // namespace

TEST_CASE("secrets that are not at hand: errors for serve, one note each for check") {
  g_env.clear();
  // serve (Secrets::required): one error per missing secret, none repeated per route.
  auto serve = load_string(kWithSecrets, "gw.yaml", fake_env());
  CHECK_FALSE(serve.config);
  std::vector<std::string> errors;
  for (const auto& e : serve.errors) errors.push_back(e.to_string());
  CHECK(errors == std::vector<std::string>{
                      "gw.yaml:5: token.keys[0].secret_env: environment variable SG_KEY_1 is not set",
                      "gw.yaml:6: token.keys[1].secret_env: environment variable SG_KEY_1 is not set",
                      "gw.yaml:7: token.keys[2].secret_file: cannot read file '/nonexistent/scopegate-test-key' (a regular file)",
                      "gw.yaml:2: admin.token: environment variable SG_ADMIN is not set"});
  CHECK(serve.missing_secrets.empty());

  // check (Secrets::optional): everything else is validated, each missing secret noted once.
  auto check = load_string(kWithSecrets, "gw.yaml", fake_env(), Secrets::optional);
  REQUIRE(check.config);
  CHECK(check.errors.empty());
  std::vector<std::string> notes;
  for (const auto& e : check.missing_secrets) notes.push_back(e.to_string());
  CHECK(notes == std::vector<std::string>{
                     "gw.yaml:5: token.keys[0].secret_env: environment variable SG_KEY_1 is not set",
                     "gw.yaml:7: token.keys[2].secret_file: secret file '/nonexistent/scopegate-test-key' does not exist",
                     "gw.yaml:2: admin.token: environment variable SG_ADMIN is not set"});
  CHECK(check.config->token.keys.size() == 3);
  CHECK(check.config->admin.token.empty());
  CHECK(check.config->routes.size() == 2);

  // Errors that are not about a missing secret stay errors in check.
  std::string broken = kWithSecrets;
  broken.replace(broken.find("path_prefix: /b"), 15, "path_prefix: b");
  auto bad = load_string(broken, "gw.yaml", fake_env(), Secrets::optional);
  CHECK_FALSE(bad.config);
  REQUIRE(bad.errors.size() == 1);
  CHECK(bad.errors[0].key == "routes[1].match.path_prefix");
  CHECK(bad.missing_secrets.size() == 3);

  // A secret that is present but wrong is an error either way; so is a secret file that exists
  // but is not a regular file, and a ${NAME} outside a secret setting.
  g_env = {{"SG_ADMIN", "x"}, {"SG_KEY_1", "not hex"}};
  std::string present = kWithSecrets;
  present.replace(present.find("/nonexistent/scopegate-test-key"), 31, "/tmp");
  present.replace(present.find("port: 1}"), 8, "port: \"${SG_PORT}\"}");
  auto wrong = load_string(present, "gw.yaml", fake_env(), Secrets::optional);
  CHECK_FALSE(wrong.config);
  CHECK(wrong.missing_secrets.empty());
  errors.clear();
  for (const auto& e : wrong.errors) errors.push_back(e.key);
  CHECK(errors == std::vector<std::string>{"token.keys[0].secret_env", "token.keys[1].secret_env",
                                           "token.keys[2].secret_file", "listeners[0].port"});
  g_env.clear();
}

TEST_CASE("a missing checkpoint key is a note for check and an error for serve") {
  constexpr const char* yaml = R"(listeners: [{port: 1}]
audit:
  dir: /var/lib/scopegate/audit
  checkpoints: { dir: /mnt/worm, private_key_env: SG_CKPT }
)";
  auto serve = only_error(load_string(yaml, "gw.yaml", fake_env()));
  CHECK(serve.key == "audit.checkpoints.private_key_env");
  auto check = load_string(yaml, "gw.yaml", fake_env(), Secrets::optional);
  REQUIRE(check.config);
  REQUIRE(check.missing_secrets.size() == 1);
  CHECK(check.missing_secrets[0].to_string() ==
        "gw.yaml:4: audit.checkpoints.private_key_env: environment variable SG_CKPT is not set");
  CHECK(check.config->audit.checkpoints.private_key_pem.empty());
}

TEST_CASE("llm routes, the price table and token and cost budgets") {
  CHECK(parse_decimal("2.5", 6) == 2'500'000u);
  CHECK(parse_decimal("0.075", 6) == 75'000u);
  CHECK(parse_decimal("10", 6) == 10'000'000u);
  CHECK_FALSE(parse_decimal("0.0000001", 6));
  CHECK_FALSE(parse_decimal("-1", 6));
  CHECK_FALSE(parse_decimal("1.", 6));
  CHECK_FALSE(parse_decimal(".5", 6));
  CHECK_FALSE(parse_decimal("1e3", 6));
  g_env["SG_OPENAI"] = "sk-test";
  auto ok = load(R"(listeners: [{port: 1}]
routes:
  - name: openai
    kind: llm
    api_key: ${SG_OPENAI}
    match: { path_prefix: /openai }
    upstream: http://h:1
  - name: claude
    kind: llm
    api: anthropic
    stream_usage: false
    match: { path_prefix: /claude }
    upstream: http://h:1
llm:
  currency: EUR
  prices:
    gpt-4o: {input: 2.5, output: 10}
    claude-sonnet: {input: 3, output: 15, cache_read: 0.3}
budgets:
  default: {max_tokens: 100000, max_cost: 2.5}
)");
  REQUIRE_MESSAGE(ok.config, (ok.errors.empty() ? "" : ok.errors.front().to_string()));
  const auto& c = *ok.config;
  CHECK(c.routes[0].kind == RouteKind::llm);
  CHECK(c.routes[0].llm.api == LlmApi::openai);
  CHECK(c.routes[0].llm.api_key == "sk-test");
  CHECK(c.routes[0].llm.stream_usage);
  CHECK(c.routes[1].llm.api == LlmApi::anthropic);
  CHECK_FALSE(c.routes[1].llm.stream_usage);
  CHECK(c.llm.currency == "EUR");
  CHECK(c.llm.price("gpt-4o")->cache_read == 2'500'000u);  // the input price unless set
  CHECK(c.llm.price("claude-sonnet")->cache_read == 300'000u);
  CHECK_FALSE(c.llm.price("gpt-5"));
  CHECK(c.budgets.defaults.max_tokens == 100000u);
  CHECK(c.budgets.defaults.max_cost == 2'500'000'000'000u);  // pico-units

  auto bad = load(R"(listeners: [{port: 1}]
routes:
  - name: search
    api: openai
    match: { path_prefix: /search }
    upstream: http://h:1
  - name: openai
    kind: llm
    api: gemini
    api_key: sk-literal
    match: { path_prefix: /openai }
    upstream: http://h:1
llm:
  prices:
    gpt-4o: {input: 2.5000001, output: 10}
    other: {input: 1, output: 1}
    mini: {input: 1}
budgets:
  default: {max_cost: lots}
)");
  REQUIRE_FALSE(bad.config);
  std::vector<std::string> got;
  for (const auto& e : bad.errors) got.push_back(e.to_string());
  REQUIRE(got.size() == 7);
  CHECK(got[0] == "gw.yaml:4: routes[0]: api, stream_usage and api_key apply only to llm routes (kind: llm)");
  CHECK(got[1] == "gw.yaml:9: routes[1].api: expected openai or anthropic, got 'gemini'");
  CHECK(got[2] == "gw.yaml:10: routes[1].api_key: a key is a secret: write ${ENV_VAR}, never the key itself");
  CHECK(got[3].starts_with("gw.yaml:19: budgets.default.max_cost: expected an amount"));
  CHECK(got[4].starts_with("gw.yaml:15: llm.prices.gpt-4o.input: expected a price per million tokens"));
  CHECK(got[5].starts_with("gw.yaml:16: llm.prices.other: 'other' is reserved"));
  CHECK(got[6].starts_with("gw.yaml:17: llm.prices.mini: input and output prices are required"));
  g_env.clear();
}

TEST_CASE("the fleet section: Redis URL, TLS, password from the environment, leases and failure modes") {
  g_env["SG_REDIS"] = "s3cret";
  auto ok = load(R"(listeners: [{port: 1}]
routes: []
fleet:
  node: gw-b
  redis:
    url: rediss://ops@[::1]:6380/2
    tls: { verify: false, server_name: redis.internal }
    password_env: SG_REDIS
    key_prefix: "sg:"
    timeout: 100ms
  revocations: { strict: true }
  budgets: { lease: 0.25, lease_idle: 2s, on_store_unavailable: local }
  rate_limits: { lease: 0.5, lease_ttl: 500ms }
)");
  REQUIRE_MESSAGE(ok.config, (ok.errors.empty() ? "" : ok.errors.front().to_string()));
  const auto& f = ok.config->fleet;
  CHECK(f.enabled);
  CHECK(ok.config->node == "gw-b");
  CHECK(f.redis.tls);
  CHECK(f.redis.host == "::1");
  CHECK(f.redis.port == 6380);
  CHECK(f.redis.db == 2);
  CHECK(f.redis.username == "ops");
  CHECK(f.redis.password == "s3cret");
  CHECK_FALSE(f.redis.verify);
  CHECK(f.redis.server_name == "redis.internal");
  CHECK(f.redis.key_prefix == "sg:");
  CHECK(f.redis.timeout.count() == 100);
  CHECK(f.revocations_strict);
  CHECK(f.budget_lease == doctest::Approx(0.25));
  CHECK(f.budgets_unavailable == Fleet::OnUnavailable::local);
  CHECK(f.rate_limits_unavailable == Fleet::OnUnavailable::closed);
  CHECK(f.rate_lease_ttl.count() == 500);
  CHECK_FALSE(load(kMinimal).config->fleet.enabled);

  auto bad = load(R"(node: gw-a
listeners: [{port: 1}]
routes: []
fleet:
  node: gw-b
  redis:
    url: redis://:pw@h:1
    tls: { verify: false }
    password_env: SG_NOT_SET
  budgets: { lease: 2, on_store_unavailable: open }
)");
  REQUIRE_FALSE(bad.config);
  std::vector<std::string> got;
  for (const auto& e : bad.errors) got.push_back(e.to_string());
  REQUIRE(got.size() == 6);
  CHECK(got[0] == "gw.yaml:5: fleet.node: differs from the top-level node 'gw-a': set one of them");
  CHECK(got[1] == "gw.yaml:7: fleet.redis.url: no password in the URL: name an environment variable in "
                  "fleet.redis.password_env");
  CHECK(got[2] == "gw.yaml:8: fleet.redis.tls: applies only to a rediss:// url");
  CHECK(got[3] == "gw.yaml:9: fleet.redis.password_env: environment variable SG_NOT_SET is not set");
  CHECK(got[4].starts_with("gw.yaml:10: fleet.budgets.lease: expected a fraction"));
  CHECK(got[5] == "gw.yaml:10: fleet.budgets.on_store_unavailable: expected closed or local, got 'open'");
  g_env.clear();
}

TEST_CASE("fleet Redis URLs that could be read two ways are refused") {
  auto url_error = [](const std::string& url) {
    auto r = load("node: gw-a\nlisteners: [{port: 1}]\nroutes: []\nfleet:\n  redis:\n    url: \"" + url + "\"\n");
    return r.errors.empty() ? std::string() : r.errors.front().message;
  };
  CHECK(url_error("redis://::1") == "an IPv6 address goes in brackets: redis://[::1]:6379");
  CHECK(url_error("redis://a@b@host:1") == "the user name is letters, digits, '-', '_' and '.' (or set fleet.redis.username)");
  CHECK(url_error("redis://host name:1") == "the host is a name or an address (letters, digits, '-', '.')");
  CHECK(url_error("redis://host:") == "no port after ':'");
  CHECK(url_error("redis://[::1]:") == "no port after ':'");
  CHECK(url_error("redis://[zz]:1") == "not an IPv6 address in the brackets");
  CHECK(url_error("redis://us%40er@host") == "the user name is letters, digits, '-', '_' and '.' (or set fleet.redis.username)");
  CHECK(url_error("redis://host:6379/16") == "the database is a number from 0 to 15");
  CHECK(url_error("redis://[::1]:6380/3").empty());
  CHECK(url_error("rediss://cache.internal").empty());
  auto unnamed = load("listeners: [{port: 1}]\nroutes: []\nfleet:\n  redis: {url: redis://h}\n");
  REQUIRE_FALSE(unnamed.errors.empty());
  CHECK(unnamed.errors.front().key == "fleet.node");
}
