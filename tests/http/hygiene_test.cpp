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
  CHECK(check_request_target("/tools/../admin"));
  CHECK(check_request_target("/tools/.."));
  CHECK(check_request_target("/./x"));
  CHECK(check_request_target("/tools/%2e%2E/admin"));
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

TEST_CASE("hop-by-hop headers and the ones Connection names are removed") {
  auto req = parse(
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret, Delegation-Scope\r\nX-Secret: 1\r\n"
      "Keep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X\r\nUpgrade: h2c\r\nProxy-Authorization: Basic x\r\n"
      "Proxy-Connection: keep-alive\r\nDelegation-Scope: forged\r\nX-Kept: yes\r\n\r\n");
  REQUIRE(req);
  strip_hop_by_hop(*req);
  for (auto name : {"Connection", "X-Secret", "Keep-Alive", "TE", "Trailer", "Upgrade", "Proxy-Authorization",
                    "Proxy-Connection", "Delegation-Scope"}) {
    CHECK_MESSAGE(req->count(name) == 0, name);
  }
  CHECK((*req)["X-Kept"] == "yes");
  CHECK((*req)["Host"] == "a");
}

TEST_CASE("gateway-owned headers are stripped in every spelling; '_' variants are spoofing") {
  auto req = parse(
      "GET / HTTP/1.1\r\nHost: a\r\ndelegation-scope: x\r\nDELEGATION-ROOT: y\r\nDelegation-Depth: 0\r\n"
      "Delegation-Scope: again\r\nX-Other: z\r\n\r\n");
  REQUIRE(req);
  CHECK_FALSE(find_spoofed_header(*req));
  strip_gateway_owned(*req);
  CHECK(req->count("Delegation-Scope") == 0);
  CHECK(req->count("Delegation-Root") == 0);
  CHECK(req->count("Delegation-Depth") == 0);
  CHECK((*req)["X-Other"] == "z");

  for (auto spoof : {"Delegation_Scope", "delegation_parent", "X_Forwarded_For", "X_Request_Id", "Delegation-Scope_"}) {
    bhttp::fields f;
    f.set(spoof, "forged");
    auto v = find_spoofed_header(f);
    if (std::string_view(spoof) == "Delegation-Scope_") {
      CHECK_MESSAGE(v, spoof);  // still imitates a Delegation-* name
      continue;
    }
    REQUIRE_MESSAGE(v, spoof);
    CHECK(v->code == ErrorCode::header_spoofing);
  }
  bhttp::fields ok;
  ok.set("X_Custom_Header", "fine");
  CHECK_FALSE(find_spoofed_header(ok));
}

TEST_CASE("list headers append; hosts lose their port") {
  bhttp::fields f;
  f.insert("X-Forwarded-For", "10.0.0.1");
  f.insert("X-Forwarded-For", "10.0.0.2");
  append_list_header(f, "X-Forwarded-For", "127.0.0.1");
  CHECK(f["X-Forwarded-For"] == "10.0.0.1, 10.0.0.2, 127.0.0.1");
  CHECK(f.count("X-Forwarded-For") == 1);
  append_list_header(f, "Via", "1.1 gw");
  CHECK(f["Via"] == "1.1 gw");
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
