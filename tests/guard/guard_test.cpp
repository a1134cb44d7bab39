// The guards against runaway use, driven by an injected clock (docs/policies.md, "Budgets, rate
// limits and the loop guard"): token buckets and the rate limiter, the loop guard, budgets rolled up
// the chain, and the reading of audit records that rebuilds the budgets at start.
#include <doctest/doctest.h>

#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/loader.hpp"
#include "delegation/hmac.hpp"
#include "guard/budget.hpp"
#include "guard/budget_replay.hpp"
#include "guard/loop_guard.hpp"
#include "guard/rate_limiter.hpp"
#include "guard/token_bucket.hpp"
#include "fleet/budget_store.hpp"
#include "fleet/node.hpp"
#include "json/canonical.hpp"
#include "protocol/jsonrpc.hpp"

using namespace scopegate;
using guard::BudgetKind;
using guard::Charge;
using guard::ChainScope;

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

config::RateLimit limit(std::string id, config::RateLimit::Per per, double rate, double burst,
                        std::vector<std::string> agents = {}, std::vector<std::string> routes = {}) {
  config::RateLimit l;
  l.id = std::move(id);
  l.per = per;
  l.rate = rate;
  l.burst = burst;
  l.agents = std::move(agents);
  l.routes = std::move(routes);
  return l;
}

std::vector<config::Agent> agents(std::initializer_list<const char*> ids) {
  std::vector<config::Agent> out;
  for (auto id : ids) {
    config::Agent a;
    a.id = id;
    out.push_back(a);
  }
  return out;
}

std::string canonical(std::string text) {
  simdjson::dom::parser parser;
  text.reserve(text.size() + simdjson::SIMDJSON_PADDING);
  simdjson::dom::element e = parser.parse(text);
  std::string out;
  json::append_canonical(out, e);
  return out;
}

}  // namespace

namespace {

std::optional<std::string> no_environment(const std::string&) { return std::nullopt; }

// A config the guard sections are appended to: one agent, one route.
constexpr const char* kGuardConfigBase = R"(listeners:
  - port: 8080
agents:
  - id: planner
    api_key_sha256: 0000000000000000000000000000000000000000000000000000000000000000
routes:
  - name: tools
    access: open
    match: { path_prefix: /tools }
    upstream: http://127.0.0.1:9000
)";

}  // namespace

TEST_CASE("a token bucket starts full, refills at its rate and says how long to wait") {
  guard::TokenBucket b;
  std::int64_t wait = 0;
  for (int i = 0; i < 3; ++i) CHECK(b.take(2.0, 3.0, 0, wait));
  CHECK_FALSE(b.take(2.0, 3.0, 0, wait));
  CHECK(wait == kSecond / 2);  // one token every half second
  CHECK_FALSE(b.take(2.0, 3.0, kSecond / 4, wait));
  CHECK(wait == kSecond / 4);
  CHECK(b.take(2.0, 3.0, kSecond / 2, wait));
  // Idle for long: never more than the burst.
  CHECK(b.level(2.0, 3.0, 100 * kSecond) == doctest::Approx(3.0));
  // A clock read out of order adds nothing.
  guard::TokenBucket c;
  CHECK(c.take(1.0, 1.0, 10 * kSecond, wait));
  CHECK_FALSE(c.take(1.0, 1.0, 5 * kSecond, wait));
}

TEST_CASE("a token bucket with a tiny rate answers a wait that fits, never a wrapped one") {
  guard::TokenBucket b;
  std::int64_t wait = 0;
  CHECK(b.take(1e-300, 1.0, 0, wait));
  CHECK_FALSE(b.take(1e-300, 1.0, 0, wait));
  CHECK(wait > 0);
  CHECK(wait <= guard::TokenBucket::kMaxWaitNs);
  // One token an hour: the wait is exact.
  guard::TokenBucket h;
  CHECK(h.take(1.0 / 3600, 1.0, 0, wait));
  CHECK_FALSE(h.take(1.0 / 3600, 1.0, 0, wait));
  CHECK(wait == doctest::Approx(3600.0 * kSecond).epsilon(1e-9));
}

