#include "http/linger.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>

namespace scopegate::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

asio::awaitable<void> lingering_close(tcp::socket& socket, std::chrono::milliseconds limit) {
  boost::system::error_code ec;
  if (limit.count() > 0 && socket.is_open()) socket.shutdown(tcp::socket::shutdown_send, ec);
  if (limit.count() > 0 && socket.is_open() && !ec) {
    // The timer's handler may run after this frame is gone (it can be queued when the last read
    // completes): it reaches the socket only through `target`, cleared before returning.
    auto target = std::make_shared<tcp::socket*>(&socket);
    asio::steady_timer timer(socket.get_executor(), limit);
    timer.async_wait([target](boost::system::error_code tec) {
      boost::system::error_code ignored;
      if (!tec && *target) (*target)->cancel(ignored);
    });
    // Discarded bytes: one buffer per thread serves every lingering connection on it.
    thread_local char sink[16 * 1024];
    std::size_t drained = 0;
    while (drained < kMaxLingerBytes) {
      auto [rec, n] = co_await socket.async_read_some(asio::buffer(sink), asio::as_tuple(asio::use_awaitable));
      if (rec) break;  // end-of-stream (the usual end), a reset, or the time limit
      drained += n;
    }
    *target = nullptr;
    timer.cancel();
  }
  socket.close(ec);
}

}  // namespace scopegate::http
