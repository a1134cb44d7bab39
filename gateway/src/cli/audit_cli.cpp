#include "cli/audit_cli.hpp"

#include <iostream>
#include <string>
#include <vector>

#include "audit/query.hpp"
#include "audit/query_output.hpp"
#include "audit/verify.hpp"
#include "cli/audit_checkpoint_cli.hpp"
#include "config/loader.hpp"
#include "json/write.hpp"
#include "plan/replay.hpp"

namespace scopegate::cli {

namespace {

// Usage errors exit 64 (EX_USAGE), apart from `never`'s answers 0, 1 and 2. Exit 2 is also every
// query's answer when it cannot speak from evidence: an unreadable log, or a scope id it has no
// record of.
constexpr int kUsageError = 64;
constexpr int kNotProven = 2;

constexpr const char* kQueryUsage = R"(Usage:
  scopegate query footprint SCOPE [options]   per scope in the subtree: actions, tools, datasets, bytes, times
  scopegate query actions SCOPE [options]     the request records themselves
  scopegate query tree SCOPE [options]        the delegation tree with objectives and counts
  scopegate query never SCOPE (--tool T | --dataset D | --route R | --resource U) [options]
      exit 0: no allowed request touched it (the chain of every node verified over the range);
      exit 1: it was touched (the records are listed); exit 2: none found, but the evidence has a
      hole (a broken chain, a gap, or a log whose start is missing). Denied attempts are listed too.
  scopegate query plan PLAN [--format table|json|csv]
      a plan rebuilt from the log alone (docs/plans.md): its tasks with their states, scopes, times,
      requests and tool time, its deviations and cascades, progress, critical path and overhead, as
      GET /v1/plans/{id} showed it. Every node's chain is verified: exit 1 after the answer when one
      is broken, 2 when no plan.open record for PLAN is in the logs.
  scopegate query scopes [--principal P] [--agent A] [--root-only] [--objective TEXT] [options]
      the scopes the logs know (id, parent, depth, principal, actor, delegator, objective, first and
      last activity, allowed and denied counts); exit 1 when none matches.
  SCOPE is a full scope id or a unique prefix of one (8 characters or more usually suffice); an
  ambiguous prefix lists its candidates and exits 2.
  Every query exits 2 when the logs scanned hold no record of SCOPE (a mistyped id proves nothing)
  or cannot be read; footprint, actions, tree and scopes exit 1 after their answer when --verify
  found a broken chain or a gap; 64 for a usage error.

Options:
  --log DIR              an audit directory (repeatable: several nodes, or live + archive)
  --config FILE          take the directory from FILE's audit.dir (only `node` and `audit` are read)
  --since T, --until T   RFC 3339 UTC (2026-11-21, 2026-11-21T10:00:00Z, ...), inclusive
  --descendants          include every scope below SCOPE (the default)
  --no-descendants       SCOPE's own records only
  --format F             table (default), json (schema/query-*.schema.json) or csv; footprint also
                         html or md: a one-file report for a ticket (the chains are always verified)
  --verify               footprint/actions/tree/scopes: also verify the hash chains (never always
                         does); the status is printed above and below tables and in a CSV column
  --checkpoints DIR --public-key FILE
                         footprint: also hold the logs against their signed checkpoints (as audit
                         verify does); the result goes into the report, and damage exits 1
)";

constexpr const char* kAuditUsage = R"(Usage: scopegate audit verify --log DIR [--log DIR...] [--format table|json]
                              [--checkpoints DIR --public-key FILE [--public-key FILE...]]
       scopegate audit keygen --out PREFIX

Follows every node's hash chain in the directories: each line's hash, seq contiguous from 1, prev
linking to the previous record, each segment starting with segment.start. Exit 0 when intact;
1 with the first bad seq and why; 2 when a directory or file cannot be read (nothing was proven).
The chain alone cannot show records cut from its very end, nor a log rewritten whole with its hashes
recomputed. With --checkpoints (the signed checkpoints of audit.checkpoints, docs/audit.md) it can:
every checkpoint must carry a valid signature by a --public-key, its record must be in the log with
the hash it signed, and the log must reach the newest one; else exit 1 naming the seq. A checkpoint
signed by no key given also exits 1. An unreadable checkpoint directory or key exits 2.
keygen makes the key pair (PREFIX.key, mode 0600, and PREFIX.pub) and never overwrites a file.
)";

struct Parsed {
  std::vector<std::string> positional;
  audit::QueryOptions options;
  std::string format = "table";
  std::optional<audit::Criterion> criterion;
  std::string config;
  bool help = false;
  std::string error;
};

