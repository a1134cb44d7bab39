// The outputs of the forensic queries (docs/audit.md, "Queries"): JSON that follows
// schema/query-*.schema.json, tables for people, CSV for spreadsheets, and one-file HTML or
// Markdown reports. Every output carries what the evidence is worth (the chain status).
#pragma once

#include <string>

#include "audit/query.hpp"

namespace scopegate::audit {

std::string footprint_json(const QueryOptions& o, const QueryResult& r);
std::string footprint_table(const QueryOptions& o, const QueryResult& r);
std::string footprint_csv(const QueryResult& r);
std::string footprint_report(const QueryOptions& o, const QueryResult& r, bool html);
std::string tree_json(const QueryOptions& o, const QueryResult& r);
std::string tree_table(const QueryOptions& o, const QueryResult& r);
std::string tree_csv(const QueryResult& r);
std::string actions_json(const QueryOptions& o, const QueryResult& r);
std::string actions_table(const QueryOptions& o, const QueryResult& r);
std::string actions_csv(const QueryResult& r);
std::string never_json(const QueryOptions& o, const Criterion& c, const QueryResult& r, int exit_code);
std::string never_table(const QueryOptions& o, const Criterion& c, const QueryResult& r, int exit_code);
std::string never_csv(const QueryResult& r);
std::string scopes_json(const QueryOptions& o, const QueryResult& r);
std::string scopes_table(const QueryOptions& o, const QueryResult& r);
std::string scopes_csv(const QueryOptions& o, const QueryResult& r);
std::string scanned_json(const QueryResult& r);

}  // namespace scopegate::audit
