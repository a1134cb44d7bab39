// The facts the request stage and `scopegate policy explain` both build (policy/request_facts.hpp).
#include "policy/request_facts.hpp"
#include "protocol/jsonrpc.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "json/strict.hpp"

namespace {

namespace policy = scopegate::policy;
namespace config = scopegate::config;
namespace protocol = scopegate::protocol;

scopegate::delegation::VerifiedToken chain_token() {
  scopegate::delegation::VerifiedToken t;
  t.scopes.resize(3);
  t.scopes[0].agt = "planner";
  t.scopes[0].sub = "user:alice";
  t.scopes[0].obj = "quarterly report";
  t.scopes[1].agt = "researcher";
  t.scopes[1].obj = "find the numbers";
  t.scopes[2].agt = "writer";  // no objective of its own
  return t;
}

std::string padded(std::string text) {
  text.reserve(text.size() + scopegate::json::kPadding);
  return text;
}

}  // namespace

TEST_CASE("request facts: who from a token's chain") {
  auto token = chain_token();
  policy::Facts f;
  policy::ChainBuffer buffer{};
  policy::set_scope_facts(f, token, buffer);
  CHECK(f.depth == 2);
  CHECK(f.principal == "user:alice");
  CHECK(f.root_agent == "planner");
  CHECK(f.delegator == "researcher");
  REQUIRE(f.ancestors.size() == 2);
  CHECK(f.ancestors[0] == "planner");
  CHECK(f.ancestors[1] == "researcher");
  // The nearest objective above a scope that has none.
  CHECK(f.objective == "find the numbers");

  // A root: no delegator, no ancestors, its own actor as the root agent.
  token.scopes.resize(1);
  policy::Facts root;
  policy::set_scope_facts(root, token, buffer);
  CHECK(root.depth == 0);
  CHECK(root.delegator.empty());
  CHECK(root.ancestors.empty());
  CHECK(root.root_agent == "planner");
  CHECK(root.objective == "quarterly report");
}

TEST_CASE("request facts: a chain given as names is read as a token's") {
  std::vector<std::string_view> chain = {"planner", "researcher", "writer"};
  policy::Facts f;
  policy::set_chain_facts(f, chain);
  CHECK(f.depth == 2);
  CHECK(f.root_agent == "planner");
  CHECK(f.delegator == "researcher");
  CHECK(f.ancestors.size() == 2);
}

TEST_CASE("request facts: the route's data label and the tool's on top of it") {
  config::Route route;
  route.name = "hr";
  route.kind = config::RouteKind::mcp;
  route.data.datasets = {"hr"};
  route.data.classification = "internal";
  route.tools["hr.lookup"].datasets = {"payroll"};
  route.tools["hr.lookup"].classification = "restricted";
  route.tools["hr.ping"].classification = "public";
  std::vector<std::string> merged;

  policy::Facts f;
  policy::set_route_facts(f, route, "hr.lookup", merged);
  CHECK(f.route == "hr");
  CHECK(f.kind == "mcp");
  REQUIRE(f.datasets.size() == 2);
  CHECK(f.datasets[0] == "hr");
  CHECK(f.datasets[1] == "payroll");
  CHECK(f.classification == "restricted");

  policy::Facts ping;
  policy::set_route_facts(ping, route, "hr.ping", merged);
  CHECK(ping.datasets.size() == 1);
  CHECK(ping.classification == "public");

  policy::Facts other;
  policy::set_route_facts(other, route, "", merged);
  CHECK(other.datasets.data() == route.data.datasets.data());  // no copy
  CHECK(other.classification == "internal");
}

TEST_CASE("request facts: an MCP call's arguments, canonical, only from a strictly read body") {
  std::string why;
  protocol::ParseWants wants{.arguments = true};
  auto call = protocol::parse_mcp(padded(R"({"jsonrpc":"2.0","id":1,"method":"tools/call",)"
                                         R"("params":{"name":"x","arguments":{ "n": [1, 2], "id" : "E1" }}})"),
                                  why, wants);
  REQUIRE(call);
  CHECK(call->arguments == R"({"id":"E1","n":[1,2]})");
  call = protocol::parse_mcp(padded(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}})"), why,
                             wants);
  REQUIRE(call);
  CHECK(call->arguments.empty());
  // Not asked for: not read.
  call = protocol::parse_mcp(padded(R"({"method":"tools/call","params":{"name":"x","arguments":{"a":1}}})"), why);
  REQUIRE(call);
  CHECK(call->arguments.empty());
  // A duplicate name anywhere: the gateway refuses such a body, and reads no arguments from it.
  CHECK_FALSE(protocol::parse_mcp(padded(R"({"method":"tools/call","params":{"arguments":{"a":1,"a":2}}})"), why, wants));
}
