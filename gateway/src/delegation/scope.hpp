// The scope record (docs/protocol.md §1): one unit of delegated authority, as the admin API, the
// audit log and POST /v1/scopes show it. Derived from the d blocks of a verified token.
#pragma once

#include <cstdint>
#include <string>

#include "delegation/grants.hpp"
#include "delegation/token.hpp"

namespace scopegate::delegation {

struct ScopeRecord {
  std::string id;
  std::string parent;     // empty at the root
  std::string root;
  int depth = 0;
  std::string path;       // ids from the root to this scope joined by '/'
  std::string principal;
  std::string actor;      // the agent acting in this scope
  std::string delegator;  // the agent that opened it; empty at the root
  std::string objective;
  std::string task;       // "<plan>/<task>" when opened for a plan task (docs/plans.md); else empty
  Grants grants;          // effective: the intersection of every grant set up to this scope
  std::int64_t iat = 0;
  std::int64_t exp = 0;   // effective: the earliest expiry up to this scope
};

// The `path` of the scope opened by block `index` (the ids from the root to it, joined by '/').
void append_scope_path(std::string& out, const VerifiedToken& token, std::size_t index);

// The record of the scope opened by d block `index` of a verified token (0 = root).
ScopeRecord scope_record(const VerifiedToken& token, std::size_t index);

// {"id":...,"parent":...,...} with every string escaped; parent/delegator/objective omitted when empty.
void append_scope_json(std::string& out, const ScopeRecord& scope);
std::string scope_json(const ScopeRecord& scope);

}  // namespace scopegate::delegation