TEST_CASE("a rate limit per agent keys on the agent, per route on the route, per agent_route on both") {
  auto team = agents({"planner", "researcher"});
  std::vector<std::string> routes{"tools", "search", "scopegate:scopes"};
  std::vector<config::RateLimit> limits{limit("per-agent", config::RateLimit::Per::agent, 1, 2)};
  guard::RateLimiter rl(limits, team, routes);
  CHECK_FALSE(rl.take(0, 0, 0));
  CHECK_FALSE(rl.take(0, 1, 0));  // the same agent on another route: the same bucket
  auto refused = rl.take(0, 2, 0);
  REQUIRE(refused);
  CHECK(refused->limit->id == "per-agent");
  CHECK(refused->wait_ns == kSecond);
  CHECK_FALSE(rl.take(1, 0, 0));  // another agent has its own
  CHECK_FALSE(rl.take(-1, 0, 0));  // no agent: nothing to key a per-agent limit on

  std::vector<config::RateLimit> per_route{limit("per-route", config::RateLimit::Per::route, 1, 1)};
  guard::RateLimiter r2(per_route, team, routes);
  CHECK_FALSE(r2.take(0, 0, 0));
  CHECK(r2.take(1, 0, 0));         // another agent, same route: refused
  CHECK_FALSE(r2.take(1, 1, 0));   // another route
  CHECK(r2.take(-1, 1, 0));        // requests without an agent count on the route too

  std::vector<config::RateLimit> both{limit("pair", config::RateLimit::Per::agent_route, 1, 1)};
  guard::RateLimiter r3(both, team, routes);
  CHECK_FALSE(r3.take(0, 0, 0));
  CHECK(r3.take(0, 0, 0));
  CHECK_FALSE(r3.take(0, 1, 0));
  CHECK_FALSE(r3.take(1, 0, 0));
}

TEST_CASE("rate limits apply only to the agents and routes they list") {
  auto team = agents({"planner", "researcher"});
  std::vector<std::string> routes{"tools", "search"};
  std::vector<config::RateLimit> limits{limit("researcher-search", config::RateLimit::Per::agent, 1, 1, {"researcher"}, {"search"})};
  guard::RateLimiter rl(limits, team, routes);
  for (int i = 0; i < 5; ++i) CHECK_FALSE(rl.take(0, 1, 0));  // planner: not listed
  for (int i = 0; i < 5; ++i) CHECK_FALSE(rl.take(1, 0, 0));  // researcher on tools: not listed
  CHECK_FALSE(rl.take(1, 1, 0));
  CHECK(rl.take(1, 1, 0));
}

TEST_CASE("a request refused by one limit takes nothing from the others") {
  auto team = agents({"a"});
  std::vector<std::string> routes{"tools"};
  std::vector<config::RateLimit> limits{limit("wide", config::RateLimit::Per::agent, 1, 5),
                                        limit("narrow", config::RateLimit::Per::route, 1, 1)};
  guard::RateLimiter rl(limits, team, routes);
  CHECK_FALSE(rl.take(0, 0, 0));
  for (int i = 0; i < 10; ++i) {
    auto refused = rl.take(0, 0, 0);
    REQUIRE(refused);
    CHECK(refused->limit->id == "narrow");
  }
  // "wide" gave back every token the refused requests took: 4 are left of 5.
  std::vector<config::RateLimit> only_wide{limits[0]};
  guard::RateLimiter copy(only_wide, team, routes);
  copy.inherit(rl, 0);
  int passed = 0;
  while (!copy.take(0, 0, 0)) ++passed;
  CHECK(passed == 4);
}

TEST_CASE("a reload carries bucket levels over, capped by the new burst") {
  auto team = agents({"a"});
  std::vector<std::string> routes{"tools"};
  std::vector<config::RateLimit> before{limit("l", config::RateLimit::Per::agent, 1, 10)};
  guard::RateLimiter old(before, team, routes);
  for (int i = 0; i < 8; ++i) CHECK_FALSE(old.take(0, 0, 0));
  std::vector<config::RateLimit> after{limit("l", config::RateLimit::Per::agent, 1, 10)};
  guard::RateLimiter next(after, team, routes);
  next.inherit(old, 0);
  CHECK_FALSE(next.take(0, 0, 0));
  CHECK_FALSE(next.take(0, 0, 0));
  CHECK(next.take(0, 0, 0));  // 2 were left, not a fresh 10
  std::vector<config::RateLimit> renamed{limit("other", config::RateLimit::Per::agent, 1, 10)};
  guard::RateLimiter fresh(renamed, team, routes);
  fresh.inherit(old, 0);
  for (int i = 0; i < 10; ++i) CHECK_FALSE(fresh.take(0, 0, 0));  // a new limit starts full
}

