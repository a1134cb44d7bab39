// The checks of lint.hpp. Each one only claims what follows from how a rule is evaluated
// (engine.cpp): where a case is not certain, nothing is said.
#include "policy/lint.hpp"

#include <algorithm>
#include <climits>
#include <cstdlib>

#include "policy/rule.hpp"

namespace scopegate::policy {

namespace {

using Names = std::set<std::string, std::less<>>;

// The rule's place as a config error: its file and line (location is "file:line"), key under it.
config::ConfigError at_rule(const Rule& rule, const std::string& key, std::string message) {
  config::ConfigError e;
  auto colon = rule.location.rfind(':');
  e.file = rule.location.substr(0, colon);
  e.line = colon == std::string::npos ? 0 : std::atoi(rule.location.c_str() + colon + 1);
  e.key = rule.key + "." + key;
  e.message = "rule '" + rule.id + "'" + std::move(message);
  return e;
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "'" : ", '") + n + "'";
  return out;
}

// "a, b, c" for the message; long lists are cut, the count said.
std::string some_of(const Names& names) {
  constexpr std::size_t kShown = 12;
  if (names.empty()) return "none";
  std::string out;
  std::size_t i = 0;
  for (const auto& n : names) {
    if (i++ == kShown) return out + ", ... (" + std::to_string(names.size()) + " in all)";
    out += (out.empty() ? "" : ", ") + n;
  }
  return out;
}

// Names a condition holds for that the config never declares. `never` is whether the condition can
// then hold for no request at all: what follows for the rule depends on where the condition is.
struct Unknown {
  std::vector<std::string> names;
  bool never = false;
};

Unknown unknown_in(const std::vector<std::string>& names, const Names& known) {
  Unknown u;
  for (const auto& n : names) {
    if (!known.count(n)) u.names.push_back(n);
  }
  u.never = u.names.size() == names.size();
  return u;
}

Unknown unknown_in(const SetCondition& c, const Names& known) {
  Unknown u = unknown_in(c.names, known);
  // any: one known name may still be there; all: one unknown name never is; none: always holds for it.
  u.never = !u.names.empty() && (c.mode == SetMode::all || (c.mode == SetMode::any && u.never));
  return u;
}

// Whether the condition can never hold.
bool report_unknown(const Rule& rule, bool in_unless, const std::string& condition, const Unknown& u,
                    std::string_view what, const Names& known, std::vector<config::ConfigError>& out) {
  if (u.names.empty()) return false;
  std::string side = in_unless ? "unless" : "when";
  std::string message = ": no " + std::string(what) + (u.names.size() == 1 ? " " : "s ") + quoted_list(u.names) +
                        " in the config (" + std::string(what) + "s: " + some_of(known) + ")";
  if (u.never) message += in_unless ? ": the unless never holds" : ": the rule can never match";
  out.push_back(at_rule(rule, side + "." + condition, std::move(message)));
  return u.never;
}

// Whether one of the conditions can never hold.
bool check_names(const Rule& rule, const Conditions& c, bool in_unless, const Vocabulary& known,
                 std::vector<config::ConfigError>& out) {
  bool never = false;
  if (c.route) {
    never |= report_unknown(rule, in_unless, "route", unknown_in(c.route->exact, known.routes), "route",
                            known.routes, out);
  }
  const std::pair<const char*, const std::optional<NameSet>*> agents[] = {
      {"agent", &c.agent}, {"delegator", &c.delegator}, {"root_agent", &c.root_agent}};
  for (const auto& [name, set] : agents) {
    if (*set) {
      never |= report_unknown(rule, in_unless, name, unknown_in((*set)->exact, known.agents), "agent", known.agents,
                              out);
    }
  }
  if (c.ancestors) {
    std::string mode = c.ancestors->mode == SetMode::any ? "any" : c.ancestors->mode == SetMode::all ? "all" : "none";
    never |= report_unknown(rule, in_unless, "ancestors." + mode, unknown_in(*c.ancestors, known.agents), "agent",
                            known.agents, out);
  }
  if (c.datasets) {
    std::string mode = c.datasets->mode == SetMode::any ? "any" : "all";
    never |= report_unknown(rule, in_unless, "datasets." + mode, unknown_in(*c.datasets, known.datasets), "dataset",
                            known.datasets, out);
  }
  return never;
}

// The depths every bound allows, as [low, high]; empty when low > high.
struct DepthRange {
  int low = 0;
  int high = INT_MAX;
  bool empty() const { return low > high; }
};

DepthRange range_of(const std::vector<DepthBound>& bounds) {
  DepthRange r;
  for (const auto& b : bounds) {
    switch (b.op) {
      case Compare::eq: r.low = std::max(r.low, b.value); r.high = std::min(r.high, b.value); break;
      case Compare::le: r.high = std::min(r.high, b.value); break;
      case Compare::lt: r.high = std::min(r.high, b.value - 1); break;
      case Compare::ge: r.low = std::max(r.low, b.value); break;
      case Compare::gt: r.low = std::max(r.low, b.value + 1); break;
    }
  }
  return r;
}

// Whether the bounds exclude each other.
bool check_depth(const Rule& rule, const Conditions& c, bool in_unless, std::vector<config::ConfigError>& out) {
  if (c.depth.empty() || !range_of(c.depth).empty()) return false;
  static constexpr const char* kOps[] = {"eq", "le", "ge", "lt", "gt"};
  std::string bounds;
  for (const auto& b : c.depth) {
    bounds += (bounds.empty() ? "" : ", ") + std::string(kOps[static_cast<int>(b.op)]) + ": " + std::to_string(b.value);
  }
  std::string side = in_unless ? "unless" : "when";
  out.push_back(at_rule(rule, side + ".depth",
                        ": no depth satisfies " + bounds +
                            (in_unless ? ": the unless never holds" : ": the rule can never match")));
  return true;
}

// Whether every request `narrow` holds for, `wide` holds for too. Only what can be proven is true.
bool within(const NameSet& narrow, const NameSet& wide) {
  for (const auto& e : narrow.exact) {
    if (!wide.contains(e)) return false;
  }
  for (const auto& p : narrow.prefixes) {
    if (std::none_of(wide.prefixes.begin(), wide.prefixes.end(), [&](const auto& w) { return p.starts_with(w); })) {
      return false;
    }
  }
  return true;
}

bool has(const std::vector<std::string>& names, const std::string& n) {
  return std::find(names.begin(), names.end(), n) != names.end();
}

bool subset(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  return std::all_of(a.begin(), a.end(), [&](const auto& n) { return has(b, n); });
}

bool within(const SetCondition& narrow, const SetCondition& wide) {
  switch (wide.mode) {
    case SetMode::any:
      // Some name of `narrow` is there, or all of them are: either way one of `wide`'s must be.
      if (narrow.mode == SetMode::any) return subset(narrow.names, wide.names);
      if (narrow.mode == SetMode::all) {
        return std::any_of(narrow.names.begin(), narrow.names.end(), [&](const auto& n) { return has(wide.names, n); });
      }
      return false;
    case SetMode::all:
      if (narrow.mode == SetMode::all) return subset(wide.names, narrow.names);
      if (narrow.mode == SetMode::any) {  // any of one name is all of it
        return std::all_of(narrow.names.begin(), narrow.names.end(),
                           [&](const auto& n) { return n == narrow.names.front(); }) &&
               subset(wide.names, {narrow.names.front()});
      }
      return false;
    case SetMode::none:
      return narrow.mode == SetMode::none && subset(wide.names, narrow.names);
  }
  return false;
}

bool same_scalar(const JsonScalar& a, const JsonScalar& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case JsonScalar::Type::string: return a.text == b.text;
    case JsonScalar::Type::number: return a.number == b.number;
    case JsonScalar::Type::boolean: return a.boolean == b.boolean;
    case JsonScalar::Type::null: return true;
  }
  return false;
}

