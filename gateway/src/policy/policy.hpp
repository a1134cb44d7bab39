// Access policies (docs/policies.md): rules loaded from YAML files that permit or forbid a request
// by who asks, what it asks, why, with what arguments and when. A pure decision: evaluate() is a
// function of the loaded rules and the request's facts (the clock is a fact), with no I/O; the
// pipeline wires the decision to the error reply, the audit record and the metrics.
//
// How a set decides (said once; docs/policies.md repeats it for operators):
//  - A rule matches when every condition of its `when` holds and, if it has an `unless`, not every
//    condition of its `unless` holds.
//  - Only enforce-mode rules decide. If any enforce `forbid` matches, the request is denied and the
//    deciding rule is the first matching enforce forbid in file order (files in the order given).
//    Otherwise, if any enforce `permit` matches, it is allowed and the deciding rule is the first
//    matching enforce permit. Otherwise the set's default decides (no deciding rule; the reason is
//    "no rule permits it" or "allowed by default").
//  - Shadow-mode rules never change the outcome. A matching shadow rule is reported when enforcing
//    it would have: a shadow forbid when the outcome is allow, a shadow permit when the outcome is a
//    deny by the default (not when an enforce forbid denied).
//  - The default is deny unless a file says `default: allow`; files that disagree do not load. An
//    empty set (no files) allows everything: policies are optional.
#pragma once

#include "config/loader.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace scopegate::policy {

// One request, as views into what the pipeline already holds: nothing owned, nothing allocated.
struct Facts {
  std::string_view agent;                        // the authenticated caller
  std::string_view principal;                    // on whose behalf (user:alice)
  std::string_view delegator;                    // the agent that opened the current scope; "" at a root
  std::string_view root_agent;                   // the actor of the root scope
  std::span<const std::string_view> ancestors;   // actors of the scopes above the current one, root first
  int depth = -1;                                // the current scope's depth; -1: no scope
  std::string_view route;                        // route name
  std::string_view kind;                         // http, mcp, agent, a2a, scopes
  std::string_view method;                       // HTTP method
  std::string_view action;                       // tool:x, resource:u, prompt:p, agent:a, route:r; "" housekeeping
  std::string_view mcp_method;                   // JSON-RPC method of an MCP request, else ""
  std::span<const std::string> datasets;         // from the route's or tool's data label
  std::string_view classification;               // public, internal, confidential, restricted; "" unlabelled
  std::string_view objective;                    // the scope's objective
  std::string_view arguments_json;               // JSON text of MCP params.arguments; "" when none. Parsed
                                                 // lazily, only when a candidate rule looks at arguments.
  std::string_view content_type;                 // the request's Content-Type header, parameters and all
  std::int64_t now = 0;                          // unix seconds (the injected clock)
};

// A shadow rule that would have changed the outcome: would_allow is its effect (permit).
struct ShadowHit {
  std::string_view rule;
  bool would_allow = false;
};

// At most this many shadow hits are kept per decision (no allocation); the rest are counted.
inline constexpr std::size_t kMaxShadowHits = 8;

struct Decision {
  bool allow = true;
  std::string_view rule;    // the deciding rule's id; "" when the default decided
  std::string_view reason;  // the rule's reason (or a sentence naming it), or the default's sentence
  std::array<ShadowHit, kMaxShadowHits> shadow{};
  std::size_t shadow_count = 0;    // how many of `shadow` are filled
  std::size_t shadow_dropped = 0;  // shadow hits beyond kMaxShadowHits, not kept
  std::span<const ShadowHit> shadow_hits() const { return {shadow.data(), shadow_count}; }
};

// Why one rule did or did not match a request (`scopegate policy explain`).
struct RuleTrace {
  std::string rule;
  std::string location;   // file:line of the rule
  bool forbid = false;
  bool shadow = false;
  bool candidate = false; // the index offered it to evaluate(); a rule that is not one cannot match
  bool matched = false;
  std::string why;        // the first condition that failed ("when.agent: 'bob' is not one of: researcher"),
                          // the unless that held, or "every condition holds"
};

// What GET /v1/policies shows.
struct FileInfo {
  std::string path;
  std::string sha256_hex;  // of the file's bytes
  std::size_t rules = 0;
};
struct RuleInfo {
  std::string id;
  std::string location;  // file:line
  bool forbid = false;
  bool shadow = false;
  std::uint64_t hits = 0;  // since the set was loaded: see PolicySet::evaluate
};

struct Rule;  // compiled; rule.hpp
class Index;  // candidates by route and action; rule.hpp

// The loaded rules, immutable after load and shared by the config snapshot.
class PolicySet {
 public:
  PolicySet(std::vector<Rule> rules, std::vector<FileInfo> files, bool default_allow);
  ~PolicySet();
  PolicySet(const PolicySet&) = delete;
  PolicySet& operator=(const PolicySet&) = delete;

  // The decision for one request. Allocates nothing, unless a candidate rule has an argument
  // condition and the arguments must be parsed (once per call, into a thread-local parser).
  // Counts a hit for the deciding rule and for each shadow rule in the decision's shadow list.
  Decision evaluate(const Facts& facts) const;

  // Every rule, in file order, with why it did or did not match (allocates; not for the request path).
  std::vector<RuleTrace> explain(const Facts& facts) const;

  bool default_allow() const { return default_allow_; }
  // Some rule has an argument condition: only then must the pipeline hand over the arguments.
  bool reads_arguments() const { return reads_arguments_; }
  std::span<const FileInfo> files() const { return files_; }
  std::vector<RuleInfo> rules() const;
  // The compiled rules in file order, for the checks that look at rules together (lint.hpp).
  const std::vector<Rule>& compiled() const { return rules_; }

 private:
  std::vector<Rule> rules_;
  std::vector<FileInfo> files_;
  bool default_allow_;
  bool reads_arguments_ = false;
  std::unique_ptr<const Index> index_;
  // Per rule, in file order: the times it decided or was reported as a shadow hit. Relaxed
  // increments from every worker; made once at load, so counting allocates nothing.
  std::unique_ptr<std::atomic<std::uint64_t>[]> hits_;
};

// An error in a policy file: file, line, key path and message, as the config's own errors are
// ("policies/hr.yaml:12: rules[3].when.depth.leq: unknown key (...)").
using LoadError = config::ConfigError;

using LoadResult = std::variant<std::shared_ptr<const PolicySet>, std::vector<LoadError>>;

// Loads the files in order (each a path). Every error is collected; a set with any error is not built.
LoadResult load_policy_files(const std::vector<std::string>& paths);

// The same from (name, YAML text) pairs: for tests and for callers that already hold the bytes.
LoadResult load_policy_texts(const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace scopegate::policy
