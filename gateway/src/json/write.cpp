#include "json/write.hpp"

#include <cstdio>

namespace scopegate::json {

namespace {

// Length of the well-formed UTF-8 sequence at `p` (RFC 3629: no overlongs, no surrogates, at
// most U+10FFFF), or 0 when the bytes there are not one.
std::size_t utf8_sequence(const unsigned char* p, std::size_t left) {
  unsigned char c = p[0];
  auto cont = [&](std::size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return i < left && p[i] >= lo && p[i] <= hi;
  };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

}  // namespace

// Always valid JSON text: a byte that is not part of well-formed UTF-8 (a client's raw path, a
// hostile header echoed in a message) becomes U+FFFD rather than making the document unreadable.
void append_escaped(std::string& out, std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  for (std::size_t i = 0; i < text.size(); ++i) {
    // Runs of plain printable ASCII, the usual case, are appended whole.
    std::size_t run = i;
    while (run < text.size() && bytes[run] >= 0x20 && bytes[run] < 0x7f && bytes[run] != '"' && bytes[run] != '\\') {
      ++run;
    }
    if (run > i) {
      out.append(text.data() + i, run - i);
      i = run;
      if (i == text.size()) break;
    }
    unsigned char c = bytes[i];
    if (c >= 0x80) {
      std::size_t n = utf8_sequence(bytes + i, text.size() - i);
      if (n == 0) {
        out += "\\ufffd";
      } else {
        out.append(text.data() + i, n);
        i += n - 1;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

}  // namespace scopegate::json
