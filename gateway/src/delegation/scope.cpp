#include "delegation/scope.hpp"

#include "json/write.hpp"

namespace scopegate::delegation {

void append_scope_path(std::string& out, const VerifiedToken& token, std::size_t index) {
  for (std::size_t i = 0; i <= index; ++i) {
    if (i) out += '/';
    out += token.scopes[i].sid;
  }
}

ScopeRecord scope_record(const VerifiedToken& token, std::size_t index) {
  const ScopeBlock& block = token.scopes[index];
  ScopeRecord r;
  r.id = block.sid;
  r.parent = block.par;
  r.root = token.root().sid;
  r.depth = static_cast<int>(index);
  append_scope_path(r.path, token, index);
  r.principal = token.root().sub;
  r.actor = block.agt;
  if (index > 0) r.delegator = token.scopes[index - 1].agt;
  r.objective = block.obj;
  r.task = block.tsk;
  std::size_t sets = token.grant_sets_at[index];
  r.grants = intersect_all(std::span<const Grants>(token.grant_sets.data(), sets));
  r.iat = block.iat;
  r.exp = token.expires_at[index];
  return r;
}

void append_scope_json(std::string& out, const ScopeRecord& s) {
  out += "{\"id\":";
  json::append_string(out, s.id);
  if (!s.parent.empty()) json::append_field(out, "parent", s.parent);
  json::append_field(out, "root", s.root);
  json::append_int(out, "depth", s.depth);
  json::append_field(out, "path", s.path);
  json::append_field(out, "principal", s.principal);
  json::append_field(out, "actor", s.actor);
  if (!s.delegator.empty()) json::append_field(out, "delegator", s.delegator);
  if (!s.objective.empty()) json::append_field(out, "objective", s.objective);
  if (!s.task.empty()) json::append_field(out, "task", s.task);
  json::append_list(out, "grants", s.grants);
  json::append_int(out, "iat", s.iat);
  json::append_int(out, "exp", s.exp);
  out += '}';
}

std::string scope_json(const ScopeRecord& s) {
  std::string out;
  append_scope_json(out, s);
  return out;
}

}  // namespace scopegate::delegation