TEST_CASE("the loop guard refuses the call after max_repeats within the window, then forgets") {
  guard::LoopGuard g;
  guard::LoopSettings s{3, 60 * kSecond, 1000};
  auto call = guard::fingerprint_call("scope-1", "tool:search", R"({"q":"x"})");
  for (int i = 0; i < 3; ++i) CHECK_FALSE(g.count(call, s, i * kSecond));
  auto wait = g.count(call, s, 10 * kSecond);
  REQUIRE(wait);
  CHECK(*wait == 50 * kSecond);  // until the first call's window ends
  CHECK(g.count(call, s, 59 * kSecond));
  CHECK_FALSE(g.count(call, s, 60 * kSecond));  // a new window
  // Other arguments, another action or another scope are other calls.
  CHECK_FALSE(g.count(guard::fingerprint_call("scope-1", "tool:search", R"({"q":"y"})"), s, 61 * kSecond));
  CHECK_FALSE(g.count(guard::fingerprint_call("scope-1", "tool:fetch", R"({"q":"x"})"), s, 61 * kSecond));
  CHECK_FALSE(g.count(guard::fingerprint_call("scope-2", "tool:search", R"({"q":"x"})"), s, 61 * kSecond));
  // Parts cannot be shifted into each other.
  CHECK(guard::fingerprint_call("ab", "c", "") != guard::fingerprint_call("a", "bc", ""));
  // The first 16 bytes of the SHA-256 of each part after its length (8 bytes, host order).
  std::string joined;
  for (std::string_view part : {std::string_view("scope-1"), std::string_view("tool:search"),
                                std::string_view(R"({"q":"x"})")}) {
    std::uint64_t n = part.size();
    joined.append(reinterpret_cast<const char*>(&n), sizeof n);
    joined.append(part);
  }
  auto digest = delegation::sha256(std::string_view(joined));
  CHECK(std::equal(call.begin(), call.end(), digest.begin()));
  // Off: nothing is counted.
  CHECK_FALSE(g.count(call, guard::LoopSettings{0, kSecond, 1000}, 0));
}

TEST_CASE("the loop guard's memory stays bounded") {
  guard::LoopGuard g;
  guard::LoopSettings s{2, 10 * kSecond, 1600};
  for (int i = 0; i < 20000; ++i) {
    CHECK_FALSE(g.count(guard::fingerprint_call("s", "tool:t", std::to_string(i)), s, i));
  }
  CHECK(g.size() <= 1600);
  // Once their windows passed, old entries make room without evicting live ones.
  auto keep = guard::fingerprint_call("s", "tool:keep", "");
  CHECK_FALSE(g.count(keep, s, 20 * kSecond));
  CHECK_FALSE(g.count(keep, s, 20 * kSecond));
  for (int i = 0; i < 50; ++i) CHECK_FALSE(g.count(guard::fingerprint_call("s", "tool:u", std::to_string(i)), s, 21 * kSecond));
  CHECK(g.count(keep, s, 22 * kSecond));
}

