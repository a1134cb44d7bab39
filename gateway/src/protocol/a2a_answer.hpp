// What an A2A agent answered about the task a delegation handed it (docs/plans.md, "When a task
// ends"), read from the response body as it is relayed, for plans: a message (the agent answered
// at once: done), a task with its state, a status update, or a JSON-RPC error. A JSON body, or a
// stream of server-sent events whose data are JSON-RPC responses (message/stream, SendStreamingMessage,
// resubscribe); the last state seen decides. Both A2A 0.3 ("kind":"task", "completed") and 1.0
// ({"task": ...}, "TASK_STATE_COMPLETED") shapes are read, with and without the JSON-RPC envelope
// (the HTTP+JSON binding).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace scopegate::protocol {

struct A2aAnswer {
  enum class Kind { unknown, message, task, error };
  Kind kind = Kind::unknown;
  std::string state;    // task state, normalised to 0.3's names: completed, failed, working, input-required...
  std::string task_id;  // the A2A task it is about, when the answer names one

  // completed or a direct message; failed, rejected or canceled; else the task goes on (or nothing was read).
  bool completed() const { return kind == Kind::message || (kind == Kind::task && state == "completed"); }
  bool failed() const {
    return kind == Kind::error || (kind == Kind::task && (state == "failed" || state == "rejected" || state == "canceled"));
  }
};

// One JSON-RPC response (or an A2A HTTP+JSON body). A body that reads two ways (a member named
// twice) decides nothing.
A2aAnswer read_a2a_answer(std::string_view json);

class A2aAnswerScanner {
 public:
  // A JSON body, or one event's data, past this is not read (it decides nothing); the answer's
  // state sits in its first few hundred bytes.
  static constexpr std::size_t kMaxBytes = 64 * 1024;

  explicit A2aAnswerScanner(bool event_stream) : event_stream_(event_stream) {}
  void feed(std::string_view piece);
  A2aAnswer finish();

 private:
  void line(std::string_view text);
  void end_event();

  bool event_stream_;
  bool overflow_ = false;  // the body, or the current event, went past kMaxBytes
  std::string buffer_;     // the JSON body; or, for a stream, the line not yet ended
  std::string data_;       // a stream's current event
  bool has_data_ = false;
  bool after_cr_ = false;  // the last piece ended with CR: a LF starting the next one belongs to it
  A2aAnswer last_;
};

}  // namespace scopegate::protocol
