// Path normalisation (as Envoy's normalize_path and path_with_escaped_slashes_action): the one
// form of a request path that routing and forwarding both read. An upstream that resolves
// `/tools/../admin` or decodes `..%2f` after the gateway matched `/tools` would otherwise serve a
// route the gateway never checked. Pure: no configuration, no I/O; the router applies the
// route's choices (router::resolve_target).
#pragma once

#include <string>
#include <string_view>

namespace scopegate::http {

struct PathOptions {
  bool merge_slashes = true;      // "//" → "/" (as nginx's merge_slashes)
  bool unescape_slashes = false;  // %2F and %5C become the separator '/' (escaped_slashes: unescape)
};

struct NormalizedPath {
  std::string path;            // the normal form
  bool escaped_slash = false;  // %2F or %5C is left in `path` (they were not unescaped)
  bool path_params = false;    // a ';' in some segment (path parameters, as Tomcat reads them)
  std::string error;           // non-empty: the path is refused (400 bad_request), and why
};

// `path` is the path of an origin-form target (no query). The normal form:
// - percent-encoded unreserved characters (ALPHA, DIGIT, '-', '.', '_', '~') are decoded, other
//   escapes are kept with upper-case hex digits (RFC 3986 §6.2.2), so `%2e` is a '.' and `%2f` a
//   `%2F`;
// - dot segments ('.', '..') are resolved (RFC 3986 §5.2.4); one that would climb above the root is
//   refused, as is a dot segment carrying ';' parameters ("..;"), which Tomcat-style servers resolve;
// - empty segments are merged when `merge_slashes`;
// - malformed escapes, %00 and a raw backslash are refused.
NormalizedPath normalize_path(std::string_view path, const PathOptions& options);

// False when normalize_path would return `path` unchanged with nothing to report: the common
// case, decided by one scan and no allocation.
bool needs_normalizing(std::string_view path);

// The value of one hex digit of a percent-escape, or -1 (shared with the objective decoder).
int hex_value(char c);

}  // namespace scopegate::http