TEST_CASE("the loop guard forgets a call when its window ends and, when full, the oldest first") {
  guard::LoopSettings s{2, 10 * kSecond, 1000};  // 62 calls a shard
  // Calls that land in one shard (the guard spreads calls over 16 by the fingerprint's last byte).
  std::vector<guard::CallFingerprint> shard;
  for (int i = 0; shard.size() < 63; ++i) {
    auto f = guard::fingerprint_call("s", "tool:t", std::to_string(i));
    if (f[15] % 16 == 0) shard.push_back(f);
  }
  // Once their windows have passed they take no memory, whether or not the table filled up.
  guard::LoopGuard g;
  for (int i = 0; i < 40; ++i) CHECK_FALSE(g.count(shard[i], s, 0));
  CHECK(g.size() == 40);
  CHECK_FALSE(g.count(shard[40], s, 10 * kSecond));
  CHECK(g.size() == 1);

  // The first call made, repeated up to its limit, is the one forgotten when a new call needs
  // room, not an arbitrary one.
  guard::LoopGuard full;
  for (int i = 0; i < 62; ++i) {
    CHECK_FALSE(full.count(shard[i], s, i));
    CHECK_FALSE(full.count(shard[i], s, i));  // each at its limit of 2
  }
  CHECK_FALSE(full.count(shard[62], s, 100));  // the 63rd: shard[0], the oldest, makes room
  CHECK_FALSE(full.count(shard[0], s, 101));   // counted afresh
  for (int i = 2; i < 62; ++i) CHECK(full.count(shard[i], s, 102));  // still remembered (shard[1] made room)
}

TEST_CASE("canonical JSON sees through member order, spacing and number spelling") {
  CHECK(canonical(R"({"b": 1, "a": [true, null, "x"]})") == R"({"a":[true,null,"x"],"b":1})");
  CHECK(canonical(R"({"a":1.0})") == canonical(R"({ "a" : 1 })"));
  CHECK(canonical(R"({"a":{"d":1,"c":2}})") == R"({"a":{"c":2,"d":1}})");
  CHECK(canonical(R"({"a":"\u0041"})") == R"({"a":"A"})");
  CHECK(canonical(R"({"a":1.5})") != canonical(R"({"a":1})"));
  simdjson::dom::parser parser;
  std::string text = R"({"name":"t","_meta":{"progressToken":7}})";
  text.reserve(text.size() + simdjson::SIMDJSON_PADDING);
  std::string out;
  json::append_canonical(out, parser.parse(text), "_meta");
  CHECK(out == R"({"name":"t"})");
}

TEST_CASE("canonical JSON writes an integral number one way whatever its spelling or size") {
  // Within the range of 64-bit integers an integral double is written as that integer, so 1e16
  // and 10000000000000000 are the same call (a double holds such integers exactly).
  CHECK(canonical(R"({"a":1e16})") == R"({"a":10000000000000000})");
  CHECK(canonical(R"({"a":-4.5e17})") == canonical(R"({"a":-450000000000000000})"));
  CHECK(canonical(R"({"a":9223372036854775808})") == canonical(R"({"a":9.223372036854775808e18})"));
  CHECK(canonical(R"({"a":-0.0})") == canonical(R"({"a":0})"));
  // Beyond it, the shortest text that reads back as the same double (no cast out of range).
  CHECK(canonical(R"({"a":1e300})") == R"({"a":1e+300})");
  CHECK(canonical(R"({"a":-1E300})") == R"({"a":-1e+300})");
  // Values that differ stay apart.
  CHECK(canonical(R"({"a":9007199254740993})") != canonical(R"({"a":9007199254740992})"));
  CHECK(canonical(R"({"a":0.1})") != canonical(R"({"a":0.10000000000000002})"));
}

TEST_CASE("an MCP call is the same call whatever members its params carry beyond what it acts on") {
  auto content = [](std::string body) {
    body.reserve(body.size() + protocol::json_padding());
    std::string why;
    auto call = protocol::parse_mcp(body, why, protocol::ParseWants{false, true});
    REQUIRE(call);
    return call->content;
  };
  auto tool = content(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"s","arguments":{"q":1}}})");
  CHECK(tool == R"({"arguments":{"q":1},"name":"s"})");
  CHECK(content(R"({"jsonrpc":"2.0","id":2,"method":"tools/call",)"
                R"("params":{"nonce":7,"arguments":{"q":1.0},"name":"s","_meta":{"progressToken":1}}})") == tool);
  // What the tool reads still tells calls apart.
  CHECK(content(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"s","arguments":{"q":2}}})") != tool);
  CHECK(content(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"s","arguments":{"q":1,"x":0}}})") !=
        tool);
  auto read = content(R"({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a"}})");
  CHECK(read == R"({"uri":"file:///a"})");
  CHECK(content(R"({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a","cursor":"c2"}})") ==
        read);
  // Another method: its params without _meta.
  CHECK(content(R"({"jsonrpc":"2.0","id":1,"method":"x/do","params":{"a":1,"_meta":{"t":1}}})") == R"({"a":1})");
}

