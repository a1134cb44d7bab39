#include "http/framing_watch.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace scopegate::http;

namespace {

// Feeds `bytes` whole, then again split at every position (reads end anywhere).
std::vector<boost::system::error_code> verdicts(bool chunked, const std::string& bytes) {
  std::vector<boost::system::error_code> out;
  for (std::size_t split = 0; split <= bytes.size(); ++split) {
    FramingWatch w;
    if (chunked) {
      w.expect_header();
      w.feed("POST / HTTP/1.1\r\nHost: a\r\n\r\n");
      w.expect_chunked_body(std::string_view(bytes).substr(0, split));
    } else {
      w.expect_header(std::string_view(bytes).substr(0, split));
    }
    out.push_back(w.feed(std::string_view(bytes).substr(split)));
  }
  return out;
}

bool all_ok(bool chunked, const std::string& bytes) {
  for (auto ec : verdicts(chunked, bytes)) {
    if (ec) return false;
  }
  return true;
}

bool all_fail(bool chunked, const std::string& bytes, FramingError e) {
  for (auto ec : verdicts(chunked, bytes)) {
    if (ec != make_error_code(e)) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("headers: CRLF lines pass, bare LF or CR fail") {
  CHECK(all_ok(false, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  CHECK(all_ok(false, "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"));  // an empty line before the request line
  CHECK(all_fail(false, "GET / HTTP/1.1\nHost: a\n\n", FramingError::bare_line_ending));
  CHECK(all_fail(false, "GET / HTTP/1.1\r\nHost: a\n\r\n", FramingError::bare_line_ending));
  CHECK(all_fail(false, "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", FramingError::bare_line_ending));
}

TEST_CASE("headers: the watch stops at the empty line (a body may hold any bytes)") {
  FramingWatch w;
  CHECK_FALSE(w.expect_header("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\na\nb"));
  CHECK_FALSE(w.watching());
  CHECK_FALSE(w.failed());
}

TEST_CASE("chunked bodies") {
  CHECK(all_ok(true, "5\r\nhello\r\n0\r\n\r\n"));
  CHECK(all_ok(true, "5;ext=1\r\nhel\nl\r\n0\r\n\r\n"));  // LF inside chunk data is data
  CHECK(all_ok(true, "a\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n"));
  CHECK(all_ok(true, "FFFF\r\n"));                          // incomplete, not wrong
  CHECK(all_fail(true, "5\nhello\n0\n\n", FramingError::bare_line_ending));
  CHECK(all_fail(true, "5\r\nhello\n0\r\n\r\n", FramingError::missing_chunk_crlf));
  CHECK(all_fail(true, "5\r\nhelloX\r\n", FramingError::missing_chunk_crlf));
  CHECK(all_fail(true, "5\r\nhello\r\n0\r\n\n", FramingError::bare_line_ending));
  CHECK(all_fail(true, "5\r\nhello\r\n0\r\nT: x\n\r\n", FramingError::bare_line_ending));
  CHECK(all_fail(true, "x\r\n", FramingError::bad_chunk_size));
  CHECK(all_fail(true, "\r\n", FramingError::bad_chunk_size));
  CHECK(all_fail(true, "11111111111111111\r\n", FramingError::bad_chunk_size));
  CHECK(all_fail(true, "5;" + std::string(FramingWatch::kMaxChunkLine, 'e'), FramingError::chunk_line_too_long));
}

TEST_CASE("chunked: the watch stops after the last CRLF, pipelined bytes are not its business") {
  FramingWatch w;
  w.expect_header("POST / HTTP/1.1\r\n\r\n");
  CHECK_FALSE(w.expect_chunked_body("0\r\n\r\nGET /\n"));
  CHECK_FALSE(w.watching());
}

TEST_CASE("a violation is kept until the next message starts") {
  FramingWatch w;
  w.expect_header("GET / HTTP/1.1\n");
  CHECK(w.failed());
  CHECK(w.expect_chunked_body("5\r\n") == make_error_code(FramingError::bare_line_ending));
  CHECK_FALSE(w.expect_header("GET / HTTP/1.1\r\n"));
  CHECK_FALSE(w.failed());
  CHECK(std::string(w.expect_header("GET /\n").message()).find("bare LF") != std::string::npos);
}
