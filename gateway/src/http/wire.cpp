#include "http/wire.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <charconv>

namespace scopegate::http {

namespace asio = boost::asio;

namespace {
void append_fields(std::string& out, const bhttp::fields& fields) {
  for (const auto& f : fields) {
    out += f.name_string();
    out += ": ";
    out += f.value();
    out += "\r\n";
  }
  out += "\r\n";
}

void append_version(std::string& out, unsigned version) {
  out += version == 10 ? "HTTP/1.0" : "HTTP/1.1";
}
}  // namespace

void append_request_head(std::string& out, const bhttp::request_header<>& req) {
  out += req.method_string();
  out += ' ';
  out += req.target();
  out += ' ';
  append_version(out, req.version());
  out += "\r\n";
  append_fields(out, req);
}

void append_response_head(std::string& out, const bhttp::response_header<>& res) {
  append_version(out, res.version());
  char status[8];
  auto [end, ec] = std::to_chars(status, status + sizeof status, res.result_int());
  out += ' ';
  out.append(status, end);
  out += ' ';
  auto reason = res.reason();
  out += reason.empty() ? bhttp::obsolete_reason(res.result()) : reason;
  out += "\r\n";
  append_fields(out, res);
}

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
