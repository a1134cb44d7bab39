// The settings of connection limits, deadlines and path normalisation (docs/configuration.md).
#include <doctest/doctest.h>

#include "config/loader.hpp"

using namespace scopegate::config;

namespace {

LoadResult load(const std::string& yaml) { return load_string(yaml, "gw.yaml", [](const std::string&) { return std::nullopt; }); }

constexpr const char* kBase = R"(listeners:
  - port: 8080
)";

std::string route_with(const std::string& extra) {
  return std::string(kBase) + "routes:\n  - name: files\n    access: open\n    match: { path_prefix: /files }\n"
                              "    upstream: http://127.0.0.1:9000\n" + extra;
}

}  // namespace

TEST_CASE("defaults: per-peer cap, first-byte deadline, lingering close, strict paths") {
  auto r = load(route_with(""));
  REQUIRE(r.config);
  CHECK(r.config->limits.max_connections_per_peer == 256);
  CHECK(r.config->timeouts.client_first_byte == std::chrono::seconds(5));
  CHECK(r.config->timeouts.lingering_close == std::chrono::seconds(5));
  CHECK(r.config->paths.merge_slashes);
  CHECK(r.config->routes[0].paths.escaped_slashes == EscapedSlashes::reject);
  CHECK(r.config->routes[0].paths.path_params == PathParams::reject);
}

TEST_CASE("set explicitly, a route overrides the top-level path rules") {
  auto r = load(std::string(kBase) +
                "limits: { max_connections_per_peer: 0 }\n"
                "timeouts: { client_first_byte: 500ms, lingering_close: off }\n"
                "paths: { merge_slashes: false, escaped_slashes: keep }\n"
                "routes:\n"
                "  - name: files\n    access: open\n    match: { path_prefix: /files }\n"
                "    upstream: http://127.0.0.1:9000\n"
                "    paths: { escaped_slashes: unescape, path_params: keep }\n"
                "  - name: second\n    access: open\n    match: { path_prefix: /second }\n"
                "    upstream: http://127.0.0.1:9000\n");
  REQUIRE(r.config);
  CHECK(r.config->limits.max_connections_per_peer == 0);
  CHECK(r.config->timeouts.client_first_byte == std::chrono::milliseconds(500));
  CHECK(r.config->timeouts.lingering_close.count() == 0);
  CHECK_FALSE(r.config->paths.merge_slashes);
  CHECK(r.config->routes[0].paths.escaped_slashes == EscapedSlashes::unescape);
  CHECK(r.config->routes[0].paths.path_params == PathParams::keep);
  CHECK(r.config->routes[1].paths.escaped_slashes == EscapedSlashes::keep);  // inherited
  CHECK(r.config->routes[1].paths.path_params == PathParams::reject);
}

TEST_CASE("bad values name their key") {
  auto r = load(route_with("    paths: { escaped_slashes: decode }\n"));
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].key == "routes[0].paths.escaped_slashes");
  r = load(route_with("    paths: { merge_slashes: true }\n"));
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].key == "routes[0].paths.merge_slashes");
  r = load(std::string(kBase) + "timeouts: { client_first_byte: off }\n");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].key == "timeouts.client_first_byte");
  r = load(std::string(kBase) + "paths: { path_params: unescape }\n");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].key == "paths.path_params");
}
