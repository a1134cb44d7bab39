#include "auth/agents.hpp"

#include <openssl/crypto.h>

#include "delegation/hmac.hpp"
#include "http/hygiene.hpp"

namespace scopegate::auth {

std::string sha256(std::string_view bytes) {
  auto digest = delegation::sha256(bytes);
  return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

AgentDirectory::AgentDirectory(const std::vector<config::Agent>& agents) {
  for (const auto& a : agents) {
    by_id_.emplace(a.id, &a);
    if (!a.api_key_sha256.empty()) by_hash_.emplace(a.api_key_sha256, &a);
    if (!a.certificate_subject.empty()) by_subject_.emplace(a.certificate_subject, &a);
  }
}

const config::Agent* AgentDirectory::by_key(std::string_view key) const {
  if (key.empty()) return nullptr;
  std::string digest = sha256(key);
  auto it = by_hash_.find(digest);
  if (it == by_hash_.end()) return nullptr;
  const std::string& stored = it->second->api_key_sha256;
  return CRYPTO_memcmp(stored.data(), digest.data(), digest.size()) == 0 ? it->second : nullptr;
}

const config::Agent* AgentDirectory::by_subject(std::string_view subject) const {
  auto it = by_subject_.find(std::string(subject));
  return it == by_subject_.end() ? nullptr : it->second;
}

const config::Agent* AgentDirectory::by_id(std::string_view id) const {
  auto it = by_id_.find(std::string(id));
  return it == by_id_.end() ? nullptr : it->second;
}

std::string_view credential_key(std::string_view header_name, std::string_view value) {
  if (!http::iequals_ascii(header_name, "Authorization")) return value;
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size() || !http::istarts_with_ascii(value, kScheme)) return {};
  value.remove_prefix(kScheme.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return value;
}

}  // namespace scopegate::auth
