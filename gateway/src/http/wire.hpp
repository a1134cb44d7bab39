// Writing HTTP/1.1 messages: a head already serialized into one buffer (http/head.hpp), then body
// pieces framed (chunked or raw), the head going out with the first piece in one gather write.
// Beast's serializer emits one buffer per field through deep buffer-sequence adaptors; on a
// proxy's hot path a flat head and a single writev are measurably cheaper.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <array>
#include <string>
#include <tuple>
#include <string_view>

#include "http/any_stream.hpp"

namespace scopegate::http {

// Streams one message: the head goes out with the first piece; `chunked` frames each piece.
class BodyWriter {
 public:
  BodyWriter(AnyStream& stream, std::string head, bool chunked)
      : stream_(stream), head_(std::move(head)), chunked_(chunked) {}

  // Writes `data` (may be empty) and, when `last`, the end of the body. The stream's deadline
  // (set by the caller) bounds the write. The returned operation refers to this writer's
  // buffers: co_await it before the next call. (Not a coroutine itself: one frame less per write.)
  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> write(std::string_view data, bool last);

 private:
  AnyStream& stream_;
  std::string head_;
  bool chunked_;
  bool head_sent_ = false;
  char size_line_[24];
  std::array<boost::asio::const_buffer, 5> pieces_{};
};

}  // namespace scopegate::http
