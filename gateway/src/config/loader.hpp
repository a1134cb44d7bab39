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

struct LoadResult {
  std::optional<Config> config;
  std::vector<ConfigError> errors;
};

// Resolves ${NAME} references; the default reads the process environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

LoadResult load_file(const std::string& path, EnvLookup env = {});
// Only `node` and `audit`, for the query and audit commands: nothing else is read or resolved, so
// no token key, agent key or admin token is needed (or touched) to query a log.
LoadResult load_audit_section(const std::string& path, EnvLookup env = {});
LoadResult load_string(std::string_view yaml, const std::string& file_name, EnvLookup env = {});

}  // namespace scopegate::config
