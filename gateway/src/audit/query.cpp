#include "audit/query.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <string.h>

#include "audit/events.hpp"
#include "audit/record_fields.hpp"

namespace scopegate::audit {

namespace dom = simdjson::dom;

namespace {

// The members of a record a query reads. Views point into the parser: valid for one line.
struct Fields {
  std::string_view event, ts;
  std::string_view scope_id, parent, root, path;
  std::int64_t depth = -1;
  std::string_view agent, route, tool, resource, upstream, decision, outcome;
  std::string_view record_principal;  // the top-level `principal` of any record
  std::string_view request_id, span_id;
  bool recorded_ahead = false;        // a strict request record, written before forwarding
  std::vector<std::string_view> datasets;
  std::uint64_t bytes_in = 0, bytes_out = 0;
  std::string_view model;       // an LLM call: its model, and what its response reported
  bool has_usage = false;
  llm::Usage usage;
  std::uint64_t cost = 0;       // pico-units
  std::string_view actor, delegator, principal, objective;  // scope.open: the opened record
};

bool parse_fields(dom::parser& parser, std::string_view line, Fields& f) {
  dom::object o;
  if (parser.parse(line.data(), line.size(), false).get_object().get(o)) return false;
  f.event = string_member(o, field::event);
  f.ts = string_member(o, field::ts);
  dom::object scope;
  if (!o.at_key(field::scope).get_object().get(scope)) {
    f.scope_id = string_member(scope, field::id);
    f.parent = string_member(scope, field::parent);
    f.root = string_member(scope, field::root);
    f.path = string_member(scope, field::path);
    if (scope.at_key(field::depth).get_int64().get(f.depth)) f.depth = -1;
  }
  f.agent = string_member(o, field::agent);
  f.route = string_member(o, field::route);
  f.tool = string_member(o, field::tool);
  f.resource = string_member(o, field::resource);
  f.upstream = string_member(o, field::upstream);
  f.decision = string_member(o, field::decision);
  f.outcome = string_member(o, field::outcome);
  f.record_principal = string_member(o, field::principal);
  f.request_id = string_member(o, field::request_id);
  f.span_id = string_member(o, field::span_id);
  f.recorded_ahead = string_member(o, field::recorded) == "before_forward";
  dom::array datasets;
  if (!o.at_key(field::datasets).get_array().get(datasets)) {
    for (auto d : datasets) {
      std::string_view s;
      if (!d.get_string().get(s)) f.datasets.push_back(s);
    }
  }
  f.bytes_in = uint_member(o, field::bytes_in);
  f.bytes_out = uint_member(o, field::bytes_out);
  f.model = string_member(o, field::model);
  dom::object usage;
  if (!o.at_key(field::usage).get_object().get(usage)) {
    f.has_usage = true;
    for (std::size_t t = 0; t < llm::kTokenFields.size(); ++t) f.usage.tokens[t] = uint_member(usage, llm::kTokenFields[t]);
    double cost = 0;
    if (!o.at_key(field::cost).get_double().get(cost)) f.cost = llm::cost_from_double(cost);
  }
  dom::object opened;
  if (!o.at_key(field::opened).get_object().get(opened)) {
    f.actor = string_member(opened, field::actor);
    f.delegator = string_member(opened, field::delegator);
    f.principal = string_member(opened, field::principal);
    f.objective = string_member(opened, field::objective);
  }
  return true;
}

// Whether `path` (ids joined by '/') has `id` as one of its components.
bool path_contains(std::string_view path, std::string_view id) {
  for (std::size_t at = path.find(id); at != std::string_view::npos; at = path.find(id, at + 1)) {
    bool starts = at == 0 || path[at - 1] == '/';
    bool ends = at + id.size() == path.size() || path[at + id.size()] == '/';
    if (starts && ends) return true;
  }
  return false;
}

bool matches(const Criterion& c, const Fields& f) {
  if (c.kind == "tool") return f.tool == c.value;
  if (c.kind == "route") return f.route == c.value;
  if (c.kind == "resource") return f.resource == c.value;
  if (c.kind == "dataset") return std::find(f.datasets.begin(), f.datasets.end(), c.value) != f.datasets.end();
  return false;
}

// How a request.outcome finds its request: the node, the span id the gateway made for the request,
// and the request id. The request id alone would not do: a client chooses it (X-Request-Id) and may
// send it twice.
std::string outcome_key(std::string_view node, const Fields& f) {
  std::string key(node);
  key += '/';
  key += f.span_id;
  key += '/';
  key += f.request_id;
  return key;
}

constexpr const char* kScopeMember = "\"scope\":{\"id\":";

void describe_scope(ScopeSummary& s, const Fields& f) {
  s.id = f.scope_id;
  s.parent = f.parent;
  s.root = f.root;
  s.path = f.path;
  s.depth = static_cast<int>(f.depth);
}

// A scope.open record says who holds the scope, who delegated it, for whom and why.
void learn_opening(ScopeSummary& s, const Fields& f) {
  if (!f.actor.empty()) s.actor = f.actor;
  s.delegator = f.delegator;
  if (!f.principal.empty()) s.principal = f.principal;
  s.objective = f.objective;
}

// What a request's response brought: its bytes and, for an LLM call, its usage and cost. In its
// request record, or in its request.outcome when the record was written ahead.
void count_result(Totals& t, const Fields& f) {
  t.bytes_out += f.bytes_out;
  if (!f.has_usage) return;
  ++t.llm_calls;
  t.usage.add(f.usage);
  t.cost = llm::saturating_add(t.cost, f.cost);
}

void count_request(Totals& t, const Fields& f) {
  (f.decision == "allow" ? t.allowed : t.denied)++;
  if (f.decision == "allow") {
    if (!f.outcome.empty()) ++t.cut;
    if (!f.tool.empty()) t.tools.emplace(f.tool);
    if (!f.resource.empty()) t.resources.emplace(f.resource);
    if (!f.route.empty()) t.routes.emplace(f.route);
    for (auto d : f.datasets) t.datasets.emplace(d);
    if (!f.upstream.empty()) t.upstreams.emplace(f.upstream);
    if (!f.model.empty()) t.models.emplace(f.model);
  }
  t.bytes_in += f.bytes_in;
  count_result(t, f);
  if (t.first.empty() || f.ts < t.first) t.first = f.ts;
  if (f.ts > t.last) t.last = f.ts;
}

// `query scopes`: what is known of a scope comes from any record naming it; what it did counts
// only within the time range.
void note_scope(QueryResult& r, const Fields& f, bool in_range) {
  auto& s = r.scopes[std::string(f.scope_id)];
  if (s.id.empty() || (s.depth < 0 && f.depth >= 0)) describe_scope(s, f);
  if (s.first_seen.empty() || f.ts < s.first_seen) s.first_seen = f.ts;
  if (f.ts > s.last_seen) s.last_seen = f.ts;
  if (f.event == event_name<Event::scope_open>) {
    learn_opening(s, f);
  } else if (f.event == event_name<Event::request>) {
    if (s.actor.empty()) s.actor = f.agent;
    if (s.principal.empty()) s.principal = f.record_principal;
    if (in_range) count_request(s.own, f);
  } else if (f.event == event_name<Event::request_outcome> && in_range) {
    count_result(s.own, f);
  }
  if (in_range) {
    s.in_range = true;
    ++r.matched;
  }
}

}  // namespace

void Totals::add(const Totals& o) {
  allowed += o.allowed;
  denied += o.denied;
  cut += o.cut;
  tools.insert(o.tools.begin(), o.tools.end());
  resources.insert(o.resources.begin(), o.resources.end());
  routes.insert(o.routes.begin(), o.routes.end());
  datasets.insert(o.datasets.begin(), o.datasets.end());
  upstreams.insert(o.upstreams.begin(), o.upstreams.end());
  models.insert(o.models.begin(), o.models.end());
  bytes_in += o.bytes_in;
  bytes_out += o.bytes_out;
  llm_calls += o.llm_calls;
  usage.add(o.usage);
  cost = llm::saturating_add(cost, o.cost);
  if (!o.first.empty() && (first.empty() || o.first < first)) first = o.first;
  if (!o.last.empty() && (last.empty() || o.last > last)) last = o.last;
}

bool QueryResult::incomplete() const {
  if (nodes.empty()) return true;  // nothing scanned is no evidence
  return std::any_of(nodes.begin(), nodes.end(), [](const NodeScan& n) { return n.problem || !n.starts_at_genesis; });
}

std::string_view QueryResult::chain() const {
  if (nodes.empty()) return "unverified";
  if (std::any_of(nodes.begin(), nodes.end(), [](const NodeScan& n) { return n.problem.has_value(); })) return "broken";
  if (std::any_of(nodes.begin(), nodes.end(), [](const NodeScan& n) { return !n.verified; })) return "unverified";
  if (std::any_of(nodes.begin(), nodes.end(), [](const NodeScan& n) { return !n.starts_at_genesis; })) return "partial";
  return "verified";
}

int evidence_exit_code(const QueryOptions& o, const QueryResult& r) { return o.verify && r.incomplete() ? 1 : 0; }

bool is_full_scope_id(std::string_view t) {
  if (t.size() != 36) return false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (t[i] == '-')) return false;
    if (!dash && !std::isxdigit(static_cast<unsigned char>(t[i]))) return false;
  }
  return true;
}

