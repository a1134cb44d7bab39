// Agent authentication (docs/protocol.md §1, §3): an API key, known to the gateway only by its
// SHA-256, or the subject of a verified TLS client certificate. Built once per config snapshot.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"

namespace scopegate::auth {

class AgentDirectory {
 public:
  explicit AgentDirectory(const std::vector<config::Agent>& agents);

  // The agent whose key this is, or null. The key is hashed first, so lookup time says nothing
  // about how close a guess came; the final comparison is constant-time all the same.
  const config::Agent* by_key(std::string_view key) const;
  const config::Agent* by_subject(std::string_view subject) const;
  const config::Agent* by_id(std::string_view id) const;

 private:
  std::unordered_map<std::string, const config::Agent*> by_hash_;
  std::unordered_map<std::string, const config::Agent*> by_subject_;
  std::unordered_map<std::string, const config::Agent*> by_id_;
};

// The key in a credential header's value: "Bearer <key>" for Authorization (scheme compared
// case-insensitively), the whole value for any other header. Empty when absent or malformed.
std::string_view credential_key(std::string_view header_name, std::string_view value);

std::string sha256(std::string_view bytes);  // 32 raw bytes (crypto::to_hex writes them as hex)

}  // namespace scopegate::auth
