// A plain-or-TLS TCP stream behind one type, so the session and relay code is written once.
// Models Asio's AsyncReadStream/AsyncWriteStream; both alternatives share the tcp_stream layer
// whose expiry implements the per-phase deadlines.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <variant>

namespace scopegate::http {

namespace asio = boost::asio;
namespace beast = boost::beast;

class AnyStream {
 public:
  using plain_stream = beast::tcp_stream;
  using tls_stream = asio::ssl::stream<beast::tcp_stream>;
  using executor_type = beast::tcp_stream::executor_type;

  explicit AnyStream(plain_stream s) : v_(std::in_place_index<0>, std::move(s)) {}
  explicit AnyStream(tls_stream s) : v_(std::in_place_index<1>, std::move(s)) {}

  executor_type get_executor() { return lowest().get_executor(); }
  beast::tcp_stream& lowest() {
    return std::visit([](auto& s) -> beast::tcp_stream& { return beast::get_lowest_layer(s); }, v_);
  }
  bool is_tls() const { return v_.index() == 1; }
  tls_stream* tls() { return std::get_if<1>(&v_); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          std::visit([&](auto& s) { s.async_read_some(b, std::move(handler)); }, v_);
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          std::visit([&](auto& s) { s.async_write_some(b, std::move(handler)); }, v_);
        },
        token, buffers);
  }

  // Closes the socket at once (no TLS close_notify): used on errors, deadlines and forced shutdown.
  void close() {
    boost::system::error_code ec;
    lowest().socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    lowest().socket().close(ec);
  }

 private:
  std::variant<plain_stream, tls_stream> v_;
};

}  // namespace scopegate::http
