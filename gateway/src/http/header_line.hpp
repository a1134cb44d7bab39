// One header line as the gateway writes it, for every head it builds (http/head.cpp) and for the
// lines stages stamp (delegation/stamp.cpp). Values are validated by the caller.
#pragma once

#include <string>
#include <string_view>

namespace scopegate::http {

inline void append_header_line(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
}

}  // namespace scopegate::http
