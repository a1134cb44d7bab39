#include "protocol/a2a_answer.hpp"

#include <simdjson.h>

#include <cctype>

#include "json/strict.hpp"

namespace scopegate::protocol {

namespace dom = simdjson::dom;

namespace {

dom::parser& parser() {
  thread_local dom::parser p;
  return p;
}

// "TASK_STATE_INPUT_REQUIRED" (1.0) and "input-required" (0.3) are the same state.
std::string normalised_state(std::string_view s) {
  std::string out;
  for (char c : s) out += c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (out.starts_with("task-state-")) out.erase(0, 11);
  if (out == "cancelled") out = "canceled";
  return out;
}

A2aAnswer read_task(dom::object task, std::string_view id_key) {
  A2aAnswer out;
  std::string_view text;
  if (!task[id_key].get_string().get(text)) out.task_id = text;
  dom::object status;
  if (!task["status"].get_object().get(status) && !status["state"].get_string().get(text)) {
    out.kind = A2aAnswer::Kind::task;
    out.state = normalised_state(text);
  }
  return out;
}

A2aAnswer read_result(dom::object result) {
  dom::object inner;
  // 1.0: {"task": {...}}, {"message": {...}}, {"statusUpdate": {...}}; artifact updates say nothing of the state.
  if (!result["message"].get_object().get(inner)) return {A2aAnswer::Kind::message, {}, {}};
  if (!result["task"].get_object().get(inner)) return read_task(inner, "id");
  if (!result["statusUpdate"].get_object().get(inner)) return read_task(inner, "taskId");
  // 0.3: the object itself, told apart by "kind".
  std::string_view kind;
  if (!result["kind"].get_string().get(kind)) {
    if (kind == "message") return {A2aAnswer::Kind::message, {}, {}};
    if (kind == "task") return read_task(result, "id");
    if (kind == "status-update") return read_task(result, "taskId");
    return {};
  }
  // 1.0 GetTask answers with the task itself.
  return read_task(result, "id");
}

}  // namespace

A2aAnswer read_a2a_answer(std::string_view json) {
  simdjson::padded_string padded(json);
  dom::element root;
  if (parser().parse(padded).get(root)) return {};
  if (json::find_ambiguity(root)) return {};
  dom::object o;
  if (root.get_object().get(o)) return {};
  dom::element error;
  if (!o["error"].get(error)) return {A2aAnswer::Kind::error, {}, {}};
  dom::object result;
  if (!o["result"].get_object().get(result)) return read_result(result);
  if (!o["jsonrpc"].error()) return {};  // a JSON-RPC message that is no response
  return read_result(o);                 // the HTTP+JSON binding: no envelope
}

void A2aAnswerScanner::feed(std::string_view piece) {
  if (!event_stream_) {
    if (overflow_) return;
    if (buffer_.size() + piece.size() > kMaxBytes) {
      overflow_ = true;
      buffer_.clear();
      buffer_.shrink_to_fit();
      return;
    }
    buffer_.append(piece);
    return;
  }
  // Server-sent events, line by line as they pass: a line ends at CRLF, LF or a lone CR.
  if (after_cr_ && !piece.empty() && piece.front() == '\n') piece.remove_prefix(1);
  after_cr_ = false;
  while (!piece.empty()) {
    std::size_t eol = piece.find_first_of("\r\n");
    if (eol == std::string_view::npos) {
      if (buffer_.size() + piece.size() <= kMaxBytes) buffer_.append(piece);
      else overflow_ = true;
      return;
    }
    if (buffer_.size() + eol <= kMaxBytes) buffer_.append(piece.substr(0, eol));
    else overflow_ = true;
    line(buffer_);
    buffer_.clear();
    bool cr = piece[eol] == '\r';
    piece.remove_prefix(eol + 1);
    if (cr) {
      if (piece.empty()) after_cr_ = true;
      else if (piece.front() == '\n') piece.remove_prefix(1);
    }
  }
}

void A2aAnswerScanner::line(std::string_view text) {
  if (text.empty()) {
    end_event();
    return;
  }
  if (!text.starts_with("data:")) return;  // event:, id:, retry:, comments
  text.remove_prefix(5);
  if (text.starts_with(' ')) text.remove_prefix(1);
  if (data_.size() + text.size() + 1 > kMaxBytes) {
    overflow_ = true;
    return;
  }
  if (has_data_) data_ += '\n';
  data_ += text;
  has_data_ = true;
}

void A2aAnswerScanner::end_event() {
  if (has_data_ && !overflow_) {
    auto answer = read_a2a_answer(data_);
    if (answer.kind != A2aAnswer::Kind::unknown) {
      if (answer.task_id.empty()) answer.task_id = last_.task_id;  // a message after the task keeps its id
      last_ = std::move(answer);
    }
  }
  data_.clear();
  has_data_ = false;
  overflow_ = false;  // an event too large decides nothing; the next one is read
}

A2aAnswer A2aAnswerScanner::finish() {
  if (!event_stream_) return overflow_ ? A2aAnswer{} : read_a2a_answer(buffer_);
  if (!buffer_.empty()) line(buffer_);
  buffer_.clear();
  end_event();  // a stream cut before the blank line that would have ended its last event
  return last_;
}

}  // namespace scopegate::protocol
