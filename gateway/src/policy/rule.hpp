// A policy rule as the loader compiles it (docs/policies.md has the YAML it comes from): every
// string compared case-insensitively is lower-cased here, every RE2 pattern compiled here, so that
// evaluation only compares.
#pragma once

#include <re2/re2.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.hpp"

namespace scopegate::policy {

// Names matched exactly, or (where the condition allows a trailing '*') by prefix.
struct NameSet {
  std::vector<std::string> exact;
  std::vector<std::string> prefixes;  // without the '*'; "" matches everything
  bool contains(std::string_view name) const;
  std::string describe() const;       // "a, b, c*" for explanations
};

// ancestors and datasets: any (one of the names is present), all (every name is present), none
// (no name is present).
enum class SetMode { any, all, none };
struct SetCondition {
  SetMode mode = SetMode::any;
  std::vector<std::string> names;
};

enum class Compare { eq, le, ge, lt, gt };
struct DepthBound {
  Compare op = Compare::eq;
  int value = 0;
};

// objective: `contains` a substring or matches a `glob`, both compared in lower case.
struct TextCondition {
  bool glob = false;
  std::string lowered;
};

// A JSON scalar written in YAML: a quoted scalar is a string; a plain one is true/false, null (or
// ~), a number, or else a string.
struct JsonScalar {
  enum class Type { string, number, boolean, null } type = Type::null;
  std::string text;
  double number = 0;
  bool boolean = false;
};

struct ArgumentCondition {
  enum class Op { equals, in, prefix, glob, max_length, matches } op = Op::equals;
  std::string pointer;                 // RFC 6901 JSON Pointer into the arguments
  std::vector<JsonScalar> values;      // equals: one; in: one or more
  std::string text;                    // prefix, glob
  std::size_t max_length = 0;          // in characters (UTF-8 code points)
  std::shared_ptr<const re2::RE2> re;  // matches (shared: rules are moved while loading)
  std::string describe() const;        // "/employee_id equals \"E1\""
};

struct TimeWindow {
  int after = -1;         // minute of the day (UTC) from which it holds; -1: from midnight
  int before = -1;        // minute of the day at which it stops holding; -1: until midnight
  std::uint8_t days = 0;  // bit d for weekday d (0 = Sunday); 0: every day
};

// Every condition that is set must hold.
struct Conditions {
  std::optional<NameSet> agent, principal, delegator, root_agent;
  std::optional<SetCondition> ancestors;
  std::vector<DepthBound> depth;
  std::optional<NameSet> route, kind, method, action, mcp_method;
  std::optional<SetCondition> datasets;
  std::optional<int> classification_at_least;  // 0 public .. 3 restricted
  std::optional<TextCondition> objective;
  std::vector<ArgumentCondition> arguments;
  std::optional<NameSet> content_type;  // lower case, without parameters
  std::optional<TimeWindow> time;
};

struct Rule {
  std::string id;
  bool forbid = false;
  bool shadow = false;
  std::string reason;  // as written, or a sentence naming the rule when none was
  Conditions when;
  std::optional<Conditions> unless;
  std::string location;  // file:line
  std::string key;       // "rules[3]": its place in its file, for messages
};

// The classification levels, lowest first; unlabelled (-1) is below public.
int classification_rank(std::string_view level);

// Candidates for a request: the rules that could match it, found without looking at the others.
// A rule with a route condition is filed under each of its routes; otherwise one with an action
// condition (none of whose patterns is `*`) under each exact action, or under its patterns' kind
// when a pattern is a prefix; the rest are candidates for every request.
class Index {
 public:
  explicit Index(const std::vector<Rule>& rules);

  // Calls visit(rule number) for each candidate in file order, each once, until visit returns false.
  template <class Visit>
  void for_each_candidate(const Facts& facts, Visit&& visit) const;

 private:
  using List = std::vector<std::uint32_t>;
  struct Prefixed {
    std::string prefix;  // "tool:search_"
    std::uint32_t rule;
  };
  static const List kEmpty;
  std::vector<std::uint32_t> always_;
  std::map<std::string, List, std::less<>> by_route_;
  std::map<std::string, List, std::less<>> by_action_;
  std::map<std::string, std::vector<Prefixed>, std::less<>> by_action_kind_;  // "tool" → prefixes, rule order
  static const std::vector<Prefixed> kNoPrefixes;
};

template <class Visit>
void Index::for_each_candidate(const Facts& facts, Visit&& visit) const {
  auto find = [](const auto& map, std::string_view key, const auto& none) -> const auto& {
    auto it = map.find(key);
    return it == map.end() ? none : it->second;
  };
  const List& routed = find(by_route_, facts.route, kEmpty);
  const List& exact = facts.action.empty() ? kEmpty : find(by_action_, facts.action, kEmpty);
  std::string_view kind = facts.action.substr(0, facts.action.find(':'));
  const std::vector<Prefixed>& prefixed =
      facts.action.find(':') == std::string_view::npos ? kNoPrefixes : find(by_action_kind_, kind, kNoPrefixes);

  // A merge of four lists sorted by rule number; a rule filed twice (tool:a and tool:*) is visited once.
  std::size_t a = 0, r = 0, e = 0, p = 0;
  constexpr std::uint32_t kEnd = UINT32_MAX;
  std::uint32_t last = kEnd;
  while (true) {
    while (p < prefixed.size() && !facts.action.starts_with(prefixed[p].prefix)) ++p;
    std::uint32_t next = kEnd;
    if (a < always_.size()) next = std::min(next, always_[a]);
    if (r < routed.size()) next = std::min(next, routed[r]);
    if (e < exact.size()) next = std::min(next, exact[e]);
    if (p < prefixed.size()) next = std::min(next, prefixed[p].rule);
    if (next == kEnd) return;
    if (a < always_.size() && always_[a] == next) ++a;
    if (r < routed.size() && routed[r] == next) ++r;
    if (e < exact.size() && exact[e] == next) ++e;
    if (p < prefixed.size() && prefixed[p].rule == next) ++p;
    if (next == last) continue;
    last = next;
    if (!visit(next)) return;
  }
}

}  // namespace scopegate::policy
