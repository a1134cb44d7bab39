// Turns a burst of change events into one action. An editor's save, `mv` into place or a
// deployment touching a dozen files is many inotify events; the policies are reloaded once, when
// the burst has been quiet for a moment. Pure: the caller says what time it is.
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>

namespace scopegate::app {

class Debounce {
 public:
  using Clock = std::chrono::steady_clock;

  // Due `quiet` after the burst's last event, and never later than `max_wait` after its first, so
  // a stream of events that never pauses (a process rewriting a file in a loop) still gets its
  // changes applied now and then rather than never.
  Debounce(Clock::duration quiet, Clock::duration max_wait) : quiet_(quiet), max_wait_(max_wait) {}

  void event(Clock::time_point now) {
    if (!pending_) first_ = now;
    pending_ = true;
    last_ = now;
  }

  // When the pending burst is due; nothing when no event is pending.
  std::optional<Clock::time_point> due() const {
    if (!pending_) return std::nullopt;
    return std::min(last_ + quiet_, first_ + max_wait_);
  }

  // True once per burst, when it is due at `now`; the burst is then over and the next event
  // starts another.
  bool take(Clock::time_point now) {
    auto when = due();
    if (!when || now < *when) return false;
    pending_ = false;
    return true;
  }

 private:
  Clock::duration quiet_;
  Clock::duration max_wait_;
  bool pending_ = false;  // an event came since the last take
  Clock::time_point first_{};
  Clock::time_point last_{};
};

}  // namespace scopegate::app