bool within(const ArgumentCondition& narrow, const ArgumentCondition& wide) {
  using Op = ArgumentCondition::Op;
  if (narrow.pointer != wide.pointer) return false;
  switch (wide.op) {
    case Op::equals:
    case Op::in:
      if (narrow.op != Op::equals && narrow.op != Op::in) return false;
      return std::all_of(narrow.values.begin(), narrow.values.end(), [&](const JsonScalar& v) {
        return std::any_of(wide.values.begin(), wide.values.end(),
                           [&](const JsonScalar& w) { return same_scalar(v, w); });
      });
    case Op::prefix: return narrow.op == Op::prefix && narrow.text.starts_with(wide.text);
    case Op::glob: return narrow.op == Op::glob && narrow.text == wide.text;
    case Op::max_length: return narrow.op == Op::max_length && narrow.max_length <= wide.max_length;
    case Op::matches: return narrow.op == Op::matches && narrow.re->pattern() == wide.re->pattern();
  }
  return false;
}

template <class T, class Within>
bool implied(const std::optional<T>& narrow, const std::optional<T>& wide, Within&& within_fn) {
  if (!wide) return true;
  return narrow && within_fn(*narrow, *wide);
}

// Whether every request `narrow` holds for, `wide` holds for too: each condition of `wide` is in
// `narrow` and holds wherever `narrow`'s does.
bool implies(const Conditions& narrow, const Conditions& wide) {
  auto names = [](const NameSet& n, const NameSet& w) { return within(n, w); };
  auto sets = [](const SetCondition& n, const SetCondition& w) { return within(n, w); };
  if (!implied(narrow.agent, wide.agent, names) || !implied(narrow.principal, wide.principal, names) ||
      !implied(narrow.delegator, wide.delegator, names) || !implied(narrow.root_agent, wide.root_agent, names) ||
      !implied(narrow.route, wide.route, names) || !implied(narrow.kind, wide.kind, names) ||
      !implied(narrow.method, wide.method, names) || !implied(narrow.action, wide.action, names) ||
      !implied(narrow.mcp_method, wide.mcp_method, names) ||
      !implied(narrow.content_type, wide.content_type, names) ||
      !implied(narrow.ancestors, wide.ancestors, sets) || !implied(narrow.datasets, wide.datasets, sets)) {
    return false;
  }
  if (!wide.depth.empty()) {
    if (narrow.depth.empty()) return false;  // no bound: also requests with no scope, which no bound holds for
    DepthRange n = range_of(narrow.depth), w = range_of(wide.depth);
    if (n.low < w.low || n.high > w.high) return false;
  }
  if (!implied(narrow.classification_at_least, wide.classification_at_least,
               [](int n, int w) { return n >= w; })) {
    return false;
  }
  if (!implied(narrow.objective, wide.objective, [](const TextCondition& n, const TextCondition& w) {
        if (w.glob) return n.glob && n.lowered == w.lowered;
        return !n.glob && n.lowered.find(w.lowered) != std::string::npos;
      })) {
    return false;
  }
  for (const auto& w : wide.arguments) {
    if (std::none_of(narrow.arguments.begin(), narrow.arguments.end(),
                     [&](const ArgumentCondition& n) { return within(n, w); })) {
      return false;
    }
  }
  return implied(narrow.time, wide.time, [](const TimeWindow& n, const TimeWindow& w) {
    bool days = w.days == 0 || (n.days != 0 && (n.days & ~w.days) == 0);
    return n.after == w.after && n.before == w.before && days;
  });
}

