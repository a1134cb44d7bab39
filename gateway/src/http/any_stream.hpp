// A plain-or-TLS TCP stream behind one type, so session and relay code is written once, with
// one deadline per stream. Models Asio's AsyncReadStream/AsyncWriteStream.
//
// The deadline is lazy (as nginx's timers are): expires_after() only records a time; one timer
// per stream wakes at the earliest recorded time and, if the deadline has moved later meanwhile,
// goes back to sleep. Setting a deadline per I/O is then a store, not a timer wait started and
// cancelled around every read and write. When a deadline passes, pending operations are
// cancelled (not closed): the caller sees timed_out() and may still answer, e.g. with a 408.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <variant>

namespace scopegate::http {

namespace asio = boost::asio;

class AnyStream {
 public:
  using tcp = asio::ip::tcp;
  using tls_stream = asio::ssl::stream<tcp::socket>;
  using executor_type = asio::any_io_executor;

  explicit AnyStream(tcp::socket socket);
  AnyStream(tcp::socket socket, asio::ssl::context& tls);
  ~AnyStream();
  AnyStream(const AnyStream&) = delete;
  AnyStream& operator=(const AnyStream&) = delete;

  executor_type get_executor() { return socket().get_executor(); }
  tcp::socket& socket() {
    return std::visit([](auto& s) -> tcp::socket& {
      if constexpr (std::is_same_v<std::decay_t<decltype(s)>, tcp::socket>) return s;
      else return s.next_layer();
    }, v_);
  }
  tls_stream* tls() { return std::get_if<1>(&v_); }

  // Operations started or pending from now on are cancelled once `after` has passed.
  void expires_after(std::chrono::milliseconds after);
  void expires_never();
  // Whether the last deadline passed (and cancelled what was pending).
  bool timed_out() const;

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
  void close();

 private:
  struct Deadline;
  std::variant<tcp::socket, tls_stream> v_;
  std::shared_ptr<Deadline> deadline_;  // shared with the timer's handler, which may outlive us
};

}  // namespace scopegate::http
