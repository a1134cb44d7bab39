// Wall-clock time in Unix seconds, the unit of token iat/exp, scope expiry and revocations.
// Code that decides on time (token verification, the scope registry's sweep, revocation files)
// takes `now` as a parameter and never reads the clock itself, so tests pass a fixed time; only
// the edges that feed it (the app's timers, admin, the CLI, the request stages) call unix_now().
#pragma once

#include <chrono>
#include <cstdint>

namespace scopegate::clock {

inline std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace scopegate::clock
