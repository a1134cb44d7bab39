#include "audit/query_output.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <optional>

#include "audit/events.hpp"
#include "audit/record_fields.hpp"
#include "json/write.hpp"
#include "http/errors.hpp"
#include "llm/usage.hpp"

namespace scopegate::audit {

namespace dom = simdjson::dom;
namespace json = scopegate::json;

namespace {

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
  // LLM calls (docs/llm.md): the models called and what the recorded calls used and cost.
  json::append_list(out, "models", t.models);
  json::append_int(out, "llm_calls", static_cast<std::int64_t>(t.llm_calls));
  json::append_key(out, field::usage);
  llm::append_usage_object(out, t.usage);
  json::append_key(out, field::cost);
  llm::append_cost(out, t.cost);
  if (t.first.empty()) {
    out += ",\"first\":null,\"last\":null";
  } else {
    json::append_field(out, "first", t.first);
    json::append_field(out, "last", t.last);
  }
  out += '}';
}

// "3 model calls, 1200 tokens (1000 in, 200 out), cost 0.0042".
std::string llm_in_words(const Totals& t) {
  return std::to_string(t.llm_calls) + " model call" + (t.llm_calls == 1 ? "" : "s") + ", " +
         std::to_string(t.usage.total()) + " tokens (" + std::to_string(t.usage[llm::TokenType::input]) + " in, " +
         std::to_string(t.usage[llm::TokenType::output]) + " out), cost " + llm::format_cost(t.cost);
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

// Text from the log as a terminal may show it: a control character (C0, DEL or C1) becomes
// \xNN, so a value can neither start a line of its own (a forged "evidence:" line) nor hide what
// follows it with an escape sequence. Every value from the log goes through it in tables and reports.
std::string shown(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    unsigned code = c;
    bool c1 = c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
              static_cast<unsigned char>(text[i + 1]) <= 0x9F;  // U+0080..U+009F in UTF-8
    if (c1) code = static_cast<unsigned char>(text[++i]);
    if (c < 0x20 || c == 0x7F || c1) {
      out += "\\x";
      out += kHex[code >> 4];
      out += kHex[code & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// A CSV cell that a spreadsheet reads as the text it is: quoted when it holds a separator, a
// quote or a line break (CR included: spreadsheets end rows at a bare CR too), and prefixed with '
// when it starts like a formula (= + - @, tab, CR), so a logged objective cannot run as one.
std::string csv_cell(std::string_view s) {
  std::string text(s);
  if (!text.empty() && std::string_view("=+-@\t\r").find(text.front()) != std::string_view::npos) {
    text.insert(text.begin(), '\'');
  }
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
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
    out += shown(n.node) + " seq " + std::to_string(n.first_seq) + ".." + std::to_string(n.last_seq);
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
        out += " node " + shown(n.node) + " at seq " + std::to_string(n.problem->seq) + " (" + shown(n.problem->file) +
               " line " + std::to_string(n.problem->line) + "): " + shown(n.problem->why) + ";";
      } else if (!n.starts_at_genesis) {
        out += " node " + shown(n.node) + " starts at seq " + std::to_string(n.first_seq) + ", earlier records missing;";
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

}  // namespace

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
      auto line = [&](std::string_view label, const std::string& value) {
        out += indent + std::string(label) + shown(value) + "\n";
      };
      line("scope ", s.id + "  depth " + std::to_string(s.depth));
      line("  actor:      ", (s.actor.empty() ? "?" : s.actor) +
                                (s.delegator.empty() ? std::string() : ", delegated by " + s.delegator));
      if (!s.principal.empty()) line("  principal:  ", s.principal);
      if (!s.objective.empty()) line("  objective:  ", s.objective);
      line("  own:        ", std::to_string(s.own.allowed) + " allowed" +
                                 (s.own.cut ? " (" + std::to_string(s.own.cut) + " cut mid-response)" : std::string()) +
                                 ", " + std::to_string(s.own.denied) + " denied, " + human_bytes(s.own.bytes_in) +
                                 " in, " + human_bytes(s.own.bytes_out) + " out");
      if (!s.own.tools.empty()) line("  tools:      ", join(s.own.tools, ", "));
      if (!s.own.resources.empty()) line("  resources:  ", join(s.own.resources, ", "));
      if (!s.own.routes.empty()) line("  routes:     ", join(s.own.routes, ", "));
      if (!s.own.datasets.empty()) line("  datasets:   ", join(s.own.datasets, ", "));
      if (!s.own.upstreams.empty()) line("  upstreams:  ", join(s.own.upstreams, ", "));
      if (!s.own.models.empty() || s.own.llm_calls) line("  models:     ", join(s.own.models, ", ") + "; " + llm_in_words(s.own));
      if (!s.own.first.empty()) line("  active:     ", s.own.first + " .. " + s.own.last);
      if (!s.children.empty()) {
        line("  subtree:    ", std::to_string(s.subtree.allowed) + " allowed, " + std::to_string(s.subtree.denied) +
                                   " denied; datasets: " +
                                   (s.subtree.datasets.empty() ? "none" : join(s.subtree.datasets, ", ")) +
                                   (s.subtree.llm_calls ? "; " + llm_in_words(s.subtree) : std::string()));
      }
    });
  }
  if (out.empty()) out = "no records of scope " + shown(o.scope) + " in the logs scanned\n";
  return with_evidence(o, r, out);
}

std::string footprint_csv(const QueryResult& r) {
  std::string chain(r.chain());
  std::string out =
      "scope,parent,depth,actor,delegator,principal,objective,allowed,denied,tools,resources,routes,datasets,upstreams,"
      "bytes_in,bytes_out,llm_calls,input_tokens,output_tokens,cache_read_input_tokens,reasoning_output_tokens,cost,"
      "subtree_llm_calls,subtree_input_tokens,subtree_output_tokens,subtree_cost,first,last,chain\n";
  for (const auto& [id, s] : r.scopes) {
    out += csv_cell(s.id) + "," + csv_cell(s.parent) + "," + std::to_string(s.depth) + "," + csv_cell(s.actor) + "," +
           csv_cell(s.delegator) + "," + csv_cell(s.principal) + "," + csv_cell(s.objective) + "," +
           std::to_string(s.own.allowed) + "," + std::to_string(s.own.denied) + "," +
           csv_cell(join(s.own.tools, ";")) + "," + csv_cell(join(s.own.resources, ";")) + "," +
           csv_cell(join(s.own.routes, ";")) + "," + csv_cell(join(s.own.datasets, ";")) + "," +
           csv_cell(join(s.own.upstreams, ";")) + "," + std::to_string(s.own.bytes_in) + "," +
           std::to_string(s.own.bytes_out) + "," + std::to_string(s.own.llm_calls) + "," +
           std::to_string(s.own.usage[llm::TokenType::input]) + "," + std::to_string(s.own.usage[llm::TokenType::output]) +
           "," + std::to_string(s.own.usage[llm::TokenType::cache_read]) + "," +
           std::to_string(s.own.usage[llm::TokenType::reasoning]) + "," + llm::format_cost(s.own.cost) + "," +
           std::to_string(s.subtree.llm_calls) + "," + std::to_string(s.subtree.usage[llm::TokenType::input]) + "," +
           std::to_string(s.subtree.usage[llm::TokenType::output]) + "," + llm::format_cost(s.subtree.cost) + "," +
           s.own.first + "," + s.own.last + "," + chain + "\n";
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
      out += std::string(static_cast<std::size_t>(level) * 4, ' ') + (level ? "└── " : "") + shown(s.id) + "  " +
             shown(s.actor.empty() ? "?" : s.actor) + "  " + std::to_string(s.own.allowed) + " allowed / " +
             std::to_string(s.own.denied) + " denied";
      if (!s.objective.empty()) out += "  \"" + shown(s.objective) + "\"";
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
  std::string_view model;    // an LLM call, and what it used, when its usage was recorded
  std::optional<llm::Usage> usage;
  std::uint64_t cost = 0;
};

struct Outcome {
  std::int64_t status = -1;
  std::uint64_t bytes_out = 0;
  std::string outcome, reason;
  std::optional<llm::Usage> usage;
  std::uint64_t cost = 0;
};

// An LLM call's usage and cost, when its record (or outcome) has them.
std::optional<llm::Usage> usage_of(dom::object o, std::uint64_t& cost) {
  dom::object u;
  if (o.at_key(field::usage).get_object().get(u)) return std::nullopt;
  llm::Usage usage;
  for (std::size_t t = 0; t < llm::kTokenFields.size(); ++t) usage.tokens[t] = uint_member(u, llm::kTokenFields[t]);
  double value = 0;
  cost = o.at_key(field::cost).get_double().get(value) ? 0 : llm::cost_from_double(value);
  return usage;
}

// The key the engine joins an outcome to its request by (query.cpp, outcome_key): node, the span
// id the gateway made, and the request id, which alone a client could reuse.
std::string outcome_key(dom::object o) {
  std::string key(string_member(o, field::node));
  key += '/';
  key += string_member(o, field::span_id);
  key += '/';
  key += string_member(o, field::request_id);
  return key;
}

template <class Visit>
void for_each_row(const std::vector<std::string>& lines, const std::vector<std::string>& outcome_lines, Visit visit) {
  dom::parser parser;
  std::map<std::string, Outcome, std::less<>> outcomes;
  for (const auto& line : outcome_lines) {
    dom::object o;
    if (parser.parse(line).get_object().get(o)) continue;
    Outcome& out = outcomes[outcome_key(o)];
    if (o.at_key(field::status).get_int64().get(out.status)) out.status = -1;
    out.bytes_out = uint_member(o, field::bytes_out);
    out.outcome = string_member(o, field::outcome);
    out.reason = string_member(o, field::reason);
    out.usage = usage_of(o, out.cost);
  }
  for (const auto& line : lines) {
    dom::object o;
    if (parser.parse(line).get_object().get(o) || string_member(o, field::event) != event_name<Event::request>) continue;
    Row r;
    if (o.at_key(field::status).get_int64().get(r.status)) r.status = -1;
    if (o.at_key(field::scope).at_key(field::id).get_string().get(r.scope)) r.scope = {};
    r.ts = string_member(o, field::ts);
    r.node = string_member(o, field::node);
    r.seq = uint_member(o, field::seq);
    r.agent = string_member(o, field::agent);
    r.route = string_member(o, field::route);
    r.action = string_member(o, field::action);
    r.method = string_member(o, field::method);
    r.path = string_member(o, field::path);
    r.decision = string_member(o, field::decision);
    r.reason = string_member(o, field::reason);
    r.request_id = string_member(o, field::request_id);
    r.outcome = string_member(o, field::outcome);
    r.bytes_out = uint_member(o, field::bytes_out);
    r.ahead = string_member(o, field::recorded) == "before_forward";
    r.model = string_member(o, field::model);
    r.usage = usage_of(o, r.cost);
    if (r.ahead) {
      if (auto it = outcomes.find(outcome_key(o)); it != outcomes.end()) {
        r.status = it->second.status;
        r.bytes_out = it->second.bytes_out;
        r.outcome = it->second.outcome;
        r.failure = it->second.reason;
        r.usage = it->second.usage;
        r.cost = it->second.cost;
      }
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
    if (r.usage) {
      out += ", " + std::to_string(r.usage->total()) + " tokens (" + std::to_string((*r.usage)[llm::TokenType::input]) +
             " in, " + std::to_string((*r.usage)[llm::TokenType::output]) + " out), cost " + llm::format_cost(r.cost);
    } else if (!r.model.empty() && r.status >= 0) {
      out += ", no usage reported";
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
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], shown(row[i]).size());
  }
  std::string out;
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      std::string text = shown(row[i]);
      out += text;
      if (i + 1 < row.size()) out += std::string(width[i] - text.size() + 2, ' ');
    }
    out += "\n";
  }
  return out;
}

