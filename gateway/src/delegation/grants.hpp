// Grant patterns (docs/protocol.md §1): an exact action string, or a prefix ending in '*'; "*" alone
// matches everything. A set of patterns grants the union of what its patterns match, and a chain
// of sets (a token's d and c blocks) grants what every set grants: the intersection.
//
// Prefix languages are either nested or disjoint, so intersections stay exact sets of patterns:
// nothing here over- or under-approximates.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace scopegate::delegation {

using Grants = std::vector<std::string>;

bool pattern_matches(std::string_view pattern, std::string_view action);

// Whether everything `narrow` matches is matched by `wide` ("tool:*" covers "tool:search*").
bool pattern_covers(std::string_view wide, std::string_view narrow);

// Whether some pattern of `set` covers `pattern`.
bool set_covers(std::span<const std::string> set, std::string_view pattern);

// Every action matched by both sets, as a minimal set of patterns (none covers another).
Grants intersect(std::span<const std::string> a, std::span<const std::string> b);

// The intersection of a chain of sets; empty chain → nothing granted.
Grants intersect_all(std::span<const Grants> sets);

// Parses "a, b,c" (the Delegation-Grants header, `token mint --grants`). Empty entries are skipped;
// false when an entry is not a valid pattern (config::grant_pattern_problem), with the reason in
// `why` when given.
bool parse_grant_list(std::string_view text, Grants& out, std::string* why = nullptr);

}  // namespace scopegate::delegation