namespace {

struct Tree {
  config::BudgetLimits root_limits, child_limits;
  std::vector<ChainScope> chain(int depth) const {
    std::vector<ChainScope> c{{"root", &root_limits, 1000}};
    if (depth >= 1) c.push_back({"child", &child_limits, 1000});
    if (depth >= 2) c.push_back({"grandchild", nullptr, 1000});
    return c;
  }
};

}  // namespace

TEST_CASE("a child's actions spend its ancestors' budgets") {
  Tree t;
  t.root_limits.max_actions = 5;
  t.child_limits.max_actions = 3;
  guard::MemoryBudgetStore store;
  Charge action{1, 0, 0};
  for (int i = 0; i < 3; ++i) CHECK_FALSE(store.try_spend(t.chain(2), action));
  auto e = store.try_spend(t.chain(2), action);
  REQUIRE(e);
  CHECK(e->index == 1);  // the child's own budget of 3
  CHECK(e->kind == BudgetKind::actions);
  CHECK(e->limit == 3);
  CHECK(e->used == 3);
  CHECK_FALSE(store.try_spend(t.chain(0), action));
  CHECK_FALSE(store.try_spend(t.chain(0), action));
  e = store.try_spend(t.chain(0), action);
  REQUIRE(e);
  CHECK(e->index == 0);
  auto root = store.use("root");
  REQUIRE(root);
  CHECK(root->subtree.actions == 5);
  CHECK(root->own.actions == 2);
  auto grandchild = store.use("grandchild");
  REQUIRE(grandchild);
  CHECK(grandchild->own.actions == 3);
  CHECK(store.use("child")->own.actions == 0);
  CHECK(store.use("child")->subtree.actions == 3);
  CHECK_FALSE(store.use("never-seen"));
}

TEST_CASE("delegations roll up, children count for the opener only, bytes stop the next request") {
  Tree t;
  t.root_limits.max_delegations = 3;
  t.root_limits.max_children = 1;
  t.child_limits.max_bytes_out = 100;
  guard::MemoryBudgetStore store;
  Charge delegation{1, 1, 0};
  CHECK_FALSE(store.try_spend(t.chain(0), delegation));
  auto e = store.try_spend(t.chain(0), delegation);
  REQUIRE(e);
  CHECK(e->kind == BudgetKind::children);
  CHECK_FALSE(store.try_spend(t.chain(1), delegation));  // the child opens its own: fan-out is per scope
  CHECK_FALSE(store.try_spend(t.chain(2), delegation));
  e = store.try_spend(t.chain(2), delegation);
  REQUIRE(e);
  CHECK(e->kind == BudgetKind::delegations);
  CHECK(e->index == 0);
  // Bytes are settled after the response; the next request of the subtree is refused.
  store.settle(t.chain(2), Charge{}, Charge{0, 0, 150});
  e = store.try_spend(t.chain(2), Charge{});
  REQUIRE(e);
  CHECK(e->kind == BudgetKind::bytes_out);
  CHECK(e->index == 1);
  CHECK(e->used == 150);
}

TEST_CASE("a request not let through after all gives back what it spent") {
  Tree t;
  t.root_limits.max_actions = 1;
  guard::MemoryBudgetStore store;
  Charge action{1, 0, 0};
  CHECK_FALSE(store.try_spend(t.chain(1), action));
  CHECK(store.try_spend(t.chain(1), action));
  store.settle(t.chain(1), action, Charge{});
  CHECK_FALSE(store.try_spend(t.chain(1), action));
  CHECK(store.use("root")->subtree.actions == 1);
  // Giving back more than was counted leaves zero, not a wrapped counter.
  store.settle(t.chain(1), Charge{5, 5, 5}, Charge{});
  CHECK(store.use("root")->subtree.actions == 0);
}