Parsed parse_query_args(int argc, char** argv, int first) {
  Parsed p;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (auto eq = a.find('='); eq != std::string::npos) {
        std::string v = a.substr(eq + 1);
        a = a.substr(0, eq);
        return v;
      }
      if (i + 1 < argc) return argv[++i];
      p.error = "option " + a + " needs a value";
      return "";
    };
    if (a == "--help" || a == "-h") {
      p.help = true;
    } else if (a == "--descendants") {
      p.options.descendants = true;
    } else if (a == "--no-descendants") {
      p.options.descendants = false;
    } else if (a == "--verify") {
      p.options.verify = true;
    } else if (a == "--root-only") {
      p.options.filter.root_only = true;
    } else if (!a.starts_with("--")) {
      p.positional.push_back(a);
    } else {
      std::string key = a.substr(0, a.find('='));
      std::string v = value();
      if (!p.error.empty()) return p;
      if (key == "--log") {
        p.options.dirs.push_back(v);
      } else if (key == "--config") {
        p.config = v;
      } else if (key == "--format") {
        p.format = v;
        if (v != "table" && v != "json" && v != "csv" && v != "html" && v != "md") {
          p.error = "--format is table, json, csv, html or md";
        }
      } else if (key == "--principal") {
        p.options.filter.principal = v;
      } else if (key == "--agent") {
        p.options.filter.agent = v;
      } else if (key == "--objective") {
        p.options.filter.objective = v;
      } else if (key == "--since" || key == "--until") {
        auto t = audit::canonical_time(v, key == "--until");
        if (!t) p.error = key + " '" + v + "': expected RFC 3339 UTC such as 2026-11-21 or 2026-11-21T10:00:00Z";
        else (key == "--since" ? p.options.since : p.options.until) = *t;
      } else if (key == "--tool" || key == "--dataset" || key == "--route" || key == "--resource") {
        if (p.criterion) p.error = "give one of --tool, --dataset, --route, --resource";
        p.criterion = audit::Criterion{key.substr(2), v};
      } else {
        p.error = "unknown option '" + key + "'";
      }
    }
    if (!p.error.empty()) return p;
  }
  return p;
}

// --log directories, or the config's audit.dir.
bool resolve_dirs(Parsed& p) {
  if (!p.config.empty()) {
    auto loaded = config::load_audit_section(p.config);
    if (!loaded.config) {
      for (const auto& e : loaded.errors) std::cerr << e.to_string() << "\n";
      return false;
    }
    if (loaded.config->audit.dir.empty()) {
      std::cerr << p.config << ": no audit.dir configured\n";
      return false;
    }
    p.options.dirs.push_back(loaded.config->audit.dir);
  }
  if (p.options.dirs.empty()) {
    std::cerr << "give the audit directory with --log DIR (or --config FILE)\n";
    return false;
  }
  return true;
}

}  // namespace

namespace {

// What the signed checkpoints say of the logs a query read, for the evidence it prints. Nullopt
// when none were asked for; `error` when they cannot be read.
std::optional<std::string> checkpoint_evidence(const CheckpointOptions& options, const std::vector<std::string>& dirs,
                                               bool& intact, std::string& error) {
  auto checkpoints = read_checkpoints(options, error);
  if (!checkpoints || !error.empty()) return std::nullopt;
  std::vector<audit::ChainReport> reports;
  if (!audit::verify_directories(dirs, reports, error, checkpoints->seqs())) return std::nullopt;
  checkpoints->compare(reports);
  intact = checkpoints->intact();
  std::string out;
  for (const auto& r : reports) out += "node " + r.node + ":" + checkpoints->node_line(r.node).substr(1);
  return out + checkpoints->summary_line();
}

}  // namespace

