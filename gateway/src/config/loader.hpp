// YAML → config::Config with strict validation. Every error names the file, the line and
// the key path ("routes[2].upstream.url"), and all errors of a file are reported at once.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace scopegate::config {

struct ConfigError {
  std::string file;
  int line = 0;  // 1-based; 0 when the error is about the file as a whole
  std::string key;
  std::string message;

  std::string to_string() const;  // "file:line: key: message"
};

// Whether the secrets a config names must be at hand. `serve`, reload and `token mint` need them;
// `scopegate check` validates everything else where they are not (a CI job, an operator's laptop).
// Secrets: token.keys[].secret_env and secret_file, audit.checkpoints.private_key_env and
// private_key_file, and ${NAME} references in admin.token.
enum class Secrets { required, optional };

struct LoadResult {
  std::optional<Config> config;
  std::vector<ConfigError> errors;
  // With Secrets::optional, each secret that is not available here (an unset variable, a secret
  // file that does not exist), once per variable or file. The config then holds stand-ins for
  // them (an all-zero token key, no checkpoint key, an empty admin token): fit for checking only.
  std::vector<ConfigError> missing_secrets;
};

// Resolves ${NAME} references; the default reads the process environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

LoadResult load_file(const std::string& path, EnvLookup env = {}, Secrets secrets = Secrets::required);
// Only `node` and `audit`, for the query and audit commands: nothing else is read or resolved, so
// no token key, agent key or admin token is needed (or touched) to query a log.
LoadResult load_audit_section(const std::string& path, EnvLookup env = {});
LoadResult load_string(std::string_view yaml, const std::string& file_name, EnvLookup env = {},
                       Secrets secrets = Secrets::required);

}  // namespace scopegate::config
