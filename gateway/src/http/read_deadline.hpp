// A deadline for reads that must be answered when it passes (408): beast::tcp_stream's own
// expiry closes the socket, which leaves nothing to write the reply to. This one cancels the
// pending read instead, and remembers that it fired.
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <chrono>

#include "http/any_stream.hpp"

namespace scopegate::http {

class ReadDeadline {
 public:
  explicit ReadDeadline(AnyStream& stream) : stream_(stream), timer_(stream.get_executor()) {}

  void arm(std::chrono::milliseconds after) {
    fired_ = false;
    timer_.expires_after(after);
    // Only a wait that completes normally touches `this`; a cancelled one (also on destruction)
    // returns at once.
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      fired_ = true;
      boost::system::error_code ignored;
      stream_.lowest().socket().cancel(ignored);
    });
  }
  void disarm() { timer_.cancel(); }
  bool fired() const { return fired_; }

 private:
  AnyStream& stream_;
  boost::asio::steady_timer timer_;
  bool fired_ = false;
};

}  // namespace scopegate::http
