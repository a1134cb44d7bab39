// The heads the gateway sends: built in one pass over the fields it received, as text.
// Hop-by-hop and gateway-owned headers are skipped (never forwarded), list headers the gateway
// appends to (Forwarded, X-Forwarded-For, Via) are merged, and the gateway's own headers and the
// framing it chose are appended. The received header stays untouched for the stages that read it.
#pragma once

#include <boost/beast/http/message.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace scopegate::http {

namespace bhttp = boost::beast::http;

enum class Framing { none, content_length, chunked, until_close };

struct UpstreamRequestHead {
  std::string_view target;          // rewritten for the upstream
  std::string_view host;            // the Host to send
  std::string_view client_host;     // the Host the client sent (X-Forwarded-Host, Forwarded host=)
  std::string_view peer_address;    // the real peer, for Forwarded and X-Forwarded-For
  bool peer_is_v6 = false;
  std::string_view proto;           // "http" or "https"
  std::string_view node;            // for Via
  std::string_view request_id;
  Framing framing = Framing::none;
  std::uint64_t content_length = 0;
  // Header lines ("Name: value\r\n"...) later stages add (delegation, tracing), values validated,
  // and the inbound names they replace (traceparent, baggage, the agent credential): skipped.
  std::string_view stamped;
  std::span<const std::string_view> replaced;
};

void append_upstream_request_head(std::string& out, const bhttp::request_header<>& req,
                                  const UpstreamRequestHead& head);

struct ClientResponseHead {
  unsigned client_version = 11;  // the status line is HTTP/1.1 always (RFC 9110 §6.2); a kept-alive
                                 // HTTP/1.0 client is told so with Connection: keep-alive
  std::string_view node;
  std::string_view request_id;
  Framing framing = Framing::none;
  std::uint64_t content_length = 0;  // with Framing::content_length, or what a HEAD reply announces
  bool keep_alive = true;
};

void append_client_response_head(std::string& out, const bhttp::response_header<>& res,
                                 const ClientResponseHead& head);

}  // namespace scopegate::http
