#include "http/head.hpp"

#include <charconv>

#include "http/header_line.hpp"
#include "http/hygiene.hpp"

namespace scopegate::http {

namespace {

void append_number(std::string& out, std::uint64_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out.append(digits, end);
}

// A list header the gateway appends to: the received values, then the gateway's entry.
struct ListHeader {
  std::string_view name;
  std::string_view first;  // the common case, one received value, needs no allocation
  std::string rest;        // ", v2, v3" when more arrived

  void add(std::string_view value) {
    if (first.empty() && rest.empty()) {
      first = value;
      return;
    }
    rest += ", ";
    rest += value;
  }
  // Writes "Name: received, " so that the gateway's entry follows.
  void open(std::string& out) const {
    out += name;
    out += ": ";
    if (first.empty() && rest.empty()) return;
    out += first;
    out += rest;
    out += ", ";
  }
};

void append_framing(std::string& out, Framing framing, std::uint64_t length) {
  if (framing == Framing::content_length) {
    out += "Content-Length: ";
    append_number(out, length);
    out += "\r\n";
  } else if (framing == Framing::chunked) {
    out += "Transfer-Encoding: chunked\r\n";
  }
}

}  // namespace

void append_upstream_request_head(std::string& out, const bhttp::request_header<>& req,
                                  const UpstreamRequestHead& head) {
  out += req.method_string();
  out += ' ';
  out += head.target;
  out += " HTTP/1.1\r\n";
  append_header_line(out, "Host", head.host);

  ConnectionTokens named(req);
  ListHeader forwarded{"Forwarded", {}, {}};
  ListHeader xff{"X-Forwarded-For", {}, {}};
  ListHeader via{"Via", {}, {}};
  for (const auto& f : req) {
    std::string_view name = f.name_string();
    switch (f.name()) {
      case bhttp::field::host:
      case bhttp::field::content_length:
      case bhttp::field::expect:  // answered by the gateway itself
        continue;
      case bhttp::field::forwarded: forwarded.add(f.value()); continue;
      case bhttp::field::via: via.add(f.value()); continue;
      default: break;
    }
    if (iequals_ascii(name, "X-Forwarded-For")) {
      xff.add(f.value());
      continue;
    }
    // Set by the gateway alone, never trusted from a client.
    if (iequals_ascii(name, "X-Forwarded-Proto") || iequals_ascii(name, "X-Forwarded-Host") ||
        iequals_ascii(name, "X-Request-Id")) {
      continue;
    }
    if (is_hop_by_hop(name, named) || is_gateway_owned(name)) continue;
    bool replaced = false;
    for (auto r : head.replaced) replaced = replaced || iequals_ascii(name, r);
    if (replaced) continue;
    append_header_line(out, name, f.value());
  }

  forwarded.open(out);
  out += "for=";
  if (head.peer_is_v6) out += "\"[";
  out += head.peer_address;
  if (head.peer_is_v6) out += "]\"";
  out += ";proto=";
  out += head.proto;
  if (!head.client_host.empty()) {
    out += ";host=\"";
    out += head.client_host;  // validated: no quotes or backslashes can occur in a Host
    out += '"';
  }
  out += "\r\n";
  xff.open(out);
  out += head.peer_address;
  out += "\r\n";
  via.open(out);
  out += "1.1 ";
  out += head.node;
  out += "\r\n";
  append_header_line(out, "X-Forwarded-Proto", head.proto);
  if (!head.client_host.empty()) append_header_line(out, "X-Forwarded-Host", head.client_host);
  append_header_line(out, "X-Request-Id", head.request_id);
  out += head.stamped;
  append_framing(out, head.framing, head.content_length);
  out += "\r\n";
}

void append_client_response_head(std::string& out, const bhttp::response_header<>& res,
                                 const ClientResponseHead& head) {
  out += "HTTP/1.1 ";
  append_number(out, res.result_int());
  out += ' ';
  auto reason = res.reason();
  out += reason.empty() ? bhttp::obsolete_reason(res.result()) : reason;
  out += "\r\n";

  ConnectionTokens named(res);
  ListHeader via{"Via", {}, {}};
  for (const auto& f : res) {
    std::string_view name = f.name_string();
    switch (f.name()) {
      case bhttp::field::content_length:
        // A HEAD reply keeps the length the upstream announced; other framing is the gateway's.
        if (head.framing == Framing::none) break;
        continue;
      case bhttp::field::via: via.add(f.value()); continue;
      default: break;
    }
    if (is_hop_by_hop(name, named) || iequals_ascii(name, "X-Request-Id")) continue;
    append_header_line(out, name, f.value());
  }
  via.open(out);
  out += "1.1 ";
  out += head.node;
  out += "\r\n";
  append_header_line(out, "X-Request-Id", head.request_id);
  append_framing(out, head.framing, head.content_length);
  if (!head.keep_alive) out += "Connection: close\r\n";
  else if (head.client_version == 10) out += "Connection: keep-alive\r\n";
  out += "\r\n";
}

}  // namespace scopegate::http
