#include "http/hygiene.hpp"

#include <algorithm>
#include <array>
#include <vector>

namespace scopegate::http {

namespace {

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

template <class F>
void for_each_list_item(std::string_view list, F f) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = trim(list.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// Three vectorised memchr scans (find_first_of would call memchr once per byte of the value, and a
// delegation token header is over a kilobyte).
bool has_forbidden_char(std::string_view value) {
  return value.find('\r') != std::string_view::npos || value.find('\n') != std::string_view::npos ||
         value.find('\0') != std::string_view::npos;
}

// Shared by requests and responses: Content-Length values, Transfer-Encoding shape, raw bytes.
std::optional<Violation> check_common_framing(const bhttp::fields& fields, unsigned version, bool is_request) {
  std::optional<std::string_view> content_length;
  std::vector<std::string_view> codings;
  for (const auto& f : fields) {
    if (has_forbidden_char(f.value())) {
      return Violation{ErrorCode::bad_request, "CR, LF or NUL in the value of " + std::string(f.name_string())};
    }
    if (f.name() == bhttp::field::content_length) {
      bool ok = true;
      for_each_list_item(f.value(), [&](std::string_view v) {
        if (!is_digits(v) || v.size() > 19 || (content_length && *content_length != v)) ok = false;
        content_length = v;
      });
      if (!ok || !content_length) return Violation{ErrorCode::bad_request, "malformed or differing Content-Length"};
    } else if (f.name() == bhttp::field::transfer_encoding) {
      for_each_list_item(f.value(), [&](std::string_view v) { codings.push_back(v); });
    }
  }
  if (codings.empty()) {
    if (fields.count(bhttp::field::transfer_encoding) != 0) {
      return Violation{ErrorCode::bad_request, "empty Transfer-Encoding"};
    }
    return std::nullopt;
  }
  if (content_length) return Violation{ErrorCode::bad_request, "Content-Length together with Transfer-Encoding"};
  if (version < 11) return Violation{ErrorCode::bad_request, "Transfer-Encoding on HTTP/1.0"};
  if (!iequals_ascii(codings.back(), "chunked")) {
    return Violation{ErrorCode::bad_request, "Transfer-Encoding does not end in chunked"};
  }
  if (codings.size() > 1) {
    // "gzip, chunked" is well-formed but scopegate does not decode codings; "chunked, chunked" is not.
    bool doubled = std::count_if(codings.begin(), codings.end(),
                                 [](std::string_view c) { return iequals_ascii(c, "chunked"); }) > 1;
    if (doubled || !is_request) return Violation{ErrorCode::bad_request, "chunked applied more than once"};
    return Violation{ErrorCode::not_implemented, "unsupported transfer-coding"};
  }
  return std::nullopt;
}

bool valid_host(std::string_view host) {
  if (host.empty()) return false;
  return std::all_of(host.begin(), host.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_';
  });
}

}  // namespace

bool iequals_ascii(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool istarts_with_ascii(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals_ascii(text.substr(0, prefix.size()), prefix);
}

std::optional<Violation> check_request_framing(const bhttp::request_header<>& req) {
  if (auto v = check_common_framing(req, req.version(), true)) return v;
  auto hosts = req.count(bhttp::field::host);
  if (hosts > 1) return Violation{ErrorCode::bad_request, "more than one Host header"};
  if (hosts == 0 && req.version() >= 11) return Violation{ErrorCode::bad_request, "HTTP/1.1 request without Host"};
  if (hosts == 1 && !valid_host(req[bhttp::field::host])) return Violation{ErrorCode::bad_request, "invalid Host"};
  return std::nullopt;
}

std::optional<Violation> check_request_target(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    return Violation{ErrorCode::bad_request, "the request target must be a path (origin-form)"};
  }
  // Dot segments and escapes are the path normaliser's (http/path.hpp), which resolves or refuses them.
  std::string_view path = target.substr(0, target.find('?'));
  if (path.find('#') != std::string_view::npos) return Violation{ErrorCode::bad_request, "fragment in target"};
  return std::nullopt;
}

std::optional<Violation> check_response_framing(const bhttp::response_header<>& res) {
  auto v = check_common_framing(res, res.version(), false);
  if (v) v->code = ErrorCode::upstream_protocol_error;
  return v;
}

std::optional<Violation> check_inspected_body_encoding(const bhttp::fields& fields) {
  auto types = fields.equal_range(bhttp::field::content_type);
  auto codings = fields.equal_range(bhttp::field::content_encoding);
  if (std::distance(types.first, types.second) > 1 || std::distance(codings.first, codings.second) > 1) {
    return Violation{ErrorCode::bad_request, "one Content-Type and at most one Content-Encoding, please"};
  }
  if (codings.first != codings.second) {
    std::string_view coding = codings.first->value();
    while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t')) coding.remove_suffix(1);
    while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t')) coding.remove_prefix(1);
    if (!iequals_ascii(coding, "identity")) {
      return Violation{ErrorCode::bad_request, "a body the gateway inspects cannot have a Content-Encoding"};
    }
  }
  if (types.first == types.second) return std::nullopt;
  // Parameters after the media type: `; name=value` or `; name="value"`; only charset matters.
  std::string_view rest = types.first->value();
  for (auto semi = rest.find(';'); semi != std::string_view::npos; semi = rest.find(';')) {
    rest.remove_prefix(semi + 1);
    std::string_view param = rest.substr(0, rest.find(';'));
    while (!param.empty() && (param.front() == ' ' || param.front() == '\t')) param.remove_prefix(1);
    auto eq = param.find('=');
    std::string_view name = param.substr(0, eq);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    if (!iequals_ascii(name, "charset")) continue;
    std::string_view value = eq == std::string_view::npos ? std::string_view{} : param.substr(eq + 1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    if (!iequals_ascii(value, "utf-8") && !iequals_ascii(value, "utf8")) {
      return Violation{ErrorCode::bad_request, "a body the gateway inspects must be UTF-8 (charset=utf-8 or none)"};
    }
  }
  return std::nullopt;
}

std::optional<Violation> find_spoofed_header(const bhttp::fields& fields) {
  static constexpr std::array<std::string_view, 4> owned_prefixes = {"delegation-", "x-forwarded-", "x-request-id",
                                                                     "forwarded"};
  for (const auto& f : fields) {
    std::string_view name = f.name_string();
    if (name.find('_') == std::string_view::npos) continue;
    std::string dashed(name);
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    for (auto prefix : owned_prefixes) {
      if (istarts_with_ascii(dashed, prefix)) {
        return Violation{ErrorCode::header_spoofing,
                         "header '" + std::string(name) + "' imitates a gateway-owned header"};
      }
    }
  }
  return std::nullopt;
}

ConnectionTokens::ConnectionTokens(const bhttp::fields& fields) {
  for (const auto& f : fields) {
    if (f.name() != bhttp::field::connection) continue;
    for_each_list_item(f.value(), [&](std::string_view v) {
      if (count_ < kInline) inline_[count_++] = v;
      else more_.push_back(v);
    });
  }
}

bool ConnectionTokens::contains(std::string_view name) const {
  for (std::size_t i = 0; i < count_; ++i) {
    if (iequals_ascii(inline_[i], name)) return true;
  }
  return std::any_of(more_.begin(), more_.end(), [&](std::string_view v) { return iequals_ascii(v, name); });
}

bool is_hop_by_hop(std::string_view name, const ConnectionTokens& named) {
  switch (bhttp::string_to_field(name)) {
    case bhttp::field::connection:
    case bhttp::field::keep_alive:
    case bhttp::field::te:
    case bhttp::field::trailer:
    case bhttp::field::transfer_encoding:
    case bhttp::field::upgrade:
      return true;
    default:
      break;
  }
  return istarts_with_ascii(name, "proxy-") || named.contains(name);
}

bool is_gateway_owned(std::string_view name) { return istarts_with_ascii(name, "delegation-"); }

std::string host_without_port(std::string_view host) {
  std::string_view h = host;
  if (h.starts_with('[')) {
    auto close = h.find(']');
    if (close != std::string_view::npos) h = h.substr(0, close + 1);
  } else if (auto colon = h.rfind(':'); colon != std::string_view::npos) {
    h = h.substr(0, colon);
  }
  std::string out(h);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace scopegate::http
