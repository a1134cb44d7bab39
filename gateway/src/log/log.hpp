// The operational log: one JSON object per line on stderr, levelled. Separate from the audit log.
// Per-request events are not logged here (they belong in the audit log); this is for operators.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace scopegate::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

struct Field {
  std::string_view key;
  std::string value;
};

void set_level(Level level);
bool parse_level(std::string_view text, Level& out);
bool enabled(Level level);
void write(Level level, std::string_view message, std::initializer_list<Field> fields);

inline void debug(std::string_view m, std::initializer_list<Field> f = {}) {
  if (enabled(Level::debug)) write(Level::debug, m, f);
}
inline void info(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::info, m, f); }
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::warn, m, f); }
inline void error(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::error, m, f); }

}  // namespace scopegate::log