std::vector<std::string> scopes_with_prefix(const std::vector<std::string>& dirs, std::string_view prefix,
                                            std::string& error) {
  QueryOptions o;
  o.dirs = dirs;
  o.filter.id_prefix = prefix;
  auto r = run_query(QueryKind::scopes, o);
  error = r.error;
  std::vector<std::string> out;
  for (const auto& [id, s] : r.scopes) {
    if (id.starts_with(prefix)) out.push_back(id);
  }
  return out;
}

std::optional<std::string> canonical_time(std::string_view t, bool end_of_range) {
  auto digits = [&](std::size_t at, std::size_t n) {
    if (at + n > t.size()) return false;
    for (std::size_t i = at; i < at + n; ++i) {
      if (t[i] < '0' || t[i] > '9') return false;
    }
    return true;
  };
  if (!digits(0, 4) || t.size() < 10 || t[4] != '-' || !digits(5, 2) || t[7] != '-' || !digits(8, 2)) return std::nullopt;
  std::string out(t.substr(0, 10));
  if (t.size() == 10) return out + (end_of_range ? "T23:59:59.999999Z" : "T00:00:00.000000Z");
  if (t.size() < 20 || t[10] != 'T' || !digits(11, 2) || t[13] != ':' || !digits(14, 2) || t[16] != ':' ||
      !digits(17, 2) || t.back() != 'Z') {
    return std::nullopt;
  }
  out += t.substr(10, 9);
  std::string frac;
  if (t[19] == '.') {
    frac = std::string(t.substr(20, t.size() - 21));
    if (frac.empty() || frac.size() > 6 || !digits(20, frac.size())) return std::nullopt;
  } else if (t.size() != 20) {
    return std::nullopt;
  }
  frac.resize(6, end_of_range && frac.empty() ? '9' : '0');
  return out + "." + frac + "Z";
}

