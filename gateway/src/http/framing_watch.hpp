// Line endings and chunk framing, checked on the raw bytes as they are read.
//
// Boost 1.81's parser looks for CRLF only: a line ending in a bare LF is not a line to it, so it
// asks for more bytes and waits. A client sending `5\nhello\n0\n\n` got no answer until the body
// deadline, an upstream answering with such chunks gave the client an empty reply, and a header
// written with bare LFs waited for the header deadline. RFC 9112 §2.2 lets a recipient refuse
// bare LF framing; the gateway does, at once.
//
// The watch sees exactly the bytes the parser sees, in order (http::AnyStream feeds it every read;
// the caller feeds what was already buffered when it starts one). A violation does not fail the
// read that carried it, which may still hold bytes the parser wants: the *next* read fails with it
// at once, and the caller's ordinary error path answers (400 for a client, 502 for an upstream).
#pragma once

#include <boost/system/error_code.hpp>

#include <cstdint>
#include <string_view>
#include <type_traits>

namespace scopegate::http {

enum class FramingError {
  bare_line_ending = 1,
  bad_chunk_size,
  chunk_line_too_long,
  missing_chunk_crlf,
  trailers_too_long,
};

const boost::system::error_category& framing_category();
boost::system::error_code make_error_code(FramingError e);

class FramingWatch {
 public:
  static constexpr std::size_t kMaxChunkLine = 4096;        // chunk size plus extensions
  static constexpr std::size_t kMaxTrailerBytes = 64 * 1024;

  // A new message's header starts (any earlier violation is forgotten): every line must end in
  // CRLF. The watch stops by itself after the header's empty line. `buffered` is what the caller
  // holds of the message already. Returns error().
  boost::system::error_code expect_header(std::string_view buffered = {});
  // The message's chunked body starts: size lines, CRLF after each chunk, trailer lines. Stops by
  // itself after the final CRLF. A violation seen in the header is kept. Returns error().
  boost::system::error_code expect_chunked_body(std::string_view buffered = {});
  void stop() { phase_ = Phase::off; }

  bool watching() const { return phase_ != Phase::off; }
  bool failed() const { return static_cast<bool>(error_); }
  boost::system::error_code error() const { return error_; }

  // The next bytes of the stream. Returns error() (empty while the framing holds).
  boost::system::error_code feed(std::string_view bytes);

 private:
  enum class Phase { off, header, chunk_size, chunk_data, chunk_data_cr, chunk_data_lf, trailer };
  void fail(FramingError e);
  void start_line();
  // Header or trailer lines: returns how many bytes it took (the rest belong to the body or the
  // next message) once the empty line is seen, else all of them.
  std::size_t feed_lines(std::string_view bytes);
  std::size_t feed_size_line(std::string_view bytes);

  Phase phase_ = Phase::off;
  boost::system::error_code error_;
  bool cr_ = false;         // the previous byte was CR: LF must follow
  std::size_t line_ = 0;    // bytes in the current line, its CRLF not counted
  bool seen_line_ = false;  // a non-empty header line went by (empty lines before one are skipped)
  std::size_t trailer_bytes_ = 0;
  unsigned digits_ = 0;     // hex digits of the chunk size so far
  bool in_extension_ = false;
  std::uint64_t chunk_left_ = 0;
};

}  // namespace scopegate::http

template <>
struct boost::system::is_error_code_enum<scopegate::http::FramingError> : std::true_type {};