// `query plan PLAN`: no scope, no time range: the plan's records wherever they are.
int query_plan(Parsed& p) {
  if (p.positional.size() != 2) {
    std::cerr << kQueryUsage;
    return kUsageError;
  }
  if (p.criterion || !p.options.since.empty() || !p.options.until.empty() || !p.options.descendants ||
      p.format == "html" || p.format == "md") {
    std::cerr << "query plan takes --log/--config and --format table|json|csv only\n";
    return kUsageError;
  }
  const std::string& id = p.positional[1];
  if (id.size() < 4) {
    std::cerr << "PLAN is a plan id, or a prefix of one of at least 4 characters\n";
    return kUsageError;
  }
  if (!resolve_dirs(p)) return kUsageError;
  auto r = plan::replay_plan(p.options.dirs, id);
  if (!r.error.empty()) {
    std::cerr << "cannot read the audit log: " << r.error << "\n";
    return kNotProven;
  }
  if (!r.candidates.empty()) {
    std::cerr << "'" << id << "' is the start of " << r.candidates.size()
              << " plan ids; give more of the one you mean:\n";
    for (const auto& c : r.candidates) std::cerr << "  " << c << "\n";
    return kNotProven;
  }
  if (!r.plan) {
    // A plan the logs never opened proves nothing: never an empty plan for a mistyped id.
    std::cerr << "plan " << id << " has no plan.open record in the audit logs scanned (" << r.records
              << " records): check the id and the directories\n";
    return kNotProven;
  }
  std::cout << (p.format == "json" ? plan::replayed_json(r) : p.format == "csv" ? plan::replayed_csv(r)
                                                                                 : plan::replayed_table(r));
  return r.intact() ? 0 : 1;
}

