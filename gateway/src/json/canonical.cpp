#include "json/canonical.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>
#include <vector>

#include "json/write.hpp"

namespace scopegate::json {

namespace {

// The members `wanted` says to write, sorted by name (byte order).
template <class Wanted>
void append_object(std::string& out, simdjson::dom::object object, Wanted wanted) {
  std::vector<std::pair<std::string_view, simdjson::dom::element>> members;
  for (auto field : object) {
    if (wanted(field.key)) members.emplace_back(field.key, field.value);
  }
  std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  out += '{';
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (i) out += ',';
    append_string(out, members[i].first);
    out += ':';
    append_canonical(out, members[i].second);
  }
  out += '}';
}

}  // namespace

void append_canonical_members(std::string& out, simdjson::dom::object object,
                              std::initializer_list<std::string_view> keep) {
  append_object(out, object,
                [&](std::string_view key) { return std::find(keep.begin(), keep.end(), key) != keep.end(); });
}

void append_canonical(std::string& out, simdjson::dom::element value, std::string_view skip) {
  using simdjson::dom::element_type;
  switch (value.type()) {
    case element_type::OBJECT:
      append_object(out, simdjson::dom::object(value),
                    [&](std::string_view key) { return skip.empty() || key != skip; });
      return;
    case element_type::ARRAY: {
      out += '[';
      bool first = true;
      for (auto item : simdjson::dom::array(value)) {
        if (!first) out += ',';
        first = false;
        append_canonical(out, item);
      }
      out += ']';
      return;
    }
    case element_type::STRING: append_string(out, std::string_view(value)); return;
    case element_type::INT64: out += std::to_string(int64_t(value)); return;
    case element_type::UINT64: out += std::to_string(uint64_t(value)); return;
    case element_type::DOUBLE: {
      double d = double(value);
      // An integral double within the range of the integer types is written as the integer it is
      // (every double there converts exactly), so 1e16 and 10000000000000000 read alike. The range
      // is checked first: converting a double outside it is undefined.
      constexpr double kTwo63 = 9223372036854775808.0;
      if (d >= -kTwo63 && d < kTwo63 && d == std::trunc(d)) {
        out += std::to_string(static_cast<std::int64_t>(d));
        return;
      }
      if (d >= kTwo63 && d < 2 * kTwo63 && d == std::trunc(d)) {
        out += std::to_string(static_cast<std::uint64_t>(d));
        return;
      }
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
      out.append(buf, ec == std::errc{} ? end : buf);
      return;
    }
    case element_type::BOOL: out += bool(value) ? "true" : "false"; return;
    case element_type::NULL_VALUE: out += "null"; return;
  }
}

}  // namespace scopegate::json
