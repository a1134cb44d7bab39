#include "http/any_stream.hpp"

namespace scopegate::http {

using Clock = std::chrono::steady_clock;

struct AnyStream::Deadline {
  explicit Deadline(const asio::any_io_executor& ex) : timer(ex) {}

  void wake_at(Clock::time_point when, const std::shared_ptr<Deadline>& self) {
    timer_at = when;
    timer_waiting = true;
    timer.expires_at(when);
    timer.async_wait([self](const boost::system::error_code& ec) {
      if (ec) return;  // re-armed earlier, or the stream is gone
      self->timer_waiting = false;
      if (self->socket == nullptr || self->at == Clock::time_point::max()) return;
      if (Clock::now() < self->at) {
        self->wake_at(self->at, self);  // the deadline moved later while we slept
        return;
      }
      self->fired = true;
      self->ever_fired = true;
      self->at = Clock::time_point::max();
      boost::system::error_code ignored;
      self->socket->cancel(ignored);
    });
  }

  asio::steady_timer timer;
  tcp::socket* socket = nullptr;
  Clock::time_point at = Clock::time_point::max();  // the deadline in force
  Clock::time_point timer_at{};                     // when the timer wakes, if waiting
  bool timer_waiting = false;
  bool fired = false;
  bool ever_fired = false;
};

AnyStream::AnyStream(tcp::socket socket)
    : v_(std::in_place_index<0>, std::move(socket)), deadline_(std::make_shared<Deadline>(get_executor())) {
  deadline_->socket = &this->socket();
}

AnyStream::AnyStream(tcp::socket socket, asio::ssl::context& tls)
    : v_(std::in_place_index<1>, std::move(socket), tls), deadline_(std::make_shared<Deadline>(get_executor())) {
  deadline_->socket = &this->socket();
}

AnyStream::~AnyStream() {
  deadline_->socket = nullptr;
  deadline_->timer.cancel();
}

void AnyStream::expires_after(std::chrono::milliseconds after) {
  auto& d = *deadline_;
  d.fired = false;
  d.at = Clock::now() + after;
  if (!d.timer_waiting || d.timer_at > d.at) d.wake_at(d.at, deadline_);
}

void AnyStream::expires_never() {
  deadline_->fired = false;
  deadline_->at = Clock::time_point::max();
}

bool AnyStream::timed_out() const { return deadline_->fired; }

bool AnyStream::missed_a_deadline() const { return deadline_->ever_fired; }

void AnyStream::close() {
  boost::system::error_code ec;
  socket().shutdown(tcp::socket::shutdown_both, ec);
  socket().close(ec);
}

}  // namespace scopegate::http
