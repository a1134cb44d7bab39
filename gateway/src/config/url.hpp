// Upstream URLs in config: http://host[:port][/base] and https://...
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace scopegate::config {

struct ParsedUrl {
  bool tls = false;
  std::string host;  // IPv6 literals without brackets
  std::uint16_t port = 0;
  std::string base_path;  // "" or "/something" without a trailing slash
};

// nullopt with `why` set when the URL is not one scopegate can forward to.
std::optional<ParsedUrl> parse_url(std::string_view url, std::string& why);

}  // namespace scopegate::config
