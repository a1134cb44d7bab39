#include "http/errors.hpp"

#include <cstdio>

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
    {"no_route", 404, "no route serves that path"},
    {"method_not_allowed", 405, "the method is not allowed there"},
    {"request_timeout", 408, "the client was too slow to send it"},
    {"payload_too_large", 413, "its body was over the limit"},
    {"budget_exhausted", 429, "the budget was spent"},
    {"rate_limited", 429, "over the rate limit"},
    {"headers_too_large", 431, "its headers were over the limit"},
    {"upstream_unavailable", 502, "the upstream could not be reached"},
    {"upstream_protocol_error", 502, "the upstream answered with a broken response"},
    {"breaker_open", 503, "the upstream's circuit breaker was open"},
    {"audit_unavailable", 503, "the audit log could not record it"},
    {"overloaded", 503, "the gateway was overloaded"},
    {"upstream_timeout", 504, "the upstream did not answer in time"},
    {"not_implemented", 501, "it used a feature the gateway refuses"},
};
static_assert(std::size(kErrors) == static_cast<std::size_t>(ErrorCode::not_implemented) + 1);
}  // namespace

std::string_view to_string(ErrorCode code) { return kErrors[static_cast<std::size_t>(code)].name; }
unsigned status_of(ErrorCode code) { return kErrors[static_cast<std::size_t>(code)].status; }

std::string_view in_words(std::string_view code) {
  for (const auto& e : kErrors) {
    if (e.name == code) return e.in_words;
  }
  return {};
}

namespace {

// Length of the well-formed UTF-8 sequence at `p` (RFC 3629: no overlongs, no surrogates, at
// most U+10FFFF), or 0 when the bytes there are not one.
std::size_t utf8_sequence(const unsigned char* p, std::size_t left) {
  unsigned char c = p[0];
  auto cont = [&](std::size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return i < left && p[i] >= lo && p[i] <= hi;
  };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

}  // namespace

// Always valid JSON text: a byte that is not part of well-formed UTF-8 (a client's raw path, a
// hostile header echoed in a message) becomes U+FFFD rather than making the document unreadable.
void append_json_escaped(std::string& out, std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  for (std::size_t i = 0; i < text.size(); ++i) {
    // Runs of plain printable ASCII, the usual case, are appended whole.
    std::size_t run = i;
    while (run < text.size() && bytes[run] >= 0x20 && bytes[run] < 0x7f && bytes[run] != '"' && bytes[run] != '\\') {
      ++run;
    }
    if (run > i) {
      out.append(text.data() + i, run - i);
      i = run;
      if (i == text.size()) break;
    }
    unsigned char c = bytes[i];
    if (c >= 0x80) {
      std::size_t n = utf8_sequence(bytes + i, text.size() - i);
      if (n == 0) {
        out += "\\ufffd";
      } else {
        out.append(text.data() + i, n);
        i += n - 1;
      }
      continue;
    }
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
