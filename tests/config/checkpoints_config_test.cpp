// audit.checkpoints: the keys, their defaults, and a signing key that is checked at load and never
// shown in a message.
#include "config/loader.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>

using namespace scopegate::config;

namespace {

constexpr const char* kKeyPem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";

LoadResult load(const std::string& checkpoints, const std::map<std::string, std::string>& env = {}) {
  std::string yaml = "listeners: [{port: 1}]\naudit:\n  dir: /var/lib/scopegate/audit\n  checkpoints:\n" + checkpoints;
  return load_string(yaml, "gw.yaml", [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  });
}

const ConfigError& only_error(const LoadResult& r) {
  REQUIRE_FALSE(r.config.has_value());
  REQUIRE(r.errors.size() == 1);
  return r.errors.front();
}

}  // namespace

TEST_CASE("checkpoints: off by default, the key from an environment variable, with defaults") {
  auto none = load_string("listeners: [{port: 1}]\naudit: { dir: /a }\n", "gw.yaml");
  REQUIRE(none.config);
  CHECK(none.config->audit.checkpoints.dir.empty());

  auto r = load("    dir: /mnt/worm/checkpoints\n    private_key_env: SG_CKPT_KEY\n", {{"SG_CKPT_KEY", kKeyPem}});
  REQUIRE(r.config);
  const auto& c = r.config->audit.checkpoints;
  CHECK(c.dir == "/mnt/worm/checkpoints");
  CHECK(c.every_records == 10000);
  CHECK(c.every == std::chrono::seconds(60));
  CHECK(c.private_key_pem == kKeyPem);
  CHECK(c.key_source == "private_key_env SG_CKPT_KEY");
}

TEST_CASE("checkpoints: cadence and the key from a file") {
  auto file = std::filesystem::temp_directory_path() / "scopegate-checkpoints-config-test.key";
  std::ofstream(file) << kKeyPem;
  auto r = load("    dir: /mnt/worm\n    every_records: 500\n    every: 10s\n    private_key_file: " + file.string() + "\n");
  std::filesystem::remove(file);
  REQUIRE(r.config);
  CHECK(r.config->audit.checkpoints.every_records == 500);
  CHECK(r.config->audit.checkpoints.every == std::chrono::seconds(10));
  CHECK(r.config->audit.checkpoints.private_key_pem == kKeyPem);
}

TEST_CASE("checkpoints: strict validation, with the line and key path") {
  auto e = only_error(load("    dir: /mnt/worm\n"));
  CHECK(e.line == 5);
  CHECK(e.key == "audit.checkpoints");
  CHECK(e.message.find("exactly one of private_key_file and private_key_env") != std::string::npos);

  e = only_error(load("    dir: /mnt/worm\n    private_key_env: A\n    private_key_file: /k\n"));
  CHECK(e.message.find("exactly one of") != std::string::npos);

  e = only_error(load("    private_key_env: K\n", {{"K", kKeyPem}}));
  CHECK(e.key == "audit.checkpoints.dir");

  e = only_error(load("    dir: /var/lib/scopegate/audit/checkpoints\n    private_key_env: K\n", {{"K", kKeyPem}}));
  CHECK(e.key == "audit.checkpoints.dir");
  CHECK(e.message.find("must not be audit.dir or inside it") != std::string::npos);
  CHECK(only_error(load("    dir: /var/lib/scopegate/audit/\n    private_key_env: K\n", {{"K", kKeyPem}})).key ==
        "audit.checkpoints.dir");
  CHECK(load("    dir: /var/lib/scopegate/audit-checkpoints\n    private_key_env: K\n", {{"K", kKeyPem}}).config);

  e = only_error(load("    dir: /d\n    private_key_env: K\n    every: 0\n", {{"K", kKeyPem}}));
  CHECK(e.key == "audit.checkpoints.every");
  e = only_error(load("    dir: /d\n    private_key_env: K\n    every_records: 0\n", {{"K", kKeyPem}}));
  CHECK(e.key == "audit.checkpoints.every_records");
  e = only_error(load("    dir: /d\n    private_key_env: K\n    url: http://x\n", {{"K", kKeyPem}}));
  CHECK(e.key == "audit.checkpoints.url");
  CHECK(e.message.find("unknown key") != std::string::npos);
}

TEST_CASE("checkpoints: a key that cannot be used fails the load, naming its source and never its bytes") {
  auto e = only_error(load("    dir: /d\n    private_key_env: SG_CKPT_KEY\n"));
  CHECK(e.key == "audit.checkpoints.private_key_env");
  CHECK(e.line == 6);
  CHECK(e.message.find("SG_CKPT_KEY is not set") != std::string::npos);

  // An Ed25519 key mangled: the message names the variable, not what it holds.
  std::string broken = kKeyPem;
  broken.replace(broken.find("MC4C"), 4, "XXXX");
  e = only_error(load("    dir: /d\n    private_key_env: SG_CKPT_KEY\n", {{"SG_CKPT_KEY", broken}}));
  CHECK(e.message.find("SG_CKPT_KEY does not hold an Ed25519 private key") != std::string::npos);
  CHECK(e.message.find("XXXX") == std::string::npos);
  CHECK(e.message.find("BEGIN") == std::string::npos);

  e = only_error(load("    dir: /d\n    private_key_file: /nonexistent/ckpt.key\n"));
  CHECK(e.key == "audit.checkpoints.private_key_file");
  CHECK(e.message.find("cannot read file '/nonexistent/ckpt.key'") != std::string::npos);
}

TEST_CASE("checkpoints: the query and audit commands read the section without the key") {
  auto file = std::filesystem::temp_directory_path() / "scopegate-checkpoints-config-test.yaml";
  std::ofstream(file) << "listeners: [{port: 1}]\naudit:\n  dir: /a\n  checkpoints:\n    dir: /d\n"
                         "    private_key_env: SG_UNSET_CHECKPOINT_KEY\n";
  auto r = load_audit_section(file.string());
  std::filesystem::remove(file);
  REQUIRE(r.config);
  CHECK(r.config->audit.checkpoints.dir == "/d");
  CHECK(r.config->audit.checkpoints.private_key_pem.empty());
}
