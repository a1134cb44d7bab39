// The JSON error replies of docs/protocol.md §5: one code, one status, one body shape.
#pragma once

#include <string>
#include <string_view>

namespace scopegate::http {

enum class ErrorCode {
  bad_request,
  header_spoofing,
  mcp_header_mismatch,
  unauthenticated,
  token_invalid,
  token_expired,
  scope_revoked,
  policy_denied,
  grant_exceeded,
  depth_exceeded,
  plan_deviation,
  no_route,
  method_not_allowed,
  request_timeout,
  payload_too_large,
  budget_exhausted,
  rate_limited,
  loop_detected,
  headers_too_large,
  upstream_unavailable,
  upstream_protocol_error,
  breaker_open,
  audit_unavailable,
  overloaded,
  upstream_timeout,
  not_implemented,
};

inline constexpr std::size_t kErrorCodeCount = static_cast<std::size_t>(ErrorCode::not_implemented) + 1;

std::string_view to_string(ErrorCode code);
unsigned status_of(ErrorCode code);
// A refusal's reason in plain words ("its scope had been revoked"), or empty for a name that is not
// an error code. For reports: the wire carries the code.
std::string_view in_words(std::string_view code);

// Optional context of an error reply; empty fields are left out of the body.
struct ErrorDetail {
  std::string_view message;
  std::string_view request_id;
  std::string_view scope;
  std::string_view rule;
};

// {"error":{"code":...,"message":...,"request_id":...}} with every string JSON-escaped.
std::string error_body(ErrorCode code, const ErrorDetail& detail);

}  // namespace scopegate::http
