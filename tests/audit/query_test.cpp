#include "audit/query.hpp"
#include "audit/query_output.hpp"

#include <doctest/doctest.h>

using scopegate::audit::canonical_time;

TEST_CASE("--since/--until take RFC 3339 UTC and compare with record timestamps as text") {
  CHECK(canonical_time("2026-11-21", false) == "2026-11-21T00:00:00.000000Z");
  CHECK(canonical_time("2026-11-21", true) == "2026-11-21T23:59:59.999999Z");
  CHECK(canonical_time("2026-11-21T10:00:00Z", false) == "2026-11-21T10:00:00.000000Z");
  CHECK(canonical_time("2026-11-21T10:00:00Z", true) == "2026-11-21T10:00:00.999999Z");
  CHECK(canonical_time("2026-11-21T10:00:00.5Z", false) == "2026-11-21T10:00:00.500000Z");
  CHECK_FALSE(canonical_time("2026-11-21T10:00:00+01:00", false));
  CHECK_FALSE(canonical_time("yesterday", false));
  CHECK_FALSE(canonical_time("2026-11-21T10:00:00.1234567Z", false));
}

// ---- run_query on a small hand-made log ----

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "audit/chain.hpp"

namespace {
namespace audit = scopegate::audit;

constexpr const char* kRoot = "01a00000-0000-7000-8000-000000000001";
constexpr const char* kChild = "01a00000-0000-7000-8000-000000000002";
constexpr const char* kOther = "01a00000-0000-7000-8000-0000000000f3";

std::string scope_ref(const char* id, const char* parent, int depth) {
  std::string path = parent ? std::string(parent) + "/" + id : std::string(id);
  return std::string(",\"scope\":{\"id\":\"") + id + "\"" + (parent ? std::string(",\"parent\":\"") + parent + "\"" : "") +
         ",\"root\":\"" + (parent ? parent : id) + "\",\"depth\":" + std::to_string(depth) + ",\"path\":\"" + path + "\"}";
}

// One node's log: root (planner for user:alice) → child (researcher); another root for user:bob.
// The child makes a strict request (written ahead, then its outcome) and is refused once.
struct HandMadeLog {
  std::filesystem::path dir;
  std::vector<std::string> lines;

  HandMadeLog() {
    dir = std::filesystem::temp_directory_path() / ("sg-query-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto opened = [](const char* actor, const char* delegator, const char* principal, const char* objective) {
      return std::string(",\"how\":\"minted\",\"opened\":{\"actor\":\"") + actor + "\",\"delegator\":" +
             (delegator ? "\"" + std::string(delegator) + "\"" : "null") + ",\"principal\":\"" + principal +
             "\",\"objective\":\"" + objective + "\"}";
    };
    std::vector<std::pair<std::string, std::string>> records = {
        {"segment.start", ",\"segment\":\"gw-1-00000000000000000001.jsonl\",\"cause\":\"start\""},
        {"scope.open", scope_ref(kRoot, nullptr, 0) + ",\"principal\":\"user:alice\"" +
                           opened("planner", nullptr, "user:alice", "quarterly review")},
        {"scope.open", scope_ref(kChild, kRoot, 1) + ",\"principal\":\"user:alice\"" +
                           opened("researcher", "planner", "user:alice", "Find staff numbers")},
        {"request", ",\"request_id\":\"r1\"" + scope_ref(kChild, kRoot, 1) +
                        ",\"principal\":\"user:alice\",\"agent\":\"researcher\",\"route\":\"hr\",\"action\":\"tool:hr\","
                        "\"tool\":\"hr\",\"datasets\":[\"hr-records\"],\"decision\":\"allow\",\"recorded\":\"before_forward\","
                        "\"bytes_in\":10"},
        {"request", ",\"request_id\":\"r2\"" + scope_ref(kChild, kRoot, 1) +
                        ",\"principal\":\"user:alice\",\"agent\":\"researcher\",\"route\":\"files\",\"action\":\"tool:files\","
                        "\"decision\":\"deny\",\"reason\":\"grant_exceeded\",\"status\":403,\"bytes_out\":90,\"bytes_in\":0"},
        {"request.outcome", ",\"request_id\":\"r1\"" + scope_ref(kChild, kRoot, 1) +
                                ",\"principal\":\"user:alice\",\"agent\":\"researcher\",\"route\":\"hr\",\"status\":200,"
                                "\"duration_ms\":1.5,\"bytes_out\":2048"},
        {"scope.open", scope_ref(kOther, nullptr, 0) + ",\"principal\":\"user:bob\"" +
                           opened("planner", nullptr, "user:bob", "weekly digest")},
    };
    audit::Digest prev = audit::kGenesis;
    std::string file;
    std::uint64_t seq = 0;
    for (const auto& [event, members] : records) {
      char ts[40];
      std::snprintf(ts, sizeof ts, "2026-11-21T10:00:%02llu.000000Z", static_cast<unsigned long long>(seq));
      std::string line;
      prev = audit::seal(line, ++seq, ts, "gw-1", event, members, prev);
      lines.push_back(line.substr(0, line.size() - 1));
      file += line;
    }
    write(file);
  }
  ~HandMadeLog() { std::filesystem::remove_all(dir); }