int cmd_query(int argc, char** argv) {
  CheckpointOptions checkpoint_options;
  if (std::string error; !take_checkpoint_options(argc, argv, 2, checkpoint_options, error)) {
    std::cerr << error << "\n" << kQueryUsage;
    return kUsageError;
  }
  Parsed p = parse_query_args(argc, argv, 2);
  if (p.help) {
    std::cout << kQueryUsage;
    return 0;
  }
  if (!p.error.empty()) {
    std::cerr << p.error << "\n" << kQueryUsage;
    return kUsageError;
  }
  std::string verb = p.positional.empty() ? std::string() : p.positional[0];
  if (verb == "plan") return query_plan(p);
  audit::QueryKind kind;
  if (verb == "footprint") kind = audit::QueryKind::footprint;
  else if (verb == "actions") kind = audit::QueryKind::actions;
  else if (verb == "tree") kind = audit::QueryKind::tree;
  else if (verb == "never") kind = audit::QueryKind::never;
  else if (verb == "scopes") kind = audit::QueryKind::scopes;
  else {
    std::cerr << (verb.empty() ? std::string() : "unknown query '" + verb + "'\n") << kQueryUsage;
    return kUsageError;
  }
  bool listing = kind == audit::QueryKind::scopes;
  if (p.positional.size() != (listing ? 1u : 2u)) {
    std::cerr << kQueryUsage;
    return kUsageError;
  }
  const auto& filter = p.options.filter;
  if (!listing && (!filter.principal.empty() || !filter.agent.empty() || !filter.objective.empty() || filter.root_only)) {
    std::cerr << "--principal, --agent, --objective and --root-only apply to query scopes only\n";
    return kUsageError;
  }
  if (kind == audit::QueryKind::never && !p.criterion) {
    std::cerr << "query never needs one of --tool, --dataset, --route, --resource\n";
    return kUsageError;
  }
  if (kind != audit::QueryKind::never && p.criterion) {
    std::cerr << "--" << p.criterion->kind << " applies to query never only\n";
    return kUsageError;
  }
  if ((p.format == "html" || p.format == "md") && kind != audit::QueryKind::footprint) {
    std::cerr << "--format " << p.format << " is a footprint report: use it with query footprint\n";
    return kUsageError;
  }
  if (p.format == "html" || p.format == "md") p.options.verify = true;  // a report states what it proves
  if (!listing) {
    p.options.scope = p.positional[1];
    if (p.options.scope.size() < 4) {
      std::cerr << "SCOPE is a scope id, or a prefix of one of at least 4 characters\n";
      return kUsageError;
    }
  }
  if (!resolve_dirs(p)) return kind == audit::QueryKind::never ? kNotProven : kUsageError;

  // A shortened id is resolved to the one scope it names before any evidence is read for it.
  if (!listing && !audit::is_full_scope_id(p.options.scope)) {
    std::string error;
    auto candidates = audit::scopes_with_prefix(p.options.dirs, p.options.scope, error);
    if (!error.empty()) {
      std::cerr << "cannot read the audit log: " << error << "\n";
      return kNotProven;
    }
    if (candidates.empty()) {
      std::cerr << "no scope id in the audit logs scanned starts with '" << p.options.scope << "': check the id\n";
      return kNotProven;
    }
    if (candidates.size() > 1) {
      std::cerr << "'" << p.options.scope << "' is the start of " << candidates.size()
                << " scope ids; give more of the one you mean:\n";
      for (const auto& c : candidates) std::cerr << "  " << c << "\n";
      return kNotProven;
    }
    p.options.scope = candidates.front();
  }

  auto result = audit::run_query(kind, p.options, p.criterion ? &*p.criterion : nullptr);
  if (!result.error.empty()) {
    std::cerr << "cannot read the audit log: " << result.error << "\n";
    return kNotProven;  // for `never`, unreadable evidence is incomplete evidence
  }
  bool checkpoints_intact = true;
  if (!checkpoint_options.dir.empty()) {
    if (kind != audit::QueryKind::footprint || p.format == "json" || p.format == "csv") {
      std::cerr << "--checkpoints applies to query footprint as a table or report (html, md); "
                   "audit verify --format json gives the checkpoints' detail\n";
      return kUsageError;
    }
    std::string error;
    auto evidence = checkpoint_evidence(checkpoint_options, p.options.dirs, checkpoints_intact, error);
    if (!error.empty()) {
      std::cerr << "cannot read the checkpoints: " << error << "\n";
      return kNotProven;
    }
    if (evidence) result.checkpoints = *evidence;
  }
  const auto& o = p.options;
  if (listing) {
    bool none = audit::listed_scopes(o, result).empty();
    std::cout << (p.format == "json"  ? audit::scopes_json(o, result)
                  : p.format == "csv" ? audit::scopes_csv(o, result)
                                      : audit::scopes_table(o, result));
    if (int code = audit::evidence_exit_code(o, result)) return code;
    return none ? 1 : 0;
  }
  if (result.matched == 0) {
    // An id the logs never mention proves nothing: a mistyped id must not read as "never".
    if (p.options.since.empty() && p.options.until.empty()) {
      std::cerr << "scope " << p.options.scope << " is not in the audit logs scanned (" << result.records
                << " records): check the id\n";
    } else {
      std::cerr << "scope " << p.options.scope << " has no record between "
                << (p.options.since.empty() ? "the start" : p.options.since) << " and "
                << (p.options.until.empty() ? "the end" : p.options.until) << " (" << result.records
                << " records scanned): check the id and the time range\n";
    }
    return kNotProven;
  }
  switch (kind) {
    case audit::QueryKind::footprint:
      std::cout << (p.format == "json"   ? audit::footprint_json(o, result)
                    : p.format == "csv"  ? audit::footprint_csv(result)
                    : p.format == "html" ? audit::footprint_report(o, result, true)
                    : p.format == "md"   ? audit::footprint_report(o, result, false)
                                         : audit::footprint_table(o, result));
      break;
    case audit::QueryKind::actions:
      std::cout << (p.format == "json"  ? audit::actions_json(o, result)
                    : p.format == "csv" ? audit::actions_csv(result)
                                        : audit::actions_table(o, result));
      break;
    case audit::QueryKind::tree:
      std::cout << (p.format == "json"  ? audit::tree_json(o, result)
                    : p.format == "csv" ? audit::tree_csv(result)
                                        : audit::tree_table(o, result));
      break;
    case audit::QueryKind::never: {
      int code = audit::never_exit_code(result);
      std::cout << (p.format == "json"  ? audit::never_json(o, *p.criterion, result, code)
                    : p.format == "csv" ? audit::never_csv(result)
                                        : audit::never_table(o, *p.criterion, result, code));
      return code;
    }
    case audit::QueryKind::scopes:
      break;
  }
  if (!checkpoints_intact) return 1;  // the answer stands on a log the checkpoints show damaged
  return audit::evidence_exit_code(o, result);
}

