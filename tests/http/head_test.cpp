#include "http/head.hpp"

#include <doctest/doctest.h>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

using namespace scopegate::http;

namespace {
template <bool isRequest>
bhttp::message<isRequest, bhttp::empty_body> parse(std::string raw) {
  bhttp::parser<isRequest, bhttp::empty_body> p;
  p.eager(false);
  boost::system::error_code ec;
  p.put(boost::asio::buffer(raw), ec);
  REQUIRE((!ec || ec == bhttp::error::need_more));
  REQUIRE(p.is_header_done());
  return p.release();
}

UpstreamRequestHead plan(std::string_view target = "/x") {
  UpstreamRequestHead h;
  h.target = target;
  h.host = "127.0.0.1:9000";
  h.client_host = "gw.example";
  h.peer_address = "10.1.2.3";
  h.proto = "http";
  h.node = "gw-1";
  h.request_id = "0193a6f0-0000-7000-8000-000000000001";
  return h;
}
}  // namespace

TEST_CASE("the upstream head drops hop-by-hop and spoofable headers, then stamps") {
  auto req = parse<true>(
      "POST /tools/x?q=1 HTTP/1.1\r\nHost: gw.example\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
      "Keep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Authorization: Basic x\r\n"
      "Delegation-Scope: forged\r\ndelegation-root: forged\r\nX-Request-Id: forged\r\nX-Forwarded-Proto: https\r\n"
      "X-Forwarded-Host: evil\r\nExpect: 100-continue\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n"
      "X-Kept: yes\r\n\r\n");
  auto h = plan("/x?q=1");
  h.framing = Framing::content_length;
  h.content_length = 5;
  h.stamped = "Delegation-Scope: 0193a6f0-0000-7000-8000-00000000000a\r\n";
  std::string out;
  append_upstream_request_head(out, req.base(), h);
  CHECK(out ==
        "POST /x?q=1 HTTP/1.1\r\n"
        "Host: 127.0.0.1:9000\r\n"
        "Content-Type: text/plain\r\n"
        "X-Kept: yes\r\n"
        "Forwarded: for=10.1.2.3;proto=http;host=\"gw.example\"\r\n"
        "X-Forwarded-For: 10.1.2.3\r\n"
        "Via: 1.1 gw-1\r\n"
        "X-Forwarded-Proto: http\r\n"
        "X-Forwarded-Host: gw.example\r\n"
        "X-Request-Id: 0193a6f0-0000-7000-8000-000000000001\r\n"
        "Delegation-Scope: 0193a6f0-0000-7000-8000-00000000000a\r\n"
        "Content-Length: 5\r\n"
        "\r\n");
}

TEST_CASE("list headers keep what came in and append the gateway's entry") {
  auto req = parse<true>(
      "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.1\r\nForwarded: for=203.0.113.1\r\n"
      "x-forwarded-for: 203.0.113.2, 203.0.113.3\r\nVia: 1.0 edge\r\nTransfer-Encoding: chunked\r\n\r\n");
  auto h = plan();
  h.peer_address = "::1";
  h.peer_is_v6 = true;
  h.client_host = "";
  h.framing = Framing::chunked;
  std::string out;
  append_upstream_request_head(out, req.base(), h);
  CHECK(out.find("Forwarded: for=203.0.113.1, for=\"[::1]\";proto=http\r\n") != std::string::npos);
  CHECK(out.find("X-Forwarded-For: 203.0.113.1, 203.0.113.2, 203.0.113.3, ::1\r\n") != std::string::npos);
  CHECK(out.find("Via: 1.0 edge, 1.1 gw-1\r\n") != std::string::npos);
  CHECK(out.find("X-Forwarded-Host") == std::string::npos);
  CHECK(out.find("Transfer-Encoding: chunked\r\n\r\n") != std::string::npos);
  CHECK(out.find("x-forwarded-for") == std::string::npos);
}

TEST_CASE("the client response head: hop-by-hop dropped, framing and connection the gateway's") {
  auto res = parse<false>(
      "HTTP/1.1 200 Fine\r\nContent-Type: text/event-stream\r\nConnection: keep-alive, X-Up-Hop\r\nX-Up-Hop: 1\r\n"
      "Keep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nVia: 1.1 tool\r\nX-Request-Id: upstream-id\r\n\r\n");
  ClientResponseHead h;
  h.node = "gw-1";
  h.request_id = "rid";
  h.framing = Framing::chunked;
  h.keep_alive = false;
  std::string out;
  append_client_response_head(out, res.base(), h);
  CHECK(out ==
        "HTTP/1.1 200 Fine\r\n"
        "Content-Type: text/event-stream\r\n"
        "Via: 1.1 tool, 1.1 gw-1\r\n"
        "X-Request-Id: rid\r\n"
        "Transfer-Encoding: chunked\r\n"
        "Connection: close\r\n"
        "\r\n");

  SUBCASE("an HTTP/1.0 client kept alive is told so; a HEAD reply keeps the announced length") {
    auto head_res = parse<false>("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
    ClientResponseHead h10;
    h10.client_version = 10;
    h10.node = "gw-1";
    h10.request_id = "rid";
    h10.framing = Framing::none;
    std::string out10;
    append_client_response_head(out10, head_res.base(), h10);
    CHECK(out10 == "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nVia: 1.1 gw-1\r\nX-Request-Id: rid\r\n"
                   "Connection: keep-alive\r\n\r\n");
  }
}

TEST_CASE("every spoofing variant of a gateway header is stripped before stamping") {
  // Case variants, duplicates, a Delegation-* header named in Connection, the agent credential
  // and the trace headers the gateway replaces: none survives; the stamped lines follow.
  auto req = parse<true>(
      "GET /x HTTP/1.1\r\nHost: gw\r\nConnection: close, Delegation-Scope\r\nDelegation-Scope: a\r\n"
      "DELEGATION-SCOPE: b\r\ndelegation-scope: c\r\nDeLeGaTiOn-DePtH: 0\r\nDelegation-Token: t\r\n"
      "Delegation-Objective: o\r\nDelegation-Grants: *\r\nAuthorization: Bearer agent-key\r\n"
      "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\nbaggage: delegation.scope=a\r\n"
      "tracestate: k=v\r\nX-Kept: 1\r\n\r\n");
  auto h = plan();
  h.stamped = "Delegation-Scope: S\r\ntraceparent: 00-T-P-01\r\nbaggage: delegation.scope=S\r\n";
  std::string_view replaced[] = {"authorization", "traceparent", "baggage"};
  h.replaced = replaced;
  std::string out;
  append_upstream_request_head(out, req.base(), h);
  CHECK(out ==
        "GET /x HTTP/1.1\r\n"
        "Host: 127.0.0.1:9000\r\n"
        "tracestate: k=v\r\n"
        "X-Kept: 1\r\n"
        "Forwarded: for=10.1.2.3;proto=http;host=\"gw.example\"\r\n"
        "X-Forwarded-For: 10.1.2.3\r\n"
        "Via: 1.1 gw-1\r\n"
        "X-Forwarded-Proto: http\r\n"
        "X-Forwarded-Host: gw.example\r\n"
        "X-Request-Id: 0193a6f0-0000-7000-8000-000000000001\r\n"
        "Delegation-Scope: S\r\n"
        "traceparent: 00-T-P-01\r\n"
        "baggage: delegation.scope=S\r\n"
        "\r\n");
}
