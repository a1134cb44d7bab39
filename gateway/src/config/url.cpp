#include "config/url.hpp"

#include <charconv>

namespace scopegate::config {

std::optional<ParsedUrl> parse_url(std::string_view url, std::string& why) {
  ParsedUrl out;
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
    out.port = 80;
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
    out.tls = true;
    out.port = 443;
  } else {
    why = "scheme must be http:// or https://";
    return std::nullopt;
  }
  auto path_at = rest.find('/');
  std::string_view authority = rest.substr(0, path_at);
  std::string_view path = path_at == std::string_view::npos ? "" : rest.substr(path_at);
  if (authority.find('@') != std::string_view::npos) {
    why = "credentials in the URL are not supported; use the route's headers or TLS";
    return std::nullopt;
  }
  if (path.find_first_of("?#") != std::string_view::npos) {
    why = "query and fragment are not allowed in an upstream URL";
    return std::nullopt;
  }
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) {
      why = "unterminated IPv6 literal";
      return std::nullopt;
    }
    host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        why = "unexpected characters after IPv6 literal";
        return std::nullopt;
      }
      port = after.substr(1);
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) {
    why = "missing host";
    return std::nullopt;
  }
  if (!port.empty() || authority.ends_with(':')) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
      why = "port must be 1-65535";
      return std::nullopt;
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  out.host = std::string(host);
  while (path.ends_with('/')) path.remove_suffix(1);
  out.base_path = std::string(path);
  return out;
}

}  // namespace scopegate::config
