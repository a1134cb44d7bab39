#include "guard/budget_replay.hpp"

#include <simdjson.h>

#include <array>
#include <map>
#include <string>
#include <vector>

#include "audit/events.hpp"
#include "audit/record_fields.hpp"
#include "audit/segments.hpp"
#include "llm/usage.hpp"

namespace scopegate::guard {

namespace {

namespace field = audit::field;

// The timestamp of a segment's first record (its segment.start), or "" when it has none.
std::string first_timestamp(const audit::SegmentFile& segment) {
  audit::LineReader reader(64 * 1024);
  std::string error;
  std::string_view line;
  std::uint64_t offset = 0;
  audit::RecordHead head;
  if (!reader.open(segment.path, error) || !reader.next(line, offset) || !audit::parse_head(line, head)) return {};
  return std::string(head.ts);
}

}  // namespace

bool charge_of_record(std::string_view line, ReplayedCharge& out) {
  audit::RecordHead head;
  if (!audit::parse_head(line, head)) return false;
  bool request = head.event == audit::event_name<audit::Event::request>;
  bool outcome = head.event == audit::event_name<audit::Event::request_outcome>;
  if (!request && !outcome) return false;
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(line.data(), line.size(), true).get(doc)) return false;
  simdjson::dom::object record, scope;
  if (doc.get_object().get(record) || record.at_key(field::scope).get_object().get(scope)) return false;
  std::string_view path = audit::string_member(scope, field::path);
  if (path.empty()) return false;
  Charge charge;
  bool result_here = true;  // bytes, tokens and cost: in the request record, or in its request.outcome
  if (request) {
    if (audit::string_member(record, field::decision) != "allow") return false;
    if (!audit::string_member(record, field::action).empty()) charge.actions = 1;
    if (!audit::string_member(record, field::child_scope).empty()) charge.delegations = 1;
    // A record written before forwarding has no bytes yet: its request.outcome brings them.
    result_here = audit::string_member(record, field::recorded).empty();
  }
  if (result_here) {
    charge.bytes_out = audit::uint_member(record, field::bytes_out);
    simdjson::dom::object usage;
    if (!record.at_key(field::usage).get_object().get(usage)) {
      charge.tokens = llm::saturating_add(audit::uint_member(usage, llm::kTokenFields[0]),
                                          audit::uint_member(usage, llm::kTokenFields[1]));
      double cost = 0;
      if (!record.at_key(field::cost).get_double().get(cost)) charge.cost = llm::cost_from_double(cost);
    }
  }
  if (charge == Charge{}) return false;
  out.path.assign(path);
  out.charge = charge;
  return true;
}

ReplayStats replay_budgets(const std::string& dir, const std::string& node, std::string_view since,
                           std::int64_t expires, BudgetStore& store) {
  ReplayStats stats;
  std::map<std::string, std::vector<audit::SegmentFile>> nodes;
  if (!audit::list_segments(dir, nodes, stats.error)) return stats;
  ReplayedCharge replayed;
  std::array<ChainScope, 16> chain{};
  const auto& segments = nodes[node];
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto& segment = segments[i];
    if (i + 1 < segments.size()) {
      std::string next_start = first_timestamp(segments[i + 1]);
      if (!next_start.empty() && next_start < since) {
        ++stats.segments_skipped;
        continue;
      }
    }
    audit::LineReader reader;
    if (!reader.open(segment.path, stats.error)) return stats;
    std::string_view line;
    std::uint64_t offset = 0;
    while (reader.next(line, offset)) {
      audit::RecordHead head;
      if (!audit::parse_head(line, head) || head.ts < since) continue;
      ++stats.records;
      if (!charge_of_record(line, replayed)) continue;
      std::size_t n = 0;
      std::string_view rest = replayed.path;
      while (!rest.empty() && n < chain.size()) {
        auto slash = rest.find('/');
        chain[n++] = ChainScope{rest.substr(0, slash), nullptr, expires};
        rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
      }
      if (!rest.empty()) continue;  // deeper than any token: not a record this gateway wrote
      store.settle({chain.data(), n}, Charge{}, replayed.charge);
      ++stats.charged;
    }
    if (!reader.error().empty()) {
      stats.error = reader.error();
      return stats;
    }
  }
  return stats;
}

}  // namespace scopegate::guard
