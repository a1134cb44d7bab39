// The JSON writer shared by every layer that writes JSON by hand (delegation's token blocks and
// scope records, audit records and queries, admin, error bodies, the operational log). Members are
// written with a leading comma, after an opening member the caller writes; the bytes are exactly
// what is MAC'd in a token block, so their layout must not change.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace scopegate::json {

// Appends `text` to `out` as the inside of a JSON string literal. Always valid JSON text: a byte
// that is not part of well-formed UTF-8 becomes U+FFFD (see write.cpp).
void append_escaped(std::string& out, std::string_view text);

inline void append_string(std::string& out, std::string_view s) {
  out += '"';
  append_escaped(out, s);
  out += '"';
}

inline void append_key(std::string& out, std::string_view key) {
  out += ",\"";
  out += key;
  out += "\":";
}

inline void append_field(std::string& out, std::string_view key, std::string_view value) {
  append_key(out, key);
  append_string(out, value);
}

inline void append_int(std::string& out, std::string_view key, std::int64_t value) {
  append_key(out, key);
  out += std::to_string(value);
}

// Any range of strings (a vector, a set).
template <class Strings>
void append_list(std::string& out, std::string_view key, const Strings& items) {
  append_key(out, key);
  out += '[';
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += ',';
    append_string(out, item);
    first = false;
  }
  out += ']';
}

}  // namespace scopegate::json
