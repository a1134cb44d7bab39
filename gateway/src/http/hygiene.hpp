// Header hygiene, done before anything is stamped (as Envoy's cleanInternalHeaders):
// framing checks that Boost 1.81's parser does not make, hop-by-hop removal, spoofing checks.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>

#include <optional>
#include <string>
#include <string_view>

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

// The request target: origin-form only, no dot segments (they would slip past path-prefix routes).
std::optional<Violation> check_request_target(std::string_view target);

// Response framing that makes an upstream response unusable (the gateway answers 502).
std::optional<Violation> check_response_framing(const bhttp::response_header<>& res);

// A header whose name differs from a gateway-owned one only by '_' for '-' (CGI-style backends
// read both as the same variable): `Delegation_Scope`, `X_Forwarded_For`.
std::optional<Violation> find_spoofed_header(const bhttp::fields& fields);

// Removes hop-by-hop headers: Connection and every header it names, Keep-Alive, TE, Trailer,
// Transfer-Encoding, Upgrade, Proxy-Connection and every Proxy-* header.
void strip_hop_by_hop(bhttp::fields& fields);

// Removes every header the gateway owns and stamps itself (Delegation-*).
void strip_gateway_owned(bhttp::fields& fields);

bool iequals_ascii(std::string_view a, std::string_view b);
bool istarts_with_ascii(std::string_view text, std::string_view prefix);

// Appends `value` to a comma-separated list header (Forwarded, X-Forwarded-For, Via).
void append_list_header(bhttp::fields& fields, std::string_view name, std::string_view value);

// Host header without its port, lower-cased; IPv6 literals keep their brackets.
std::string host_without_port(std::string_view host);

}  // namespace scopegate::http
