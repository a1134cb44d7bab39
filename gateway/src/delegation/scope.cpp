#include "delegation/scope.hpp"

#include "http/errors.hpp"

namespace scopegate::delegation {

ScopeRecord scope_record(const VerifiedToken& token, std::size_t index) {
  const ScopeBlock& block = token.scopes[index];
  ScopeRecord r;
  r.id = block.sid;
  r.parent = block.par;
  r.root = token.root().sid;
  r.depth = static_cast<int>(index);
  for (std::size_t i = 0; i <= index; ++i) {
    if (i) r.path += '/';
    r.path += token.scopes[i].sid;
  }
  r.principal = token.root().sub;
  r.actor = block.agt;
  if (index > 0) r.delegator = token.scopes[index - 1].agt;
  r.objective = block.obj;
  std::size_t sets = token.grant_sets_at[index];
  r.grants = intersect_all(std::span<const Grants>(token.grant_sets.data(), sets));
  r.iat = block.iat;
  r.exp = token.expires_at[index];
  return r;
}

namespace {

void append_string(std::string& out, std::string_view key, std::string_view value) {
  out += '"';
  out += key;
  out += "\":\"";
  http::append_json_escaped(out, value);
  out += "\",";
}

void append_int(std::string& out, std::string_view key, std::int64_t value) {
  out += '"';
  out += key;
  out += "\":";
  out += std::to_string(value);
  out += ',';
}

}  // namespace

void append_scope_json(std::string& out, const ScopeRecord& s) {
  out += '{';
  append_string(out, "id", s.id);
  if (!s.parent.empty()) append_string(out, "parent", s.parent);
  append_string(out, "root", s.root);
  append_int(out, "depth", s.depth);
  append_string(out, "path", s.path);
  append_string(out, "principal", s.principal);
  append_string(out, "actor", s.actor);
  if (!s.delegator.empty()) append_string(out, "delegator", s.delegator);
  if (!s.objective.empty()) append_string(out, "objective", s.objective);
  out += "\"grants\":[";
  for (std::size_t i = 0; i < s.grants.size(); ++i) {
    if (i) out += ',';
    out += '"';
    http::append_json_escaped(out, s.grants[i]);
    out += '"';
  }
  out += "],";
  append_int(out, "iat", s.iat);
  append_int(out, "exp", s.exp);
  out.back() = '}';
}

std::string scope_json(const ScopeRecord& s) {
  std::string out;
  append_scope_json(out, s);
  return out;
}

}  // namespace scopegate::delegation
