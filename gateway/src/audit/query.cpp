#include "audit/query.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <string.h>
#include <functional>

#include "http/errors.hpp"
#include "json/write.hpp"

namespace scopegate::audit {

namespace dom = simdjson::dom;
namespace json = scopegate::json;

namespace {

// The members of a record a query reads. Views point into the parser: valid for one line.
struct Fields {
  std::string_view event, ts;
  std::string_view scope_id, parent, root, path;
  std::int64_t depth = -1;
  std::string_view agent, route, tool, resource, upstream, decision, outcome;
  std::string_view record_principal;  // the top-level `principal` of any record
  std::vector<std::string_view> datasets;
  std::uint64_t bytes_in = 0, bytes_out = 0;
  std::string_view actor, delegator, principal, objective;  // scope.open: the opened record
};

std::string_view str(dom::object o, std::string_view key) {
  std::string_view s;
  if (o.at_key(key).get_string().get(s)) return {};
  return s;
}

std::uint64_t uint(dom::object o, std::string_view key) {
  std::uint64_t v = 0;
  if (o.at_key(key).get_uint64().get(v)) return 0;
  return v;
}

bool parse_fields(dom::parser& parser, std::string_view line, Fields& f) {
  dom::object o;
  if (parser.parse(line.data(), line.size(), false).get_object().get(o)) return false;
  f.event = str(o, "event");
  f.ts = str(o, "ts");
  dom::object scope;
  if (!o.at_key("scope").get_object().get(scope)) {
    f.scope_id = str(scope, "id");
    f.parent = str(scope, "parent");
    f.root = str(scope, "root");
    f.path = str(scope, "path");
    if (scope.at_key("depth").get_int64().get(f.depth)) f.depth = -1;
  }
  f.agent = str(o, "agent");
  f.route = str(o, "route");
  f.tool = str(o, "tool");
  f.resource = str(o, "resource");
  f.upstream = str(o, "upstream");
  f.decision = str(o, "decision");
  f.outcome = str(o, "outcome");
  f.record_principal = str(o, "principal");
  dom::array datasets;
  if (!o.at_key("datasets").get_array().get(datasets)) {
    for (auto d : datasets) {
      std::string_view s;
      if (!d.get_string().get(s)) f.datasets.push_back(s);
    }
  }
  f.bytes_in = uint(o, "bytes_in");
  f.bytes_out = uint(o, "bytes_out");
  dom::object opened;
  if (!o.at_key("opened").get_object().get(opened)) {
    f.actor = str(opened, "actor");
    f.delegator = str(opened, "delegator");
    f.principal = str(opened, "principal");
    f.objective = str(opened, "objective");
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

void append_totals(std::string& out, std::string_view key, const Totals& t) {
  json::append_key(out, key);
  out += "{\"allowed\":" + std::to_string(t.allowed);
  json::append_int(out, "denied", static_cast<std::int64_t>(t.denied));
  json::append_int(out, "cut", static_cast<std::int64_t>(t.cut));
  json::append_list(out, "tools", t.tools);
  json::append_list(out, "resources", t.resources);
  json::append_list(out, "routes", t.routes);
  json::append_list(out, "datasets", t.datasets);
  json::append_list(out, "upstreams", t.upstreams);
  json::append_int(out, "bytes_in", static_cast<std::int64_t>(t.bytes_in));
  json::append_int(out, "bytes_out", static_cast<std::int64_t>(t.bytes_out));
  if (t.first.empty()) {
    out += ",\"first\":null,\"last\":null";
  } else {
    json::append_field(out, "first", t.first);
    json::append_field(out, "last", t.last);
  }
  out += '}';
}

void append_opt(std::string& out, std::string_view key, std::string_view value) {
  if (value.empty()) {
    json::append_key(out, key);
    out += "null";
  } else {
    json::append_field(out, key, value);
  }
}

std::string head_json(std::string_view query, const QueryOptions& o) {
  std::string out = "{\"query\":\"" + std::string(query) + "\"";
  json::append_field(out, "scope", o.scope);
  out += ",\"descendants\":";
  out += o.descendants ? "true" : "false";
  append_opt(out, "since", o.since);
  append_opt(out, "until", o.until);
  return out;
}

std::string join(const std::set<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += sep;
    out += i;
  }
  return out;
}

std::string csv_cell(std::string_view s) {
  if (s.find_first_of(",\"\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// 1536 → "1.5 KiB": sizes in tables are read, not summed.
std::string human_bytes(std::uint64_t n) {
  if (n < 1024) return std::to_string(n) + " B";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n) / 1024;
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

std::string seq_ranges(const QueryResult& r) {
  std::string out;
  for (const auto& n : r.nodes) {
    if (!out.empty()) out += ", ";
    out += n.node + " seq " + std::to_string(n.first_seq) + ".." + std::to_string(n.last_seq);
  }
  return out.empty() ? "no records" : out;
}

// What the evidence behind a table is worth, in one line; printed above (with --verify) and below
// every table so that a figure is never read without it.
std::string evidence_line(const QueryResult& r) {
  std::string chain(r.chain());
  std::string out = "evidence: ";
  if (chain == "verified") {
    out += "hash chain VERIFIED (" + seq_ranges(r) + ")";
  } else if (chain == "unverified") {
    out += "hash chain NOT VERIFIED (" + seq_ranges(r) + "; add --verify)";
  } else {
    out += "hash chain " + std::string(chain == "broken" ? "BROKEN" : "PARTIAL") + ":";
    for (const auto& n : r.nodes) {
      if (n.problem) {
        out += " node " + n.node + " at seq " + std::to_string(n.problem->seq) + " (" + n.problem->file + " line " +
               std::to_string(n.problem->line) + "): " + n.problem->why + ";";
      } else if (!n.starts_at_genesis) {
        out += " node " + n.node + " starts at seq " + std::to_string(n.first_seq) + ", earlier records missing;";
      }
    }
    out += " the figures may be incomplete";
  }
  return out + "\n";
}

std::string with_evidence(const QueryOptions& o, const QueryResult& r, const std::string& body) {
  char tail[96];
  std::snprintf(tail, sizeof tail, "(%llu records scanned in %.3f s)\n", static_cast<unsigned long long>(r.records),
                r.seconds);
  return (o.verify ? evidence_line(r) : std::string()) + body + evidence_line(r) + r.checkpoints + tail;
}

// The subtree's scopes in tree order (parents before children, siblings by first activity).
void walk(const QueryResult& r, const std::string& id, int level,
          const std::function<void(const ScopeSummary&, int)>& visit) {
  auto it = r.scopes.find(id);
  if (it == r.scopes.end()) return;
  visit(it->second, level);
  for (const auto& child : it->second.children) walk(r, child, level + 1, visit);
}

std::vector<std::string> roots_of(const QueryResult& r, const QueryOptions& o) {
  if (r.scopes.count(o.scope)) return {o.scope};
  // The scope itself never appeared (no record of it in range): show what is below it.
  std::vector<std::string> out;
  for (const auto& [id, s] : r.scopes) {
    if (!r.scopes.count(s.parent)) out.push_back(id);
  }
  return out;
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

void count_request(Totals& t, const Fields& f) {
  (f.decision == "allow" ? t.allowed : t.denied)++;
  if (f.decision == "allow") {
    if (!f.outcome.empty()) ++t.cut;
    if (!f.tool.empty()) t.tools.emplace(f.tool);
    if (!f.resource.empty()) t.resources.emplace(f.resource);
    if (!f.route.empty()) t.routes.emplace(f.route);
    for (auto d : f.datasets) t.datasets.emplace(d);
    if (!f.upstream.empty()) t.upstreams.emplace(f.upstream);
  }
  t.bytes_in += f.bytes_in;
  t.bytes_out += f.bytes_out;
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
  if (f.event == "scope.open") {
    learn_opening(s, f);
  } else if (f.event == "request") {
    if (s.actor.empty()) s.actor = f.agent;
    if (s.principal.empty()) s.principal = f.record_principal;
    if (in_range) count_request(s.own, f);
  } else if (f.event == "request.outcome" && in_range) {
    s.own.bytes_out += f.bytes_out;
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
  bytes_in += o.bytes_in;
  bytes_out += o.bytes_out;
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
        if (!in_range) continue;
        Fields f;
        if (!parse_fields(parser, line, f)) continue;
        bool own = f.scope_id == id;
        bool below = !own && o.descendants && path_contains(f.path, id);
        if (!own && !below) continue;
        ++r.matched;
        bool request = f.event == "request";
        // A strict route's request record is written before forwarding; its outcome follows.
        bool outcome = f.event == "request.outcome";
        if (outcome) {
          if (kind == QueryKind::actions) r.records_json.emplace_back(line);
          if (kind == QueryKind::footprint || kind == QueryKind::tree) {
            auto& s = r.scopes[std::string(f.scope_id)];
            if (s.id.empty()) describe_scope(s, f);
            Totals& t = s.own;
            t.bytes_out += f.bytes_out;
            if (!f.outcome.empty()) ++t.cut;
          }
          continue;
        }
        if (kind == QueryKind::footprint || kind == QueryKind::tree) {
          auto& s = r.scopes[std::string(f.scope_id)];
          if (s.id.empty()) describe_scope(s, f);
          if (f.event == "scope.open") {
            learn_opening(s, f);
          } else if (request) {
            if (s.actor.empty()) s.actor = f.agent;
            if (s.principal.empty()) s.principal = f.record_principal;
            count_request(s.own, f);
          }
        } else if (kind == QueryKind::actions) {
          if (request) r.records_json.emplace_back(line);
        } else if (request && criterion && matches(*criterion, f)) {
          (f.decision == "allow" ? r.records_json : r.attempts_json).emplace_back(line);
        }
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

std::string scanned_json(const QueryResult& r) {
  std::string out = "{\"records\":" + std::to_string(r.records);
  json::append_int(out, "bytes", static_cast<std::int64_t>(r.bytes));
  json::append_int(out, "matched", static_cast<std::int64_t>(r.matched));
  json::append_field(out, "chain", r.chain());
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.6f", r.seconds);
  out += ",\"seconds\":";
  out += secs;
  out += ",\"nodes\":[";
  for (std::size_t i = 0; i < r.nodes.size(); ++i) {
    const auto& n = r.nodes[i];
    if (i) out += ',';
    out += "{\"node\":";
    json::append_string(out, n.node);
    json::append_int(out, "records", static_cast<std::int64_t>(n.records));
    json::append_int(out, "first_seq", static_cast<std::int64_t>(n.first_seq));
    json::append_int(out, "last_seq", static_cast<std::int64_t>(n.last_seq));
    append_opt(out, "first_ts", n.first_ts);
    append_opt(out, "last_ts", n.last_ts);
    json::append_field(out, "chain", !n.verified ? "unverified" : n.problem ? "broken" : !n.starts_at_genesis ? "partial" : "verified");
    if (n.problem) {
      append_problem_json(out, *n.problem);
    } else if (n.verified && !n.starts_at_genesis) {
      append_problem_json(out, {1, "", 0,
                                "the log starts at seq " + std::to_string(n.first_seq) +
                                    ": earlier records are not in the directories scanned"});
    }
    out += '}';
  }
  return out + "]}";
}

std::string footprint_json(const QueryOptions& o, const QueryResult& r) {
  std::string out = head_json("footprint", o);
  out += ",\"scanned\":" + scanned_json(r) + ",\"scopes\":[";
  bool first = true;
  for (const auto& root : roots_of(r, o)) {
    walk(r, root, 0, [&](const ScopeSummary& s, int) {
      if (!first) out += ',';
      first = false;
      out += "{\"id\":";
      json::append_string(out, s.id);
      append_opt(out, "parent", s.parent);
      json::append_int(out, "depth", s.depth);
      json::append_field(out, "path", s.path);
      append_opt(out, "actor", s.actor);
      append_opt(out, "delegator", s.delegator);
      append_opt(out, "principal", s.principal);
      append_opt(out, "objective", s.objective);
      append_totals(out, "own", s.own);
      append_totals(out, "subtree", s.subtree);
      out += '}';
    });
  }
  return out + "]}\n";
}

std::string footprint_table(const QueryOptions& o, const QueryResult& r) {
  std::string out;
  for (const auto& root : roots_of(r, o)) {
    walk(r, root, 0, [&](const ScopeSummary& s, int level) {
      std::string indent(static_cast<std::size_t>(level) * 2, ' ');
      out += indent + "scope " + s.id + "  depth " + std::to_string(s.depth) + "\n";
      out += indent + "  actor:      " + (s.actor.empty() ? "?" : s.actor) +
             (s.delegator.empty() ? std::string() : ", delegated by " + s.delegator) + "\n";
      if (!s.principal.empty()) out += indent + "  principal:  " + s.principal + "\n";
      if (!s.objective.empty()) out += indent + "  objective:  " + s.objective + "\n";
      out += indent + "  own:        " + std::to_string(s.own.allowed) + " allowed" +
             (s.own.cut ? " (" + std::to_string(s.own.cut) + " cut mid-response)" : std::string()) + ", " +
             std::to_string(s.own.denied) + " denied, " + human_bytes(s.own.bytes_in) + " in, " +
             human_bytes(s.own.bytes_out) + " out\n";
      if (!s.own.tools.empty()) out += indent + "  tools:      " + join(s.own.tools, ", ") + "\n";
      if (!s.own.resources.empty()) out += indent + "  resources:  " + join(s.own.resources, ", ") + "\n";
      if (!s.own.routes.empty()) out += indent + "  routes:     " + join(s.own.routes, ", ") + "\n";
      if (!s.own.datasets.empty()) out += indent + "  datasets:   " + join(s.own.datasets, ", ") + "\n";
      if (!s.own.upstreams.empty()) out += indent + "  upstreams:  " + join(s.own.upstreams, ", ") + "\n";
      if (!s.own.first.empty()) out += indent + "  active:     " + s.own.first + " .. " + s.own.last + "\n";
      if (!s.children.empty()) {
        out += indent + "  subtree:    " + std::to_string(s.subtree.allowed) + " allowed, " +
               std::to_string(s.subtree.denied) + " denied; datasets: " +
               (s.subtree.datasets.empty() ? "none" : join(s.subtree.datasets, ", ")) + "\n";
      }
    });
  }
  if (out.empty()) out = "no records of scope " + o.scope + " in the logs scanned\n";
  return with_evidence(o, r, out);
}

std::string footprint_csv(const QueryResult& r) {
  std::string chain(r.chain());
  std::string out =
      "scope,parent,depth,actor,delegator,principal,objective,allowed,denied,tools,resources,routes,datasets,upstreams,"
      "bytes_in,bytes_out,first,last,chain\n";
  for (const auto& [id, s] : r.scopes) {
    out += csv_cell(s.id) + "," + csv_cell(s.parent) + "," + std::to_string(s.depth) + "," + csv_cell(s.actor) + "," +
           csv_cell(s.delegator) + "," + csv_cell(s.principal) + "," + csv_cell(s.objective) + "," +
           std::to_string(s.own.allowed) + "," + std::to_string(s.own.denied) + "," +
           csv_cell(join(s.own.tools, ";")) + "," + csv_cell(join(s.own.resources, ";")) + "," +
           csv_cell(join(s.own.routes, ";")) + "," + csv_cell(join(s.own.datasets, ";")) + "," +
           csv_cell(join(s.own.upstreams, ";")) + "," + std::to_string(s.own.bytes_in) + "," +
           std::to_string(s.own.bytes_out) + "," + s.own.first + "," + s.own.last + "," + chain + "\n";
  }
  return out;
}

std::string tree_json(const QueryOptions& o, const QueryResult& r) {
  std::function<void(std::string&, const ScopeSummary&)> node = [&](std::string& out, const ScopeSummary& s) {
    out += "{\"id\":";
    json::append_string(out, s.id);
    json::append_int(out, "depth", s.depth);
    append_opt(out, "actor", s.actor);
    append_opt(out, "objective", s.objective);
    json::append_int(out, "allowed", static_cast<std::int64_t>(s.own.allowed));
    json::append_int(out, "denied", static_cast<std::int64_t>(s.own.denied));
    json::append_int(out, "subtree_allowed", static_cast<std::int64_t>(s.subtree.allowed));
    json::append_int(out, "subtree_denied", static_cast<std::int64_t>(s.subtree.denied));
    out += ",\"children\":[";
    for (std::size_t i = 0; i < s.children.size(); ++i) {
      if (i) out += ',';
      node(out, r.scopes.at(s.children[i]));
    }
    out += "]}";
  };
  std::string out = head_json("tree", o);
  out += ",\"scanned\":" + scanned_json(r) + ",\"roots\":[";
  auto roots = roots_of(r, o);
  for (std::size_t i = 0; i < roots.size(); ++i) {
    if (i) out += ',';
    node(out, r.scopes.at(roots[i]));
  }
  return out + "]}\n";
}

std::string tree_table(const QueryOptions& o, const QueryResult& r) {
  std::string out;
  for (const auto& root : roots_of(r, o)) {
    walk(r, root, 0, [&](const ScopeSummary& s, int level) {
      out += std::string(static_cast<std::size_t>(level) * 4, ' ') + (level ? "└── " : "") + s.id + "  " +
             (s.actor.empty() ? "?" : s.actor) + "  " + std::to_string(s.own.allowed) + " allowed / " +
             std::to_string(s.own.denied) + " denied";
      if (!s.objective.empty()) out += "  \"" + s.objective + "\"";
      out += "\n";
    });
  }
  return with_evidence(o, r, out.empty() ? "no records of scope " + o.scope + " in the logs scanned\n" : out);
}

std::string tree_csv(const QueryResult& r) {
  std::string chain(r.chain());
  std::string out = "scope,parent,depth,actor,delegator,principal,objective,allowed,denied,subtree_allowed,subtree_denied,chain\n";
  for (const auto& [id, s] : r.scopes) {
    out += csv_cell(s.id) + "," + csv_cell(s.parent) + "," + std::to_string(s.depth) + "," + csv_cell(s.actor) + "," +
           csv_cell(s.delegator) + "," + csv_cell(s.principal) + "," + csv_cell(s.objective) + "," +
           std::to_string(s.own.allowed) + "," + std::to_string(s.own.denied) + "," +
           std::to_string(s.subtree.allowed) + "," + std::to_string(s.subtree.denied) + "," + chain + "\n";
  }
  return out;
}

namespace {
std::string records_array(const std::vector<std::string>& lines) {
  std::string out = "[";
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i) out += ',';
    out += lines[i];
  }
  return out + "]";
}

// The columns tables and CSV show of a request record, with its outcome when that was recorded
// apart (strict routes: the request record is written before forwarding).
struct Row {
  std::string_view ts, node, scope, agent, route, action, method, path, decision, reason, request_id, outcome;
  std::string_view failure;  // the gateway's own error after forwarding (upstream_unavailable, ...)
  std::uint64_t seq = 0, bytes_out = 0;
  std::int64_t status = -1;  // -1: not known (strict, and no request.outcome record)
  bool ahead = false;        // recorded before forwarding
};

struct Outcome {
  std::int64_t status = -1;
  std::uint64_t bytes_out = 0;
  std::string outcome, reason;
};

template <class Visit>
void for_each_row(const std::vector<std::string>& lines, Visit visit) {
  dom::parser parser;
  std::map<std::string, Outcome, std::less<>> outcomes;  // by request_id
  for (const auto& line : lines) {
    dom::object o;
    if (parser.parse(line).get_object().get(o) || str(o, "event") != "request.outcome") continue;
    Outcome& out = outcomes[std::string(str(o, "request_id"))];
    if (o.at_key("status").get_int64().get(out.status)) out.status = -1;
    out.bytes_out = uint(o, "bytes_out");
    out.outcome = str(o, "outcome");
    out.reason = str(o, "reason");
  }
  for (const auto& line : lines) {
    dom::object o;
    if (parser.parse(line).get_object().get(o) || str(o, "event") != "request") continue;
    Row r;
    if (o.at_key("status").get_int64().get(r.status)) r.status = -1;
    if (o.at_key("scope").at_key("id").get_string().get(r.scope)) r.scope = {};
    r.ts = str(o, "ts");
    r.node = str(o, "node");
    r.seq = uint(o, "seq");
    r.agent = str(o, "agent");
    r.route = str(o, "route");
    r.action = str(o, "action");
    r.method = str(o, "method");
    r.path = str(o, "path");
    r.decision = str(o, "decision");
    r.reason = str(o, "reason");
    r.request_id = str(o, "request_id");
    r.outcome = str(o, "outcome");
    r.bytes_out = uint(o, "bytes_out");
    r.ahead = str(o, "recorded") == "before_forward";
    if (auto it = outcomes.find(r.request_id); r.ahead && it != outcomes.end()) {
      r.status = it->second.status;
      r.bytes_out = it->second.bytes_out;
      r.outcome = it->second.outcome;
      r.failure = it->second.reason;
    }
    visit(r);
  }
}

std::string action_of(const Row& r) {
  return r.action.empty() ? std::string(r.method) + " " + std::string(r.path) : std::string(r.action);
}

// "allowed: 200, 1.2 KiB out" or "denied: the scope was not granted this action (grant_exceeded)".
std::string decision_in_words(const Row& r) {
  std::string out;
  if (r.decision == "allow") {
    out = "allowed: ";
    if (r.status >= 0) {
      out += std::to_string(r.status) + ", " + human_bytes(r.bytes_out) + " out";
    } else {
      out += "forwarded, outcome not recorded";
    }
    if (!r.failure.empty()) {
      auto words = http::in_words(r.failure);
      out += ", then failed: " + (words.empty() ? std::string(r.failure) : std::string(words)) + " (" +
             std::string(r.failure) + ")";
    }
    if (r.outcome == "upstream_cut") out += ", the upstream cut the response";
    if (r.outcome == "client_cut") out += ", the client left mid-response";
  } else {
    auto words = http::in_words(r.reason);
    out = "denied: " + (words.empty() ? std::string(r.reason) : std::string(words) + " (" + std::string(r.reason) + ")");
  }
  return out;
}

// A table with a header and left-aligned columns as wide as their widest cell.
std::string aligned(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      out += row[i];
      if (i + 1 < row.size()) out += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += "\n";
  }
  return out;
}

// One table row per request: time, node#seq, scope, agent, action and the decision in words.
std::string record_rows(const std::vector<std::string>& lines) {
  std::vector<std::vector<std::string>> rows{{"TIME", "NODE#SEQ", "SCOPE", "AGENT", "ACTION", "DECISION"}};
  for_each_row(lines, [&](const Row& r) {
    rows.push_back({std::string(r.ts), std::string(r.node) + "#" + std::to_string(r.seq), std::string(r.scope),
                    std::string(r.agent), action_of(r), decision_in_words(r)});
  });
  return rows.size() == 1 ? std::string() : aligned(rows);
}

std::string record_csv(const std::vector<std::string>& lines, std::string_view kind, std::string_view chain) {
  std::string out;
  for_each_row(lines, [&](const Row& r) {
    out += std::string(kind.empty() ? "" : std::string(kind) + ",") + std::string(r.ts) + "," + csv_cell(r.node) +
           "," + std::to_string(r.seq) + "," + csv_cell(r.scope) + "," + csv_cell(r.agent) + "," + csv_cell(r.route) +
           "," + csv_cell(action_of(r)) + "," + csv_cell(r.decision) + "," +
           (r.status >= 0 ? std::to_string(r.status) : "") + "," + std::to_string(r.bytes_out) + "," +
           csv_cell(r.reason) + "," + csv_cell(r.request_id) + "," + std::string(chain) + "\n";
  });
  return out;
}
}  // namespace

std::string actions_json(const QueryOptions& o, const QueryResult& r) {
  return head_json("actions", o) + ",\"scanned\":" + scanned_json(r) + ",\"records\":" + records_array(r.records_json) +
         "}\n";
}

std::string actions_table(const QueryOptions& o, const QueryResult& r) {
  std::string out = record_rows(r.records_json);
  return with_evidence(o, r, out.empty() ? "no requests in range\n" : out);
}

namespace {
constexpr const char* kRowColumns = "ts,node,seq,scope,agent,route,action,decision,status,bytes_out,reason,request_id,chain\n";
}

std::string actions_csv(const QueryResult& r) { return kRowColumns + record_csv(r.records_json, "", r.chain()); }

namespace {
const char* answer_of(int exit_code) { return exit_code == 0 ? "never" : exit_code == 1 ? "accessed" : "incomplete"; }
}  // namespace

std::string never_json(const QueryOptions& o, const Criterion& c, const QueryResult& r, int exit_code) {
  std::string out = head_json("never", o);
  out += ",\"criterion\":{\"kind\":";
  json::append_string(out, c.kind);
  json::append_field(out, "value", c.value);
  out += "},\"answer\":\"" + std::string(answer_of(exit_code)) + "\",\"exit\":" + std::to_string(exit_code);
  out += ",\"scanned\":" + scanned_json(r);
  out += ",\"accesses\":" + records_array(r.records_json) + ",\"attempts\":" + records_array(r.attempts_json) + "}\n";
  return out;
}

std::string never_table(const QueryOptions& o, const Criterion& c, const QueryResult& r, int exit_code) {
  std::string subject = c.kind + " " + c.value;
  std::string where = "scope " + o.scope + (o.descendants ? " or any scope below it" : "");
  std::string out;
  if (exit_code == 0) {
    out = "NEVER: no allowed request under " + where + " touched " + subject + ".\n";
  } else if (exit_code == 1) {
    out = "ACCESSED: " + std::to_string(r.records_json.size()) + " allowed request(s) under " + where + " touched " +
          subject + ":\n" + record_rows(r.records_json);
  } else {
    out = "INCOMPLETE: no allowed request found under " + where + " touching " + subject +
          ", but the evidence has a hole:\n";
    for (const auto& n : r.nodes) {
      if (n.problem) {
        out += "  node " + n.node + ": seq " + std::to_string(n.problem->seq) + ": " + n.problem->why + "\n";
      } else if (!n.starts_at_genesis) {
        out += "  node " + n.node + ": the log starts at seq " + std::to_string(n.first_seq) + "\n";
      }
    }
  }
  if (!r.attempts_json.empty()) {
    out += std::to_string(r.attempts_json.size()) + " denied attempt(s):\n" + record_rows(r.attempts_json);
  }
  for (const auto& n : r.nodes) {
    out += "scanned node " + n.node + ": seq " + std::to_string(n.first_seq) + ".." + std::to_string(n.last_seq) +
           " (" + std::to_string(n.records) + " records, chain " +
           (n.problem ? "broken" : !n.starts_at_genesis ? "partial" : "verified") + ")\n";
  }
  if (r.nodes.empty()) out += "no audit records in the directories given\n";
  return out;
}

std::string never_csv(const QueryResult& r) {
  return "kind," + std::string(kRowColumns) + record_csv(r.records_json, "access", r.chain()) +
         record_csv(r.attempts_json, "attempt", r.chain());
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

std::string scopes_json(const QueryOptions& o, const QueryResult& r) {
  std::string out = "{\"query\":\"scopes\",\"filter\":{";
  out += "\"principal\":";
  if (o.filter.principal.empty()) out += "null"; else json::append_string(out, o.filter.principal);
  append_opt(out, "agent", o.filter.agent);
  append_opt(out, "objective", o.filter.objective);
  append_opt(out, "id_prefix", o.filter.id_prefix);
  out += ",\"root_only\":";
  out += o.filter.root_only ? "true" : "false";
  append_opt(out, "since", o.since);
  append_opt(out, "until", o.until);
  out += "},\"scanned\":" + scanned_json(r) + ",\"scopes\":[";
  bool first = true;
  for (const auto* s : listed_scopes(o, r)) {
    if (!first) out += ',';
    first = false;
    out += "{\"id\":";
    json::append_string(out, s->id);
    append_opt(out, "parent", s->parent);
    append_opt(out, "root", s->root);
    json::append_int(out, "depth", s->depth);
    append_opt(out, "principal", s->principal);
    append_opt(out, "actor", s->actor);
    append_opt(out, "delegator", s->delegator);
    append_opt(out, "objective", s->objective);
    append_opt(out, "first_seen", s->first_seen);
    append_opt(out, "last_seen", s->last_seen);
    json::append_int(out, "allowed", static_cast<std::int64_t>(s->own.allowed));
    json::append_int(out, "denied", static_cast<std::int64_t>(s->own.denied));
    out += '}';
  }
  return out + "]}\n";
}

std::string scopes_table(const QueryOptions& o, const QueryResult& r) {
  std::vector<std::vector<std::string>> rows{
      {"SCOPE", "PARENT", "DEPTH", "PRINCIPAL", "ACTOR", "DELEGATOR", "FIRST SEEN", "LAST SEEN", "ALLOWED", "DENIED",
       "OBJECTIVE"}};
  auto or_dash = [](const std::string& v) { return v.empty() ? std::string("-") : v; };
  for (const auto* s : listed_scopes(o, r)) {
    rows.push_back({s->id, or_dash(s->parent), std::to_string(s->depth), or_dash(s->principal), or_dash(s->actor),
                    or_dash(s->delegator), s->first_seen, s->last_seen, std::to_string(s->own.allowed),
                    std::to_string(s->own.denied), or_dash(s->objective)});
  }
  return with_evidence(o, r, rows.size() == 1 ? "no scope matches\n" : aligned(rows));
}

std::string scopes_csv(const QueryOptions& o, const QueryResult& r) {
  std::string chain(r.chain());
  std::string out = "scope,parent,root,depth,principal,actor,delegator,objective,first_seen,last_seen,allowed,denied,chain\n";
  for (const auto* s : listed_scopes(o, r)) {
    out += csv_cell(s->id) + "," + csv_cell(s->parent) + "," + csv_cell(s->root) + "," + std::to_string(s->depth) +
           "," + csv_cell(s->principal) + "," + csv_cell(s->actor) + "," + csv_cell(s->delegator) + "," +
           csv_cell(s->objective) + "," + s->first_seen + "," + s->last_seen + "," + std::to_string(s->own.allowed) +
           "," + std::to_string(s->own.denied) + "," + chain + "\n";
  }
  return out;
}

namespace {

// Text for a report cell: HTML-escaped, or with Markdown's table and emphasis characters escaped.
std::string cell(std::string_view text, bool html) {
  std::string out;
  for (char c : text) {
    if (html) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
      }
    } else {
      if (c == '|' || c == '\\' || c == '`' || c == '*' || c == '_' || c == '<' || c == '[' || c == ']') out += '\\';
      out += (c == '\n' || c == '\r') ? ' ' : c;
    }
  }
  return out;
}

std::string now_utc() {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Builds a report in either markup from the same calls, so the two never say different things.
class Report {
 public:
  explicit Report(bool html) : html_(html) {}
  void heading(int level, std::string_view text) {
    if (html_) {
      out_ += "<h" + std::to_string(level) + ">" + cell(text, true) + "</h" + std::to_string(level) + ">\n";
    } else {
      out_ += "\n" + std::string(static_cast<std::size_t>(level), '#') + " " + cell(text, false) + "\n\n";
    }
  }
  void paragraph(std::string_view text) {
    out_ += html_ ? "<p>" + cell(text, true) + "</p>\n" : cell(text, false) + "\n\n";
  }
  void item(int level, std::string_view text) {
    if (html_) {
      out_ += "<li style=\"margin-left:" + std::to_string(level * 1.5) + "em\">" + cell(text, true) + "</li>\n";
    } else {
      out_ += std::string(static_cast<std::size_t>(level) * 2, ' ') + "- " + cell(text, false) + "\n";
    }
  }
  void begin_list() { out_ += html_ ? "<ul class=\"tree\">\n" : ""; }
  void end_list() { out_ += html_ ? "</ul>\n" : "\n"; }
  void table(const std::vector<std::vector<std::string>>& rows) {
    if (rows.empty()) return;
    if (html_) {
      out_ += "<table>\n";
      for (std::size_t i = 0; i < rows.size(); ++i) {
        out_ += "<tr>";
        for (const auto& c : rows[i]) out_ += (i ? "<td>" : "<th>") + cell(c, true) + (i ? "</td>" : "</th>");
        out_ += "</tr>\n";
      }
      out_ += "</table>\n";
      return;
    }
    for (std::size_t i = 0; i < rows.size(); ++i) {
      out_ += "|";
      for (const auto& c : rows[i]) out_ += " " + cell(c, false) + " |";
      out_ += "\n";
      if (i == 0) {
        out_ += "|";
        for (std::size_t j = 0; j < rows[0].size(); ++j) out_ += "---|";
        out_ += "\n";
      }
    }
    out_ += "\n";
  }
  std::string finish(std::string_view title) const {
    if (!html_) return "# " + cell(title, false) + "\n\n" + out_;
    return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + cell(title, true) +
           "</title>\n<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}"
           "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:.2em .5em;"
           "text-align:left;vertical-align:top}th{background:#eee}ul.tree{list-style:none;padding:0}"
           "code,td:first-child{font-family:monospace}</style></head><body>\n<h1>" +
           cell(title, true) + "</h1>\n" + out_ + "</body></html>\n";
  }

 private:
  bool html_;
  std::string out_;
};

std::string joined_or_none(const std::set<std::string>& items) { return items.empty() ? "none" : join(items, ", "); }

}  // namespace

std::string footprint_report(const QueryOptions& o, const QueryResult& r, bool html) {
  Report doc(html);
  doc.paragraph("Generated " + now_utc() + " by scopegate query footprint from the audit log alone. Scope " +
                o.scope + (o.descendants ? ", with every scope delegated below it" : ", its own records only") +
                "; time range " + (o.since.empty() ? "from the start" : "from " + o.since) +
                (o.until.empty() ? " to the end of the log" : " to " + o.until) + ".");
  doc.heading(2, "Delegation tree");
  doc.begin_list();
  for (const auto& root : roots_of(r, o)) {
    walk(r, root, 0, [&](const ScopeSummary& s, int level) {
      std::string line = s.id + "  " + (s.actor.empty() ? "?" : s.actor) + ": " + std::to_string(s.own.allowed) +
                         " allowed, " + std::to_string(s.own.denied) + " denied";
      if (!s.objective.empty()) line += "; objective: " + s.objective;
      doc.item(level, line);
    });
  }
  doc.end_list();
  doc.heading(2, "Footprint of each scope");
  for (const auto& root : roots_of(r, o)) {
    walk(r, root, 0, [&](const ScopeSummary& s, int) {
      doc.heading(3, "Scope " + s.id);
      std::vector<std::vector<std::string>> rows{{"", "own records", "with its subtree"}};
      auto both = [&](std::string name, std::string own, std::string sub) {
        rows.push_back({std::move(name), std::move(own), std::move(sub)});
      };
      rows.push_back({"parent", s.parent.empty() ? "none (a root scope)" : s.parent, ""});
      rows.push_back({"depth", std::to_string(s.depth), ""});
      rows.push_back({"actor", s.actor.empty() ? "unknown" : s.actor, ""});
      rows.push_back({"delegated by", s.delegator.empty() ? "-" : s.delegator, ""});
      rows.push_back({"principal", s.principal.empty() ? "-" : s.principal, ""});
      rows.push_back({"objective", s.objective.empty() ? "-" : s.objective, ""});
      both("requests allowed", std::to_string(s.own.allowed), std::to_string(s.subtree.allowed));
      both("requests denied", std::to_string(s.own.denied), std::to_string(s.subtree.denied));
      both("responses cut mid-body", std::to_string(s.own.cut), std::to_string(s.subtree.cut));
      both("tools", joined_or_none(s.own.tools), joined_or_none(s.subtree.tools));
      both("resources", joined_or_none(s.own.resources), joined_or_none(s.subtree.resources));
      both("datasets", joined_or_none(s.own.datasets), joined_or_none(s.subtree.datasets));
      both("routes", joined_or_none(s.own.routes), joined_or_none(s.subtree.routes));
      both("upstreams", joined_or_none(s.own.upstreams), joined_or_none(s.subtree.upstreams));
      both("bytes in", human_bytes(s.own.bytes_in), human_bytes(s.subtree.bytes_in));
      both("bytes out", human_bytes(s.own.bytes_out), human_bytes(s.subtree.bytes_out));
      both("active", s.own.first.empty() ? "-" : s.own.first + " .. " + s.own.last,
           s.subtree.first.empty() ? "-" : s.subtree.first + " .. " + s.subtree.last);
      doc.table(rows);
    });
  }
  doc.heading(2, "Evidence");
  std::vector<std::vector<std::string>> nodes{{"node", "records", "seq range", "first record", "last record", "hash chain"}};
  for (const auto& n : r.nodes) {
    std::string chain = !n.verified ? "not verified"
                        : n.problem ? "BROKEN at seq " + std::to_string(n.problem->seq) + ": " + n.problem->why
                        : !n.starts_at_genesis ? "partial: the log starts at seq " + std::to_string(n.first_seq)
                                               : "verified";
    nodes.push_back({n.node, std::to_string(n.records), std::to_string(n.first_seq) + ".." + std::to_string(n.last_seq),
                     n.first_ts, n.last_ts, chain});
  }
  doc.table(nodes);
  std::string verdict(r.chain());
  doc.paragraph(verdict == "verified"
                    ? "Every record scanned links into an intact hash chain from each node's first record."
                : verdict == "unverified"
                    ? "The hash chains were not verified: the figures above are what the files say."
                    : "The evidence has a hole (see the table): the figures above may be incomplete or wrong.");
  if (r.checkpoints.empty()) {
    doc.paragraph("Signed checkpoints: not checked. The chain alone cannot show records cut from its end; "
                  "give --checkpoints DIR --public-key FILE to hold the log against them.");
  } else {
    doc.paragraph("Signed checkpoints:");
    doc.begin_list();
    for (std::size_t at = 0, nl; at < r.checkpoints.size(); at = nl + 1) {
      nl = r.checkpoints.find('\n', at);
      if (nl == std::string::npos) nl = r.checkpoints.size();
      if (nl > at) doc.item(0, std::string_view(r.checkpoints).substr(at, nl - at));
    }
    doc.end_list();
  }
  doc.paragraph(std::to_string(r.records) + " records (" + human_bytes(r.bytes) + ") scanned, " +
                std::to_string(r.matched) + " about this scope or below it.");
  return doc.finish("Scope footprint report: " + o.scope);
}

}  // namespace scopegate::audit