int cmd_audit(int argc, char** argv) {
  std::string verb = argc > 2 ? argv[2] : "";
  if (verb == "--help" || verb == "-h") {
    std::cout << kAuditUsage;
    return 0;
  }
  if (verb == "keygen") return audit_keygen(argc, argv);
  if (verb != "verify") {
    std::cerr << kAuditUsage;
    return kUsageError;
  }
  CheckpointOptions checkpoint_options;
  if (std::string error; !take_checkpoint_options(argc, argv, 3, checkpoint_options, error)) {
    std::cerr << error << "\n" << kAuditUsage;
    return kUsageError;
  }
  Parsed p = parse_query_args(argc, argv, 3);
  if (p.help) {
    std::cout << kAuditUsage;
    return 0;
  }
  if (!p.error.empty() || p.criterion || !p.positional.empty() || (p.format != "table" && p.format != "json")) {
    std::cerr << (p.error.empty() ? "" : p.error + "\n") << kAuditUsage;
    return kUsageError;
  }
  if (!resolve_dirs(p)) return kUsageError;
  std::vector<audit::ChainReport> reports;
  std::string error;
  auto checkpoints = read_checkpoints(checkpoint_options, error);
  if (!error.empty()) {
    std::cerr << "cannot read the checkpoints: " << error << "\n";
    return kNotProven;
  }
  std::map<std::string, std::vector<std::uint64_t>> watch;  // the checkpoints' seqs, per node
  if (checkpoints) watch = checkpoints->seqs();
  if (!audit::verify_directories(p.options.dirs, reports, error, watch)) {
    std::cerr << "cannot read the audit log: " << error << "\n";
    return kNotProven;
  }
  if (checkpoints) checkpoints->compare(reports);
  if (reports.empty()) {
    // An empty directory (or a mistyped one that exists) proves nothing: not "intact".
    std::cerr << "no audit segments in the directories given: nothing to verify\n";
    return kNotProven;
  }
  bool intact = !reports.empty() && (!checkpoints || checkpoints->intact()) &&
                std::none_of(reports.begin(), reports.end(), [](const auto& r) { return r.problem.has_value(); });
  // Checkpoints were asked for: a node none of them covers (none written yet, all deleted, or the
  // wrong directory given) has nothing proving its end, so the answer cannot be "intact".
  std::vector<std::string> uncovered;
  if (checkpoints) {
    for (const auto& r : reports) {
      if (!checkpoints->covers(r.node)) uncovered.push_back(r.node);
    }
  }
  int code = !intact ? 1 : !uncovered.empty() ? kNotProven : 0;
  if (p.format == "json") {
    namespace json = scopegate::json;
    std::string out = "{\"intact\":";
    out += intact ? "true" : "false";
    if (checkpoints) {
      out += ",\"uncovered\":[";
      for (std::size_t i = 0; i < uncovered.size(); ++i) {
        if (i) out += ',';
        json::append_string(out, uncovered[i]);
      }
      out += ']';
    }
    out += ",\"nodes\":[";
    for (std::size_t i = 0; i < reports.size(); ++i) {
      const auto& r = reports[i];
      out += i ? ",{\"node\":" : "{\"node\":";
      json::append_string(out, r.node);
      json::append_int(out, "records", static_cast<std::int64_t>(r.records));
      json::append_int(out, "first_seq", static_cast<std::int64_t>(r.first_seq));
      json::append_int(out, "last_seq", static_cast<std::int64_t>(r.last_seq));
      json::append_int(out, "segments", static_cast<std::int64_t>(r.segments));
      json::append_int(out, "bytes", static_cast<std::int64_t>(r.bytes));
      json::append_field(out, "last_hash", audit::view(r.last_hash));
      out += ",\"intact\":";
      out += r.problem ? "false" : "true";
      if (r.problem) audit::append_problem_json(out, *r.problem);
      if (checkpoints) checkpoints->append_node_json(out, r.node);
      out += "}";
    }
    out += ']';
    if (checkpoints) checkpoints->append_json(out);
    std::cout << out << "}\n";
  } else {
    for (const auto& r : reports) {
      if (r.problem) {
        std::cout << "node " << r.node << ": chain BROKEN at seq " << r.problem->seq << " (" << r.problem->file
                  << " line " << r.problem->line << "): " << r.problem->why << "\n";
      } else {
        std::cout << "node " << r.node << ": chain intact, seq " << r.first_seq << ".." << r.last_seq << " ("
                  << r.records << " records in " << r.segments << " segments, " << r.bytes << " bytes); last hash "
                  << audit::view(r.last_hash) << "\n";
      }
      if (checkpoints) std::cout << checkpoints->node_line(r.node);
    }
    if (checkpoints) std::cout << checkpoints->summary_line();
    // One verdict last, so that a chain intact up to a cut end is never read as the answer.
    if (code == 1) {
      std::cout << "verdict: DAMAGED (see above)\n";
    } else if (code == kNotProven) {
      std::cout << "verdict: NOT PROVEN: no checkpoint covers node";
      for (const auto& n : uncovered) std::cout << " " << n;
      std::cout << " (none written yet, deleted, or another --checkpoints directory meant); its end may have "
                   "been cut\n";
    } else {
      std::cout << "verdict: INTACT"
                << (checkpoints ? "" : " (the chain cannot show records cut from its end: add --checkpoints)") << "\n";
    }
  }
  return code;
}

}  // namespace scopegate::cli
