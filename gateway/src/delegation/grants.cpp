#include "delegation/grants.hpp"

#include <algorithm>

#include "config/grant_pattern.hpp"

namespace scopegate::delegation {

bool pattern_matches(std::string_view pattern, std::string_view action) {
  if (pattern.ends_with('*')) return action.starts_with(pattern.substr(0, pattern.size() - 1));
  return pattern == action;
}

bool pattern_covers(std::string_view wide, std::string_view narrow) {
  // A '*'-pattern's language is its prefix followed by anything, so it covers `narrow` exactly
  // when `narrow` (a literal, or a prefix with its own '*') starts with that prefix.
  if (wide.ends_with('*')) return narrow.starts_with(wide.substr(0, wide.size() - 1));
  return wide == narrow;
}

bool set_covers(std::span<const std::string> set, std::string_view pattern) {
  return std::any_of(set.begin(), set.end(), [&](const std::string& p) { return pattern_covers(p, pattern); });
}

namespace {

// Drops duplicates and patterns another one covers, keeping the first occurrence's order.
Grants minimal(const Grants& in) {
  Grants out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    bool redundant = false;
    for (std::size_t j = 0; j < in.size() && !redundant; ++j) {
      if (i == j || !pattern_covers(in[j], in[i])) continue;
      // Equal patterns cover each other: keep the first of them.
      redundant = in[i] != in[j] || j < i;
    }
    if (!redundant) out.push_back(in[i]);
  }
  return out;
}

}  // namespace

Grants intersect(std::span<const std::string> a, std::span<const std::string> b) {
  Grants out;
  for (const auto& x : a) {
    for (const auto& y : b) {
      if (pattern_covers(x, y)) out.push_back(y);
      else if (pattern_covers(y, x)) out.push_back(x);
    }
  }
  return minimal(out);
}

Grants intersect_all(std::span<const Grants> sets) {
  if (sets.empty()) return {};
  Grants acc = minimal(sets.front());
  for (std::size_t i = 1; i < sets.size(); ++i) acc = intersect(acc, sets[i]);
  return acc;
}

bool parse_grant_list(std::string_view text, Grants& out, std::string* why) {
  out.clear();
  while (!text.empty()) {
    auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.empty()) continue;
    if (auto problem = config::grant_pattern_problem(item)) {
      if (why) *why = std::move(*problem);
      return false;
    }
    out.emplace_back(item);
  }
  return true;
}

}  // namespace scopegate::delegation
