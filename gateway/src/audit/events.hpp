// The audit events (docs/protocol.md §6), declared once: their enum, their names in the log and
// the order of their counters (WriterStats::records) all come from this list. Adding an event is
// one line here. Append only: the crash journal stores an event by its number.
#pragma once

#include <cstddef>
#include <string_view>

namespace scopegate::audit {

#define SCOPEGATE_AUDIT_EVENTS(X)                                                                    \
  X(request, "request")                       /* every request, forwarded or refused */              \
  X(scope_open, "scope.open")                 /* a scope minted here or first seen */                \
  X(scope_revoke, "scope.revoke")             /* a scope and its subtree revoked */                  \
  X(policy_reload, "policy.reload")           /* a reload attempt */                                 \
  X(breaker_transition, "breaker.transition") /* a breaker changed state */                          \
  X(segment_start, "segment.start")           /* the first record of every segment */                \
  X(audit_recovery, "audit.recovery")         /* what a start-up recovery removed */                 \
  X(audit_unavailable, "audit.unavailable")   /* one per outage: its window, cause and refusals */   \
  X(request_outcome, "request.outcome")       /* strict routes: how a request recorded ahead ended */ \
  X(plan_open, "plan.open")                   /* a plan registered, whole (docs/plans.md) */         \
  X(plan_task, "plan.task")                   /* a plan task changed state */                        \
  X(plan_deviation, "plan.deviation")         /* execution departed from a plan */

enum class Event {
#define SCOPEGATE_EVENT_ENUM(name, text) name,
  SCOPEGATE_AUDIT_EVENTS(SCOPEGATE_EVENT_ENUM)
#undef SCOPEGATE_EVENT_ENUM
};

inline constexpr std::string_view kEventNames[] = {
#define SCOPEGATE_EVENT_NAME(name, text) text,
    SCOPEGATE_AUDIT_EVENTS(SCOPEGATE_EVENT_NAME)
#undef SCOPEGATE_EVENT_NAME
};

inline constexpr std::size_t kEventCount = std::size(kEventNames);

constexpr std::string_view to_string(Event e) { return kEventNames[static_cast<std::size_t>(e)]; }

// The name as written in a record, for the readers' comparisons: event_name<Event::request>.
template <Event E>
inline constexpr std::string_view event_name = kEventNames[static_cast<std::size_t>(E)];

}  // namespace scopegate::audit
