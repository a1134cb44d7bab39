#include "plan/replay.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <sstream>

#include "audit/events.hpp"
#include "audit/record_fields.hpp"
#include "audit/segments.hpp"
#include "audit/verify.hpp"
#include "json/write.hpp"

namespace scopegate::plan {

namespace dom = simdjson::dom;
namespace field = audit::field;
using audit::string_member;

bool Replayed::intact() const {
  return std::all_of(nodes.begin(), nodes.end(), [](const audit::NodeScan& n) { return !n.problem; });
}

std::string_view Replayed::chain() const { return intact() ? "verified" : "broken"; }

namespace {

std::string scope_id(dom::object o) {
  dom::object scope;
  if (o.at_key(field::scope).get_object().get(scope)) return {};
  return std::string(string_member(scope, field::id));
}

std::int64_t time_member(dom::object o, std::string_view key) { return parse_us(string_member(o, key)).value_or(0); }

// The plan as registered, from its plan.open record: the same parser as POST /v1/plans.
std::optional<PlanRun> open_from(dom::object o) {
  std::string body = "{\"goal\":";
  json::append_string(body, string_member(o, field::goal));
  json::append_field(body, "mode", string_member(o, field::mode));
  dom::element tasks;
  if (o.at_key(field::tasks).get(tasks)) return std::nullopt;
  body += ",\"tasks\":";
  body += simdjson::minify(tasks);
  body += '}';
  body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  std::string why;
  auto spec = parse_plan(body, why);
  if (!spec) return std::nullopt;
  Owner owner{scope_id(o), std::string(string_member(o, field::agent)),
              std::string(string_member(o, field::principal)), {}};
  return PlanRun(std::string(string_member(o, field::plan)), std::move(*spec), std::move(owner),
                 time_member(o, field::started), time_member(o, field::expires));
}

struct Pending {  // a strict request recorded before forwarding: its duration is in its outcome
  std::string plan;
  std::size_t task;
  bool tool_call;
};

// Plans rebuilt record by record: `only` one plan (query plan), or every plan opened in the
// records read (a restart).
struct Rebuild {
  std::string only;
  std::map<std::string, PlanRun, std::less<>> plans;
  std::map<std::string, Pending, std::less<>> pending;  // by request_id
  std::uint64_t plan_records = 0;

  PlanRun* find(std::string_view id) {
    auto it = plans.find(id);
    return it == plans.end() ? nullptr : &it->second;
  }

  void line(dom::parser& parser, std::string_view line, const audit::RecordHead& head) {
    bool outcome = !pending.empty() && head.event == audit::event_name<audit::Event::request_outcome>;
    std::string_view needle = only.empty() ? std::string_view("\"plan\":") : std::string_view(only);
    if (!outcome && !::memmem(line.data(), line.size(), needle.data(), needle.size())) return;
    std::string padded(line);
    padded.reserve(line.size() + simdjson::SIMDJSON_PADDING);
    dom::object o;
    if (parser.parse(padded).get_object().get(o)) return;
    std::string_view event = string_member(o, field::event);
    std::string_view plan_id = string_member(o, field::plan);
    if (outcome) {
      auto it = pending.find(string_member(o, field::request_id));
      if (it == pending.end()) return;
      if (PlanRun* plan = find(it->second.plan)) {
        double ms = 0;
        if (o.at_key(field::duration_ms).get_double().get(ms)) ms = 0;
        plan->note_request(it->second.task, it->second.tool_call, std::llround(ms * 1000.0));
        ++plan_records;
      }
      pending.erase(it);
      return;
    }
    if (plan_id.empty() || (!only.empty() && plan_id != only)) return;
    if (event == audit::event_name<audit::Event::plan_open>) {
      if (!find(plan_id)) {
        if (auto opened = open_from(o)) plans.emplace(std::string(plan_id), std::move(*opened));
      }
      ++plan_records;
      return;
    }
    PlanRun* plan = find(plan_id);
    if (!plan) return;  // records before the plan's opening cannot be about it
    std::size_t task = plan->spec().find(string_member(o, field::task));
    if (event == audit::event_name<audit::Event::plan_task>) {
      auto from = task_state_named(string_member(o, field::from));
      auto to = task_state_named(string_member(o, field::to));
      if (task == npos || !from || !to) return;
      TaskChange c;
      c.task = task;
      c.from = *from;
      c.to = *to;
      c.cause = string_member(o, field::cause);
      c.scope = scope_id(o);
      c.blocked_by = string_member(o, field::blocked_by);
      c.request_id = string_member(o, field::request_id);
      c.at_us = time_member(o, field::at);
      plan->apply(c);
      ++plan_records;
    } else if (event == audit::event_name<audit::Event::plan_deviation>) {
      auto kind = deviation_named(string_member(o, field::kind));
      if (!kind) return;
      Deviation d;
      d.task = task;
      d.kind = *kind;
      d.scope = scope_id(o);
      d.agent = string_member(o, field::agent);
      d.action = string_member(o, field::action);
      d.request_id = string_member(o, field::request_id);
      d.at_us = time_member(o, field::at);
      bool enforced = false;
      if (!o.at_key(field::enforced).get_bool().get(enforced)) d.enforced = enforced;
      plan->apply(d);
      ++plan_records;
    } else if (event == audit::event_name<audit::Event::request> && task != npos) {
      std::string_view operation = string_member(o, field::operation);
      bool tool_call = string_member(o, field::decision) == "allow" &&
                       (operation == "execute_tool" || operation == "read_resource");
      ++plan_records;
      if (string_member(o, field::recorded) == "before_forward") {
        pending[std::string(string_member(o, field::request_id))] = Pending{std::string(plan_id), task, tool_call};
        return;
      }
      double ms = 0;
      if (o.at_key(field::duration_ms).get_double().get(ms)) ms = 0;
      plan->note_request(task, tool_call, std::llround(ms * 1000.0));
    }
  }

