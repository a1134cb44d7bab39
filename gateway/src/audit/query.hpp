// The forensic queries of docs/protocol.md §7 over one or more audit directories: footprint, actions,
// tree, never, and `scopes` (find a scope to start from). One streaming pass over the segments: a line that does not name the scope is
// skipped by a substring search before any parsing, and the scope `path` (root/.../id) makes
// "this scope and everything under it" a component match.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "audit/verify.hpp"
#include "llm/usage.hpp"

namespace scopegate::audit {

// `query scopes`: which scopes to list. Every field that is set must match.
struct ScopeFilter {
  std::string id_prefix;  // also how a shortened id given to any query is resolved
  std::string principal, agent;
  std::string objective;  // a substring, compared without regard to ASCII case
  bool root_only = false;
};

struct QueryOptions {
  std::vector<std::string> dirs;
  std::string scope;
  bool descendants = true;
  std::string since, until;  // canonical RFC 3339 with microseconds; empty: unbounded
  bool verify = false;       // follow every node's hash chain (always on for `never`)
  ScopeFilter filter;        // `query scopes` only
};

// A criterion for `never`: one of tool, dataset, route, resource.
struct Criterion {
  std::string kind;
  std::string value;
};

struct Totals {
  std::uint64_t allowed = 0, denied = 0;
  std::uint64_t cut = 0;  // allowed, but the response was cut mid-body (upstream_cut or client_cut)
  std::set<std::string> tools, resources, routes, datasets, upstreams;
  std::uint64_t bytes_in = 0, bytes_out = 0;
  // LLM calls (docs/llm.md): the models called, the calls whose usage was recorded, their tokens
  // and their cost (pico-units of the configured currency).
  std::set<std::string> models;
  std::uint64_t llm_calls = 0;
  llm::Usage usage;
  std::uint64_t cost = 0;
  std::string first, last;  // timestamps of the first and last request
  void add(const Totals& other);
};

struct ScopeSummary {
  std::string id, parent, root, path;
  int depth = -1;
  std::string actor, delegator, principal, objective;
  std::string first_seen, last_seen;  // any record of the scope, its opening included
  bool in_range = false;              // `query scopes`: some record of it lies within --since/--until
  Totals own, subtree;
  std::vector<std::string> children;
};

struct NodeScan {
  std::string node;
  std::uint64_t records = 0, first_seq = 0, last_seq = 0;
  std::string first_ts, last_ts;
  bool verified = false;  // the chain was followed
  std::optional<ChainProblem> problem;
  bool starts_at_genesis = true;
};

struct QueryResult {
  std::vector<NodeScan> nodes;
  std::uint64_t records = 0, bytes = 0, matched = 0;
  double seconds = 0;
  std::map<std::string, ScopeSummary> scopes;  // by id: the scope and every descendant seen
  std::vector<std::string> records_json;       // actions / never: the matching records, as written
  std::vector<std::string> attempts_json;      // never: denied attempts
  std::vector<std::string> outcomes_json;      // actions / never: request.outcome records of the requests listed
  bool incomplete() const;                     // a chain problem or a missing start in range
  std::string_view chain() const;              // over every node: verified, broken, partial or unverified
  std::string error;                           // set when a directory or file cannot be read
  std::string checkpoints;                     // what signed checkpoints proved; empty: not checked
};

enum class QueryKind { footprint, actions, tree, never, scopes };

// Runs one pass. For `never`, `criterion` selects records_json (allowed) and attempts_json (denied).
// For `scopes`, every scope seen is summarised and `options.filter` picks those listed.
QueryResult run_query(QueryKind kind, const QueryOptions& options, const Criterion* criterion = nullptr);

// "2026-11-21", "2026-11-21T10:00:00Z", "2026-11-21T10:00:00.5Z" → canonical; nullopt if invalid.
std::optional<std::string> canonical_time(std::string_view text, bool end_of_range);

// Whether `text` is a whole scope id (a UUID), as opposed to a prefix to resolve first.
bool is_full_scope_id(std::string_view text);

// The ids of every scope the logs know that start with `prefix`, sorted.
std::vector<std::string> scopes_with_prefix(const std::vector<std::string>& dirs, std::string_view prefix,
                                            std::string& error);

// `never`'s answer: 1 when an allowed request matched, else 2 when the evidence has a hole, else 0.
int never_exit_code(const QueryResult& r);

// After a query that read evidence: 1 when --verify found a broken chain or a gap, else 0.
int evidence_exit_code(const QueryOptions& o, const QueryResult& r);

// The scopes `query scopes` lists: those matching options.filter (and the time range), ordered by
// first activity.
std::vector<const ScopeSummary*> listed_scopes(const QueryOptions& o, const QueryResult& r);

}  // namespace scopegate::audit