// The first enforce forbid without unless that matches every request `permit` matches.
const Rule* overriding_forbid(const Rule& permit, const std::vector<Rule>& rules) {
  for (const auto& f : rules) {
    if (f.forbid && !f.shadow && !f.unless && implies(permit.when, f.when)) return &f;
  }
  return nullptr;
}

}  // namespace

Vocabulary vocabulary_of(const config::Config& config) {
  Vocabulary v;
  for (const auto& route : config.routes) {
    v.routes.insert(route.name);
    v.datasets.insert(route.data.datasets.begin(), route.data.datasets.end());
    for (const auto& [tool, label] : route.tools) v.datasets.insert(label.datasets.begin(), label.datasets.end());
  }
  for (const auto& agent : config.agents) v.agents.insert(agent.id);
  return v;
}

std::vector<config::ConfigError> lint(const PolicySet& set, const Vocabulary& known) {
  std::vector<config::ConfigError> out;
  const auto& rules = set.compiled();
  for (const auto& rule : rules) {
    bool never = check_names(rule, rule.when, false, known, out);
    never |= check_depth(rule, rule.when, false, out);
    if (rule.unless) {
      check_names(rule, *rule.unless, true, known, out);
      check_depth(rule, *rule.unless, true, out);
    }
    // A rule that can never match has been reported above; saying it is also overridden adds nothing.
    if (rule.forbid || never) continue;
    if (const Rule* forbid = overriding_forbid(rule, rules)) {
      std::string because = "the enforce forbid '" + forbid->id + "' (" + forbid->location +
                            "), which has no unless, matches every request it matches";
      out.push_back(at_rule(rule, "when",
                            rule.shadow ? " (shadow) is never reported: " + because +
                                              " (a shadow permit is reported only when the default denies)"
                                        : " never decides: " + because + " (a forbid beats a permit)"));
    }
  }
  return out;
}

}  // namespace scopegate::policy