// One table row per request: time, node#seq, scope, agent, action and the decision in words.
std::string record_rows(const std::vector<std::string>& lines, const std::vector<std::string>& outcomes) {
  std::vector<std::vector<std::string>> rows{{"TIME", "NODE#SEQ", "SCOPE", "AGENT", "ACTION", "DECISION"}};
  for_each_row(lines, outcomes, [&](const Row& r) {
    rows.push_back({std::string(r.ts), std::string(r.node) + "#" + std::to_string(r.seq), std::string(r.scope),
                    std::string(r.agent), action_of(r), decision_in_words(r)});
  });
  return rows.size() == 1 ? std::string() : aligned(rows);
}

std::string record_csv(const std::vector<std::string>& lines, const std::vector<std::string>& outcomes,
                       std::string_view kind, std::string_view chain) {
  std::string out;
  for_each_row(lines, outcomes, [&](const Row& r) {
    out += std::string(kind.empty() ? "" : std::string(kind) + ",") + csv_cell(r.ts) + "," + csv_cell(r.node) +
           "," + std::to_string(r.seq) + "," + csv_cell(r.scope) + "," + csv_cell(r.agent) + "," + csv_cell(r.route) +
           "," + csv_cell(action_of(r)) + "," + csv_cell(r.decision) + "," +
           (r.status >= 0 ? std::to_string(r.status) : "") + "," + std::to_string(r.bytes_out) + "," +
           csv_cell(r.reason) + "," + csv_cell(r.request_id) + "," + csv_cell(r.model) + "," +
           (r.usage ? std::to_string((*r.usage)[llm::TokenType::input]) : "") + "," +
           (r.usage ? std::to_string((*r.usage)[llm::TokenType::output]) : "") + "," +
           (r.usage ? llm::format_cost(r.cost) : "") + "," + std::string(chain) + "\n";
  });
  return out;
}
}  // namespace

