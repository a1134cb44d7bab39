#include "http/path.hpp"

#include <vector>

namespace scopegate::http {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

namespace {

bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// A segment that names the current or the parent directory once its ';' parameters are cut off,
// as a server that strips parameters before resolving would read it.
bool is_dot_with_params(std::string_view segment) {
  auto semicolon = segment.find(';');
  if (semicolon == std::string_view::npos) return false;
  auto name = segment.substr(0, semicolon);
  return name == "." || name == "..";
}

}  // namespace

bool needs_normalizing(std::string_view path) {
  for (std::size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '%' || c == ';' || c == '\\') return true;
    if (c == '/' && i + 1 < path.size() && (path[i + 1] == '/' || path[i + 1] == '.')) return true;
  }
  return false;
}

NormalizedPath normalize_path(std::string_view path, const PathOptions& options) {
  NormalizedPath out;
  if (path.empty() || path.front() != '/') {
    out.error = "the path must start with '/'";
    return out;
  }
  // Segments are decoded into one buffer; `segments` holds where each kept one starts, so '..'
  // drops the last by truncating.
  std::string buffer;
  buffer.reserve(path.size());
  std::vector<std::size_t> segments;
  std::string segment;
  bool trailing_slash = false;

  // Called at every separator and once at the end; `last` tells whether a path follows.
  auto end_segment = [&](bool last) -> bool {
    trailing_slash = false;
    if (segment == ".") {
      trailing_slash = last;  // "/a/." is the directory "/a/"
    } else if (segment == "..") {
      if (segments.empty()) {
        out.error = "the path climbs above the root ('..')";
        return false;
      }
      buffer.resize(segments.back());
      segments.pop_back();
      trailing_slash = last;
    } else if (is_dot_with_params(segment)) {
      out.error = "a dot segment with ';' parameters ('" + segment + "') is not allowed";
      return false;
    } else if (segment.empty() && last) {
      trailing_slash = true;  // "/a/" keeps its slash
    } else if (segment.empty() && options.merge_slashes) {
      // "//": merged
    } else {
      segments.push_back(buffer.size());
      buffer += '/';
      buffer += segment;
    }
    segment.clear();
    return true;
  };

  for (std::size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size()) {
      if (!end_segment(true)) return out;
      break;
    }
    char c = path[i];
    if (c == '/') {
      if (!end_segment(false)) return out;
      continue;
    }
    if (c == '\\') {
      // Not a URI character; servers on Windows read it as a separator.
      out.error = "a backslash in the path (send it as %5C)";
      return out;
    }
    if (c == ';') out.path_params = true;
    if (c != '%') {
      segment += c;
      continue;
    }
    int high = i + 1 < path.size() ? hex_value(path[i + 1]) : -1;
    int low = i + 2 < path.size() ? hex_value(path[i + 2]) : -1;
    if (high < 0 || low < 0) {
      out.error = "malformed percent-encoding in the path";
      return out;
    }
    auto value = static_cast<unsigned char>(high * 16 + low);
    i += 2;
    if (value == 0) {
      out.error = "%00 in the path";
      return out;
    }
    if (is_unreserved(value)) {
      segment += static_cast<char>(value);
    } else if (value == '/' || value == '\\') {
      if (options.unescape_slashes) {
        if (!end_segment(false)) return out;
      } else {
        out.escaped_slash = true;
        segment += value == '/' ? "%2F" : "%5C";
      }
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      segment += '%';
      segment += kHex[value >> 4];
      segment += kHex[value & 0xf];
    }
  }
  if (segments.empty()) {
    out.path = "/";
  } else {
    out.path = std::move(buffer);
    if (trailing_slash) out.path += '/';
  }
  return out;
}

}  // namespace scopegate::http
