// A plain-or-TLS TCP stream behind one type, so session and relay code is written once, with
// one deadline per stream. Models Asio's AsyncReadStream/AsyncWriteStream.
//
// The deadline is lazy (as nginx's timers are): expires_after() only records a time; one timer
// per stream wakes at the earliest recorded time and, if the deadline has moved later meanwhile,
// goes back to sleep. Setting a deadline per I/O is then a store, not a timer wait started and
// cancelled around every read and write. When a deadline passes, pending operations are
// cancelled (not closed): the caller sees timed_out() and may still answer, e.g. with a 408.
//
// Reads may be watched for broken line endings and chunk framing (http/framing_watch.hpp): the
// caller says which part of a message comes next; an unwatched read costs one branch.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <variant>

#include "http/framing_watch.hpp"

namespace scopegate::http {

namespace asio = boost::asio;

namespace detail {
// Completes a read after showing its bytes to the framing watch.
template <class Handler, class Buffers>
struct WatchedRead {
  Handler handler;
  Buffers buffers;
  FramingWatch* watch;

  void operator()(boost::system::error_code ec, std::size_t n) {
    std::size_t left = n;
    for (auto it = asio::buffer_sequence_begin(buffers); left > 0 && it != asio::buffer_sequence_end(buffers); ++it) {
      asio::mutable_buffer piece(*it);
      std::size_t k = std::min(left, piece.size());
      watch->feed(std::string_view(static_cast<const char*>(piece.data()), k));
      left -= k;
    }
    std::move(handler)(ec, n);
  }
};
}  // namespace detail

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
  // Whether any deadline has passed on this stream, even if a later one was set since.
  bool missed_a_deadline() const;

  // What the next bytes read must look like; stopped (not watching) unless the caller says.
  FramingWatch& framing() { return framing_; }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          using Handler = decltype(handler);
          if (framing_.failed()) {
            // Bytes read earlier broke the framing: fail now rather than wait for a CRLF.
            asio::post(get_executor(), asio::append(std::move(handler), framing_.error(), std::size_t{0}));
          } else if (framing_.watching()) {
            detail::WatchedRead<Handler, MutableBuffers> watched{std::move(handler), b, &framing_};
            std::visit([&](auto& s) { s.async_read_some(b, std::move(watched)); }, v_);
          } else {
            std::visit([&](auto& s) { s.async_read_some(b, std::move(handler)); }, v_);
          }
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
  FramingWatch framing_;
};

}  // namespace scopegate::http

// A watched read keeps the executor, allocator and cancellation slot of the handler it wraps.
template <template <typename, typename> class Associator, typename Handler, typename Buffers,
          typename DefaultCandidate>
struct boost::asio::associator<Associator, scopegate::http::detail::WatchedRead<Handler, Buffers>, DefaultCandidate>
    : Associator<Handler, DefaultCandidate> {
  static typename Associator<Handler, DefaultCandidate>::type get(
      const scopegate::http::detail::WatchedRead<Handler, Buffers>& h) noexcept {
    return Associator<Handler, DefaultCandidate>::get(h.handler);
  }
  static auto get(const scopegate::http::detail::WatchedRead<Handler, Buffers>& h,
                  const DefaultCandidate& c) noexcept -> decltype(Associator<Handler, DefaultCandidate>::get(h.handler, c)) {
    return Associator<Handler, DefaultCandidate>::get(h.handler, c);
  }
};