std::string actions_json(const QueryOptions& o, const QueryResult& r) {
  return head_json("actions", o) + ",\"scanned\":" + scanned_json(r) + ",\"records\":" + records_array(r.records_json) +
         ",\"outcomes\":" + records_array(r.outcomes_json) + "}\n";
}

std::string actions_table(const QueryOptions& o, const QueryResult& r) {
  std::string out = record_rows(r.records_json, r.outcomes_json);
  return with_evidence(o, r, out.empty() ? "no requests in range\n" : out);
}

namespace {
constexpr const char* kRowColumns =
    "ts,node,seq,scope,agent,route,action,decision,status,bytes_out,reason,request_id,model,input_tokens,output_tokens,"
    "cost,chain\n";
}

std::string actions_csv(const QueryResult& r) {
  return kRowColumns + record_csv(r.records_json, r.outcomes_json, "", r.chain());
}

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
  out += ",\"accesses\":" + records_array(r.records_json) + ",\"attempts\":" + records_array(r.attempts_json) +
         ",\"outcomes\":" + records_array(r.outcomes_json) + "}\n";
  return out;
}

std::string never_table(const QueryOptions& o, const Criterion& c, const QueryResult& r, int exit_code) {
  std::string subject = c.kind + " " + shown(c.value);
  std::string where = "scope " + o.scope + (o.descendants ? " or any scope below it" : "");
  std::string out;
  if (exit_code == 0) {
    out = "NEVER: no allowed request under " + where + " touched " + subject + ".\n";
  } else if (exit_code == 1) {
    out = "ACCESSED: " + std::to_string(r.records_json.size()) + " allowed request(s) under " + where + " touched " +
          subject + ":\n" + record_rows(r.records_json, r.outcomes_json);
  } else {
    out = "INCOMPLETE: no allowed request found under " + where + " touching " + subject +
          ", but the evidence has a hole:\n";
    for (const auto& n : r.nodes) {
      if (n.problem) {
        out += "  node " + shown(n.node) + ": seq " + std::to_string(n.problem->seq) + ": " + shown(n.problem->why) + "\n";
      } else if (!n.starts_at_genesis) {
        out += "  node " + shown(n.node) + ": the log starts at seq " + std::to_string(n.first_seq) + "\n";
      }
    }
  }
  if (!r.attempts_json.empty()) {
    out += std::to_string(r.attempts_json.size()) + " denied attempt(s):\n" + record_rows(r.attempts_json, {});
  }
  for (const auto& n : r.nodes) {
    out += "scanned node " + shown(n.node) + ": seq " + std::to_string(n.first_seq) + ".." + std::to_string(n.last_seq) +
           " (" + std::to_string(n.records) + " records, chain " +
           (n.problem ? "broken" : !n.starts_at_genesis ? "partial" : "verified") + ")\n";
  }
  if (r.nodes.empty()) out += "no audit records in the directories given\n";
  return out;
}

