#include "config/grant_pattern.hpp"

namespace scopegate::config {

bool is_valid_grant_pattern(std::string_view p) {
  if (p.empty()) return false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(p[i]);
    if (c <= 0x20 || c >= 0x7f || c == ',' || c == '"' || c == '\\') return false;
    if (c == '*' && i + 1 != p.size()) return false;
  }
  return true;
}

}  // namespace scopegate::config
