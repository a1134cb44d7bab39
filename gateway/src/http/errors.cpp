#include "http/errors.hpp"

#include <cstdio>

namespace scopegate::http {

namespace {
struct ErrorInfo {
  std::string_view name;
  unsigned status;
};

// Indexed by ErrorCode, in declaration order.
constexpr ErrorInfo kErrors[] = {
    {"bad_request", 400},
    {"header_spoofing", 400},
    {"mcp_header_mismatch", 400},
    {"unauthenticated", 401},
    {"token_invalid", 401},
    {"token_expired", 401},
    {"scope_revoked", 401},
    {"policy_denied", 403},
    {"grant_exceeded", 403},
    {"depth_exceeded", 403},
    {"no_route", 404},
    {"method_not_allowed", 405},
    {"request_timeout", 408},
    {"payload_too_large", 413},
    {"budget_exhausted", 429},
    {"rate_limited", 429},
    {"headers_too_large", 431},
    {"upstream_unavailable", 502},
    {"upstream_protocol_error", 502},
    {"breaker_open", 503},
    {"audit_unavailable", 503},
    {"overloaded", 503},
    {"upstream_timeout", 504},
    {"not_implemented", 501},
};
static_assert(std::size(kErrors) == static_cast<std::size_t>(ErrorCode::not_implemented) + 1);
}  // namespace

std::string_view to_string(ErrorCode code) { return kErrors[static_cast<std::size_t>(code)].name; }
unsigned status_of(ErrorCode code) { return kErrors[static_cast<std::size_t>(code)].status; }

void append_json_escaped(std::string& out, std::string_view text) {
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

std::string error_body(ErrorCode code, const ErrorDetail& detail) {
  std::string out;
  out.reserve(160);
  out += R"({"error":{"code":")";
  out += to_string(code);
  out += R"(","message":")";
  append_json_escaped(out, detail.message.empty() ? to_string(code) : detail.message);
  out += '"';
  auto field = [&](std::string_view name, std::string_view value) {
    if (value.empty()) return;
    out += ",\"";
    out += name;
    out += "\":\"";
    append_json_escaped(out, value);
    out += '"';
  };
  field("request_id", detail.request_id);
  field("scope", detail.scope);
  field("rule", detail.rule);
  out += "}}\n";
  return out;
}

}  // namespace scopegate::http
