// Header hygiene, done before anything is stamped (as Envoy's cleanInternalHeaders):
// framing checks that Boost 1.81's parser does not make, hop-by-hop removal, spoofing checks.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/errors.hpp"

namespace scopegate::http {

namespace bhttp = boost::beast::http;

struct Violation {
  ErrorCode code;
  std::string message;
};

// Request framing a proxy must refuse before forwarding (request smuggling, RFC 9112 §6):
// Content-Length with Transfer-Encoding, Transfer-Encoding not ending in chunked (400) or with
// codings besides chunked (501), chunked on HTTP/1.0, bad or differing Content-Length values,
// CR/LF/NUL in a value, HTTP/1.1 without Host, more than one Host, a bad Host.
std::optional<Violation> check_request_framing(const bhttp::request_header<>& req);

// The request target: origin-form only, no fragment. (Its path is normalised by router::resolve_target.)
std::optional<Violation> check_request_target(std::string_view target);

// Response framing that makes an upstream response unusable (the gateway answers 502).
std::optional<Violation> check_response_framing(const bhttp::response_header<>& res);

// A header whose name differs from a gateway-owned one only by '_' for '-' (CGI-style backends
// read both as the same variable): `Delegation_Scope`, `X_Forwarded_For`.
std::optional<Violation> find_spoofed_header(const bhttp::fields& fields);

// A body the gateway inspects must reach the tool as the very bytes it read: UTF-8 JSON, no
// content coding. A `charset` other than utf-8 (express.json decodes utf-7, utf-16 and others
// before parsing, so `+ACI-` becomes a quote the gateway never saw), a Content-Encoding other than
// identity, or two Content-Type or Content-Encoding fields are refused.
std::optional<Violation> check_inspected_body_encoding(const bhttp::fields& fields);

// The header names listed in Connection headers: hop-by-hop by the client's (or upstream's) say.
class ConnectionTokens {
 public:
  explicit ConnectionTokens(const bhttp::fields& fields);
  bool contains(std::string_view name) const;

 private:
  static constexpr std::size_t kInline = 8;
  std::string_view inline_[kInline];
  std::size_t count_ = 0;
  std::vector<std::string_view> more_;
};

// Hop-by-hop: Connection and every header it names, Keep-Alive, TE, Trailer, Transfer-Encoding,
// Upgrade, Proxy-Connection and every Proxy-* header. Never forwarded.
bool is_hop_by_hop(std::string_view name, const ConnectionTokens& named);

// Gateway-owned (Delegation-*): removed from every inbound request, stamped by the gateway.
bool is_gateway_owned(std::string_view name);

bool iequals_ascii(std::string_view a, std::string_view b);
bool istarts_with_ascii(std::string_view text, std::string_view prefix);

// Host header without its port, lower-cased; IPv6 literals keep their brackets.
std::string host_without_port(std::string_view host);

}  // namespace scopegate::http
