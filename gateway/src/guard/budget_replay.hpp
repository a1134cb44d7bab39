// Budgets survive a restart (docs/policies.md, "Budgets"): at start the counters of every scope
// that may still be alive are rebuilt from this node's audit log. A scope lives at most
// token.max_ttl (POST /v1/scopes and `token mint` refuse longer), so the records of that last
// stretch hold every action of every live scope. Each record spends what the live gateway spent
// for it (pipeline/guards.cpp, settle_budget): a request let through spends one action when it
// names one, one delegation when it opened a scope (child_scope), and its response bytes; a
// request.outcome record brings the bytes of a request recorded before it was forwarded.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "guard/budget.hpp"

namespace scopegate::guard {

struct ReplayStats {
  std::uint64_t records = 0;  // records read within the horizon
  std::uint64_t charged = 0;  // of them, records that spent something
  std::uint64_t segments_skipped = 0;  // segments left unread: all they hold is older
  std::string error;          // the log could not be read (the counters hold what was read)
};

// What one sealed record line spends, and on which chain; false when it spends nothing.
struct ReplayedCharge {
  std::string path;  // the scope path, ids joined by '/'
  Charge charge;
};
bool charge_of_record(std::string_view line, ReplayedCharge& out);

// Reads `node`'s segments in `dir` and spends, into `store`, every record at or after `since`
// (an RFC 3339 timestamp as records carry it). Rebuilt scopes are kept until `expires`. A segment
// whose successor starts before `since` is not read: its records were all written before that
// (the chain is written in order), so the start costs what the horizon holds, not the whole log.
ReplayStats replay_budgets(const std::string& dir, const std::string& node, std::string_view since,
                           std::int64_t expires, BudgetStore& store);

}  // namespace scopegate::guard
