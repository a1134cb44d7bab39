#include "config/grant_pattern.hpp"

#include <doctest/doctest.h>

using scopegate::config::grant_pattern_problem;
using scopegate::config::is_valid_grant_pattern;

TEST_CASE("grant patterns: * alone, or a known action kind with a name or a prefix") {
  for (const char* ok : {"*", "tool:search", "tool:*", "tool:s*", "resource:file:///data/*", "prompt:summary",
                         "agent:researcher", "agent:*", "route:sampling", "route:*", "tool:a:b"}) {
    CAPTURE(ok);
    CHECK(is_valid_grant_pattern(ok));
    CHECK_FALSE(grant_pattern_problem(ok));
  }
}

TEST_CASE("grant patterns: unknown kinds are refused with the near miss") {
  struct Case {
    const char* pattern;
    const char* message;
  };
  const Case cases[] = {
      // Plural, case and a typo of a kind: the kind meant, the rest as written.
      {"tools:*", "unknown action kind 'tools' in grant pattern 'tools:*'; did you mean 'tool:*'?"},
      {"Tool:x", "unknown action kind 'Tool' in grant pattern 'Tool:x'; did you mean 'tool:x'?"},
      {"TOOL:*", "unknown action kind 'TOOL' in grant pattern 'TOOL:*'; did you mean 'tool:*'?"},
      {"agents:researcher",
       "unknown action kind 'agents' in grant pattern 'agents:researcher'; did you mean 'agent:researcher'?"},
      {"resources:file:///x",
       "unknown action kind 'resources' in grant pattern 'resources:file:///x'; did you mean 'resource:file:///x'?"},
      {"promt:p", "unknown action kind 'promt' in grant pattern 'promt:p'; did you mean 'prompt:p'?"},
      // A kind without its ':' (tool* would also match "toolbox:..."), or with nothing after it.
      {"tool*", "grant pattern 'tool*' names no tool; did you mean 'tool:*'?"},
      {"tool", "grant pattern 'tool' names no tool; did you mean 'tool:*'?"},
      {"tool:", "grant pattern 'tool:' names no tool; did you mean 'tool:*'?"},
      {"agent:", "grant pattern 'agent:' names no agent; did you mean 'agent:*'?"},
      {"tools*", "grant pattern 'tools*' has no action kind; did you mean 'tool:*'?"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.pattern);
    CHECK_FALSE(is_valid_grant_pattern(c.pattern));
    CHECK(grant_pattern_problem(c.pattern).value_or("") == c.message);
  }
}

TEST_CASE("grant patterns: no guess when nothing is near, and the syntax rules stay") {
  auto far = grant_pattern_problem("dataset:hr").value_or("");
  CHECK(far.starts_with("unknown action kind 'dataset' in grant pattern 'dataset:hr' (expected <kind>:<name>"));
  CHECK(far.find("did you mean") == std::string::npos);
  auto bare = grant_pattern_problem("search").value_or("");
  CHECK(bare.starts_with("grant pattern 'search' has no action kind (expected"));
  CHECK(grant_pattern_problem(":x").value_or("").starts_with("unknown action kind '' in grant pattern ':x'"));
  for (const char* bad : {"", " tool:x", "tool:x ", "tool: x", "tool:a,b", "tool:\"x\"", "tool:a\\b", "tool:\x01",
                          "tool:\xc3\xa9", "tool:*x", "*tool:x", "**"}) {
    CAPTURE(bad);
    CHECK_FALSE(is_valid_grant_pattern(bad));
  }
  // What is quoted back is printable and bounded, whatever came in.
  auto hostile = grant_pattern_problem(std::string("tool:\x1b[31m") + std::string(500, 'x')).value_or("");
  CHECK(hostile.find('\x1b') == std::string::npos);
  CHECK(hostile.size() < 300);
}

// Probe (issue12-probe2): the near-miss suggestion repeats the rest of the pattern unshortened, so
// "tools:" + 60 KB in a POST /v1/scopes body comes back as a 60 KB error message (and a config
// error line as long). What is quoted back must be bounded in every branch, the suggestion included.
TEST_CASE("grant patterns: the suggestion is bounded too (probe2)") {
  auto suggested = grant_pattern_problem("tools:" + std::string(5000, 'a')).value_or("");
  CHECK(suggested.find("did you mean") != std::string::npos);
  CHECK(suggested.size() < 300);
  auto cased = grant_pattern_problem("Agent:" + std::string(5000, 'b')).value_or("");
  CHECK(cased.size() < 300);
}
