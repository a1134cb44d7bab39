#include "pipeline/authentication.hpp"

#include "auth/agents.hpp"

namespace scopegate::pipeline {

using http::ErrorCode;
using http::Violation;

void scan_inbound_headers(RequestContext& x) {
  auto& in = x.inbound;
  std::string_view credential = x.snapshot.config.listeners[x.info.listener].credential_header;
  for (const auto& f : x.parser.get()) {
    std::string_view name = f.name_string();
    std::string_view value = f.value();
    if (http::iequals_ascii(name, credential)) {
      in.credential = value;
      ++in.credentials;
      continue;
    }
    // Dispatch on length first: most fields are none of these and cost one comparison.
    switch (name.size()) {
      case 7:
        if (http::iequals_ascii(name, "baggage")) ++in.baggage;
        break;
      case 8:
        if (http::iequals_ascii(name, "Mcp-Name")) in.mcp_name = value, in.has_mcp_name = true;
        break;
      case 10:
        if (http::iequals_ascii(name, "Mcp-Method")) in.mcp_method = value, in.has_mcp_method = true;
        break;
      case 11:
        if (http::iequals_ascii(name, "traceparent")) in.traceparent = value;
        break;
      case 12:
        if (http::iequals_ascii(name, "X-Request-Id")) in.request_id = value;
        break;
      case 15:
        if (http::iequals_ascii(name, "Delegation-Task")) in.task = value, ++in.tasks;
        break;
      case 16:
        if (http::iequals_ascii(name, "Delegation-Token")) in.token = value, ++in.tokens;
        break;
      case 17:
        if (http::iequals_ascii(name, "Delegation-Grants")) ++in.grants;
        break;
      case 20:
        if (http::iequals_ascii(name, "Delegation-Objective")) in.objective = value, in.has_objective = true;
        break;
      default: break;
    }
  }
}

Verdict authenticate(RequestContext& x) {
  const auto& listener = x.snapshot.config.listeners[x.info.listener];
  std::string_view name = listener.credential_header;
  if (x.inbound.credentials > 1) {
    return Violation{ErrorCode::unauthenticated, "more than one " + std::string(name) + " header"};
  }
  if (x.inbound.credentials == 1) {
    auto key = auth::credential_key(name, x.inbound.credential);
    x.agent = x.snapshot.agents.by_key(key);
    if (!x.agent) return Violation{ErrorCode::unauthenticated, "the agent credential is not valid"};
    return std::nullopt;
  }
  if (!x.info.certificate_subject.empty()) x.agent = x.snapshot.agents.by_subject(x.info.certificate_subject);
  return std::nullopt;
}

Verdict require_agent(RequestContext& x) {
  if (x.route->access == config::Access::open || x.agent) return std::nullopt;
  const auto& listener = x.snapshot.config.listeners[x.info.listener];
  return Violation{ErrorCode::unauthenticated,
                   "this route needs an agent credential (" + listener.credential_header + " header" +
                       (listener.tls && !listener.tls->client_ca.empty() ? " or a client certificate)" : ")")};
}

}  // namespace scopegate::pipeline
