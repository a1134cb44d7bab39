// Evaluation: the decision for one request (policy.hpp says how a set decides). Each condition is
// checked by one function that, when asked (`why` not null), says why it failed; evaluate() never
// asks, explain() always does, so the two cannot disagree about what matches.
#include <simdjson.h>

#include <algorithm>
#include <cctype>

#include "json/strict.hpp"
#include "policy/policy.hpp"
#include "policy/rule.hpp"

namespace scopegate::policy {

const Index::List Index::kEmpty;
const std::vector<Index::Prefixed> Index::kNoPrefixes;

namespace {

constexpr std::string_view kLevels[] = {"public", "internal", "confidential", "restricted"};

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool iequals(std::string_view a, std::string_view lowered) {
  return a.size() == lowered.size() &&
         std::equal(a.begin(), a.end(), lowered.begin(), [](char x, char y) { return lower(x) == y; });
}

bool icontains(std::string_view hay, std::string_view lowered) {
  if (lowered.size() > hay.size()) return false;
  for (std::size_t i = 0; i + lowered.size() <= hay.size(); ++i) {
    if (iequals(hay.substr(i, lowered.size()), lowered)) return true;
  }
  return false;
}

// Bytes in the UTF-8 character that starts with `lead` (1 for a stray continuation byte).
std::size_t utf8_length(unsigned char lead) {
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

std::size_t count_characters(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// `*` any run of characters, `?` exactly one character; everything else literal. With
// fold_case the text is lower-cased as it is compared (the pattern already is). Backtracks only
// to the last '*', so the cost is at most text × pattern.
bool glob_match(std::string_view pattern, std::string_view text, bool fold_case) {
  std::size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && pattern[p] == '?') {
      ++p;
      t += std::min(utf8_length(static_cast<unsigned char>(text[t])), text.size() - t);
    } else if (p < pattern.size() && (fold_case ? lower(text[t]) : text[t]) == pattern[p]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      resume += std::min(utf8_length(static_cast<unsigned char>(text[resume])), text.size() - resume);
      t = resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string describe_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string_view mode_name(SetMode m) { return m == SetMode::any ? "any" : m == SetMode::all ? "all" : "none"; }

// The arguments, parsed on first use and at most once per evaluation.
class LazyArguments {
 public:
  explicit LazyArguments(std::string_view text) : text_(text) {}
  // The root, or nullopt when there are no arguments or they are not JSON.
  std::optional<simdjson::dom::element> root() {
    if (!parsed_) {
      parsed_ = true;
      if (!text_.empty()) {
        // The pipeline has already read the body strictly (json/strict.hpp); this re-reads only the
        // arguments' bytes, which are the bytes forwarded.
        // simdjson reads past the end of its input: the bytes go to a padded thread-local buffer
        // that only grows, rather than letting the parser allocate a padded copy every time.
        thread_local simdjson::dom::parser parser;
        thread_local std::string padded;
        if (padded.capacity() < text_.size() + json::kPadding) padded.reserve(text_.size() + json::kPadding);
        padded.assign(text_);
        auto result = parser.parse(padded.data(), padded.size(), false);
        if (!result.error()) root_ = result.value_unsafe();
      }
    }
    return root_;
  }

 private:
  std::string_view text_;
  bool parsed_ = false;
  std::optional<simdjson::dom::element> root_;
};

bool scalar_equals(simdjson::dom::element v, const JsonScalar& want) {
  using T = JsonScalar::Type;
  switch (want.type) {
    case T::string: {
      std::string_view s;
      return v.get(s) == simdjson::SUCCESS && s == want.text;
    }
    case T::number: {
      if (!v.is_number()) return false;
      double d = 0;
      if (v.is_int64()) d = static_cast<double>(v.get_int64().value_unsafe());
      else if (v.is_uint64()) d = static_cast<double>(v.get_uint64().value_unsafe());
      else d = v.get_double().value_unsafe();
      return d == want.number;
    }
    case T::boolean: {
      bool b = false;
      return v.get(b) == simdjson::SUCCESS && b == want.boolean;
    }
    case T::null:
      return v.is_null();
  }
  return false;
}

bool argument_holds(const ArgumentCondition& c, LazyArguments& args, std::string* why) {
  using Op = ArgumentCondition::Op;
  // The message is built only when asked for: a failing condition is the common case.
  auto fail = [&](auto&& what) {
    if (why) *why = c.pointer + " " + std::string(what());
    return false;
  };
  auto say = [](std::string_view text) { return [text] { return text; }; };
  auto root = args.root();
  if (!root) return fail(say("is missing: the request has no JSON arguments"));
  auto at = root->at_pointer(c.pointer);
  if (at.error()) return fail(say("is missing from the arguments"));
  simdjson::dom::element v = at.value_unsafe();
  if (c.op == Op::equals || c.op == Op::in) {
    for (const auto& want : c.values) {
      if (scalar_equals(v, want)) return true;
    }
    return fail(say(c.op == Op::equals ? "does not equal the value" : "is none of the values"));
  }
  std::string_view s;
  if (v.get(s) != simdjson::SUCCESS) return fail(say("is not a string"));
  switch (c.op) {
    case Op::prefix:
      return s.starts_with(c.text) || fail([&] { return "does not start with " + in_quotes(c.text); });
    case Op::glob:
      return glob_match(c.text, s, false) || fail([&] { return "does not match the glob " + in_quotes(c.text); });
    case Op::max_length:
      return count_characters(s) <= c.max_length ||
             fail([&] { return "is longer than " + std::to_string(c.max_length) + " characters"; });
    case Op::matches:
      return re2::RE2::PartialMatch(re2::StringPiece(s.data(), s.size()), *c.re) ||
             fail([&] { return "does not match " + in_quotes(c.re->pattern()); });
    default:
      return false;
  }
}

bool names_hold(const std::optional<NameSet>& set, std::string_view value, std::string_view key, std::string* why) {
  if (!set || set->contains(value)) return true;
  if (why) {
    *why = std::string(key) + ": " + (value.empty() ? "none" : in_quotes(value)) + " is not one of: " + set->describe();
  }
  return false;
}

template <class Range>
bool set_holds(const std::optional<SetCondition>& c, const Range& present, std::string_view key, std::string* why) {
  if (!c) return true;
  auto has = [&](const std::string& name) {
    return std::any_of(present.begin(), present.end(), [&](const auto& p) { return std::string_view(p) == name; });
  };
  bool ok = false;
  switch (c->mode) {
    case SetMode::any: ok = std::any_of(c->names.begin(), c->names.end(), has); break;
    case SetMode::all: ok = std::all_of(c->names.begin(), c->names.end(), has); break;
    case SetMode::none: ok = std::none_of(c->names.begin(), c->names.end(), has); break;
  }
  if (!ok && why) {
    std::string list;
    for (const auto& p : present) list += (list.empty() ? "" : ", ") + std::string(p);
    *why = std::string(key) + "." + std::string(mode_name(c->mode)) + ": [" + list + "] fails for " +
           describe_names(c->names);
  }
  return ok;
}

bool depth_holds(const std::vector<DepthBound>& bounds, int depth, std::string_view key, std::string* why) {
  if (bounds.empty()) return true;
  if (depth < 0) {
    if (why) *why = std::string(key) + ": the request has no scope, so no depth";
    return false;
  }
  for (const auto& b : bounds) {
    bool ok = false;
    const char* op = "";
    switch (b.op) {
      case Compare::eq: ok = depth == b.value; op = "eq"; break;
      case Compare::le: ok = depth <= b.value; op = "le"; break;
      case Compare::ge: ok = depth >= b.value; op = "ge"; break;
      case Compare::lt: ok = depth < b.value; op = "lt"; break;
      case Compare::gt: ok = depth > b.value; op = "gt"; break;
    }
    if (!ok) {
      if (why) {
        *why = std::string(key) + ": depth " + std::to_string(depth) + " fails " + op + " " + std::to_string(b.value);
      }
      return false;
    }
  }
  return true;
}

bool content_type_holds(const std::optional<NameSet>& set, std::string_view header, std::string_view key,
                        std::string* why) {
  if (!set) return true;
  std::string_view media = header.substr(0, header.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  for (const auto& m : set->exact) {
    if (iequals(media, m)) return true;
  }
  if (why) {
    *why = std::string(key) + ": " + (media.empty() ? "none" : in_quotes(media)) + " is not one of: " + set->describe();
  }
  return false;
}

bool time_holds(const std::optional<TimeWindow>& w, std::int64_t now, std::string_view key, std::string* why) {
  if (!w) return true;
  constexpr std::int64_t kDay = 86400;
  std::int64_t days = now >= 0 ? now / kDay : (now - kDay + 1) / kDay;
  int minute = static_cast<int>((now - days * kDay) / 60);
  int weekday = static_cast<int>(((days + 4) % 7 + 7) % 7);  // 1970-01-01 was a Thursday
  bool in_window = true;
  if (w->after >= 0 && w->before >= 0 && w->after > w->before) {
    in_window = minute >= w->after || minute < w->before;  // wraps past midnight
  } else {
    if (w->after >= 0) in_window = in_window && minute >= w->after;
    if (w->before >= 0) in_window = in_window && minute < w->before;
  }
  bool on_day = w->days == 0 || (w->days >> weekday & 1) != 0;
  if (in_window && on_day) return true;
  if (why) {
    static constexpr std::string_view kDays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    auto two = [](int n) { return std::string(1, static_cast<char>('0' + n / 10)) + static_cast<char>('0' + n % 10); };
    *why = std::string(key) + ": " + std::string(kDays[weekday]) + " " + two(minute / 60) + ":" + two(minute % 60) +
           " UTC is outside the window";
  }
  return false;
}

std::string join_key(std::string_view prefix, std::string_view name) {
  return std::string(prefix) + "." + std::string(name);
}

// Whether every condition holds; on the first that does not, `why` (when given) says which and why.
bool conditions_hold(const Conditions& c, const Facts& f, LazyArguments& args, std::string_view prefix,
                     std::string* why) {
  auto key = [&](std::string_view name) { return why ? join_key(prefix, name) : std::string(); };
  if (!names_hold(c.agent, f.agent, key("agent"), why)) return false;
  if (!names_hold(c.principal, f.principal, key("principal"), why)) return false;
  if (!names_hold(c.delegator, f.delegator, key("delegator"), why)) return false;
  if (!names_hold(c.root_agent, f.root_agent, key("root_agent"), why)) return false;
  if (!set_holds(c.ancestors, f.ancestors, key("ancestors"), why)) return false;
  if (!depth_holds(c.depth, f.depth, key("depth"), why)) return false;
  if (!names_hold(c.route, f.route, key("route"), why)) return false;
  if (!names_hold(c.kind, f.kind, key("kind"), why)) return false;
  if (!names_hold(c.method, f.method, key("method"), why)) return false;
  // Housekeeping (initialize, tools/list, ...) has no action: no action pattern, not even `*`, names it.
  if (c.action && f.action.empty()) {
    if (why) *why = key("action") + ": the request names no action (housekeeping)";
    return false;
  }
  if (!names_hold(c.action, f.action, key("action"), why)) return false;
  if (!names_hold(c.mcp_method, f.mcp_method, key("mcp_method"), why)) return false;
  if (!set_holds(c.datasets, f.datasets, key("datasets"), why)) return false;
  if (c.classification_at_least && classification_rank(f.classification) < *c.classification_at_least) {
    if (why) {
      *why = key("classification") + ": " + (f.classification.empty() ? "unlabelled" : in_quotes(f.classification)) +
             " is below " + std::string(kLevels[*c.classification_at_least]);
    }
    return false;
  }
  if (c.objective) {
    bool ok = c.objective->glob ? glob_match(c.objective->lowered, f.objective, true)
                                : icontains(f.objective, c.objective->lowered);
    if (!ok) {
      if (why) {
        *why = key("objective") + ": the objective does not " +
               (c.objective->glob ? "match the glob " : "contain ") + in_quotes(c.objective->lowered);
      }
      return false;
    }
  }
  for (std::size_t i = 0; i < c.arguments.size(); ++i) {
    if (!argument_holds(c.arguments[i], args, why)) {
      if (why) *why = key("arguments") + "[" + std::to_string(i) + "]: " + *why;
      return false;
    }
  }
  if (!content_type_holds(c.content_type, f.content_type, key("content_type"), why)) return false;
  if (!time_holds(c.time, f.now, key("time"), why)) return false;
  return true;
}

bool rule_matches(const Rule& rule, const Facts& f, LazyArguments& args, std::string* why) {
  if (!conditions_hold(rule.when, f, args, "when", why)) return false;
  if (rule.unless && conditions_hold(*rule.unless, f, args, "unless", nullptr)) {
    if (why) *why = "every condition holds, but so does every condition of its unless";
    return false;
  }
  if (why) *why = "every condition holds";
  return true;
}

}  // namespace

int classification_rank(std::string_view level) {
  for (std::size_t i = 0; i < std::size(kLevels); ++i) {
    if (kLevels[i] == level) return static_cast<int>(i);
  }
  return -1;
}

bool NameSet::contains(std::string_view name) const {
  for (const auto& e : exact) {
    if (e == name) return true;
  }
  for (const auto& p : prefixes) {
    if (name.starts_with(p)) return true;
  }
  return false;
}

std::string NameSet::describe() const {
  std::string out = describe_names(exact);
  for (const auto& p : prefixes) out += (out.empty() ? "" : ", ") + p + "*";
  return out;
}

Index::Index(const std::vector<Rule>& rules) {
  for (std::uint32_t i = 0; i < rules.size(); ++i) {
    const Conditions& when = rules[i].when;
    if (when.route) {
      for (const auto& name : when.route->exact) {
        List& list = by_route_[name];
        if (list.empty() || list.back() != i) list.push_back(i);
      }
      continue;
    }
    bool indexable = when.action && std::find(when.action->prefixes.begin(), when.action->prefixes.end(), "") ==
                                        when.action->prefixes.end();
    if (!indexable) {
      always_.push_back(i);
      continue;
    }
    for (const auto& name : when.action->exact) {
      List& list = by_action_[name];
      if (list.empty() || list.back() != i) list.push_back(i);
    }
    for (const auto& prefix : when.action->prefixes) {
      by_action_kind_[prefix.substr(0, prefix.find(':'))].push_back({prefix, i});
    }
  }
}

PolicySet::PolicySet(std::vector<Rule> rules, std::vector<FileInfo> files, bool default_allow)
    : rules_(std::move(rules)), files_(std::move(files)), default_allow_(default_allow),
      index_(std::make_unique<const Index>(rules_)),
      hits_(std::make_unique<std::atomic<std::uint64_t>[]>(rules_.size())) {
  for (const Rule& r : rules_) {
    if (!r.when.arguments.empty() || (r.unless && !r.unless->arguments.empty())) reads_arguments_ = true;
  }
}

PolicySet::~PolicySet() = default;

Decision PolicySet::evaluate(const Facts& facts) const {
  LazyArguments args(facts.arguments_json);
  const Rule* forbid = nullptr;
  const Rule* permit = nullptr;
  // Kept apart until the outcome is known: which of them are reported depends on it.
  std::array<const Rule*, kMaxShadowHits> shadow_forbids{}, shadow_permits{};
  std::size_t n_forbids = 0, n_permits = 0;

  index_->for_each_candidate(facts, [&](std::uint32_t i) {
    const Rule& rule = rules_[i];
    // Once a permit has matched, no other permit can change anything.
    if (!rule.forbid && permit) return true;
    if (!rule_matches(rule, facts, args, nullptr)) return true;
    if (rule.shadow) {
      auto& kept = rule.forbid ? shadow_forbids : shadow_permits;
      auto& n = rule.forbid ? n_forbids : n_permits;
      if (n < kMaxShadowHits) kept[n] = &rule;
      ++n;
      return true;
    }
    if (rule.forbid) {
      forbid = &rule;
      return false;  // the first enforce forbid decides, and no shadow rule is reported against it
    }
    permit = &rule;
    return true;
  });

  auto hit = [&](const Rule* rule) { hits_[rule - rules_.data()].fetch_add(1, std::memory_order_relaxed); };
  Decision d;
  if (forbid) {
    hit(forbid);
    d.allow = false;
    d.rule = forbid->id;
    d.reason = forbid->reason;
    return d;
  }
  if (permit) {
    hit(permit);
    d.allow = true;
    d.rule = permit->id;
    d.reason = permit->reason;
  } else {
    d.allow = default_allow_;
    d.reason = d.allow ? "allowed by default" : "no rule permits it";
  }
  // A shadow forbid would have denied an allowed request; a shadow permit would have allowed one
  // the default denied.
  const auto& report = d.allow ? shadow_forbids : shadow_permits;
  std::size_t n = d.allow ? n_forbids : n_permits;
  d.shadow_count = std::min(n, kMaxShadowHits);
  d.shadow_dropped = n - d.shadow_count;
  for (std::size_t i = 0; i < d.shadow_count; ++i) {
    hit(report[i]);
    d.shadow[i] = {report[i]->id, !report[i]->forbid};
  }
  return d;
}

std::vector<RuleTrace> PolicySet::explain(const Facts& facts) const {
  std::vector<bool> candidate(rules_.size(), false);
  index_->for_each_candidate(facts, [&](std::uint32_t i) {
    candidate[i] = true;
    return true;
  });
  LazyArguments args(facts.arguments_json);
  std::vector<RuleTrace> out;
  out.reserve(rules_.size());
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const Rule& rule = rules_[i];
    RuleTrace t;
    t.rule = rule.id;
    t.location = rule.location;
    t.forbid = rule.forbid;
    t.shadow = rule.shadow;
    t.candidate = candidate[i];
    t.matched = rule_matches(rule, facts, args, &t.why);
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<RuleInfo> PolicySet::rules() const {
  std::vector<RuleInfo> out;
  out.reserve(rules_.size());
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const Rule& r = rules_[i];
    out.push_back({r.id, r.location, r.forbid, r.shadow, hits_[i].load(std::memory_order_relaxed)});
  }
  return out;
}

std::string ArgumentCondition::describe() const {
  static constexpr std::string_view kOps[] = {"equals", "in", "prefix", "glob", "max_length", "matches"};
  return pointer + " " + std::string(kOps[static_cast<int>(op)]);
}

}  // namespace scopegate::policy
