#include "audit/query.hpp"

#include <doctest/doctest.h>

using scopegate::audit::canonical_time;

TEST_CASE("--since/--until take RFC 3339 UTC and compare with record timestamps as text") {
  CHECK(canonical_time("2026-11-21", false) == "2026-11-21T00:00:00.000000Z");
  CHECK(canonical_time("2026-11-21", true) == "2026-11-21T23:59:59.999999Z");
  CHECK(canonical_time("2026-11-21T10:00:00Z", false) == "2026-11-21T10:00:00.000000Z");
  CHECK(canonical_time("2026-11-21T10:00:00Z", true) == "2026-11-21T10:00:00.999999Z");
  CHECK(canonical_time("2026-11-21T10:00:00.5Z", false) == "2026-11-21T10:00:00.500000Z");
  CHECK_FALSE(canonical_time("2026-11-21T10:00:00+01:00", false));
  CHECK_FALSE(canonical_time("yesterday", false));
  CHECK_FALSE(canonical_time("2026-11-21T10:00:00.1234567Z", false));
}
