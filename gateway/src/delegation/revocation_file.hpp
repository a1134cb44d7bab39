// Revocations kept on disk, so that a restart does not bring a revoked scope back. One line per
// revoked scope, "<id> <until>\n" (until: Unix seconds after which no token for it can be valid).
// Appended and fsynced when the admin API revokes (on the control thread, never a worker's event
// loop); read and compacted (expired lines dropped, written to a temporary file, renamed, the
// directory fsynced) when the gateway starts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "delegation/registry.hpp"

namespace scopegate::delegation {

using Revocations = std::vector<ScopeRegistry::Revocation>;

// Reads the file (a missing file is empty) and rewrites it without the entries expired at `now`.
// false with `error` when it cannot be read or rewritten, or a line is malformed (file:line).
bool load_revocations(const std::string& path, std::int64_t now, Revocations& out, std::string& error);

// Appends and fsyncs. false with `error` when the write or the fsync fails.
bool append_revocations(const std::string& path, const Revocations& entries, std::string& error);

}  // namespace scopegate::delegation
