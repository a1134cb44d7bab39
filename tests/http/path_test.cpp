#include "http/path.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace scopegate::http;

namespace {

struct Case {
  const char* in;
  const char* out;  // nullptr: refused
  bool escaped_slash = false;
  bool path_params = false;
};

void check_table(const std::vector<Case>& cases, const PathOptions& options) {
  for (const auto& c : cases) {
    std::string in = c.in;
    CAPTURE(in);
    auto r = normalize_path(c.in, options);
    if (!c.out) {
      CHECK_FALSE(r.error.empty());
      continue;
    }
    CHECK(r.error == "");
    CHECK(r.path == c.out);
    CHECK(r.escaped_slash == c.escaped_slash);
    CHECK(r.path_params == c.path_params);
    CHECK(normalize_path(r.path, options).path == r.path);  // the normal form is a fixed point
  }
}

}  // namespace

TEST_CASE("dot segments are resolved, and refused above the root") {
  check_table(
      {
          {"/", "/"},
          {"/a/b", "/a/b"},
          {"/a/../b", "/b"},
          {"/a/./b", "/a/b"},
          {"/a/b/..", "/a/"},
          {"/a/b/.", "/a/b/"},
          {"/a/..", "/"},
          {"/.", "/"},
          {"/tools/../admin", "/admin"},
          {"/a/b/../../c", "/c"},
          {"/..", nullptr},
          {"/a/../..", nullptr},
          {"/../a", nullptr},
          {"/a/../../b", nullptr},
          // Percent-encoded dots are dots (RFC 3986 §6.2.2.2: unreserved characters are decoded).
          {"/a/%2e%2e/b", "/b"},
          {"/a/%2E%2e/b", "/b"},
          {"/a/.%2e/b", "/b"},
          {"/a/%2e/b", "/a/b"},
          {"/%2e%2e/etc", nullptr},
          // Not dot segments.
          {"/a/...", "/a/..."},
          {"/a/..b", "/a/..b"},
          {"/a/b.c/..d", "/a/b.c/..d"},
          {"/.well-known/x", "/.well-known/x"},
      },
      {});
}

TEST_CASE("escaped slashes and backslashes are reported, or unescaped into separators") {
  check_table(
      {
          {"/a%2fb", "/a%2Fb", true},
          {"/a%2Fb", "/a%2Fb", true},
          {"/a%5cb", "/a%5Cb", true},
          {"/a/..%2fb", "/a/..%2Fb", true},  // not a dot segment while %2F is not a separator
          {"/a/..%5c..%5cb", "/a/..%5C..%5Cb", true},
      },
      {});
  PathOptions unescape{.merge_slashes = true, .unescape_slashes = true};
  check_table(
      {
          {"/a%2fb", "/a/b"},
          {"/a%5Cb", "/a/b"},
          {"/a/b/..%2fc", "/a/c"},
          {"/a/..%2f..%2fb", nullptr},  // decoded, it climbs above the root
          {"/a%2f%2fb", "/a/b"},
      },
      unescape);
}

TEST_CASE("path parameters are reported, dot segments with parameters are refused") {
  check_table(
      {
          {"/a;x=1/b", "/a;x=1/b", false, true},
          {"/a/b;jsessionid=1", "/a/b;jsessionid=1", false, true},
          {"/a/..;/b", nullptr},
          {"/a/..;x/b", nullptr},
          {"/a/.;/b", nullptr},
          {"/a/%2e%2e;/b", nullptr},
      },
      {});
}

TEST_CASE("slashes merge unless told not to") {
  check_table({{"//a//b", "/a/b"}, {"/a//", "/a/"}, {"//", "/"}, {"/a/b//../c", "/a/c"}}, {});
  check_table({{"//a//b", "//a//b"}, {"/a//", "/a//"}, {"//", "//"}, {"/a//../b", "/a/b"}},
              {.merge_slashes = false, .unescape_slashes = false});
}

TEST_CASE("escapes: unreserved decoded, others upper-cased, malformed refused") {
  check_table(
      {
          {"/%41%62c", "/Abc"},
          {"/a%7eb%2D", "/a~b-"},
          {"/a%20b", "/a%20b"},
          {"/a%3fb", "/a%3Fb"},
          {"/a%25", "/a%25"},
          {"/a%252e%252e", "/a%252e%252e"},  // %25 stays: decoding twice is the upstream's mistake to avoid
          {"/a%2", nullptr},
          {"/a%", nullptr},
          {"/a%zz", nullptr},
          {"/a%00b", nullptr},
          {"/a\\b", nullptr},
          {"a/b", nullptr},
          {"", nullptr},
      },
      {});
}

TEST_CASE("the fast check agrees with the normaliser") {
  for (const char* p : {"/", "/a/b", "/a-b/c_d/e.f", "/tools/search", "/a/b.c/d"}) {
    std::string path = p;
    CAPTURE(path);
    CHECK_FALSE(needs_normalizing(p));
    CHECK(normalize_path(p, {}).path == p);
  }
  for (const char* p : {"/a/../b", "//a", "/a;b", "/a%41", "/a\\b", "/./a", "/a/."}) {
    std::string path = p;
    CAPTURE(path);
    CHECK(needs_normalizing(p));
  }
}
