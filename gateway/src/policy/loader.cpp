// Policy files → compiled rules (docs/policies.md is the format). Every error names the file, the
// line and the key path, and all of them are collected: an operator fixes a file in one pass.
#include <openssl/sha.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "config/config.hpp"
#include "config/grant_pattern.hpp"
#include "crypto/hex.hpp"
#include "policy/policy.hpp"
#include "policy/rule.hpp"

namespace scopegate::policy {

namespace {

constexpr std::string_view kConditionKeys[] = {
    "agent",  "principal",  "delegator", "root_agent", "ancestors",      "depth",     "route",     "kind",
    "method", "action",     "mcp_method", "datasets",  "classification", "objective", "arguments", "content_type",
    "time"};
// The kinds a request can have: config's route kinds, named as config names them.
constexpr config::RouteKind kRouteKinds[] = {config::RouteKind::http, config::RouteKind::mcp, config::RouteKind::agent,
                                             config::RouteKind::a2a, config::RouteKind::scopes,
                                             config::RouteKind::plans, config::RouteKind::llm};
constexpr std::string_view kWeekdays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

std::string lowered(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string list_of(std::span<const std::string_view> names) {
  std::string out;
  for (auto n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

bool is_id_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; }

// How a name list may be written: names compared exactly, or also prefixes ending in '*'.
enum class Names { exact, prefixed };

// Walks one file's YAML tree, tracking key paths and collecting errors.
class Reader {
 public:
  Reader(std::string file, std::vector<LoadError>& errors) : file_(std::move(file)), errors_(errors) {}

  const std::string& file() const { return file_; }

  void error(const YAML::Node& at, const std::string& key, std::string message) {
    int line = at.IsDefined() ? at.Mark().line + 1 : 0;
    errors_.push_back({file_, line, key, std::move(message)});
  }

  static std::string join(const std::string& parent, std::string_view name) {
    return parent.empty() ? std::string(name) : parent + "." + std::string(name);
  }

  // A mapping whose keys are all among `known`; unknown and repeated keys are errors.
  bool expect_map(const YAML::Node& node, const std::string& key, std::span<const std::string_view> known) {
    if (!node.IsMap()) {
      error(node, key, "expected a mapping with keys " + list_of(known));
      return false;
    }
    std::set<std::string> seen;
    for (const auto& item : node) {
      std::string name = item.first.Scalar();
      if (!seen.insert(name).second) {
        error(item.first, join(key, name), "duplicate key");
      } else if (std::find(known.begin(), known.end(), name) == known.end()) {
        error(item.first, join(key, name), "unknown key (expected " + list_of(known) + ")");
      }
    }
    return true;
  }

  // A mapping with exactly one of `choices` (ancestors: any | all | none); its name and value.
  std::optional<std::pair<std::string, YAML::Node>> one_of(const YAML::Node& node, const std::string& key,
                                                           std::span<const std::string_view> choices) {
    if (!expect_map(node, key, choices)) return std::nullopt;
    if (node.size() != 1) {
      error(node, key, "expected exactly one of " + list_of(choices));
      return std::nullopt;
    }
    auto item = *node.begin();
    std::string name = item.first.Scalar();
    if (std::find(choices.begin(), choices.end(), name) == choices.end()) return std::nullopt;  // reported
    return std::pair{name, YAML::Node(item.second)};
  }

  std::optional<std::string> string(const YAML::Node& node, const std::string& key) {
    if (!node.IsScalar()) {
      error(node, key, "expected a string");
      return std::nullopt;
    }
    if (node.Scalar().empty()) {
      error(node, key, "must not be empty");
      return std::nullopt;
    }
    return node.Scalar();
  }

  std::optional<long long> integer(const YAML::Node& node, const std::string& key, long long min, long long max) {
    if (node.IsScalar() && node.Tag() != "!") {
      const std::string& text = node.Scalar();
      long long value = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec == std::errc{} && end == text.data() + text.size() && value >= min && value <= max) return value;
    }
    error(node, key,
          "expected an integer from " + std::to_string(min) + " to " + std::to_string(max) +
              (node.IsScalar() ? ", got '" + node.Scalar() + "'" : ""));
    return std::nullopt;
  }

  // A non-empty list of non-empty strings.
  std::optional<std::vector<std::string>> strings(const YAML::Node& node, const std::string& key) {
    if (!node.IsSequence()) {
      error(node, key, "expected a list");
      return std::nullopt;
    }
    if (node.size() == 0) {
      error(node, key, "must not be an empty list (leave the condition out to match everything)");
      return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    for (std::size_t i = 0; i < node.size(); ++i) {
      auto s = string(node[i], key + "[" + std::to_string(i) + "]");
      if (s) out.push_back(*s);
      ok = ok && s;
    }
    if (!ok) return std::nullopt;
    return out;
  }

  std::optional<NameSet> names(const YAML::Node& node, const std::string& key, Names how) {
    auto list = strings(node, key);
    if (!list) return std::nullopt;
    NameSet set;
    bool ok = true;
    for (std::size_t i = 0; i < list->size(); ++i) {
      const std::string& s = (*list)[i];
      auto star = s.find('*');
      if (star == std::string::npos) {
        set.exact.push_back(s);
      } else if (how == Names::prefixed && star == s.size() - 1) {
        set.prefixes.push_back(s.substr(0, star));
      } else {
        error(node[i], key + "[" + std::to_string(i) + "]",
              how == Names::exact ? "'" + s + "' names are compared exactly here; '*' is not a wildcard "
                                        "(leave the condition out to match every name)"
                                  : "'" + s + "': '*' may only end a pattern (a prefix)");
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return set;
  }

  std::optional<SetCondition> set_condition(const YAML::Node& node, const std::string& key,
                                            std::span<const std::string_view> modes) {
    auto chosen = one_of(node, key, modes);
    if (!chosen) return std::nullopt;
    auto list = strings(chosen->second, join(key, chosen->first));
    if (!list) return std::nullopt;
    SetCondition c;
    c.mode = chosen->first == "any" ? SetMode::any : chosen->first == "all" ? SetMode::all : SetMode::none;
    c.names = std::move(*list);
    return c;
  }

  // A YAML scalar read as a JSON value (rule.hpp, JsonScalar).
  std::optional<JsonScalar> json_scalar(const YAML::Node& node, const std::string& key) {
    if (!node.IsScalar() && !node.IsNull()) {
      error(node, key, "expected a string, number, true, false or null");
      return std::nullopt;
    }
    JsonScalar v;
    if (node.IsNull()) return v;
    const std::string& text = node.Scalar();
    if (node.Tag() == "!") {  // quoted: always a string
      v.type = JsonScalar::Type::string;
      v.text = text;
      return v;
    }
    if (text == "true" || text == "false") {
      v.type = JsonScalar::Type::boolean;
      v.boolean = text == "true";
      return v;
    }
    if (text == "null" || text == "~") return v;
    double d = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (ec == std::errc{} && end == text.data() + text.size() && !text.empty()) {
      v.type = JsonScalar::Type::number;
      v.number = d;
      return v;
    }
    v.type = JsonScalar::Type::string;
    v.text = text;
    return v;
  }

  std::optional<int> clock_time(const YAML::Node& node, const std::string& key) {
    auto s = string(node, key);
    if (!s) return std::nullopt;
    if (s->size() == 5 && (*s)[2] == ':' && std::isdigit((unsigned char)(*s)[0]) &&
        std::isdigit((unsigned char)(*s)[1]) && std::isdigit((unsigned char)(*s)[3]) &&
        std::isdigit((unsigned char)(*s)[4])) {
      int h = ((*s)[0] - '0') * 10 + ((*s)[1] - '0');
      int m = ((*s)[3] - '0') * 10 + ((*s)[4] - '0');
      if (h < 24 && m < 60) return h * 60 + m;
    }
    error(node, key, "expected a time of day HH:MM from 00:00 to 23:59 (UTC), got '" + *s + "'");
    return std::nullopt;
  }

  void arguments(const YAML::Node& node, const std::string& key, std::vector<ArgumentCondition>& out, bool& ok) {
    static constexpr std::string_view kKeys[] = {"pointer", "equals", "in", "prefix", "glob", "max_length", "matches"};
    static constexpr std::string_view kOps[] = {"equals", "in", "prefix", "glob", "max_length", "matches"};
    if (!node.IsSequence() || node.size() == 0) {
      error(node, key, node.IsSequence() ? "must not be an empty list" : "expected a list of {pointer, operator}");
      ok = false;
      return;
    }
    for (std::size_t i = 0; i < node.size(); ++i) {
      std::string ik = key + "[" + std::to_string(i) + "]";
      const YAML::Node item = node[i];
      if (!expect_map(item, ik, kKeys)) {
        ok = false;
        continue;
      }
      ArgumentCondition c;
      const YAML::Node pointer = item["pointer"];
      if (!pointer) {
        error(item, ik, "missing pointer (a JSON Pointer such as /employee_id)");
        ok = false;
      } else if (auto p = string(pointer, ik + ".pointer")) {
        if ((*p)[0] != '/') {
          error(pointer, ik + ".pointer", "a JSON Pointer starts with '/', as in /" + *p);
          ok = false;
        }
        c.pointer = *p;
      } else {
        ok = false;
      }
      int ops = 0;
      for (auto op : kOps) ops += item[std::string(op)] ? 1 : 0;
      if (ops != 1) {
        error(item, ik, "expected exactly one of " + list_of(kOps));
        ok = false;
        continue;
      }
      using Op = ArgumentCondition::Op;
      if (const YAML::Node v = item["equals"]) {
        c.op = Op::equals;
        if (auto s = json_scalar(v, ik + ".equals")) c.values.push_back(*s);
        else ok = false;
      } else if (const YAML::Node v = item["in"]) {
        c.op = Op::in;
        if (!v.IsSequence() || v.size() == 0) {
          error(v, ik + ".in", v.IsSequence() ? "must not be an empty list" : "expected a list");
          ok = false;
        }
        for (std::size_t j = 0; v.IsSequence() && j < v.size(); ++j) {
          if (auto s = json_scalar(v[j], ik + ".in[" + std::to_string(j) + "]")) c.values.push_back(*s);
          else ok = false;
        }
      } else if (const YAML::Node v = item["prefix"]) {
        c.op = Op::prefix;
        if (auto s = string(v, ik + ".prefix")) c.text = *s;
        else ok = false;
      } else if (const YAML::Node v = item["glob"]) {
        c.op = Op::glob;
        if (auto s = string(v, ik + ".glob")) c.text = *s;
        else ok = false;
      } else if (const YAML::Node v = item["max_length"]) {
        c.op = Op::max_length;
        if (auto n = integer(v, ik + ".max_length", 0, 1'000'000)) c.max_length = static_cast<std::size_t>(*n);
        else ok = false;
      } else if (const YAML::Node v = item["matches"]) {
        c.op = Op::matches;
        if (auto s = string(v, ik + ".matches")) {
          re2::RE2::Options options;
          options.set_log_errors(false);
          auto re = std::make_shared<const re2::RE2>(*s, options);
          if (!re->ok()) {
            error(v, ik + ".matches", "not an RE2 pattern: " + re->error());
            ok = false;
          }
          c.re = std::move(re);
        } else {
          ok = false;
        }
      }
      out.push_back(std::move(c));
    }
  }

  // `when` or `unless`: nullopt when it has errors (already reported) or no condition.
  std::optional<Conditions> conditions(const YAML::Node& node, const std::string& key) {
    if (!expect_map(node, key, kConditionKeys)) return std::nullopt;
    if (node.size() == 0) {
      error(node, key, "needs at least one condition (" + list_of(kConditionKeys) + ")");
      return std::nullopt;
    }
    Conditions c;
    bool ok = true;
    auto take = [&](auto& field, auto&& value) {
      if (value) field = std::move(*value);
      else ok = false;
    };
    auto at = [&](const char* name) { return std::pair{node[name], join(key, name)}; };
    static constexpr std::string_view kAnyAllNone[] = {"any", "all", "none"};
    static constexpr std::string_view kAnyAll[] = {"any", "all"};

    if (auto [n, k] = at("agent"); n) take(c.agent, names(n, k, Names::exact));
    if (auto [n, k] = at("principal"); n) take(c.principal, names(n, k, Names::prefixed));
    if (auto [n, k] = at("delegator"); n) take(c.delegator, names(n, k, Names::exact));
    if (auto [n, k] = at("root_agent"); n) take(c.root_agent, names(n, k, Names::exact));
    if (auto [n, k] = at("ancestors"); n) take(c.ancestors, set_condition(n, k, kAnyAllNone));
    if (auto [n, k] = at("depth"); n) {
      static constexpr std::string_view kOps[] = {"eq", "le", "ge", "lt", "gt"};
      if (expect_map(n, k, kOps) && n.size() > 0) {
        for (std::size_t i = 0; i < std::size(kOps); ++i) {
          const YAML::Node v = n[std::string(kOps[i])];
          if (!v) continue;
          if (auto value = integer(v, join(k, kOps[i]), 0, 1000)) {
            c.depth.push_back({static_cast<Compare>(i), static_cast<int>(*value)});
          } else {
            ok = false;
          }
        }
      } else {
        if (n.IsMap()) error(n, k, "expected at least one of " + list_of(kOps));
        ok = false;
      }
    }
    if (auto [n, k] = at("route"); n) take(c.route, names(n, k, Names::exact));
    if (auto [n, k] = at("kind"); n) {
      auto set = names(n, k, Names::exact);
      std::vector<std::string_view> kinds;
      for (auto kind : kRouteKinds) kinds.push_back(config::to_string(kind));
      for (std::size_t i = 0; set && i < set->exact.size(); ++i) {
        if (std::find(kinds.begin(), kinds.end(), set->exact[i]) == kinds.end()) {
          error(n[i], k + "[" + std::to_string(i) + "]",
                "unknown kind '" + set->exact[i] + "' (expected " + list_of(kinds) + ")");
          set.reset();
        }
      }
      take(c.kind, std::move(set));
    }
    if (auto [n, k] = at("method"); n) {
      auto set = names(n, k, Names::exact);
      for (std::size_t i = 0; set && i < set->exact.size(); ++i) {
        std::string upper = set->exact[i];
        for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        if (upper != set->exact[i]) {
          error(n[i], k + "[" + std::to_string(i) + "]",
                "HTTP methods are upper-case; did you mean '" + upper + "'?");
          set.reset();
        }
      }
      take(c.method, std::move(set));
    }
    if (auto [n, k] = at("action"); n) {
      // The grammar of grant patterns, and its near-miss suggestions, are config's (one definition).
      std::optional<NameSet> set;
      bool good = n.IsSequence();
      for (std::size_t i = 0; good && i < n.size(); ++i) {
        if (!n[i].IsScalar()) continue;  // names() reports it
        if (auto problem = config::grant_pattern_problem(n[i].Scalar())) {
          error(n[i], k + "[" + std::to_string(i) + "]", *problem);
          good = false;
        }
      }
      if (good || !n.IsSequence()) set = names(n, k, Names::prefixed);
      take(c.action, std::move(set));
    }
    if (auto [n, k] = at("mcp_method"); n) take(c.mcp_method, names(n, k, Names::prefixed));
    if (auto [n, k] = at("datasets"); n) take(c.datasets, set_condition(n, k, kAnyAll));
    if (auto [n, k] = at("classification"); n) {
      static constexpr std::string_view kKeys[] = {"at_least"};
      static constexpr std::string_view kLevels[] = {"public", "internal", "confidential", "restricted"};
      std::optional<int> rank;
      if (expect_map(n, k, kKeys)) {
        if (const YAML::Node v = n["at_least"]) {
          if (auto s = string(v, join(k, "at_least"))) {
            rank = classification_rank(*s);
            if (*rank < 0) {
              error(v, join(k, "at_least"), "unknown classification '" + *s + "' (expected " + list_of(kLevels) + ")");
              rank.reset();
            }
          }
        } else {
          error(n, k, "expected at_least");
        }
      }
      take(c.classification_at_least, std::move(rank));
    }
    if (auto [n, k] = at("objective"); n) {
      static constexpr std::string_view kKeys[] = {"contains", "glob"};
      std::optional<TextCondition> text;
      if (auto chosen = one_of(n, k, kKeys)) {
        if (auto s = string(chosen->second, join(k, chosen->first))) {
          text = TextCondition{chosen->first == "glob", lowered(*s)};
        }
      }
      take(c.objective, std::move(text));
    }
    if (auto [n, k] = at("arguments"); n) arguments(n, k, c.arguments, ok);
    if (auto [n, k] = at("content_type"); n) {
      auto set = names(n, k, Names::exact);
      for (std::size_t i = 0; set && i < set->exact.size(); ++i) {
        const std::string& m = set->exact[i];
        if (m.find(';') != std::string::npos || m.find('/') == std::string::npos) {
          error(n[i], k + "[" + std::to_string(i) + "]",
                "expected a media type such as application/json, without parameters (they are ignored when "
                "comparing), got '" + m + "'");
          set.reset();
        } else {
          set->exact[i] = lowered(m);
        }
      }
      take(c.content_type, std::move(set));
    }
    if (auto [n, k] = at("time"); n) {
      static constexpr std::string_view kKeys[] = {"after", "before", "days"};
      std::optional<TimeWindow> window;
      if (expect_map(n, k, kKeys)) {
        TimeWindow w;
        bool good = n.size() > 0;
        if (!good) error(n, k, "expected at least one of " + list_of(kKeys));
        if (const YAML::Node v = n["after"]) {
          if (auto t = clock_time(v, join(k, "after"))) w.after = *t;
          else good = false;
        }
        if (const YAML::Node v = n["before"]) {
          if (auto t = clock_time(v, join(k, "before"))) w.before = *t;
          else good = false;
        }
        if (w.after >= 0 && w.after == w.before) {
          error(n, k, "after and before are the same time: the window would be empty");
          good = false;
        }
        if (const YAML::Node v = n["days"]) {
          if (auto list = strings(v, join(k, "days"))) {
            for (std::size_t i = 0; i < list->size(); ++i) {
              std::string day = lowered((*list)[i]);
              auto it = std::find(std::begin(kWeekdays), std::end(kWeekdays), day);
              if (it == std::end(kWeekdays)) {
                error(v[i], join(k, "days") + "[" + std::to_string(i) + "]",
                      "unknown day '" + (*list)[i] + "' (expected mon, tue, wed, thu, fri, sat, sun)");
                good = false;
              } else {
                w.days |= static_cast<std::uint8_t>(1u << (it - std::begin(kWeekdays)));
              }
            }
          } else {
            good = false;
          }
        }
        if (good) window = w;
      }
      take(c.time, std::move(window));
    }
    if (!ok) return std::nullopt;
    return c;
  }

 private:
  std::string file_;
  std::vector<LoadError>& errors_;
};

struct FileResult {
  std::optional<bool> default_allow;
  int default_line = 0;
};

// One file's rules, appended to `rules`; errors to `errors`.
FileResult read_file(const std::string& name, const std::string& text, std::vector<Rule>& rules,
                     std::map<std::string, std::string, std::less<>>& ids, std::vector<LoadError>& errors) {
  FileResult result;
  Reader r(name, errors);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    errors.push_back({name, e.mark.line + 1, "", "not valid YAML: " + e.msg});
    return result;
  }
  static constexpr std::string_view kTop[] = {"version", "default", "rules"};
  if (!r.expect_map(root, "", kTop)) return result;
  if (const YAML::Node v = root["version"]; !v) {
    r.error(root, "version", "missing (write version: 1)");
  } else if (!v.IsScalar() || v.Scalar() != "1") {
    r.error(v, "version", "unsupported version (this gateway reads version: 1)");
  }
  if (const YAML::Node v = root["default"]) {
    if (v.IsScalar() && (v.Scalar() == "deny" || v.Scalar() == "allow")) {
      result.default_allow = v.Scalar() == "allow";
      result.default_line = v.Mark().line + 1;
    } else {
      r.error(v, "default", "expected deny or allow");
    }
  }
  const YAML::Node list = root["rules"];
  if (!list) return result;
  if (!list.IsSequence() || list.size() == 0) {
    r.error(list, "rules", list.IsSequence() ? "must not be an empty list" : "expected a list of rules");
    return result;
  }
  static constexpr std::string_view kRuleKeys[] = {"id", "effect", "mode", "reason", "when", "unless"};
  for (std::size_t i = 0; i < list.size(); ++i) {
    std::string key = "rules[" + std::to_string(i) + "]";
    const YAML::Node node = list[i];
    if (!r.expect_map(node, key, kRuleKeys)) continue;
    Rule rule;
    bool ok = true;
    rule.location = name + ":" + std::to_string(node.Mark().line + 1);
    rule.key = key;
    if (const YAML::Node v = node["id"]; !v) {
      r.error(node, key, "missing id");
      ok = false;
    } else if (auto id = r.string(v, key + ".id")) {
      if (!std::all_of(id->begin(), id->end(), is_id_char)) {
        r.error(v, key + ".id", "'" + *id + "': an id is letters, digits, '-', '_' and '.'");
        ok = false;
      } else if (*id == "default" || *id == "none" || *id == "other") {
        // The metrics name a decision no rule made `default`, and use none and other (docs/protocol.md §8).
        r.error(v, key + ".id", "'" + *id + "' is reserved (the metrics use default, none and other)");
        ok = false;
      }
      rule.id = *id;
      if (auto [first, fresh] = ids.try_emplace(*id, rule.location); !fresh) {
        r.error(v, key + ".id", "duplicate rule id '" + *id + "' (first at " + first->second + ")");
        ok = false;
      }
    } else {
      ok = false;
    }
    if (const YAML::Node v = node["effect"]; !v) {
      r.error(node, key, "missing effect (permit or forbid)");
      ok = false;
    } else if (v.IsScalar() && (v.Scalar() == "permit" || v.Scalar() == "forbid")) {
      rule.forbid = v.Scalar() == "forbid";
    } else {
      r.error(v, key + ".effect", "expected permit or forbid");
      ok = false;
    }
    if (const YAML::Node v = node["mode"]) {
      if (v.IsScalar() && (v.Scalar() == "enforce" || v.Scalar() == "shadow")) {
        rule.shadow = v.Scalar() == "shadow";
      } else {
        r.error(v, key + ".mode", "expected enforce or shadow");
        ok = false;
      }
    }
    if (const YAML::Node v = node["reason"]) {
      if (auto s = r.string(v, key + ".reason")) rule.reason = *s;
      else ok = false;
    }
    if (rule.reason.empty()) {
      rule.reason = std::string(rule.forbid ? "forbidden" : "permitted") + " by policy rule '" + rule.id + "'";
    }
    if (const YAML::Node v = node["when"]; !v) {
      r.error(node, key, "missing when: a rule needs at least one condition");
      ok = false;
    } else if (auto c = r.conditions(v, key + ".when")) {
      rule.when = std::move(*c);
    } else {
      ok = false;
    }
    if (const YAML::Node v = node["unless"]) {
      if (auto c = r.conditions(v, key + ".unless")) rule.unless = std::move(*c);
      else ok = false;
    }
    if (ok) rules.push_back(std::move(rule));
  }
  return result;
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return crypto::to_hex(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

}  // namespace

LoadResult load_policy_texts(const std::vector<std::pair<std::string, std::string>>& files) {
  std::vector<LoadError> errors;
  std::vector<Rule> rules;
  std::vector<FileInfo> infos;
  std::optional<bool> default_allow;
  std::string default_from;
  std::map<std::string, std::string, std::less<>> ids;  // id → location of its first rule
  for (const auto& [name, text] : files) {
    std::size_t before = rules.size();
    FileResult file = read_file(name, text, rules, ids, errors);
    if (file.default_allow) {
      std::string here = name + ":" + std::to_string(file.default_line);
      if (default_allow && *default_allow != *file.default_allow) {
        errors.push_back({name, file.default_line, "default",
                          std::string("'") + (*file.default_allow ? "allow" : "deny") + "' disagrees with '" +
                              (*default_allow ? "allow" : "deny") + "' in " + default_from +
                              "; every file of a set must say the same default, or none"});
      } else if (!default_allow) {
        default_allow = file.default_allow;
        default_from = here;
      }
    }
    infos.push_back({name, sha256_hex(text), rules.size() - before});
  }
  if (!errors.empty()) return errors;
  // No files: policies are optional and an empty set allows everything.
  bool allow = files.empty() || default_allow.value_or(false);
  return std::make_shared<const PolicySet>(std::move(rules), std::move(infos), allow);
}

LoadResult load_policy_files(const std::vector<std::string>& paths) {
  std::vector<std::pair<std::string, std::string>> texts;
  std::vector<LoadError> errors;
  for (const auto& path : paths) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      errors.push_back({path, 0, "", "cannot open the policy file"});
      continue;
    }
    std::ostringstream bytes;
    bytes << in.rdbuf();
    texts.emplace_back(path, bytes.str());
  }
  if (!errors.empty()) return errors;
  return load_policy_texts(texts);
}

}  // namespace scopegate::policy
