// The pure stages, table-driven: what the protocol of a route allows, how a request is classified,
// what the grant check says without a scope; and what a refusal looks like on the wire (refuse()).
#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <optional>
#include <string>

#include "app/app.hpp"
#include "runtime/snapshot.hpp"
#include "runtime/worker.hpp"
#include "config/loader.hpp"
#include "pipeline/authentication.hpp"
#include "pipeline/classification.hpp"
#include "pipeline/reply.hpp"
#include "pipeline/verification.hpp"
#include "protocol/jsonrpc.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;
using scopegate::http::ErrorCode;
using scopegate::pipeline::AfterRefusal;
using scopegate::pipeline::RequestContext;
using scopegate::pipeline::Verdict;

constexpr const char* kConfig = R"(listeners:
  - port: 0
routes:
  - name: search
    access: open
    match: { path_prefix: /tools/search }
    upstream: http://127.0.0.1:9
  - name: files
    kind: mcp
    access: open
    match: { path_prefix: /mcp }
    upstream: http://127.0.0.1:9
  - name: researcher
    kind: agent
    target_agent: researcher
    match: { path_prefix: /agents/researcher }
    upstream: http://127.0.0.1:9
agents:
  - id: researcher
    certificate_subject: "CN=researcher"
token: { keys: [ { kid: k1, secret_env: SG_STAGES_TEST_KEY } ] }
)";

// One request's context over a real (unconnected) socket, as the stages see it.
struct Fixture {
  Fixture() {
    auto env = [](const std::string& name) -> std::optional<std::string> {
      if (name == "SG_STAGES_TEST_KEY") return std::string(64, 'a');
      return std::nullopt;
    };
    auto loaded = scopegate::config::load_string(kConfig, "stages_test.yaml", env);
    REQUIRE(loaded.errors.empty());
    snapshot = scopegate::app::build_snapshot(std::move(*loaded.config), loaded.errors);
    REQUIRE(snapshot);
    app.emplace("stages_test.yaml", snapshot);
    worker.emplace(*app);
  }

  const scopegate::config::Route& route(std::string_view name) {
    for (const auto& r : snapshot->config.routes) {
      if (r.name == name) return r;
    }
    FAIL("no route " << name);
    return snapshot->config.routes.front();
  }

  // A context whose header is parsed from `head` (facts taken as run_stages takes them).
  RequestContext& request(std::string_view head, std::string_view route_name, tcp::socket socket) {
    client.emplace(std::move(socket));
    x.emplace(*worker, *snapshot, *client, buffer, info, handle);
    boost::system::error_code ec;
    x->parser.put(asio::buffer(head.data(), head.size()), ec);
    REQUIRE_FALSE(ec);
    auto& req = x->parser.get();
    x->method = req.method();
    x->version = req.version();
    x->client_keep_alive = req.keep_alive();
    if (auto cl = x->parser.content_length()) x->content_length = *cl;
    x->has_body = x->parser.chunked() || (x->content_length && *x->content_length > 0);
    x->body_consumed = !x->has_body;
    x->request_id = "0190b5d6-1c3a-7def-8abc-0123456789ab";
    scopegate::pipeline::scan_inbound_headers(*x);
    x->route = &route(route_name);
    return *x;
  }
  RequestContext& request(std::string_view head, std::string_view route_name) {
    return request(head, route_name, tcp::socket(io));
  }

  asio::io_context io;
  std::shared_ptr<const scopegate::runtime::Snapshot> snapshot;
  std::optional<scopegate::app::App> app;
  std::optional<scopegate::runtime::Worker> worker;
  std::optional<scopegate::http::AnyStream> client;
  beast::flat_buffer buffer;
  scopegate::pipeline::ClientInfo info;
  scopegate::runtime::SessionHandle handle;
  std::optional<RequestContext> x;
};

std::optional<ErrorCode> refusal_code(const Verdict& v) {
  if (v.proceeds()) return std::nullopt;
  return v.refusal().code;
}

}  // namespace

TEST_CASE("verdict: a violation refuses and keeps a clean connection, close and hang_up do not") {
  Verdict next = Verdict::next();
  CHECK(next.proceeds());
  Verdict none = std::nullopt;
  CHECK(none.proceeds());
  Verdict violation = scopegate::http::Violation{ErrorCode::grant_exceeded, "no"};
  REQUIRE_FALSE(violation.proceeds());
  CHECK(violation.refusal().code == ErrorCode::grant_exceeded);
  CHECK(violation.refusal().after == AfterRefusal::keep_if_clean);
  CHECK_FALSE(violation.refusal().silent);
  Verdict closing = Verdict::close({ErrorCode::bad_request, "framing"});
  CHECK(closing.refusal().after == AfterRefusal::close);
  Verdict gone = Verdict::hang_up();
  CHECK(gone.refusal().silent);
  CHECK(gone.refusal().after == AfterRefusal::close);
}

