#include "router/router.hpp"

#include <doctest/doctest.h>

using namespace scopegate;

namespace {
config::Route route(std::string name, std::string prefix, std::string host = "", std::vector<std::string> methods = {}) {
  config::Route r;
  r.name = std::move(name);
  r.match.path_prefix = std::move(prefix);
  r.match.host = std::move(host);
  r.match.methods = std::move(methods);
  return r;
}
}  // namespace

TEST_CASE("path prefixes match on segment boundaries") {
  CHECK(router::path_has_prefix("/tools", "/tools"));
  CHECK(router::path_has_prefix("/tools/search", "/tools"));
  CHECK(router::path_has_prefix("/tools?q=1", "/tools"));
  CHECK_FALSE(router::path_has_prefix("/toolsx", "/tools"));
  CHECK(router::path_has_prefix("/tools/x", "/tools/"));
  CHECK(router::path_has_prefix("/anything", "/"));
}

TEST_CASE("first matching route wins; host and method restrict") {
  std::vector<config::Route> routes = {route("post-search", "/search", "", {"POST"}),
                                       route("internal", "/search", "internal.example"),
                                       route("search", "/search"), route("root", "/")};
  router::Router r(routes);
  CHECK(r.match("a.example", "POST", "/search/x")->name == "post-search");
  CHECK(r.match("internal.example", "GET", "/search")->name == "internal");
  CHECK(r.match("a.example", "GET", "/search?q")->name == "search");
  CHECK(r.match("a.example", "GET", "/searchx")->name == "root");
  std::vector<config::Route> none = {route("only", "/only")};
  CHECK(router::Router(none).match("h", "GET", "/other") == nullptr);
}

TEST_CASE("coverage decides unreachable routes") {
  CHECK(router::covers(route("a", "/t").match, route("b", "/t/x").match));
  CHECK_FALSE(router::covers(route("a", "/t/x").match, route("b", "/t").match));
  CHECK_FALSE(router::covers(route("a", "/t", "h").match, route("b", "/t").match));
  CHECK(router::covers(route("a", "/t").match, route("b", "/t", "h").match));
  CHECK_FALSE(router::covers(route("a", "/t", "", {"GET"}).match, route("b", "/t").match));
  CHECK(router::covers(route("a", "/t", "", {"GET", "POST"}).match, route("b", "/t", "", {"GET"}).match));
}

TEST_CASE("upstream targets: prefix stripping and base paths") {
  auto r = route("s", "/tools/search");
  CHECK(router::upstream_target(r, "/tools/search/q?x=1") == "/tools/search/q?x=1");
  r.strip_prefix = true;
  CHECK(router::upstream_target(r, "/tools/search/q?x=1") == "/q?x=1");
  CHECK(router::upstream_target(r, "/tools/search") == "/");
  CHECK(router::upstream_target(r, "/tools/search?x") == "/?x");
  r.upstream.base_path = "/api";
  CHECK(router::upstream_target(r, "/tools/search/q") == "/api/q");
  CHECK(router::upstream_target(r, "/tools/search") == "/api");
  CHECK(router::upstream_target(r, "/tools/search?x") == "/api?x");
}
