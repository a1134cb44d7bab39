#include "cli/audit_cli.hpp"

#include <iostream>
#include <string>
#include <vector>

#include "audit/query.hpp"
#include "audit/verify.hpp"
#include "config/loader.hpp"
#include "delegation/json_out.hpp"

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
  Every query exits 2 when the logs scanned hold no record of SCOPE (a mistyped id proves nothing)
  or cannot be read; 64 for a usage error.

Options:
  --log DIR              an audit directory (repeatable: several nodes, or live + archive)
  --config FILE          take the directory from FILE's audit.dir instead
  --since T, --until T   RFC 3339 UTC (2026-11-21, 2026-11-21T10:00:00Z, ...), inclusive
  --descendants          include every scope below SCOPE (the default)
  --no-descendants       SCOPE's own records only
  --format F             table (default), json (schema/query-*.schema.json) or csv
  --verify               footprint/actions/tree: also verify the hash chains (never always does)
)";

constexpr const char* kAuditUsage = R"(Usage: scopegate audit verify --log DIR [--log DIR...] [--format table|json]

Follows every node's hash chain in the directories: each line's hash, seq contiguous from 1, prev
linking to the previous record, each segment starting with segment.start. Exit 0 when intact;
1 with the first bad seq and why; 2 when a directory or file cannot be read (nothing was proven).
The chain cannot show records cut from its very end: compare the last seq and hash printed here with
a copy kept elsewhere (docs/audit.md).
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
        if (v != "table" && v != "json" && v != "csv") p.error = "--format is table, json or csv";
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
    auto loaded = config::load_file(p.config);
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

int cmd_query(int argc, char** argv) {
  Parsed p = parse_query_args(argc, argv, 2);
  if (p.help) {
    std::cout << kQueryUsage;
    return 0;
  }
  if (!p.error.empty()) {
    std::cerr << p.error << "\n" << kQueryUsage;
    return kUsageError;
  }
  if (p.positional.size() != 2) {
    std::cerr << kQueryUsage;
    return kUsageError;
  }
  const std::string& verb = p.positional[0];
  p.options.scope = p.positional[1];
  audit::QueryKind kind;
  if (verb == "footprint") kind = audit::QueryKind::footprint;
  else if (verb == "actions") kind = audit::QueryKind::actions;
  else if (verb == "tree") kind = audit::QueryKind::tree;
  else if (verb == "never") kind = audit::QueryKind::never;
  else {
    std::cerr << "unknown query '" << verb << "'\n" << kQueryUsage;
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
  if (p.options.scope.size() < 8) {
    std::cerr << "SCOPE is a scope id (a UUID)\n";
    return kUsageError;
  }
  if (!resolve_dirs(p)) return kind == audit::QueryKind::never ? 2 : kUsageError;

  auto result = audit::run_query(kind, p.options, p.criterion ? &*p.criterion : nullptr);
  if (!result.error.empty()) {
    std::cerr << "cannot read the audit log: " << result.error << "\n";
    return kNotProven;  // for `never`, unreadable evidence is incomplete evidence
  }
  if (result.matched == 0) {
    // An id the logs never mention proves nothing: a mistyped id must not read as "never".
    std::cerr << "scope " << p.options.scope << " is not in the audit logs scanned (" << result.records
              << " records" << (p.options.since.empty() && p.options.until.empty() ? "" : " in the time range")
              << "): check the id\n";
    return kNotProven;
  }
  const auto& o = p.options;
  switch (kind) {
    case audit::QueryKind::footprint:
      std::cout << (p.format == "json" ? audit::footprint_json(o, result)
                    : p.format == "csv" ? audit::footprint_csv(result)
                                        : audit::footprint_table(o, result));
      return 0;
    case audit::QueryKind::actions:
      std::cout << (p.format == "json" ? audit::actions_json(o, result)
                    : p.format == "csv" ? audit::actions_csv(result)
                                        : audit::actions_table(result));
      return 0;
    case audit::QueryKind::tree:
      std::cout << (p.format == "json" ? audit::tree_json(o, result)
                    : p.format == "csv" ? audit::tree_csv(result)
                                        : audit::tree_table(o, result));
      return 0;
    case audit::QueryKind::never: {
      int code = audit::never_exit_code(result);
      std::cout << (p.format == "json" ? audit::never_json(o, *p.criterion, result, code)
                    : p.format == "csv" ? audit::never_csv(result)
                                        : audit::never_table(o, *p.criterion, result, code));
      return code;
    }
  }
  return 0;
}

int cmd_audit(int argc, char** argv) {
  std::string verb = argc > 2 ? argv[2] : "";
  if (verb == "--help" || verb == "-h") {
    std::cout << kAuditUsage;
    return 0;
  }
  if (verb != "verify") {
    std::cerr << kAuditUsage;
    return kUsageError;
  }
  Parsed p = parse_query_args(argc, argv, 3);
  if (p.help) {
    std::cout << kAuditUsage;
    return 0;
  }
  if (!p.error.empty() || p.criterion || !p.positional.empty() || p.format == "csv") {
    std::cerr << (p.error.empty() ? "" : p.error + "\n") << kAuditUsage;
    return kUsageError;
  }
  if (!resolve_dirs(p)) return kUsageError;
  std::vector<audit::ChainReport> reports;
  std::string error;
  if (!audit::verify_directories(p.options.dirs, reports, error)) {
    std::cerr << "cannot read the audit log: " << error << "\n";
    return kNotProven;
  }
  bool intact = !reports.empty() &&
                std::none_of(reports.begin(), reports.end(), [](const auto& r) { return r.problem.has_value(); });
  if (p.format == "json") {
    namespace json = delegation::json;
    std::string out = "{\"intact\":";
    out += intact ? "true" : "false";
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
      out += "}";
    }
    std::cout << out << "]}\n";
  } else {
    if (reports.empty()) std::cout << "no audit segments found\n";
    for (const auto& r : reports) {
      if (r.problem) {
        std::cout << "node " << r.node << ": BROKEN at seq " << r.problem->seq << " (" << r.problem->file << " line "
                  << r.problem->line << "): " << r.problem->why << "\n";
      } else {
        std::cout << "node " << r.node << ": intact, seq " << r.first_seq << ".." << r.last_seq << " (" << r.records
                  << " records in " << r.segments << " segments, " << r.bytes << " bytes); last hash "
                  << audit::view(r.last_hash) << "\n";
      }
    }
  }
  return intact ? 0 : 1;
}

}  // namespace scopegate::cli
