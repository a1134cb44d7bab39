#include "http/errors.hpp"
#include "json/write.hpp"

#include <doctest/doctest.h>

using namespace scopegate::http;

TEST_CASE("error bodies are JSON in valid UTF-8 whatever the message quotes") {
  // Found by the http_head fuzzer: a path refusal quoted a raw 0x86 byte into the 400's body.
  std::string body = error_body(ErrorCode::bad_request, {"a dot segment ('..;\x86') is not allowed", "", "", ""});
  CHECK(body.find("..;\\ufffd") != std::string::npos);
  CHECK(body.find('\x86') == std::string::npos);
  // Well-formed UTF-8 passes unchanged; each malformed byte becomes one U+FFFD.
  struct Case {
    std::string in, out;
  };
  for (const auto& [in, out] : {
           Case{"caf\xc3\xa9", "caf\xc3\xa9"},
           Case{"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
           Case{"\xc0\xaf", "\\ufffd\\ufffd"},                 // overlong '/'
           Case{"\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"},      // a UTF-16 surrogate
           Case{"\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"},  // above U+10FFFF
           Case{"ab\xe2\x82", "ab\\ufffd\\ufffd"},             // cut short
           Case{"q\"\\\n\x01", "q\\\"\\\\\\n\\u0001"},
       }) {
    std::string escaped;
    scopegate::json::append_escaped(escaped, in);
    CHECK(escaped == out);
  }
}
