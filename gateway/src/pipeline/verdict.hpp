// What every stage answers: carry on, or refuse. One shape for all of them (synchronous stages
// return a Verdict, asynchronous ones an awaitable<Verdict>), so the stage list reads the same on
// every line and one function, refuse() in pipeline/reply.hpp, turns any refusal into the reply and
// the record.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "http/hygiene.hpp"

namespace scopegate::pipeline {

// After a refusal the connection is kept when the request was read whole and the client asked to
// keep it (may_keep_client): that one rule covers every refusal. A stage that can no longer trust
// the byte stream (framing broken, a body it will not read announced) says `close` instead.
enum class AfterRefusal { keep_if_clean, close };

struct Refusal {
  http::ErrorCode code;
  std::string message;
  AfterRefusal after = AfterRefusal::keep_if_clean;
  // The client is gone (or never sent a request): there is nobody to answer, only to close.
  bool silent = false;
};

class [[nodiscard]] Verdict {
 public:
  // Continue with the next stage.
  Verdict() = default;
  Verdict(std::nullopt_t) {}
  // A violation is a refusal that keeps a clean connection: the shape most stages refuse in.
  Verdict(http::Violation v) : refusal_(Refusal{v.code, std::move(v.message)}) {}
  Verdict(std::optional<http::Violation> v) {
    if (v) refusal_ = Refusal{v->code, std::move(v->message)};
  }

  static Verdict next() { return {}; }
  static Verdict refuse(http::ErrorCode code, std::string message,
                        AfterRefusal after = AfterRefusal::keep_if_clean) {
    Verdict v;
    v.refusal_ = Refusal{code, std::move(message), after};
    return v;
  }
  static Verdict close(http::Violation v) { return refuse(v.code, std::move(v.message), AfterRefusal::close); }
  // Nothing to answer: the client left (or sent nothing) before a request could be read.
  static Verdict hang_up() {
    Verdict v;
    v.refusal_ = Refusal{http::ErrorCode::bad_request, {}, AfterRefusal::close, true};
    return v;
  }

  bool proceeds() const { return !refusal_; }
  const Refusal& refusal() const { return *refusal_; }

 private:
  std::optional<Refusal> refusal_;
};

}  // namespace scopegate::pipeline
