#include "delegation/mint.hpp"
#include "test_keys.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <variant>

using namespace scopegate::delegation;
using scopegate::http::ErrorCode;

namespace {

constexpr std::int64_t kNow = 1767225600;
constexpr const char* kRootSid = "0193a6f0-0000-7000-8000-000000000001";
constexpr const char* kChildSid = "0193a6f0-0000-7000-8000-000000000002";

Keyring keys() { return testing::example_keys(); }

scopegate::config::Agent agent(std::string id, Grants grants, int max_depth = 8) {
  scopegate::config::Agent a;
  a.id = std::move(id);
  a.grants = std::move(grants);
  a.max_depth = max_depth;
  return a;
}

const MintedScope& minted(const MintResult& r) {
  if (auto* refused = std::get_if<MintRefusal>(&r)) FAIL("refused: " << refused->message);
  return std::get<MintedScope>(r);
}

std::optional<ErrorCode> refused(const MintResult& r) {
  if (auto* v = std::get_if<MintRefusal>(&r)) return v->code;
  return std::nullopt;
}

}  // namespace

TEST_CASE("mint_root_scope: within the agent's grants, signed, recorded as a root") {
  auto k = keys();
  scopegate::config::TokenSettings settings;
  auto planner = agent("planner", {"tool:*", "agent:*"});
  std::optional<Grants> none;
  auto root = mint_root_scope({k, settings, planner, "user:alice", none, "plan a trip", 600, kNow, kRootSid});
  const auto& r = minted(root);
  CHECK(r.record.id == kRootSid);
  CHECK(r.record.root == kRootSid);
  CHECK(r.record.depth == 0);
  CHECK(r.record.path == kRootSid);
  CHECK(r.record.principal == "user:alice");
  CHECK(r.record.actor == "planner");
  CHECK(r.record.grants == planner.grants);
  CHECK(r.record.exp == kNow + 600);
  auto verified = verify(r.token, k, VerifyOptions{"scopegate", kNow, 30});
  REQUIRE(std::holds_alternative<VerifiedToken>(verified));
  CHECK(std::get<VerifiedToken>(verified).current().sid == kRootSid);

  std::optional<Grants> wider = Grants{"tool:*", "admin:*"};
  CHECK(refused(mint_root_scope({k, settings, planner, "user:alice", wider, "", 600, kNow, kRootSid})) ==
        ErrorCode::grant_exceeded);
}

TEST_CASE("mint_child_scope: the parent's rights ∩ the ceiling, depth and expiry bounded") {
  auto k = keys();
  scopegate::config::TokenSettings settings;
  auto planner = agent("planner", {"tool:*", "agent:*"});
  auto researcher = agent("researcher", {"tool:search", "tool:fetch"}, 1);
  std::optional<Grants> none;
  auto root = minted(mint_root_scope({k, settings, planner, "user:alice", none, "", 600, kNow, kRootSid}));
  auto parent = std::get<VerifiedToken>(verify(root.token, k, VerifyOptions{"scopegate", kNow, 30}));

  struct Case {
    const char* name;
    std::optional<Grants> requested;
    Grants ceiling;
    std::int64_t ttl_s;
    std::optional<ErrorCode> refused;
    Grants grants;  // when minted
    std::int64_t exp;
  };
  const Case cases[] = {
      {"everything available", std::nullopt, researcher.grants, 60, std::nullopt, {"tool:search", "tool:fetch"},
       kNow + 60},
      {"exactly what is asked", Grants{"tool:search"}, researcher.grants, 60, std::nullopt, {"tool:search"},
       kNow + 60},
      {"never past the parent's expiry", Grants{"tool:search"}, researcher.grants, 6000, std::nullopt,
       {"tool:search"}, kNow + 600},
      {"more than the ceiling", Grants{"tool:delete"}, researcher.grants, 60, ErrorCode::grant_exceeded, {}, 0},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto result = mint_child_scope({k, settings, root.token, parent, researcher, "planner", c.ceiling, c.requested,
                                    "find flights", c.ttl_s, kNow, kChildSid});
    CHECK(refused(result) == c.refused);
    if (c.refused) continue;
    const auto& child = minted(result);
    CHECK(child.record.id == kChildSid);
    CHECK(child.record.parent == kRootSid);
    CHECK(child.record.root == kRootSid);
    CHECK(child.record.depth == 1);
    CHECK(child.record.path == std::string(kRootSid) + "/" + kChildSid);
    CHECK(child.record.principal == "user:alice");
    CHECK(child.record.actor == "researcher");
    CHECK(child.record.delegator == "planner");
    CHECK(child.record.objective == "find flights");
    Grants got = child.record.grants, want = c.grants;
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    CHECK(got == want);
    CHECK(child.record.exp == c.exp);
    auto verified = verify(child.token, k, VerifyOptions{"scopegate", kNow, 30});
    REQUIRE(std::holds_alternative<VerifiedToken>(verified));
    CHECK(std::get<VerifiedToken>(verified).depth() == 1);
  }

  // The researcher may act at depth 1 at most: its own child would be at depth 2.
  auto first = minted(mint_child_scope({k, settings, root.token, parent, researcher, "planner", researcher.grants,
                                        none, "", 60, kNow, kChildSid}));
  auto child = std::get<VerifiedToken>(verify(first.token, k, VerifyOptions{"scopegate", kNow, 30}));
  CHECK(refused(mint_child_scope({k, settings, first.token, child, researcher, "researcher", researcher.grants, none,
                                  "", 60, kNow, "0193a6f0-0000-7000-8000-000000000003"})) ==
        ErrorCode::depth_exceeded);
}