  void write(const std::string& text) const {
    std::ofstream(dir / "gw-1-00000000000000000001.jsonl", std::ios::binary | std::ios::trunc) << text;
  }
  audit::QueryOptions options(const char* scope) const {
    audit::QueryOptions o;
    o.dirs = {dir.string()};
    o.scope = scope;
    return o;
  }
};
}  // namespace

TEST_CASE("footprint joins a strict request's outcome and totals the subtree") {
  HandMadeLog log;
  auto r = audit::run_query(audit::QueryKind::footprint, log.options(kRoot));
  REQUIRE(r.error.empty());
  REQUIRE(r.scopes.count(kChild));
  const auto& child = r.scopes.at(kChild);
  CHECK(child.own.allowed == 1);
  CHECK(child.own.denied == 1);
  CHECK(child.own.bytes_out == 2048 + 90);  // the outcome's bytes, not the write-ahead record's zero
  CHECK(child.own.datasets == std::set<std::string>{"hr-records"});
  CHECK(child.delegator == "planner");
  CHECK(child.principal == "user:alice");
  CHECK(r.scopes.at(kRoot).subtree.allowed == 1);
  CHECK_FALSE(r.scopes.count(kOther));
  CHECK(r.chain() == "unverified");
}

TEST_CASE("actions show the outcome of a request written ahead, and refusals in words") {
  HandMadeLog log;
  auto o = log.options(kChild);
  auto r = audit::run_query(audit::QueryKind::actions, o);
  CHECK(r.records_json.size() == 2);  // the two requests
  CHECK(r.outcomes_json.size() == 1);  // and the outcome of the strict one, apart
  auto table = audit::actions_table(o, r);
  CHECK(table.find("allowed: 200, 2.0 KiB out") != std::string::npos);
  CHECK(table.find("denied: the scope was not granted this action (grant_exceeded)") != std::string::npos);
  CHECK(table.find(kChild) != std::string::npos);  // whole ids
  auto csv = audit::actions_csv(r);
  CHECK(csv.find(",allow,200,2048,") != std::string::npos);
}

TEST_CASE("query scopes lists and filters, prefixes resolve to one id or to the candidates") {
  HandMadeLog log;
  audit::QueryOptions o;
  o.dirs = {log.dir.string()};
  auto r = audit::run_query(audit::QueryKind::scopes, o);
  CHECK(audit::listed_scopes(o, r).size() == 3);
  o.filter.principal = "user:bob";
  auto listed = audit::listed_scopes(o, r);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]->id == kOther);
  CHECK(listed[0]->objective == "weekly digest");
  o.filter = {};
  o.filter.objective = "STAFF";
  REQUIRE(audit::listed_scopes(o, r).size() == 1);
  CHECK(audit::listed_scopes(o, r)[0]->own.denied == 1);
  o.filter = {};
  o.filter.root_only = true;
  CHECK(audit::listed_scopes(o, r).size() == 2);

  std::string error;
  CHECK(audit::scopes_with_prefix(o.dirs, "01a00000-0000-7000-8000-0000000000f", error) ==
        std::vector<std::string>{kOther});
  CHECK(audit::scopes_with_prefix(o.dirs, "01a00000", error).size() == 3);
  CHECK(audit::scopes_with_prefix(o.dirs, "ffff", error).empty());
  CHECK(error.empty());
  CHECK(audit::is_full_scope_id(kRoot));
  CHECK_FALSE(audit::is_full_scope_id("01a00000"));
  CHECK_FALSE(audit::is_full_scope_id("01a00000-0000-7000-8000-00000000000g"));
}

TEST_CASE("--verify: the chain status is in the table, the CSV and the exit code") {
  HandMadeLog log;
  auto o = log.options(kRoot);
  o.verify = true;
  auto r = audit::run_query(audit::QueryKind::footprint, o);
  CHECK(r.chain() == "verified");
  CHECK(audit::evidence_exit_code(o, r) == 0);
  CHECK(audit::footprint_table(o, r).starts_with("evidence: hash chain VERIFIED (gw-1 seq 1..7)"));

  std::string edited;
  for (std::size_t i = 0; i < log.lines.size(); ++i) {
    std::string line = log.lines[i];
    if (i == 6) line.replace(line.find("weekly"), 6, "WEEKLY");  // bob's scope: not in alice's tree
    edited += line + "\n";
  }
  log.write(edited);
  r = audit::run_query(audit::QueryKind::footprint, o);
  CHECK(r.chain() == "broken");
  CHECK(audit::evidence_exit_code(o, r) == 1);
  auto table = audit::footprint_table(o, r);
  CHECK(table.starts_with("evidence: hash chain BROKEN: node gw-1 at seq 7"));
  auto csv = audit::footprint_csv(r);
  CHECK(csv.find(",broken\n") != std::string::npos);
  CHECK(csv.find(",verified\n") == std::string::npos);
  o.verify = false;
  CHECK(audit::evidence_exit_code(o, r) == 0);  // without --verify nothing was claimed
}
