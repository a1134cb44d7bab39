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

asio::awaitable<boost::system::error_code> BodyWriter::write(std::string_view data, bool last) {
  static constexpr std::string_view kCrlf = "\r\n";
  static constexpr std::string_view kLastChunk = "0\r\n\r\n";
  char size_line[24];
  std::size_t size_len = 0;
  std::array<asio::const_buffer, 5> pieces{};  // unused entries stay empty; writev skips them
  std::size_t n = 0;
  if (!head_sent_) pieces[n++] = asio::buffer(head_);
  if (chunked_ && !data.empty()) {
    auto [end, ec] = std::to_chars(size_line, size_line + 20, data.size(), 16);
    end[0] = '\r';
    end[1] = '\n';
    size_len = static_cast<std::size_t>(end + 2 - size_line);
    pieces[n++] = asio::buffer(size_line, size_len);
    pieces[n++] = asio::buffer(data);
    pieces[n++] = asio::buffer(kCrlf);
  } else if (!data.empty()) {
    pieces[n++] = asio::buffer(data);
  }
  if (chunked_ && last) pieces[n++] = asio::buffer(kLastChunk);
  if (n == 0) co_return boost::system::error_code{};
  auto [ec, written] = co_await asio::async_write(stream_, pieces, asio::as_tuple(asio::use_awaitable));
  head_sent_ = true;
  co_return ec;
}

}  // namespace scopegate::http
