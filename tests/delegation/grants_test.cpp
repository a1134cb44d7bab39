#include "delegation/grants.hpp"

#include <doctest/doctest.h>

using namespace scopegate::delegation;

TEST_CASE("a pattern covers what its language contains") {
  CHECK(pattern_covers("*", "tool:search"));
  CHECK(pattern_covers("*", "*"));
  CHECK(pattern_covers("tool:*", "tool:s*"));
  CHECK(pattern_covers("tool:*", "tool:search"));
  CHECK(pattern_covers("tool:search", "tool:search"));
  CHECK_FALSE(pattern_covers("tool:*", "*"));
  CHECK_FALSE(pattern_covers("tool:*", "tool*"));  // "tool*" also matches "toolbox"
  CHECK_FALSE(pattern_covers("tool:search", "tool:search*"));
  CHECK_FALSE(pattern_covers("tool:s*", "tool:*"));
}

TEST_CASE("intersections are exact and minimal") {
  CHECK(intersect(Grants{"*"}, Grants{"tool:search", "agent:*"}) == Grants{"tool:search", "agent:*"});
  CHECK(intersect(Grants{"tool:*"}, Grants{"tool:search", "agent:*"}) == Grants{"tool:search"});
  CHECK(intersect(Grants{"tool:*", "resource:*"}, Grants{"tool:s*", "resource:file:///a"}) ==
        Grants{"tool:s*", "resource:file:///a"});
  CHECK(intersect(Grants{"tool:a"}, Grants{"tool:b"}).empty());
  CHECK(intersect(Grants{}, Grants{"*"}).empty());
  // Redundant patterns fold away: "tool:*" already holds "tool:search".
  CHECK(intersect(Grants{"*"}, Grants{"tool:search", "tool:*", "tool:*"}) == Grants{"tool:*"});
  const Grants chain[] = {{"*"}, {"tool:*", "agent:researcher"}, {"tool:search", "agent:*"}};
  CHECK(intersect_all(chain) == Grants{"tool:search", "agent:researcher"});
  CHECK(intersect_all(std::span<const Grants>{}).empty());
  // Every action the intersection allows is allowed by both sides, and the other way round.
  const Grants a{"tool:s*", "agent:*", "resource:x"};
  const Grants b{"tool:*", "agent:writer", "prompt:*"};
  Grants both = intersect(a, b);
  for (std::string action : {"tool:search", "tool:files", "agent:writer", "agent:researcher", "resource:x",
                             "prompt:p", "tool:s"}) {
    bool in_a = set_covers(a, action), in_b = set_covers(b, action);
    CHECK_MESSAGE(set_covers(both, action) == (in_a && in_b), action);
  }
}

TEST_CASE("Delegation-Grants lists") {
  Grants out;
  CHECK(parse_grant_list(" tool:search,  agent:* ,,", out));
  CHECK(out == Grants{"tool:search", "agent:*"});
  CHECK_FALSE(parse_grant_list("tool:*x", out));      // '*' only at the end
  CHECK_FALSE(parse_grant_list("tool search", out));  // no spaces inside a pattern
  CHECK_FALSE(parse_grant_list("tool:\"x\"", out));
  CHECK(parse_grant_list("", out));
  CHECK(out.empty());
}
