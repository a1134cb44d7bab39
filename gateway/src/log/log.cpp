#include "log/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "json/write.hpp"

namespace scopegate::log {

namespace {
std::atomic<int> g_level{static_cast<int>(Level::info)};
constexpr std::string_view kNames[] = {"debug", "info", "warn", "error"};

std::string timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto us = duration_cast<microseconds>(now.time_since_epoch()).count() % 1'000'000;
  std::time_t secs = system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(us));
  return buf;
}
}  // namespace

void set_level(Level level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

bool parse_level(std::string_view text, Level& out) {
  for (int i = 0; i < 4; ++i) {
    if (text == kNames[i]) {
      out = static_cast<Level>(i);
      return true;
    }
  }
  return false;
}

bool enabled(Level level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

void write(Level level, std::string_view message, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  std::string line;
  line.reserve(128);
  line += R"({"ts":")";
  line += timestamp();
  line += R"(","level":")";
  line += kNames[static_cast<int>(level)];
  line += R"(","msg":")";
  json::append_escaped(line, message);
  line += '"';
  for (const auto& f : fields) {
    line += ",\"";
    json::append_escaped(line, f.key);
    line += "\":\"";
    json::append_escaped(line, f.value);
    line += '"';
  }
  line += "}\n";
  // One write(2) per line keeps lines from different threads whole.
  std::size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace scopegate::log