TEST_CASE("counters of expired scopes are forgotten") {
  guard::MemoryBudgetStore store;
  std::vector<ChainScope> old{{"old", nullptr, 100}};
  std::vector<ChainScope> live{{"live", nullptr, 500}};
  CHECK_FALSE(store.try_spend(old, Charge{1, 0, 0}));
  CHECK_FALSE(store.try_spend(live, Charge{1, 0, 0}));
  CHECK(store.forget_expired(200) == 1);
  CHECK_FALSE(store.use("old"));
  CHECK(store.use("live"));
}

TEST_CASE("a record spends what the live gateway spent for it") {
  guard::ReplayedCharge c;
  const std::string tail = R"(,"prev":")" + std::string(64, '0') + R"(","hash":")" + std::string(64, '1') + "\"}";
  auto line = [&](std::string members) {
    return R"({"v":1,"seq":7,"ts":"2026-11-29T10:00:00.000000Z","node":"n","event":"request")" + members + tail;
  };
  CHECK(guard::charge_of_record(line(R"(,"scope":{"id":"c","parent":"r","root":"r","depth":1,"path":"r/c"},"action":"tool:x","decision":"allow","status":200,"bytes_out":42)"), c));
  CHECK(c.path == "r/c");
  CHECK(c.charge == Charge{1, 0, 42});
  CHECK(guard::charge_of_record(line(R"(,"scope":{"id":"r","root":"r","depth":0,"path":"r"},"action":"agent:w","decision":"allow","status":200,"bytes_out":5,"child_scope":"k")"), c));
  CHECK(c.charge == Charge{1, 1, 5});
  // Written before forwarding: its bytes come with its request.outcome.
  CHECK(guard::charge_of_record(line(R"(,"scope":{"id":"r","root":"r","depth":0,"path":"r"},"action":"tool:x","decision":"allow","recorded":"before_forward","bytes_in":0)"), c));
  CHECK(c.charge == Charge{1, 0, 0});
  std::string outcome = R"({"v":1,"seq":8,"ts":"2026-11-29T10:00:00.000000Z","node":"n","event":"request.outcome","scope":{"id":"r","root":"r","depth":0,"path":"r"},"status":200,"bytes_out":9)" + tail;
  CHECK(guard::charge_of_record(outcome, c));
  CHECK(c.charge == Charge{0, 0, 9});
  // Refused requests, requests without a scope and other events spend nothing.
  CHECK_FALSE(guard::charge_of_record(line(R"(,"scope":{"id":"r","root":"r","depth":0,"path":"r"},"action":"tool:x","decision":"deny","status":403,"bytes_out":90)"), c));
  CHECK_FALSE(guard::charge_of_record(line(R"(,"action":"tool:x","decision":"allow","status":200,"bytes_out":90)"), c));
  CHECK_FALSE(guard::charge_of_record(R"({"v":1,"seq":1,"ts":"2026-11-29T10:00:00.000000Z","node":"n","event":"scope.open","scope":{"id":"r","root":"r","depth":0,"path":"r"})" + tail, c));
}