std::string never_csv(const QueryResult& r) {
  // A last `evidence` row: an answer with no access and no attempt still says what it stands on.
  std::string evidence = "evidence" + std::string(std::count(kRowColumns, kRowColumns + std::strlen(kRowColumns), ','), ',');
  return "kind," + std::string(kRowColumns) + record_csv(r.records_json, r.outcomes_json, "access", r.chain()) +
         record_csv(r.attempts_json, {}, "attempt", r.chain()) + evidence + std::string(r.chain()) + "\n";
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
std::string cell(std::string_view raw, bool html) {
  std::string text = shown(raw);
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
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
      // Markdown: every character that could open markup is escaped: emphasis, code, links,
      // strikethrough, tables and HTML anywhere; autolinks at their "://", "www." or "@"; headings and
      // lists where a cell starts.
      std::string_view rest = std::string_view(text).substr(i);
      bool markup = std::string_view("\\`*_{}[]<>|~@").find(c) != std::string_view::npos ||
                    (c == ':' && rest.starts_with("://")) || (c == '.' && i >= 3 && text.compare(i - 3, 3, "www") == 0) ||
                    (i == 0 && (c == '-' || c == '+' || c == '#'));
      if (markup) out += '\\';
      out += c;
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
      if (s.subtree.llm_calls || !s.subtree.models.empty()) {
        both("models", joined_or_none(s.own.models), joined_or_none(s.subtree.models));
        both("model calls and usage", llm_in_words(s.own), llm_in_words(s.subtree));
      }
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
