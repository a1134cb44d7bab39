#include "delegation/registry.hpp"
#include "delegation/token_cache.hpp"
#include "test_keys.hpp"

#include <doctest/doctest.h>

using namespace scopegate::delegation;

namespace {
Keyring keys() { return testing::example_keys(); }

VerifiedToken verified(const std::string& token) {
  auto r = verify(token, keys(), {"scopegate", 1000, 30});
  REQUIRE(std::holds_alternative<VerifiedToken>(r));
  return std::get<VerifiedToken>(r);
}

// root (planner) → child (researcher) → grandchild (writer), plus a caveat on the child.
struct Chain {
  std::string root, child, grandchild;
};
Chain chain() {
  ScopeBlock root{"r", "", "planner", {"tool:*", "agent:*"}, "plan", 900, 2000, "k1", "user:alice", "scopegate", ""};
  Chain c;
  c.root = *mint_root(keys(), root);
  auto vr = verified(c.root);
  ScopeBlock child{"c", "r", "researcher", {"tool:*", "agent:writer"}, "research", 950, 1800, "", "", "", ""};
  c.child = *mint_child(keys(), c.root, vr, child);
  c.child = *attenuate(c.child, Caveat{std::vector<std::string>{"tool:search", "agent:*"}, std::nullopt});
  auto vc = verified(c.child);
  ScopeBlock grandchild{"g", "c", "writer", {"tool:*"}, "", 960, 1700, "", "", "", ""};
  c.grandchild = *mint_child(keys(), c.child, vc, grandchild);
  return c;
}
}  // namespace

TEST_CASE("scope records from a token: path, depth, delegator, effective grants") {
  auto t = verified(chain().grandchild);
  auto r = scope_record(t, 2);
  CHECK(r.id == "g");
  CHECK(r.parent == "c");
  CHECK(r.root == "r");
  CHECK(r.depth == 2);
  CHECK(r.path == "r/c/g");
  CHECK(r.principal == "user:alice");
  CHECK(r.actor == "writer");
  CHECK(r.delegator == "researcher");
  CHECK(r.grants == Grants{"tool:search"});  // the caveat on the child narrowed everything below it
  CHECK(r.exp == 1700);
  auto c = scope_record(t, 1);
  CHECK(c.grants == Grants{"tool:*", "agent:writer"});  // the child as opened, before its caveat
  CHECK(scope_json(c) ==
        R"({"id":"c","parent":"r","root":"r","depth":1,"path":"r/c","principal":"user:alice","actor":"researcher",)"
        R"("delegator":"planner","objective":"research","grants":["tool:*","agent:writer"],"iat":950,"exp":1800})");
}

TEST_CASE("the registry records first sightings, children and revocations") {
  auto c = chain();
  ScopeRegistry registry;
  auto fresh = registry.observe(verified(c.child));
  REQUIRE(fresh.size() == 2);
  CHECK(fresh[0].id == "r");
  CHECK(fresh[1].id == "c");
  CHECK(registry.observe(verified(c.child)).empty());  // seen: nothing new to report
  auto more = registry.observe(verified(c.grandchild));
  REQUIRE(more.size() == 1);
  CHECK(more[0].id == "g");
  auto view = registry.find("r");
  REQUIRE(view.has_value());
  REQUIRE(view->children.size() == 1);
  CHECK(view->children[0].id == "c");

  CHECK_FALSE(registry.revoked_in(verified(c.grandchild)).has_value());
  auto revoked = registry.revoke("c", 5000);
  REQUIRE(revoked.size() == 2);
  CHECK(revoked[0].id == "c");
  CHECK(revoked[0].until == 1800);  // the scope's own expiry: no token for it outlives that
  CHECK(revoked[1].id == "g");
  CHECK(registry.revoked_in(verified(c.grandchild)) == "c");
  CHECK(registry.revoked_in(verified(c.child)) == "c");
  CHECK_FALSE(registry.revoked_in(verified(c.root)).has_value());
  CHECK(registry.revoke("c", 5000).empty());  // already revoked
  CHECK(registry.find("g")->revoked);

  // An unknown id is revoked all the same, until its forget time.
  registry.revoke("elsewhere", 3000);
  // Expired scopes (and revocations) are forgotten after the grace period.
  CHECK(registry.sweep(1750, 0) == 1);  // g expired at 1700
  CHECK_FALSE(registry.find("g").has_value());
  CHECK(registry.revoked_in(verified(c.child)) == "c");
  registry.sweep(2100, 0);
  CHECK(registry.size() == 0);
  CHECK(registry.sweep(3001, 0) == 0);
}

TEST_CASE("the token cache is per snapshot and bounded") {
  TokenCache cache(2);
  auto a = std::make_shared<const VerifiedToken>();
  auto b = std::make_shared<const VerifiedToken>();
  cache.insert("token-a", 1, a);
  CHECK(cache.find("token-a", 1) == a);
  CHECK(cache.find("token-a", 2) == nullptr);  // verified under another keyring: not trusted
  CHECK(cache.find("token-a2", 1) == nullptr); // any other byte: verified afresh
  cache.insert("token-b", 1, b);
  cache.insert("token-c", 1, b);  // full: emptied, then refilled
  CHECK(cache.find("token-a", 1) == nullptr);
  CHECK(cache.find("token-c", 1) == b);
  cache.insert("token-a", 2, a);  // a new snapshot starts over
  CHECK(cache.find("token-c", 1) == nullptr);
  CHECK(cache.find("token-a", 2) == a);
}