TEST_CASE("check_protocol_method: what MCP, A2A and plain routes accept") {
  struct Case {
    const char* route;
    const char* head;
    std::optional<ErrorCode> refused;
  };
  const Case cases[] = {
      {"files", "POST /mcp HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n", std::nullopt},
      {"files", "GET /mcp HTTP/1.1\r\nHost: h\r\n\r\n", std::nullopt},
      {"files", "DELETE /mcp HTTP/1.1\r\nHost: h\r\n\r\n", std::nullopt},
      {"files", "GET /mcp HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n", ErrorCode::bad_request},
      {"files", "PUT /mcp HTTP/1.1\r\nHost: h\r\n\r\n", ErrorCode::method_not_allowed},
      {"files", "PATCH /mcp HTTP/1.1\r\nHost: h\r\n\r\n", ErrorCode::method_not_allowed},
      {"search", "PUT /tools/search HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n", std::nullopt},
      {"researcher", "PATCH /agents/researcher HTTP/1.1\r\nHost: h\r\n\r\n", std::nullopt},
  };
  for (const auto& c : cases) {
    CAPTURE(c.route);
    CAPTURE(c.head);
    Fixture f;
    auto& x = f.request(c.head, c.route);
    CHECK(refusal_code(scopegate::pipeline::check_protocol_method(x)) == c.refused);
  }
}

TEST_CASE("classify_action: the action a request is checked for") {
  struct Case {
    const char* route;
    const char* head;
    const char* body;  // buffered, as read_whole_body leaves it; "" for none
    std::optional<ErrorCode> refused;
    const char* action;
    const char* operation;
    bool delegates;
  };
  const Case cases[] = {
      {"search", "GET /tools/search HTTP/1.1\r\nHost: h\r\n\r\n", "", std::nullopt, "tool:search", "execute_tool",
       false},
      {"researcher", "POST /agents/researcher HTTP/1.1\r\nHost: h\r\n\r\n", "", std::nullopt, "agent:researcher",
       "invoke_agent", true},
      {"files", "POST /mcp HTTP/1.1\r\nHost: h\r\n\r\n",
       R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"grep","arguments":{}}})", std::nullopt,
       "tool:grep", "execute_tool", false},
      {"files", "GET /mcp HTTP/1.1\r\nHost: h\r\n\r\n", "", std::nullopt, "", "http", false},
      {"search", "GET /tools/search HTTP/1.1\r\nHost: h\r\nDelegation-Objective: %FF\r\n\r\n", "",
       ErrorCode::bad_request, "", "http", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.route);
    CAPTURE(c.head);
    Fixture f;
    auto& x = f.request(c.head, c.route);
    if (*c.body) {
      x.body = c.body;
      x.body.reserve(x.body.size() + scopegate::protocol::json_padding());
      x.body_buffered = true;
    }
    CHECK(refusal_code(scopegate::pipeline::classify_action(x)) == c.refused);
    CHECK(x.action == c.action);
    CHECK(x.operation == c.operation);
    CHECK(x.delegates == c.delegates);
  }
}

TEST_CASE("check_grants: housekeeping and unscoped requests are not checked") {
  Fixture f;
  auto& x = f.request("GET /mcp HTTP/1.1\r\nHost: h\r\n\r\n", "files");
  CHECK(scopegate::pipeline::check_grants(x).proceeds());  // no action (the SSE stream)
  x.action = "tool:grep";
  CHECK(scopegate::pipeline::check_grants(x).proceeds());  // an open route runs under no scope
}

TEST_CASE("refuse: a refusal's reply, and whether its connection is kept") {
  struct Case {
    Verdict verdict;
    const char* head;
    unsigned status;
    const char* code;
    bool keep;
  };
  const Case cases[] = {
      {Verdict::refuse(ErrorCode::grant_exceeded, "the scope does not grant tool:search"),
       "GET /tools/search HTTP/1.1\r\nHost: h\r\n\r\n", 403, "grant_exceeded", true},
      // The same refusal with a body left unread on the socket: the connection cannot be kept.
      {Verdict::refuse(ErrorCode::grant_exceeded, "the scope does not grant tool:search"),
       "POST /tools/search HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n", 403, "grant_exceeded", false},
      {Verdict::refuse(ErrorCode::payload_too_large, "over", AfterRefusal::close),
       "GET /tools/search HTTP/1.1\r\nHost: h\r\n\r\n", 413, "payload_too_large", false},
      {Verdict::refuse(ErrorCode::no_route, "no route matches this request"),
       "GET /tools/search HTTP/1.0\r\nHost: h\r\n\r\n", 404, "no_route", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.code);
    CAPTURE(c.head);
    Fixture f;
    tcp::acceptor acceptor(f.io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket agent(f.io);
    agent.connect(acceptor.local_endpoint());
    auto& x = f.request(c.head, "search", acceptor.accept());
    bool kept = true;
    bhttp::response<bhttp::string_body> response;
    asio::co_spawn(
        f.io,
        [&]() -> asio::awaitable<void> {
          kept = co_await scopegate::pipeline::refuse(x, c.verdict);
          beast::flat_buffer buffer;
          co_await bhttp::async_read(agent, buffer, response, asio::use_awaitable);
        },
        asio::detached);
    f.io.run_for(std::chrono::seconds(5));
    CHECK(kept == c.keep);
    CHECK(response.result_int() == c.status);
    CHECK(response.keep_alive() == c.keep);
    CHECK(response["Content-Type"] == "application/json");
    CHECK(response["X-Request-Id"] == "0190b5d6-1c3a-7def-8abc-0123456789ab");
    CHECK(response.body().find(std::string("\"") + c.code + "\"") != std::string::npos);
    CHECK(x.reason == c.verdict.refusal().code);
    CHECK(x.status == c.status);
    CHECK(x.ended);  // the end-of-request observers ran before the reply went out
  }
}
