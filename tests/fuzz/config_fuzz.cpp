// The config loader (config/loader.hpp): YAML text → config::Config, or errors naming file, line
// and key. It runs at start, on `scopegate check` and on every reload of a running gateway, where
// nothing catches an exception (App::reload): any exception escaping load_string is a finding.
//
// Beyond "no crash": a config comes back exactly when there are no errors, every error says
// something, and a loaded config builds the snapshot a request would use (router, agents,
// keyring) and routes the requests its own routes describe.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "app/snapshot.hpp"
#include "config/loader.hpp"
#include "fuzz_support.hpp"
#include "router/router.hpp"

namespace {

using namespace scopegate;

// ${NAME} references resolve here, not from the fuzzer's own environment.
// Token keys under the names the examples and integration tests use, an admin token, an empty
// variable; anything else is unset.
std::optional<std::string> test_env(const std::string& name) {
  if (name.ends_with("_KEY") || name.starts_with("SG_TOKEN_")) {
    return std::string("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  }
  if (name == "SCOPEGATE_ADMIN_TOKEN") return std::string("fuzz-admin-token");
  if (name == "FUZZ_EMPTY") return std::string();
  return std::nullopt;
}

// The loader opens the files a config names (TLS material, key files). Device and kernel files
// could block or never end (/dev/zero); a config naming them is the operator's own doing, so such
// inputs are skipped rather than read.
bool names_special_files(std::string_view text) {
  for (std::string_view dir : {"/dev", "/proc", "/sys", "/run"}) {
    if (text.find(dir) != std::string_view::npos) return true;
  }
  return false;
}

// What the gateway does with a config once loaded: build the snapshot and route by it.
void use_config(config::Config config) {
  const app::Snapshot snapshot(std::move(config));
  for (const auto& route : snapshot.config.routes) {
    const auto& m = route.match;
    std::string method = m.methods.empty() ? std::string("GET") : m.methods.front();
    for (const std::string& target : {m.path_prefix, m.path_prefix + "/x?q=1", std::string("/")}) {
      if (target.empty() || target.front() != '/') continue;
      if (const auto* hit = snapshot.router.match(m.host, method, target)) {
        std::string upstream = router::upstream_target(*hit, hit->upstreams.front(), target);
        fuzz::require(!upstream.empty(), "a routed request has an upstream target");
      }
    }
    fuzz::require(snapshot.agents.by_id(route.target_agent) != nullptr || route.target_agent.empty() ||
                      route.kind == config::RouteKind::http || route.kind == config::RouteKind::mcp,
                  "a delegation route's target agent is a registered agent");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (names_special_files(text)) return -1;  // not added to the corpus
  config::LoadResult result;
  try {
    result = config::load_string(text, "fuzz.yaml", test_env);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: load_string threw: %s\n", e.what());
    fuzz::require(false, "the loader reports every error as a value (a reload does not catch)");
  }
  fuzz::require(result.config.has_value() == result.errors.empty(), "a config comes back exactly when nothing is wrong");
  for (const auto& e : result.errors) {
    fuzz::require(!e.message.empty(), "every config error says what is wrong");
    fuzz::require(e.line >= 0, "an error's line is a line number");
    fuzz::require(!e.to_string().empty(), "every config error can be printed");
  }
  if (result.config) use_config(std::move(*result.config));
  return 0;
}
