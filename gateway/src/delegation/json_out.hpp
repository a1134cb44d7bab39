// The few JSON-writing steps the delegation code needs (token blocks, scope records), in one
// place. Members are written with a leading comma, after an opening member the caller writes;
// the bytes are exactly what is MAC'd in a token block, so their layout must not change.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/errors.hpp"

namespace scopegate::delegation::json {

inline void append_string(std::string& out, std::string_view s) {
  out += '"';
  http::append_json_escaped(out, s);
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

}  // namespace scopegate::delegation::json