TEST_CASE("the replay at start reads only the segments that can hold records within the horizon") {
  auto dir = std::filesystem::temp_directory_path() / "scopegate-guard-replay";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string tail = R"(,"prev":")" + std::string(64, '0') + R"(","hash":")" + std::string(64, '1') + "\"}\n";
  auto record = [&](int seq, const char* ts, const char* event, const std::string& members) {
    return R"({"v":1,"seq":)" + std::to_string(seq) + R"(,"ts":")" + ts + R"(","node":"n","event":")" + event +
           "\"" + members + tail;
  };
  const std::string spend = R"(,"scope":{"id":"r","root":"r","depth":0,"path":"r"},"action":"tool:x",)"
                            R"("decision":"allow","status":200,"bytes_out":1)";
  auto write = [&](const char* name, const std::string& text) { std::ofstream(dir / name) << text; };
  // Segment 1 ends before segment 2 starts, and segment 2 starts before the horizon: segment 1
  // holds nothing the replay needs. Segment 2 holds one record before the horizon, two after.
  write("n-00000000000000000001.jsonl", record(1, "2026-11-01T00:00:00.000000Z", "segment.start", "") +
                                            record(2, "2026-11-01T00:00:01.000000Z", "request", spend));
  write("n-00000000000000000003.jsonl", record(3, "2026-11-02T00:00:00.000000Z", "segment.start", "") +
                                            record(4, "2026-11-02T00:00:01.000000Z", "request", spend) +
                                            record(5, "2026-11-29T10:00:00.000000Z", "request", spend) +
                                            record(6, "2026-11-29T10:00:01.000000Z", "request", spend));
  // Another node's chain in the same directory is not this node's spending.
  write("m-00000000000000000001.jsonl", record(1, "2026-11-29T10:00:00.000000Z", "request", spend));
  guard::MemoryBudgetStore store;
  auto stats = guard::replay_budgets(dir.string(), "n", "2026-11-29T00:00:00.000000Z", 2000000000, store);
  CHECK(stats.error.empty());
  CHECK(stats.segments_skipped == 1);
  CHECK(stats.charged == 2);
  REQUIRE(store.use("r"));
  CHECK(store.use("r")->own.actions == 2);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a rate too small to wait for, or a loop window too long to count in, is a config error") {
  auto env = no_environment;
  std::string base = kGuardConfigBase;
  auto bad = config::load_string(base + R"(rate_limits:
  - id: glacial
    rate: 1e-300/s
  - id: slow
    rate: 0.001/h
loop_guard:
  max_repeats: 3
  window: 3000000h
)", "gw.yaml", env);
  CHECK_FALSE(bad.config);
  std::string all;
  for (const auto& e : bad.errors) all += e.to_string() + "\n";
  CHECK(all.find("gw.yaml:13") != std::string::npos);
  CHECK(all.find("rate_limits[0].rate") != std::string::npos);
  CHECK(all.find("rate_limits[1].rate") != std::string::npos);
  CHECK(all.find("loop_guard.window") != std::string::npos);
  // The smallest rate and the longest window still load.
  auto ok = config::load_string(base + R"(rate_limits:
  - id: daily
    rate: 0.0417/h
loop_guard:
  max_repeats: 3
  window: 24h
)", "gw.yaml", env);
  CHECK(ok.config);
}

TEST_CASE("budgets, rate limits and the loop guard load from the config, with errors naming their keys") {
  auto env = no_environment;
  std::string base = kGuardConfigBase;
  auto ok = config::load_string(base + R"(budgets:
  default: {max_actions: 100, max_bytes_out: 1MiB}
  agents:
    planner: {max_actions: 500, max_children: 4}
rate_limits:
  - id: planner-calls
    per: agent_route
    rate: 600/min
    agents: [planner]
    routes: [tools, "scopegate:scopes"]
loop_guard:
  max_repeats: 5
  window: 30s
)", "gw.yaml", env);
  REQUIRE(ok.config);
  const auto& c = *ok.config;
  CHECK(c.budgets.defaults.max_actions == 100u);
  CHECK(c.budgets.defaults.max_bytes_out == 1024u * 1024u);
  const auto& planner = c.budgets.for_agent("planner");
  CHECK(planner.max_actions == 500u);
  CHECK(planner.max_children == 4u);
  CHECK(planner.max_bytes_out == 1024u * 1024u);  // the default's, merged
  CHECK_FALSE(c.budgets.for_agent("other").max_children);
  REQUIRE(c.rate_limits.size() == 1);
  CHECK(c.rate_limits[0].rate == doctest::Approx(10.0));
  CHECK(c.rate_limits[0].burst == doctest::Approx(10.0));
  CHECK(c.rate_limits[0].per == config::RateLimit::Per::agent_route);
  CHECK(c.loop_guard.max_repeats == 5);
  CHECK(c.loop_guard.window == std::chrono::seconds(30));

  auto bad = config::load_string(base + R"(budgets:
  agents:
    ghost: {max_actions: 1}
  default: {max_action: 3}
rate_limits:
  - id: x
    rate: fast
    routes: [nowhere]
  - id: x
    per: tenant
    rate: 5/s
loop_guard:
  window: 0s
)", "gw.yaml", env);
  CHECK_FALSE(bad.config);
  std::string all;
  for (const auto& e : bad.errors) all += e.to_string() + "\n";
  CHECK(all.find("budgets.agents.ghost") != std::string::npos);
  CHECK(all.find("budgets.default.max_action: unknown key") != std::string::npos);
  CHECK(all.find("rate_limits[0].rate") != std::string::npos);
  CHECK(all.find("rate_limits[0].routes[0]") != std::string::npos);
  CHECK(all.find("rate_limits[1].id: duplicate") != std::string::npos);
  CHECK(all.find("rate_limits[1].per") != std::string::npos);
  CHECK(all.find("loop_guard.max_repeats: required") != std::string::npos);
  CHECK(all.find("loop_guard.window") != std::string::npos);
  CHECK(all.find("gw.yaml:") != std::string::npos);
}

