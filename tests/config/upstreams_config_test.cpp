// A route's endpoints and retries in the config (docs/configuration.md, docs/resilience.md).
#include "config/loader.hpp"

#include <doctest/doctest.h>

using namespace scopegate::config;

namespace {

LoadResult load_route(const std::string& route_body) {
  std::string text = "listeners:\n  - port: 8080\nroutes:\n  - name: search\n    access: open\n"
                     "    match: { path_prefix: /s }\n" + route_body;
  return load_string(text, "gw.yaml", [](const std::string&) -> std::optional<std::string> { return std::nullopt; });
}

}  // namespace

TEST_CASE("upstreams: one URL, or a list of endpoints with weights") {
  auto one = load_route("    upstream: http://127.0.0.1:9000\n");
  REQUIRE(one.config);
  REQUIRE(one.config->routes[0].upstreams.size() == 1);
  CHECK(one.config->routes[0].upstreams[0].weight == 1);
  CHECK(one.config->routes[0].retries.max == 1);

  auto list = load_route("    upstream:\n      - http://127.0.0.1:9000\n"
                         "      - { url: http://127.0.0.2:9000/base, weight: 3 }\n"
                         "    retries: { max: 2, backoff: 10ms, max_backoff: 1s, budget: 0.5, min_retries: 1 }\n");
  REQUIRE(list.config);
  const auto& r = list.config->routes[0];
  REQUIRE(r.upstreams.size() == 2);
  CHECK(r.upstreams[1].host == "127.0.0.2");
  CHECK(r.upstreams[1].base_path == "/base");
  CHECK(r.upstreams[1].weight == 3);
  CHECK(r.retries.max == 2);
  CHECK(r.retries.backoff == Duration{10});
  CHECK(r.retries.max_backoff == Duration{1000});
  CHECK(r.retries.budget == doctest::Approx(0.5));
  CHECK(r.retries.min_retries == 1);
}

TEST_CASE("upstreams: mistakes are named by file, line and key") {
  auto dup = load_route("    upstream: [ http://127.0.0.1:9000, https://127.0.0.1:9000 ]\n");
  REQUIRE_FALSE(dup.config);
  CHECK(dup.errors[0].key == "routes[0].upstream[1]");
  CHECK(dup.errors[0].line == 7);
  CHECK(dup.errors[0].message.find("the same endpoint") != std::string::npos);

  auto spelled = load_route("    upstream: [ http://Tools.example:9000, http://tools.example.:9000 ]\n");
  REQUIRE_FALSE(spelled.config);
  CHECK(spelled.errors[0].key == "routes[0].upstream[1]");

  auto empty = load_route("    upstream: []\n");
  REQUIRE_FALSE(empty.config);
  CHECK(empty.errors[0].key == "routes[0].upstream");

  auto weight = load_route("    upstream:\n      - { url: http://a:1, weight: 0 }\n");
  REQUIRE_FALSE(weight.config);
  CHECK(weight.errors[0].key == "routes[0].upstream[0].weight");
  CHECK(weight.errors[0].line == 8);

  auto bad_url = load_route("    upstream: [ http://a:1, ftp://b ]\n");
  REQUIRE_FALSE(bad_url.config);
  CHECK(bad_url.errors[0].key == "routes[0].upstream[1]");

  auto retries = load_route("    upstream: http://a:1\n    retries: { max: 2, budget: 2, tries: 1 }\n");
  REQUIRE_FALSE(retries.config);
  REQUIRE(retries.errors.size() == 2);
  CHECK(retries.errors[0].key == "routes[0].retries.tries");
  CHECK(retries.errors[1].key == "routes[0].retries.budget");

  auto backoff = load_route("    upstream: http://a:1\n    retries: { backoff: 1s, max_backoff: 10ms }\n");
  REQUIRE_FALSE(backoff.config);
  CHECK(backoff.errors[0].key == "routes[0].retries.max_backoff");
}

TEST_CASE("breakers per tool and MCP answers that count: mcp routes only") {
  auto mcp = load_route("    kind: mcp\n    upstream: http://a:1\n"
                        "    breaker: { per: tool, failure_on: [connect, jsonrpc_error, tool_error] }\n");
  REQUIRE(mcp.config);
  const auto& b = *mcp.config->routes[0].breaker;
  CHECK(b.per == Breaker::Per::tool);
  CHECK(b.on_jsonrpc_error);
  CHECK(b.on_tool_error);
  CHECK(b.on_connect);
  CHECK_FALSE(b.on_5xx);

  auto http = load_route("    upstream: http://a:1\n    breaker: { per: tool, failure_on: [tool_error] }\n");
  REQUIRE_FALSE(http.config);
  REQUIRE(http.errors.size() == 2);
  CHECK(http.errors[0].key == "routes[0].breaker.per");
  CHECK(http.errors[1].key == "routes[0].breaker.failure_on");

  auto per = load_route("    kind: mcp\n    upstream: http://a:1\n    breaker: { per: server }\n");
  REQUIRE_FALSE(per.config);
  CHECK(per.errors[0].key == "routes[0].breaker.per");
}
