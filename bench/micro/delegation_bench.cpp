// What the delegation stages add to one request, without the network: verifying a depth-4 token
// that carries a caveat, the revocation and first-seen checks, the grant check, and stamping the
// forwarded head. Target (issue 3): at most 5 µs per request on the 2-core machine.
#include <benchmark/benchmark.h>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <chrono>

#include "delegation/registry.hpp"
#include "delegation/stamp.hpp"
#include "delegation/token.hpp"
#include "delegation/token_cache.hpp"
#include "http/head.hpp"
#include "http/request_id.hpp"

namespace {

using namespace scopegate;
namespace bhttp = boost::beast::http;

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct Fixture {
  delegation::Keyring keys;
  std::string token;  // depth 4: root + 4 children, and a caveat at the end
  bhttp::request<bhttp::empty_body> request;

  Fixture() {
    delegation::Secret secret{};
    for (int i = 0; i < 32; ++i) secret[i] = static_cast<unsigned char>(i * 7);
    keys.keys["k1"] = secret;
    keys.signing_kid = "k1";
    std::int64_t now = now_s();
    delegation::ScopeBlock root{http::make_uuid_v7(), "", "planner", {"tool:*", "resource:*", "agent:*"},
                                "quarterly report for the board", now, now + 3600, "k1", "user:alice", "scopegate", ""};
    token = *delegation::mint_root(keys, root);
    const char* agents[] = {"researcher", "writer", "analyst", "summariser"};
    std::string parent = root.sid;
    for (const char* agent : agents) {
      auto verified = std::get<delegation::VerifiedToken>(delegation::verify(token, keys, {"scopegate", now, 30}));
      delegation::ScopeBlock child{http::make_uuid_v7(), parent, agent, {"tool:*", "agent:*"}, "find the Q3 figures",
                                   now, now + 1800, "", "", "", ""};
      token = *delegation::mint_child(keys, token, verified, child);
      parent = child.sid;
    }
    token = *delegation::attenuate(token, {std::vector<std::string>{"tool:search", "tool:fetch"}, now + 900});

    std::string raw =
        "POST /mcp HTTP/1.1\r\nHost: gw.example\r\nUser-Agent: agent-sdk/1.0\r\nAccept: application/json, "
        "text/event-stream\r\nContent-Type: application/json\r\nContent-Length: 96\r\nAuthorization: Bearer k\r\n"
        "Mcp-Session-Id: 3f0e\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
        "baggage: tenant=acme\r\nDelegation-Token: " + token + "\r\n\r\n";
    bhttp::request_parser<bhttp::empty_body> p;
    p.eager(false);
    p.header_limit(16 * 1024);
    boost::system::error_code ec;
    p.put(boost::asio::buffer(raw), ec);
    request = p.release();
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void BM_verify_depth4_token_with_caveat(benchmark::State& state) {
  auto& f = fixture();
  delegation::VerifyOptions options{"scopegate", now_s(), 30};
  for (auto _ : state) {
    auto result = delegation::verify(f.token, f.keys, options);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_verify_depth4_token_with_caveat);

// Everything the delegation stages do for an action on the request path, in order. With the
// worker's token cache (state.range(0) == 1) an agent's second call under the same token skips
// the MAC chain; without it (0) every call verifies from scratch.
void BM_verify_check_and_stamp(benchmark::State& state) {
  auto& f = fixture();
  bool cached = state.range(0) == 1;
  delegation::ScopeRegistry registry;
  delegation::TokenCache cache;
  delegation::VerifyOptions options{"scopegate", now_s(), 30};
  static constexpr std::string_view replaced[] = {"Authorization", "traceparent", "baggage"};
  std::string stamped, head;
  for (auto _ : state) {
    std::string_view text = f.request["Delegation-Token"];
    std::shared_ptr<const delegation::VerifiedToken> verified = cached ? cache.find(text, 1) : nullptr;
    if (!verified) {
      auto result = delegation::verify(text, f.keys, options);
      verified = std::make_shared<const delegation::VerifiedToken>(std::get<delegation::VerifiedToken>(std::move(result)));
      if (cached) cache.insert(text, 1, verified);
    }
    const auto& token = *verified;
    if (options.now > token.expires + options.skew_s) state.SkipWithError("expired");
    if (token.current().agt != "summariser" || registry.revoked_in(token)) state.SkipWithError("rejected");
    registry.observe(token);
    if (!token.allows("tool:search")) state.SkipWithError("not granted");
    stamped.clear();
    delegation::StampInput in;
    in.token = &token;
    in.actor = "summariser";
    in.inbound_traceparent = f.request["traceparent"];
    in.inbound_baggage = f.request["baggage"];
    auto trace = delegation::render_delegation_headers(in, stamped);
    http::UpstreamRequestHead plan;
    plan.target = "/mcp";
    plan.host = "127.0.0.1:9000";
    plan.client_host = "gw.example";
    plan.peer_address = "10.0.0.7";
    plan.proto = "http";
    plan.node = "gw-1";
    plan.request_id = "0193a6f0-0000-7000-8000-000000000001";
    plan.framing = http::Framing::content_length;
    plan.content_length = 96;
    plan.stamped = stamped;
    plan.replaced = replaced;
    head.clear();
    http::append_upstream_request_head(head, f.request.base(), plan);
    benchmark::DoNotOptimize(head.data());
    benchmark::DoNotOptimize(trace);
  }
}
BENCHMARK(BM_verify_check_and_stamp)->ArgName("cached")->Arg(0)->Arg(1);

// A delegation on top: the child scope minted for the target agent.
void BM_mint_child_scope(benchmark::State& state) {
  auto& f = fixture();
  auto verified = std::get<delegation::VerifiedToken>(delegation::verify(f.token, f.keys, {"scopegate", now_s(), 30}));
  for (auto _ : state) {
    delegation::ScopeBlock child{http::make_uuid_v7(), verified.current().sid, "helper", {"tool:search"},
                                 "look it up", now_s(), now_s() + 600, "", "", "", ""};
    auto token = delegation::mint_child(f.keys, f.token, verified, child);
    benchmark::DoNotOptimize(token);
  }
}
BENCHMARK(BM_mint_child_scope);

}  // namespace

BENCHMARK_MAIN();