TEST_CASE("fleet mode: a bucket spends only the tokens leased for it, until the lease ends") {
  auto team = agents({"planner"});
  std::vector<std::string> routes{"tools", "scopegate:scopes"};
  std::vector<config::RateLimit> limits{limit("a", config::RateLimit::Per::agent, 1, 10),
                                        limit("r", config::RateLimit::Per::route, 1, 10)};
  guard::RateLimiter rl(limits, team, routes);
  auto short_of = rl.take_leased(0, 0, 0);
  REQUIRE(short_of);
  CHECK(short_of->limit->id == "a");
  CHECK(rl.bucket_name(short_of->bucket) == std::string("a:planner:"));
  rl.add_lease(short_of->bucket, 2, 0, kSecond);
  short_of = rl.take_leased(0, 0, 0);
  REQUIRE(short_of);
  CHECK(short_of->limit->id == "r");  // the agent's token was put back: a refused request takes nothing
  CHECK(rl.bucket_name(short_of->bucket) == std::string("r::tools"));
  rl.add_lease(short_of->bucket, 1, 0, kSecond);
  CHECK_FALSE(rl.take_leased(0, 0, 0));
  CHECK(rl.take_leased(0, 0, 0)->limit->id == "r");  // the route's one token is spent; the agent's second stays
  rl.add_lease(short_of->bucket, 5, 0, kSecond);
  CHECK_FALSE(rl.take_leased(0, 0, 0));
  // Past its deadline a lease is spent, whatever it held.
  CHECK(rl.take_leased(0, 0, 2 * kSecond)->limit->id == "a");
}

TEST_CASE("fleet mode: a budget lease is a slice of the limit, at least one unit, at most the limit") {
  CHECK(fleet::FleetBudgetStore::slice(100, 0.1) == 10);
  CHECK(fleet::FleetBudgetStore::slice(30, 0.1) == 3);
  CHECK(fleet::FleetBudgetStore::slice(5, 0.1) == 1);
  CHECK(fleet::FleetBudgetStore::slice(1, 0.01) == 1);
  CHECK(fleet::FleetBudgetStore::slice(7, 1.0) == 7);
  CHECK(fleet::FleetBudgetStore::slice(0, 0.5) == 1);
}

TEST_CASE("fleet mode: a budget without a lease asks for one, and local spending uses the whole limit") {
  config::Fleet settings;
  settings.enabled = true;
  fleet::Node node(settings, "gw-test", [](const std::string&, std::int64_t, bool) {});  // never started: no Redis
  fleet::FleetBudgetStore store(node);
  Tree t;
  t.root_limits.max_actions = 2;
  Charge action{1, 0, 0};
  auto e = store.try_spend(t.chain(0), action);
  REQUIRE(e);
  CHECK(e->lease_short);  // no lease yet: the caller takes one
  CHECK(e->limit == 2);
  CHECK(store.use("root")->subtree.actions == 0);  // nothing spent
  // Redis out of reach with on_store_unavailable: local: this node's counters against the limit.
  CHECK_FALSE(store.spend_locally(t.chain(0), action));
  CHECK_FALSE(store.spend_locally(t.chain(0), action));
  e = store.spend_locally(t.chain(0), action);
  REQUIRE(e);
  CHECK_FALSE(e->lease_short);
  CHECK(store.use("root")->subtree.actions == 2);
  // A scope under no budget spends without a lease.
  Tree free_tree;
  CHECK_FALSE(store.try_spend(free_tree.chain(0), action));
}
