#include "http/framing_watch.hpp"

#include <cstring>

#include <algorithm>
#include <string>

namespace scopegate::http {

namespace {

class FramingCategory : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "scopegate.framing"; }
  std::string message(int e) const override {
    switch (static_cast<FramingError>(e)) {
      case FramingError::bare_line_ending:
        return "a line ends in a bare LF or CR (HTTP/1.1 lines end in CRLF)";
      case FramingError::bad_chunk_size:
        return "malformed chunk size";
      case FramingError::chunk_line_too_long:
        return "chunk-size line over 4 KiB";
      case FramingError::missing_chunk_crlf:
        return "chunk data not followed by CRLF";
      case FramingError::trailers_too_long:
        return "chunk trailers over 64 KiB";
    }
    return "framing error";
  }
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

const boost::system::error_category& framing_category() {
  static const FramingCategory category;
  return category;
}

boost::system::error_code make_error_code(FramingError e) { return {static_cast<int>(e), framing_category()}; }

boost::system::error_code FramingWatch::expect_header(std::string_view buffered) {
  error_ = {};
  phase_ = Phase::header;
  start_line();
  seen_line_ = false;
  return feed(buffered);
}

boost::system::error_code FramingWatch::expect_chunked_body(std::string_view buffered) {
  if (error_) return error_;
  phase_ = Phase::chunk_size;
  start_line();
  return feed(buffered);
}

void FramingWatch::start_line() {
  cr_ = false;
  line_ = 0;
  digits_ = 0;
  in_extension_ = false;
  chunk_left_ = 0;
}

void FramingWatch::fail(FramingError e) {
  if (!error_) error_ = make_error_code(e);
  phase_ = Phase::off;
}

// Line by line rather than byte by byte: memchr finds the next LF (and any CR before it), so a
// header costs a few vectorised scans. Every line must end in CRLF; a CR anywhere else, or an LF
// without its CR, is a violation.
std::size_t FramingWatch::feed_lines(std::string_view bytes) {
  const char* p = bytes.data();
  std::size_t n = bytes.size();
  std::size_t i = 0;
  auto count_trailer = [&](std::size_t k) {
    if (phase_ != Phase::trailer) return true;
    trailer_bytes_ += k;
    if (trailer_bytes_ <= kMaxTrailerBytes) return true;
    fail(FramingError::trailers_too_long);
    return false;
  };
  while (i < n) {
    if (cr_) {  // the byte before was a CR: this one must be its LF
      if (p[i] != '\n') {
        fail(FramingError::bare_line_ending);
        return i;
      }
      cr_ = false;
      if (!count_trailer(1)) return i;
      ++i;
      if (line_ == 0 && seen_line_) {
        phase_ = Phase::off;  // the empty line: the header (or the trailers) ended
        return i;
      }
      seen_line_ = seen_line_ || line_ > 0;
      line_ = 0;
      continue;
    }
    const auto* lf = static_cast<const char*>(std::memchr(p + i, '\n', n - i));
    std::size_t end = lf ? static_cast<std::size_t>(lf - p) : n;  // [i, end) holds no LF
    if (const auto* cr = static_cast<const char*>(std::memchr(p + i, '\r', end - i))) {
      std::size_t at = static_cast<std::size_t>(cr - p);
      if (at + 1 < end) {  // a CR followed by something other than LF
        fail(FramingError::bare_line_ending);
        return at + 1;
      }
      if (!count_trailer(at + 1 - i)) return i;
      line_ += at - i;
      cr_ = true;  // its LF is the next byte, here or in the next read
      i = at + 1;
      continue;
    }
    if (lf) {  // an LF with no CR before it
      fail(FramingError::bare_line_ending);
      return end;
    }
    if (!count_trailer(n - i)) return i;
    line_ += n - i;
    return n;
  }
  return n;
}

std::size_t FramingWatch::feed_size_line(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    char c = bytes[i];
    if (cr_) {
      if (c != '\n') {
        fail(FramingError::bare_line_ending);
        return i;
      }
      if (digits_ == 0) {
        fail(FramingError::bad_chunk_size);
        return i;
      }
      if (chunk_left_ == 0) {
        // The last chunk: trailer lines follow, ended by an empty line (which may come at once).
        phase_ = Phase::trailer;
        start_line();
        seen_line_ = true;
        trailer_bytes_ = 0;
      } else {
        phase_ = Phase::chunk_data;
        cr_ = false;
      }
      return i + 1;
    }
    if (c == '\r') {
      cr_ = true;
      continue;
    }
    if (c == '\n') {
      fail(FramingError::bare_line_ending);
      return i;
    }
    if (++line_ > kMaxChunkLine) {
      fail(FramingError::chunk_line_too_long);
      return i;
    }
    if (in_extension_) continue;
    int h = hex_value(c);
    if (h < 0) {
      if (digits_ == 0) {
        fail(FramingError::bad_chunk_size);
        return i;
      }
      in_extension_ = true;  // ";name=value" or whitespace before it: Beast's parser judges those
      continue;
    }
    if (++digits_ > 16) {
      fail(FramingError::bad_chunk_size);
      return i;
    }
    chunk_left_ = chunk_left_ * 16 + static_cast<unsigned>(h);
  }
  return bytes.size();
}

boost::system::error_code FramingWatch::feed(std::string_view bytes) {
  while (!bytes.empty() && phase_ != Phase::off) {
    std::size_t used = 0;
    switch (phase_) {
      case Phase::header:
      case Phase::trailer:
        used = feed_lines(bytes);
        break;
      case Phase::chunk_size:
        used = feed_size_line(bytes);
        break;
      case Phase::chunk_data:
        used = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_left_, bytes.size()));
        chunk_left_ -= used;
        if (chunk_left_ == 0) phase_ = Phase::chunk_data_cr;
        break;
      case Phase::chunk_data_cr:
      case Phase::chunk_data_lf: {
        char want = phase_ == Phase::chunk_data_cr ? '\r' : '\n';
        if (bytes.front() != want) {
          fail(FramingError::missing_chunk_crlf);
          break;
        }
        used = 1;
        if (phase_ == Phase::chunk_data_cr) {
          phase_ = Phase::chunk_data_lf;
        } else {
          phase_ = Phase::chunk_size;
          start_line();
        }
        break;
      }
      case Phase::off:
        break;
    }
    bytes.remove_prefix(used);
  }
  return error_;
}

}  // namespace scopegate::http
