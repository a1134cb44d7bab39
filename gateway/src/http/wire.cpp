#include "http/wire.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <charconv>
#include <string_view>

namespace scopegate::http {

namespace asio = boost::asio;

asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> BodyWriter::write(std::string_view data,
                                                                                     bool last) {
  static constexpr std::string_view kCrlf = "\r\n";
  static constexpr std::string_view kLastChunk = "0\r\n\r\n";
  pieces_ = {};  // unused entries stay empty; writev skips them
  std::size_t n = 0;
  if (!head_sent_) pieces_[n++] = asio::buffer(head_);
  if (chunked_ && !data.empty()) {
    auto [end, ec] = std::to_chars(size_line_, size_line_ + 20, data.size(), 16);
    end[0] = '\r';
    end[1] = '\n';
    pieces_[n++] = asio::buffer(size_line_, static_cast<std::size_t>(end + 2 - size_line_));
    pieces_[n++] = asio::buffer(data);
    pieces_[n++] = asio::buffer(kCrlf);
  } else if (!data.empty()) {
    pieces_[n++] = asio::buffer(data);
  }
  if (chunked_ && last) pieces_[n++] = asio::buffer(kLastChunk);
  head_sent_ = true;
  return asio::async_write(stream_, pieces_, asio::as_tuple(asio::use_awaitable));
}

}  // namespace scopegate::http