  // A request recorded ahead whose outcome never came (a crash): it still counts, with no time.
  void settle() {
    for (const auto& [request_id, p] : pending) {
      if (PlanRun* plan = find(p.plan)) plan->note_request(p.task, false, 0);
    }
    pending.clear();
  }
};

void sort_segments(std::vector<audit::SegmentFile>& segments) {
  std::stable_sort(segments.begin(), segments.end(), [](const auto& a, const auto& b) { return a.first_seq < b.first_seq; });
  segments.erase(std::unique(segments.begin(), segments.end(),
                             [](const auto& a, const auto& b) { return a.first_seq == b.first_seq; }),
                 segments.end());
}

}  // namespace

Replayed replay_plan(const std::vector<std::string>& dirs, std::string_view id) {
  Replayed r;
  std::map<std::string, std::vector<audit::SegmentFile>> nodes;
  for (const auto& dir : dirs) {
    if (!audit::list_segments(dir, nodes, r.error)) return r;
  }
  dom::parser parser;
  // A prefix is resolved first: the plans whose id starts with it.
  std::vector<std::string> matches;
  for (auto& [node, segments] : nodes) {
    sort_segments(segments);
    for (const auto& segment : segments) {
      audit::LineReader reader;
      if (!reader.open(segment.path, r.error)) return r;
      std::string_view line;
      std::uint64_t offset = 0;
      audit::RecordHead head;
      while (reader.next(line, offset)) {
        if (!audit::parse_head(line, head) || head.event != audit::event_name<audit::Event::plan_open>) continue;
        if (!::memmem(line.data(), line.size(), id.data(), id.size())) continue;
        std::string padded(line);
        padded.reserve(line.size() + simdjson::SIMDJSON_PADDING);
        dom::object o;
        if (parser.parse(padded).get_object().get(o)) continue;
        std::string_view plan = string_member(o, field::plan);
        if (plan.starts_with(id) && std::find(matches.begin(), matches.end(), plan) == matches.end()) {
          matches.emplace_back(plan);
        }
      }
      if (!reader.error().empty()) {
        r.error = segment.path + ": " + reader.error();
        return r;
      }
    }
  }
  if (matches.size() != 1) {
    if (matches.size() > 1) r.candidates = matches;
    return r;
  }
  // Then the plan, every node's chain followed as it is read.
  Rebuild rebuild;
  rebuild.only = matches.front();
  for (auto& [node, segments] : nodes) {
    audit::NodeScan scan;
    scan.node = node;
    scan.verified = true;
    audit::ChainVerifier chain(node);
    chain.accept_any_start();
    for (const auto& segment : segments) {
      audit::LineReader reader;
      if (!reader.open(segment.path, r.error)) return r;
      chain.begin_segment(segment);
      std::string_view line;
      std::uint64_t offset = 0, line_no = 0;
      audit::RecordHead head;
      while (reader.next(line, offset)) {
        ++line_no;
        ++r.records;
        chain.feed(line, line_no, head);
        if (scan.records++ == 0) {
          scan.first_seq = head.seq;
          scan.first_ts = std::string(head.ts);
        }
        scan.last_seq = head.seq;
        if (head.ts > scan.last_ts) scan.last_ts = std::string(head.ts);
        rebuild.line(parser, line, head);
      }
      if (!reader.error().empty()) {
        r.error = segment.path + ": " + reader.error();
        return r;
      }
      chain.end_segment(reader.tail_bytes(), line_no + 1);
    }
    scan.problem = chain.problem();
    r.nodes.push_back(std::move(scan));
  }
  rebuild.settle();
  r.plan_records = rebuild.plan_records;
  if (auto it = rebuild.plans.find(rebuild.only); it != rebuild.plans.end()) r.plan.emplace(std::move(it->second));
  return r;
}

std::vector<PlanRun> replay_live(const std::string& dir, const std::string& node, std::string_view since,
                                 std::int64_t now_us, std::string& error) {
  std::map<std::string, std::vector<audit::SegmentFile>> nodes;
  if (!audit::list_segments(dir, nodes, error)) return {};
  auto& segments = nodes[node];
  sort_segments(segments);
  dom::parser parser;
  Rebuild rebuild;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    // A segment that ended before `since` holds no plan still alive.
    if (i + 1 < segments.size()) {
      audit::LineReader first;
      std::string_view line;
      std::uint64_t offset = 0;
      audit::RecordHead head;
      std::string ignored;
      if (first.open(segments[i + 1].path, ignored) && first.next(line, offset) && audit::parse_head(line, head) &&
          head.ts < since) {
        continue;
      }
    }
    audit::LineReader reader;
    if (!reader.open(segments[i].path, error)) return {};
    std::string_view line;
    std::uint64_t offset = 0;
    audit::RecordHead head;
    while (reader.next(line, offset)) {
      if (audit::parse_head(line, head)) rebuild.line(parser, line, head);
    }
  }
  rebuild.settle();
  std::vector<PlanRun> out;
  for (auto& [id, plan] : rebuild.plans) out.push_back(std::move(plan));
  // Unfinished first (the expiry of one whose scope ended while the gateway was down is written by
  // the registry's first advance()), then the finished, the latest ended first: what the registry
  // can hold keeps what matters.
  std::stable_sort(out.begin(), out.end(), [](const PlanRun& a, const PlanRun& b) {
    if (a.finished() != b.finished()) return !a.finished();
    return a.ended_us() > b.ended_us();
  });
  (void)now_us;
  return out;
}

