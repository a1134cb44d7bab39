#include "http/errors.hpp"

#include "json/write.hpp"

namespace scopegate::http {

namespace {
struct ErrorInfo {
  std::string_view name;
  unsigned status;
  std::string_view in_words;  // for people reading query output: why the request was refused
};

// Indexed by ErrorCode, in declaration order.
constexpr ErrorInfo kErrors[] = {
    {"bad_request", 400, "the request was malformed"},
    {"header_spoofing", 400, "it sent a header only the gateway may set"},
    {"mcp_header_mismatch", 400, "its MCP headers disagree with its body"},
    {"unauthenticated", 401, "the caller was not authenticated"},
    {"token_invalid", 401, "its delegation token did not verify"},
    {"token_expired", 401, "its delegation token had expired"},
    {"scope_revoked", 401, "its scope had been revoked"},
    {"policy_denied", 403, "a policy forbids it"},
    {"grant_exceeded", 403, "the scope was not granted this action"},
    {"depth_exceeded", 403, "the delegation would be too deep"},
    {"plan_deviation", 403, "it departed from the plan its scope runs under"},
    {"no_route", 404, "no route serves that path"},
    {"method_not_allowed", 405, "the method is not allowed there"},
    {"request_timeout", 408, "the client was too slow to send it"},
    {"payload_too_large", 413, "its body was over the limit"},
    {"budget_exhausted", 429, "the budget was spent"},
    {"rate_limited", 429, "over the rate limit"},
    {"loop_detected", 429, "it repeated the same call too often"},
    {"headers_too_large", 431, "its headers were over the limit"},
    {"upstream_unavailable", 502, "the upstream could not be reached"},
    {"upstream_protocol_error", 502, "the upstream answered with a broken response"},
    {"breaker_open", 503, "the upstream's circuit breaker was open"},
    {"audit_unavailable", 503, "the audit log could not record it"},
    {"overloaded", 503, "the gateway was overloaded"},
    {"upstream_timeout", 504, "the upstream did not answer in time"},
    {"not_implemented", 501, "it used a feature the gateway refuses"},
};
static_assert(std::size(kErrors) == kErrorCodeCount, "one entry per ErrorCode, in order; kErrorCodeCount names the last");
}  // namespace

std::string_view to_string(ErrorCode code) { return kErrors[static_cast<std::size_t>(code)].name; }
unsigned status_of(ErrorCode code) { return kErrors[static_cast<std::size_t>(code)].status; }

std::string_view in_words(std::string_view code) {
  for (const auto& e : kErrors) {
    if (e.name == code) return e.in_words;
  }
  return {};
}

std::string error_body(ErrorCode code, const ErrorDetail& detail) {
  std::string out;
  out.reserve(160);
  out += R"({"error":{"code":")";
  out += to_string(code);
  out += R"(","message":")";
  json::append_escaped(out, detail.message.empty() ? to_string(code) : detail.message);
  out += '"';
  auto field = [&](std::string_view name, std::string_view value) {
    if (value.empty()) return;
    out += ",\"";
    out += name;
    out += "\":\"";
    json::append_escaped(out, value);
    out += '"';
  };
  field("request_id", detail.request_id);
  field("scope", detail.scope);
  field("rule", detail.rule);
  out += "}}\n";
  return out;
}

}  // namespace scopegate::http