QueryResult run_query(QueryKind kind, const QueryOptions& o, const Criterion* criterion) {
  QueryResult r;
  auto started = std::chrono::steady_clock::now();
  std::map<std::string, std::vector<SegmentFile>> nodes;
  for (const auto& dir : o.dirs) {
    if (!list_segments(dir, nodes, r.error)) return r;
  }
  bool verify = o.verify || kind == QueryKind::never;
  dom::parser parser;
  // `scopes` reads every record that names a scope (all of them carry `"scope":{"id":`), or those
  // holding the id prefix it resolves.
  const std::string& id = kind != QueryKind::scopes ? o.scope
                          : !o.filter.id_prefix.empty() ? o.filter.id_prefix
                                                        : kScopeMember;
  std::set<std::string> awaiting;                    // strict requests in the answer, by outcome_key
  std::map<std::string, ScopeSummary> openings;      // scope.open records before --since
  for (auto& [node, segments] : nodes) {
    std::stable_sort(segments.begin(), segments.end(), [](const auto& a, const auto& b) { return a.first_seq < b.first_seq; });
    // The same segment reached through two --log directories is read once.
    segments.erase(std::unique(segments.begin(), segments.end(),
                               [](const auto& a, const auto& b) { return a.first_seq == b.first_seq; }),
                   segments.end());
    NodeScan scan;
    scan.node = node;
    scan.verified = verify;
    ChainVerifier chain(node);
    chain.accept_any_start();
    for (const auto& segment : segments) {
      LineReader reader;
      if (!reader.open(segment.path, r.error)) return r;
      chain.begin_segment(segment);
      std::string_view line;
      std::uint64_t offset = 0, line_no = 0;
      RecordHead head;
      while (reader.next(line, offset)) {
        ++line_no;
        ++r.records;
        r.bytes += line.size() + 1;
        if (verify) {
          chain.feed(line, line_no, head);
        } else if (!parse_head(line, head)) {
          continue;
        }
        if (scan.records++ == 0) {
          scan.first_seq = head.seq;
          scan.first_ts = std::string(head.ts);
          scan.starts_at_genesis = head.seq == 1 || (!o.since.empty() && head.ts <= o.since);
        }
        scan.last_seq = head.seq;
        if (head.ts > scan.last_ts) scan.last_ts = std::string(head.ts);
        // Cheap filters first: the scope id must appear in the line at all.
        if (!::memmem(line.data(), line.size(), id.data(), id.size())) continue;
        bool in_range = (o.since.empty() || head.ts >= o.since) && (o.until.empty() || head.ts <= o.until);
        if (kind == QueryKind::scopes) {
          Fields f;
          if (parse_fields(parser, line, f) && !f.scope_id.empty()) note_scope(r, f, in_range);
          continue;
        }
        // Outside the range two kinds of record still matter: a scope's opening (who holds it, for
        // whom, why) and the outcome of a request inside the range, which is written after it.
        bool opening = head.event == event_name<Event::scope_open>;
        bool outcome = head.event == event_name<Event::request_outcome>;
        if (!in_range && !opening && !outcome) continue;
        Fields f;
        if (!parse_fields(parser, line, f)) continue;
        bool own = f.scope_id == id;
        bool below = !own && o.descendants && path_contains(f.path, id);
        if (!own && !below) continue;
        bool summarising = kind == QueryKind::footprint || kind == QueryKind::tree;
        if (outcome) {
          // Joined to its request by a key the gateway made (a client may reuse a request id).
          auto it = awaiting.find(outcome_key(node, f));
          if (it == awaiting.end()) continue;  // its request is outside the answer
          awaiting.erase(it);
          if (summarising) {
            Totals& t = r.scopes[std::string(f.scope_id)].own;
            count_result(t, f);
            if (!f.outcome.empty()) ++t.cut;
          } else {
            r.outcomes_json.emplace_back(line);
          }
          continue;
        }
        if (!in_range) {
          if (summarising) learn_opening(openings[std::string(f.scope_id)], f);
          continue;
        }
        ++r.matched;
        bool request = f.event == event_name<Event::request>;
        bool kept = false;  // the request is part of the answer (its outcome, if any, joins it)
        if (summarising) {
          auto& s = r.scopes[std::string(f.scope_id)];
          if (s.id.empty()) describe_scope(s, f);
          if (opening) {
            learn_opening(s, f);
          } else if (request) {
            if (s.actor.empty()) s.actor = f.agent;
            if (s.principal.empty()) s.principal = f.record_principal;
            count_request(s.own, f);
            kept = true;
          }
        } else if (kind == QueryKind::actions) {
          if (request) r.records_json.emplace_back(line);
          kept = request;
        } else if (request && criterion && matches(*criterion, f)) {
          (f.decision == "allow" ? r.records_json : r.attempts_json).emplace_back(line);
          kept = true;
        }
        if (kept && f.recorded_ahead) awaiting.insert(outcome_key(node, f));
      }
      if (!reader.error().empty()) {
        r.error = segment.path + ": " + reader.error();
        return r;
      }
      if (verify) chain.end_segment(reader.tail_bytes(), line_no + 1);
    }
    scan.problem = chain.problem();
    r.nodes.push_back(std::move(scan));
  }
  for (auto& [sid, opened] : openings) {
    if (auto it = r.scopes.find(sid); it != r.scopes.end()) {
      ScopeSummary& s = it->second;
      if (s.actor.empty() || !opened.actor.empty()) s.actor = opened.actor.empty() ? s.actor : opened.actor;
      if (s.delegator.empty()) s.delegator = opened.delegator;
      if (s.principal.empty()) s.principal = opened.principal;
      if (s.objective.empty()) s.objective = opened.objective;
    }
  }
  // Link children to parents and add each subtree's totals up from the leaves.
  std::vector<ScopeSummary*> by_depth;
  for (auto& [sid, s] : r.scopes) {
    s.subtree = s.own;
    by_depth.push_back(&s);
  }
  std::sort(by_depth.begin(), by_depth.end(), [](auto* a, auto* b) { return a->depth > b->depth; });
  for (auto* s : by_depth) {
    if (auto it = r.scopes.find(s->parent); it != r.scopes.end() && s->id != o.scope) {
      it->second.subtree.add(s->subtree);
    }
  }
  for (auto& [sid, s] : r.scopes) {
    if (auto it = r.scopes.find(s.parent); it != r.scopes.end() && sid != o.scope) it->second.children.push_back(sid);
  }
  for (auto& [sid, s] : r.scopes) {
    std::sort(s.children.begin(), s.children.end(), [&](const auto& a, const auto& b) {
      const auto& ta = r.scopes[a].subtree.first;
      const auto& tb = r.scopes[b].subtree.first;
      return ta != tb ? ta < tb : a < b;
    });
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return r;
}

int never_exit_code(const QueryResult& r) {
  if (!r.records_json.empty()) return 1;  // a recorded access is evidence even if the chain broke elsewhere
  return r.incomplete() ? 2 : 0;
}

namespace {
bool icontains(std::string_view text, std::string_view needle) {
  return std::search(text.begin(), text.end(), needle.begin(), needle.end(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
         }) != text.end();
}
}  // namespace

std::vector<const ScopeSummary*> listed_scopes(const QueryOptions& o, const QueryResult& r) {
  const ScopeFilter& f = o.filter;
  bool ranged = !o.since.empty() || !o.until.empty();
  std::vector<const ScopeSummary*> out;
  for (const auto& [id, s] : r.scopes) {
    if (!f.id_prefix.empty() && !id.starts_with(f.id_prefix)) continue;
    if (!f.principal.empty() && s.principal != f.principal) continue;
    if (!f.agent.empty() && s.actor != f.agent) continue;
    if (f.root_only && s.depth != 0) continue;
    if (!f.objective.empty() && !icontains(s.objective, f.objective)) continue;
    if (ranged && !s.in_range) continue;
    out.push_back(&s);
  }
  std::sort(out.begin(), out.end(), [](const ScopeSummary* a, const ScopeSummary* b) {
    return a->first_seen != b->first_seen ? a->first_seen < b->first_seen : a->id < b->id;
  });
  return out;
}

}  // namespace scopegate::audit