namespace {

void append_evidence(std::string& out, const Replayed& r) {
  out += ",\"evidence\":{\"chain\":";
  json::append_string(out, r.chain());
  json::append_int(out, "records", static_cast<std::int64_t>(r.records));
  json::append_int(out, "plan_records", static_cast<std::int64_t>(r.plan_records));
  out += ",\"nodes\":[";
  for (std::size_t i = 0; i < r.nodes.size(); ++i) {
    const auto& n = r.nodes[i];
    if (i) out += ',';
    out += "{\"node\":";
    json::append_string(out, n.node);
    json::append_int(out, "records", static_cast<std::int64_t>(n.records));
    json::append_int(out, "first_seq", static_cast<std::int64_t>(n.first_seq));
    json::append_int(out, "last_seq", static_cast<std::int64_t>(n.last_seq));
    if (n.problem) audit::append_problem_json(out, *n.problem);
    out += '}';
  }
  out += "]}";
}

// The view, parsed back for the table and the CSV: one rendering, read by every format.
struct Parsed {
  dom::parser parser;
  std::string text;
  dom::object view;
};

bool parse_view(const Replayed& r, Parsed& p) {
  r.plan->write_view(p.text);
  p.text.reserve(p.text.size() + simdjson::SIMDJSON_PADDING);
  return !p.parser.parse(p.text).get_object().get(p.view);
}

std::string str(dom::object o, std::string_view key) { return std::string(string_member(o, key)); }

std::string num(dom::element e) {
  std::ostringstream s;
  s << e;
  return s.str();
}

std::string csv_cell(std::string_view v) {
  if (v.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(v);
  std::string out = "\"";
  for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

std::string replayed_json(const Replayed& r) {
  std::string out;
  r.plan->write_view(out);
  out.pop_back();  // the view's closing brace: the evidence goes inside it
  append_evidence(out, r);
  out += "}\n";
  return out;
}

std::string replayed_table(const Replayed& r) {
  Parsed p;
  if (!parse_view(r, p)) return "the plan view could not be rendered\n";
  const auto& v = p.view;
  std::ostringstream out;
  out << "plan " << str(v, "plan") << "  (" << str(v, "mode") << ", " << str(v, "state");
  if (!str(v, "outcome").empty()) out << ": " << str(v, "outcome");
  out << ")\n";
  out << "goal       " << str(v, "goal") << "\n";
  out << "scope      " << str(v, "scope") << "  agent " << str(v, "agent") << "  principal " << str(v, "principal")
      << "\n";
  out << "started    " << str(v, "started");
  if (!str(v, "ended").empty()) out << "  ended " << str(v, "ended");
  out << "\n\n";
  char line[512];
  std::snprintf(line, sizeof line, "%-16s %-12s %-10s %-27s %-27s %8s %10s %10s\n", "TASK", "AGENT", "STATE",
                "STARTED", "ENDED", "REQUESTS", "TOOL_MS", "DEVIATIONS");
  out << line;
  for (dom::object t : v["tasks"].get_array()) {
    std::string state = str(t, "state");
    if (!str(t, "blocked_by").empty()) state += " (by " + str(t, "blocked_by") + ")";
    std::snprintf(line, sizeof line, "%-16s %-12s %-10s %-27s %-27s %8s %10s %10s\n", str(t, "id").c_str(),
                  str(t, "agent").c_str(), state.c_str(), str(t, "started").c_str(), str(t, "ended").c_str(),
                  num(t["requests"]).c_str(), num(t["tool_ms"]).c_str(), num(t["deviations"]).c_str());
    out << line;
  }
  dom::array deviations = v["deviations"].get_array();
  out << "\ndeviations: " << num(v["deviations_total"]) << "\n";
  for (dom::object d : deviations) {
    out << "  " << str(d, "at") << "  " << str(d, "kind") << "  task " << (str(d, "task").empty() ? "-" : str(d, "task"))
        << "  agent " << str(d, "agent") << "  action " << str(d, "action") << "  scope " << str(d, "scope")
        << (d["enforced"].get_bool().value_unsafe() ? "  (refused)" : "  (observed)") << "\n";
  }
  for (dom::object c : v["cascades"].get_array()) {
    out << "cascade: " << str(c, "failed") << " failed at " << str(c, "at") << ", blocking";
    for (auto b : c["blocked"].get_array()) out << " " << std::string_view(b.get_string().value_unsafe());
    out << "\n";
  }
  dom::object progress = v["progress"].get_object();
  dom::object path = v["critical_path"].get_object();
  dom::object overhead = v["overhead"].get_object();
  out << "\nprogress   " << num(progress["completed"]) << "/" << num(progress["total"]) << " tasks completed ("
      << num(progress["ratio"]) << "), weighted by the critical path " << num(progress["weighted"]) << "\n";
  out << "critical   ";
  bool first = true;
  for (auto t : path["tasks"].get_array()) {
    out << (first ? "" : " -> ") << std::string_view(t.get_string().value_unsafe());
    first = false;
  }
  out << "  (length " << num(path["length"]) << ", remaining " << num(path["remaining"]) << ")\n";
  out << "overhead   tools " << num(overhead["tool_ms"]) << " ms, hops " << num(overhead["hop_ms"]) << " ms, waiting "
      << num(overhead["wait_ms"]) << " ms (coordination " << num(overhead["ratio"]) << ")\n";
  out << "\nevidence   " << r.records << " records scanned, " << r.plan_records << " about the plan; chain "
      << r.chain() << "\n";
  for (const auto& n : r.nodes) {
    if (n.problem) out << "  node " << n.node << ": broken at seq " << n.problem->seq << ": " << n.problem->why << "\n";
  }
  return out.str();
}

std::string replayed_csv(const Replayed& r) {
  Parsed p;
  if (!parse_view(r, p)) return {};
  const auto& v = p.view;
  std::string out = "plan,task,agent,state,critical,depends_on,scope,started,ended,blocked_by,requests,tool_ms,"
                    "deviations,chain\n";
  for (dom::object t : v["tasks"].get_array()) {
    std::string deps;
    for (auto d : t["depends_on"].get_array()) deps += (deps.empty() ? "" : " ") + std::string(d.get_string().value_unsafe());
    out += csv_cell(str(v, "plan")) + "," + csv_cell(str(t, "id")) + "," + csv_cell(str(t, "agent")) + "," +
           csv_cell(str(t, "state")) + "," + num(t["critical"]) + "," + csv_cell(deps) + "," + csv_cell(str(t, "scope")) +
           "," + csv_cell(str(t, "started")) + "," + csv_cell(str(t, "ended")) + "," + csv_cell(str(t, "blocked_by")) +
           "," + num(t["requests"]) + "," + num(t["tool_ms"]) + "," + num(t["deviations"]) + "," +
           std::string(r.chain()) + "\n";
  }
  return out;
}

}  // namespace scopegate::plan
