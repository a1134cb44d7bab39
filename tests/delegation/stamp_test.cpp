#include "delegation/stamp.hpp"

#include <doctest/doctest.h>

using namespace scopegate::delegation;

TEST_CASE("objectives: decoded, validated, cut on a character boundary, re-encoded") {
  CHECK(decode_objective("find%20Q3%20numbers") == "find Q3 numbers");
  CHECK(decode_objective("caf%C3%A9") == "caf\xc3\xa9");
  CHECK_FALSE(decode_objective("50%").has_value());
  CHECK_FALSE(decode_objective("%zz").has_value());
  CHECK_FALSE(decode_objective("%C3").has_value());       // a truncated UTF-8 sequence
  CHECK_FALSE(decode_objective("%C0%AF").has_value());    // overlong
  CHECK_FALSE(decode_objective("%ED%A0%80").has_value()); // a surrogate
  // CR/LF decode like any other byte, and can never come out unencoded.
  auto injected = decode_objective("a%0D%0AX-Evil:%201");
  REQUIRE(injected.has_value());
  CHECK(*injected == "a\r\nX-Evil: 1");
  CHECK(encode_objective(*injected) == "a%0D%0AX-Evil%3A%201");
  // 512 bytes at most, never half a character: 300 two-byte characters keep 256 of them.
  std::string long_text;
  for (int i = 0; i < 300; ++i) long_text += "%C3%A9";
  auto cut = decode_objective(long_text);
  REQUIRE(cut.has_value());
  CHECK(cut->size() == 512);
  CHECK(is_valid_utf8(*cut));
  std::string odd = "a" + std::string(600, 'b');
  odd[511] = '\xc3';
  odd[512] = '\xa9';
  CHECK(cut_utf8(odd, 512).size() == 511);
  std::string printable = encode_objective(std::string("\0\x7f\xff q", 5));
  CHECK(printable == "%00%7F%FF%20q");
}

TEST_CASE("traceparent: continued when valid, new otherwise") {
  auto t = continue_trace("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  CHECK(t.continued());
  CHECK(t.trace_id() == "0af7651916cd43dd8448eb211c80319c");
  CHECK(t.parent_id() == "b7ad6b7169203331");
  CHECK(t.span_id().size() == 16);
  CHECK(t.span_id() != "b7ad6b7169203331");
  CHECK(t.traceparent() == "00-0af7651916cd43dd8448eb211c80319c-" + std::string(t.span_id()) + "-01");
  for (auto bad : {"", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331", "00-00000000000000000000000000000000-b7ad6b7169203331-01",
                   "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                   "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
                   "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra"}) {
    auto n = continue_trace(bad);
    CHECK_MESSAGE(!n.continued(), bad);
    CHECK(n.trace_id().size() == 32);
    CHECK(n.trace_id().find_first_not_of("0123456789abcdef") == std::string_view::npos);
    CHECK(n.parent_id().empty());
    CHECK(n.flags() == "01");
  }
  // A later version may carry more fields; its first four are still understood.
  CHECK(continue_trace("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-abc").continued());
}

TEST_CASE("baggage: entries kept, delegation.scope set once") {
  CHECK(stamp_baggage("", "S") == "delegation.scope=S");
  CHECK(stamp_baggage("tenant=acme, region=eu;p=1", "S") == "tenant=acme,region=eu;p=1,delegation.scope=S");
  CHECK(stamp_baggage("delegation.scope=forged, a=1 , delegation.scope = x", "S") == "a=1,delegation.scope=S");
  CHECK(stamp_baggage("junk, a=1", "S") == "a=1,delegation.scope=S");
}
