#include "http/hygiene.hpp"

#include <doctest/doctest.h>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "http/errors.hpp"
#include "http/request_id.hpp"

using namespace scopegate::http;
namespace bhttp = boost::beast::http;

namespace {
// Parses a raw request header with Beast, as the gateway does; nullopt if Beast itself refuses it.
std::optional<bhttp::request<bhttp::empty_body>> parse(std::string raw) {
  bhttp::request_parser<bhttp::empty_body> p;
  p.eager(false);
  boost::system::error_code ec;
  p.put(boost::asio::buffer(raw), ec);
  if (ec && ec != bhttp::error::need_more) return std::nullopt;
  if (!p.is_header_done()) return std::nullopt;
  return p.release();
}

// The verdict of Beast's parser plus the gateway's own checks: nullopt means "forwardable".
std::optional<ErrorCode> verdict(std::string raw) {
  auto req = parse(std::move(raw));
  if (!req) return ErrorCode::bad_request;
  if (auto v = check_request_framing(req->base())) return v->code;
  return std::nullopt;
}
}  // namespace

TEST_CASE("request framing that Beast accepts but a proxy must refuse") {
  CHECK_FALSE(verdict("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"));
  CHECK_FALSE(verdict("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"));
  CHECK_FALSE(verdict("GET / HTTP/1.0\r\n\r\n"));  // HTTP/1.0 may omit Host

  SUBCASE("Transfer-Encoding with Content-Length, in either order") {
    CHECK(verdict("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n") ==
          ErrorCode::bad_request);
    CHECK(verdict("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n") ==
          ErrorCode::bad_request);
    CHECK(verdict("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n") ==
          ErrorCode::bad_request);
  }
  SUBCASE("Transfer-Encoding not ending in chunked") {
    CHECK(verdict("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n") == ErrorCode::bad_request);
    CHECK(verdict("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n") == ErrorCode::bad_request);
    CHECK(verdict("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n") ==
          ErrorCode::bad_request);
  }
  SUBCASE("an unsupported coding before chunked is 501") {
    CHECK(verdict("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") ==
          ErrorCode::not_implemented);
  }
  SUBCASE("chunked on HTTP/1.0") {
    CHECK(verdict("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") == ErrorCode::bad_request);
  }
  SUBCASE("differing or malformed Content-Length") {
    CHECK(verdict("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n") ==
          ErrorCode::bad_request);
    CHECK(verdict("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n") == ErrorCode::bad_request);
    CHECK(verdict("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n") == ErrorCode::bad_request);
    CHECK(verdict("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n") == ErrorCode::bad_request);
    // identical repeats are one length (RFC 9110 §8.6) and are forwarded as a single header
    CHECK_FALSE(verdict("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"));
  }
  SUBCASE("Host") {
    CHECK(verdict("GET / HTTP/1.1\r\n\r\n") == ErrorCode::bad_request);
    CHECK(verdict("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == ErrorCode::bad_request);
    CHECK(verdict("GET / HTTP/1.1\r\nHost: a b\r\n\r\n") == ErrorCode::bad_request);
    CHECK(verdict("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n") == ErrorCode::bad_request);
  }
  SUBCASE("whitespace before the colon and bare CR/LF/NUL") {
    CHECK(verdict("GET / HTTP/1.1\r\nHost : a\r\n\r\n") == ErrorCode::bad_request);
    CHECK(verdict(std::string("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 36)) == ErrorCode::bad_request);
    CHECK(verdict("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n") == ErrorCode::bad_request);
    CHECK(verdict("GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n") == ErrorCode::bad_request);
  }
}

TEST_CASE("request targets") {
  CHECK_FALSE(check_request_target("/tools/search?q=../x"));
  CHECK_FALSE(check_request_target("/a/b.c/..d"));
  CHECK(check_request_target("http://example/x"));
  CHECK(check_request_target("*"));
  CHECK(check_request_target("/a#frag"));
  // Dot segments are resolved (or refused above the root) by the path normaliser: path_test.cpp.
  CHECK_FALSE(check_request_target("/tools/../admin"));
}

TEST_CASE("response framing") {
  bhttp::response_header<> res;
  res.version(11);
  res.result(200);
  res.set(bhttp::field::content_length, "5");
  CHECK_FALSE(check_response_framing(res));
  res.set(bhttp::field::transfer_encoding, "chunked");
  auto v = check_response_framing(res);
  REQUIRE(v);
  CHECK(v->code == ErrorCode::upstream_protocol_error);
}

TEST_CASE("hop-by-hop: the fixed set, Proxy-*, and whatever Connection names") {
  auto req = parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\nconnection: Delegation-Scope\r\n\r\n");
  REQUIRE(req);
  ConnectionTokens named(*req);
  for (auto name : {"Connection", "keep-alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Authorization",
                    "Proxy-Connection", "proxy-anything", "X-Secret", "x-secret", "Delegation-Scope"}) {
    CHECK_MESSAGE(is_hop_by_hop(name, named), name);
  }
  for (auto name : {"Host", "X-Kept", "Authorization", "Content-Type", "X-Secret2"}) {
    CHECK_FALSE_MESSAGE(is_hop_by_hop(name, named), name);
  }
  CHECK(is_gateway_owned("delegation-scope"));
  CHECK(is_gateway_owned("DELEGATION-TOKEN"));
  CHECK_FALSE(is_gateway_owned("X-Delegation-Scope"));
}

TEST_CASE("ConnectionTokens holds many names") {
  std::string raw = "GET / HTTP/1.1\r\nHost: a\r\nConnection: ";
  for (int i = 0; i < 20; ++i) raw += (i ? ", X-H" : "X-H") + std::to_string(i);
  raw += "\r\n\r\n";
  auto req = parse(raw);
  REQUIRE(req);
  ConnectionTokens named(*req);
  CHECK(named.contains("x-h0"));
  CHECK(named.contains("X-H19"));
  CHECK_FALSE(named.contains("X-H20"));
}

TEST_CASE("hosts lose their port") {
  CHECK(host_without_port("Example.COM:8080") == "example.com");
  CHECK(host_without_port("[::1]:8080") == "[::1]");
  CHECK(host_without_port("a") == "a");
}

TEST_CASE("error bodies and request ids") {
  auto body = error_body(ErrorCode::policy_denied, {"no \"hr\"\naccess", "id-1", "", "r1"});
  CHECK(body == R"({"error":{"code":"policy_denied","message":"no \"hr\"\naccess","request_id":"id-1","rule":"r1"}})" "\n");
  CHECK(status_of(ErrorCode::policy_denied) == 403);
  CHECK(status_of(ErrorCode::breaker_open) == 503);
  CHECK(status_of(ErrorCode::not_implemented) == 501);
  auto id = make_uuid_v7();
  CHECK(is_uuid(id));
  CHECK(id[14] == '7');
  CHECK((id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b'));
  CHECK(make_uuid_v7() != id);
  CHECK_FALSE(is_uuid("not-a-uuid"));
  CHECK_FALSE(is_uuid("01a1fd0a-31db-7504-99b9-a2cb3b0542a\n"));
}

TEST_CASE("'_' for '-' in a gateway header's name is spoofing, in any case") {
  for (std::string name : {"Delegation_Scope", "delegation_token", "DELEGATION_DEPTH", "Delegation-Scope_x",
                           "X_Forwarded_For", "x_request_id", "Delegation_"}) {
    auto req = parse("GET / HTTP/1.1\r\nHost: a\r\n" + name + ": x\r\n\r\n");
    REQUIRE(req.has_value());
    auto v = find_spoofed_header(*req);
    REQUIRE_MESSAGE(v.has_value(), name);
    CHECK(v->code == ErrorCode::header_spoofing);
  }
  for (std::string name : {"Delegation-Scope", "X_Custom_Header", "Trace_Id"}) {
    auto req = parse("GET / HTTP/1.1\r\nHost: a\r\n" + name + ": x\r\n\r\n");
    REQUIRE(req.has_value());
    CHECK_MESSAGE(!find_spoofed_header(*req).has_value(), name);
  }
}
