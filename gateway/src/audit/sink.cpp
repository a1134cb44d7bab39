#include "audit/sink.hpp"

#include "app/log.hpp"

namespace scopegate::audit {

void LogSink::request(const RequestFacts& f) {
  if (!log::enabled(log::Level::debug)) return;
  log::write(log::Level::debug, "request",
             {{"request_id", std::string(f.request_id)},
              {"trace_id", std::string(f.trace_id)},
              {"scope", std::string(f.scope.id)},
              {"depth", f.scope.depth < 0 ? "" : std::to_string(f.scope.depth)},
              {"agent", std::string(f.agent)},
              {"route", std::string(f.route)},
              {"operation", std::string(f.operation)},
              {"action", std::string(f.action)},
              {"child_scope", std::string(f.child_scope)},
              {"decision", f.allowed ? "allow" : "deny"},
              {"reason", std::string(f.reason)},
              {"status", std::to_string(f.status)}});
}

void LogSink::scope_opened(const delegation::ScopeRecord& scope, Opening how, std::string_view request_id) {
  if (!log::enabled(log::Level::debug)) return;
  log::write(log::Level::debug, "scope.open",
             {{"scope", delegation::scope_json(scope)},
              {"how", how == Opening::minted ? "minted" : "first_seen"},
              {"request_id", std::string(request_id)}});
}

void LogSink::scope_revoked(std::string_view scope, std::span<const std::string> revoked, std::string_view by) {
  log::info("scope.revoke",
            {{"scope", std::string(scope)}, {"revoked", std::to_string(revoked.size())}, {"by", std::string(by)}});
}

}  // namespace scopegate::audit
