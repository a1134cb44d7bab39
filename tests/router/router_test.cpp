#include "router/router.hpp"

#include <doctest/doctest.h>

#include "config/route_match.hpp"

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
  CHECK(config::path_has_prefix("/tools", "/tools"));
  CHECK(config::path_has_prefix("/tools/search", "/tools"));
  CHECK(config::path_has_prefix("/tools?q=1", "/tools"));
  CHECK_FALSE(config::path_has_prefix("/toolsx", "/tools"));
  CHECK(config::path_has_prefix("/tools/x", "/tools/"));
  CHECK(config::path_has_prefix("/anything", "/"));
}

TEST_CASE("first matching route wins, host and method restrict") {
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
  CHECK(config::covers(route("a", "/t").match, route("b", "/t/x").match));
  CHECK_FALSE(config::covers(route("a", "/t/x").match, route("b", "/t").match));
  CHECK_FALSE(config::covers(route("a", "/t", "h").match, route("b", "/t").match));
  CHECK(config::covers(route("a", "/t").match, route("b", "/t", "h").match));
  CHECK_FALSE(config::covers(route("a", "/t", "", {"GET"}).match, route("b", "/t").match));
  CHECK(config::covers(route("a", "/t", "", {"GET", "POST"}).match, route("b", "/t", "", {"GET"}).match));
}

TEST_CASE("upstream targets: prefix stripping and base paths") {
  auto r = route("s", "/tools/search");
  r.upstreams.emplace_back();
  CHECK(router::upstream_target(r, r.upstreams.front(), "/tools/search/q?x=1") == "/tools/search/q?x=1");
  r.strip_prefix = true;
  CHECK(router::upstream_target(r, r.upstreams.front(), "/tools/search/q?x=1") == "/q?x=1");
  CHECK(router::upstream_target(r, r.upstreams.front(), "/tools/search") == "/");
  CHECK(router::upstream_target(r, r.upstreams.front(), "/tools/search?x") == "/?x");
  r.upstreams.front().base_path = "/api";
  CHECK(router::upstream_target(r, r.upstreams.front(), "/tools/search/q") == "/api/q");
  CHECK(router::upstream_target(r, r.upstreams.front(), "/tools/search") == "/api");
  CHECK(router::upstream_target(r, r.upstreams.front(), "/tools/search?x") == "/api?x");
}

TEST_CASE("resolve_target: one normalised path for routing and forwarding") {
  std::vector<config::Route> routes = {route("keep", "/files"), route("unescape", "/docs"), route("params", "/matrix"),
                                       route("root", "/")};
  routes[0].paths.escaped_slashes = config::EscapedSlashes::keep;
  routes[1].paths.escaped_slashes = config::EscapedSlashes::unescape;
  routes[2].paths.path_params = config::PathParams::keep;
  router::Router r(routes);
  config::Paths paths;  // top level: merge slashes, reject %2F and ';'
  auto resolve = [&](std::string_view target) { return router::resolve_target(r, paths, "a.example:8080", "GET", target); };

  struct Case {
    const char* target;
    const char* resolved;  // "" unchanged; nullptr refused
  };
  for (const Case& c : std::initializer_list<Case>{
           {"/tools/search?q=../x", ""},               // the query is never touched
           {"/tools/../admin?a=%2f", "/admin?a=%2f"},
           {"//tools//x", "/tools/x"},
           {"/../etc/passwd", nullptr},
           {"/tools/x%2fy", nullptr},                  // default: reject
           {"/tools/x%5cy", nullptr},
           {"/tools/x;y", nullptr},
           {"/tools/..;/admin", nullptr},
           {"/files/a%2fb", "/files/a%2Fb"},           // keep: still escaped, upper-case hex
           {"/files/a%2F..%2Fb", ""},                  // already in normal form
           {"/files/x;y", nullptr},                    // the route keeps %2F, not ';'
           {"/docs/a%2fb", "/docs/a/b"},               // unescape: decoded into a separator
           {"/docs/a/..%2fb", "/docs/b"},
           {"/docs/..%2f..%2fadmin", nullptr},         // decoded, it climbs above the root
           {"/docs/..%2fadmin", nullptr},              // decoded, it leaves the route: refused
           {"/matrix/a;v=1", ""},
           {"/matrix/..;/x", nullptr},                 // ';' kept, but never on a dot segment
       }) {
    std::string target = c.target;
    CAPTURE(target);
    auto got = resolve(c.target);
    if (!c.resolved) {
      CHECK_FALSE(got.refusal.empty());
    } else {
      CHECK(got.refusal == "");
      CHECK(got.target == std::string(c.resolved));
    }
  }
  // The same path through the router afterwards lands on the route whose rules were applied.
  CHECK(r.match("a.example", "GET", resolve("/docs/a%2fb").target)->name == "unescape");
  paths.merge_slashes = false;
  CHECK(resolve("//tools//x").target == "");
  paths.rules.escaped_slashes = config::EscapedSlashes::keep;  // no route: the top level decides
  std::vector<config::Route> none = {route("only", "/only")};
  router::Router empty(none);
  CHECK(router::resolve_target(empty, paths, "h", "GET", "/x%2fy").refusal == "");
}
