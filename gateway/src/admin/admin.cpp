#include "admin/admin.hpp"

#include <openssl/crypto.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "audit/query.hpp"
#include "audit/query_output.hpp"
#include "clock/unix_clock.hpp"
#include "delegation/revocation_file.hpp"
#include "http/errors.hpp"
#include "http/linger.hpp"
#include "http/request_id.hpp"
#include "http/use_tuple.hpp"
#include "json/write.hpp"
#include "llm/usage.hpp"
#include "log/log.hpp"
#include "metrics/exposition.hpp"
#include "policy/policy.hpp"
#include "runtime/gateway_metrics.hpp"

namespace scopegate::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using Response = bhttp::response<bhttp::string_body>;

namespace {
using http::use_tuple;

Response json(unsigned status, std::string body) {
  Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = std::move(body);
  return res;
}

Response error(http::ErrorCode code, std::string_view message) {
  return json(http::status_of(code), http::error_body(code, {message, http::make_uuid_v7(), "", ""}));
}

bool authorized(const Control& app, const bhttp::request<bhttp::string_body>& req) {
  const std::string& token = app.snapshot()->config.admin.token;
  if (token.empty()) return false;
  auto header = req[bhttp::field::authorization];
  constexpr std::string_view kBearer = "Bearer ";
  if (!header.starts_with(kBearer)) return false;
  auto presented = header.substr(kBearer.size());
  return presented.size() == token.size() && CRYPTO_memcmp(presented.data(), token.data(), token.size()) == 0;
}

constexpr std::string_view kScopesPrefix = "/v1/scopes/";

// {"max_actions":N|null,...}: a limit not set is null (unlimited).
void append_limits(std::string& out, const config::BudgetLimits& l) {
  auto value = [](const std::optional<std::uint64_t>& v) { return v ? std::to_string(*v) : std::string("null"); };
  out += R"({"max_actions":)" + value(l.max_actions) + R"(,"max_delegations":)" + value(l.max_delegations) +
         R"(,"max_children":)" + value(l.max_children) + R"(,"max_bytes_out":)" + value(l.max_bytes_out) +
         R"(,"max_tokens":)" + value(l.max_tokens) + R"(,"max_cost":)" +
         (l.max_cost ? llm::format_cost(*l.max_cost) : std::string("null")) + "}";
}

void append_usage(std::string& out, const guard::Usage& u) {
  out += R"({"actions":)" + std::to_string(u.actions) + R"(,"delegations":)" + std::to_string(u.delegations) +
         R"(,"bytes_out":)" + std::to_string(u.bytes_out) + R"(,"tokens":)" + std::to_string(u.tokens) +
         R"(,"cost":)" + llm::format_cost(u.cost) + "}";
}

// GET /v1/scopes/{id}/budget (docs/policies.md, "Budgets"): the scope's limits (by the agent acting
// in it) and what it and its subtree spent. A scope this node has neither counters nor a record
// for is 404, never a budget of zeros.
Response budget(Control& app, std::string_view id) {
  auto use = app.budgets().use(id);
  auto view = app.scopes().find(id);
  if (!use && !view) return error(http::ErrorCode::no_route, "this node has no budget counters for scope " + std::string(id));
  guard::ScopeUse u = use.value_or(guard::ScopeUse{});
  std::string body = R"({"scope":)";
  json::append_string(body, id);
  // The limits are those of the agent acting in it; unknown (null) when only its counters survived
  // a restart and no request of it has been seen since.
  if (view) json::append_field(body, "agent", view->record.actor);
  json::append_key(body, "limits");
  if (view) append_limits(body, app.snapshot()->config.budgets.for_agent(view->record.actor));
  else body += "null";
  json::append_key(body, "use");
  body += R"({"own":)";
  append_usage(body, u.own);
  body += R"(,"subtree":)";
  append_usage(body, u.subtree);
  json::append_int(body, "children", static_cast<std::int64_t>(u.children));
  body += "}}\n";
  return json(200, std::move(body));
}

// One breaker's state and counts, after the members that say whose it is.
void append_breaker_state(std::string& body, const breaker::Breaker& b, const breaker::Settings& settings,
                          std::int64_t now) {
  auto state = b.state();
  auto [requests, failures] = b.window_counts(settings, now);
  json::append_field(body, "state", breaker::to_string(state));
  json::append_int(body, "consecutive_failures", b.consecutive_failures());
  json::append_int(body, "window_requests", requests);
  json::append_int(body, "window_failures", failures);
  json::append_int(body, "trips", b.trips());
  // While open: how long until a probe may go.
  std::int64_t left = state == breaker::State::open ? std::max<std::int64_t>(0, b.open_until_ns() - now) : 0;
  json::append_int(body, "next_probe_in_ms", left / 1'000'000);
}

// GET /v1/breakers (docs/resilience.md): every endpoint's breaker with its state and counts, every
// endpoint of every route with its weight and requests in flight (and, where the route has health
// checks, the latest one's result), and every route's concurrency limit with the requests in flight
// and waiting.
std::string breakers_json(const runtime::Snapshot& snapshot) {
  auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::steady_clock::now().time_since_epoch()).count();
  std::string body = R"({"breakers":[)";
  bool first = true;
  for (std::size_t i = 0; i < snapshot.config.routes.size(); ++i) {
    const auto& route_upstreams = snapshot.upstreams[i];
    const auto& route = snapshot.config.routes[i];
    const auto& settings = snapshot.breaker_settings[i];
    for (const auto& endpoint : route_upstreams.endpoints) {
      if (!route_upstreams.has_breaker) break;
      body += first ? "{" : ",{";
      first = false;
      body += R"("route":)";
      json::append_string(body, route.name);
      json::append_field(body, "endpoint", endpoint.label);
      json::append_field(body, "url", endpoint.upstream->url);
      append_breaker_state(body, endpoint.state->breaker, settings, now);
      body += '}';
    }
    // Breakers per tool (mcp routes with per: tool): `tool` instead of `endpoint`.
    for (const auto& tool : route_upstreams.tool_breakers) {
      body += first ? "{" : ",{";
      first = false;
      body += R"("route":)";
      json::append_string(body, route.name);
      json::append_field(body, "tool", tool.tool.empty() ? std::string_view("other") : std::string_view(tool.tool));
      append_breaker_state(body, *tool.breaker, settings, now);
      body += '}';
    }
  }
  body += R"(],"endpoints":[)";
  first = true;
  for (std::size_t i = 0; i < snapshot.config.routes.size(); ++i) {
    const auto& route = snapshot.config.routes[i];
    const auto& route_upstreams = snapshot.upstreams[i];
    for (const auto& endpoint : route_upstreams.endpoints) {
      body += first ? "{" : ",{";
      first = false;
      body += R"("route":)";
      json::append_string(body, route.name);
      json::append_field(body, "endpoint", endpoint.label);
      json::append_field(body, "url", endpoint.upstream->url);
      json::append_int(body, "weight", endpoint.upstream->weight);
      json::append_int(body, "outstanding", endpoint.state->outstanding.load(std::memory_order_relaxed));
      bool ejected = route_upstreams.has_breaker && endpoint.state->breaker.state() != breaker::State::closed;
      json::append_key(body, "ejected");
      body += ejected ? "true" : "false";
      if (route.health_check) {
        // The latest active health check (docs/resilience.md, "Health checks"); none yet: unknown, null.
        auto health = endpoint.state->health.load(std::memory_order_relaxed);
        std::int64_t checked = endpoint.state->checked_at_ns.load(std::memory_order_relaxed);
        json::append_field(body, "health", runtime::to_string(health));
        if (checked == 0) {
          json::append_key(body, "checked_ms_ago");
          body += "null";
        } else {
          json::append_int(body, "checked_ms_ago", std::max<std::int64_t>(0, now - checked) / 1'000'000);
        }
      }
      body += '}';
    }
  }
  body += ']';
  // Beside the breakers, every route's concurrency limit and its use now (null: no limit).
  json::append_key(body, "limits");
  body += '[';
  first = true;
  for (std::size_t i = 0; i < snapshot.config.routes.size(); ++i) {
    const auto* limiter = i < snapshot.limiters.size() ? snapshot.limiters[i].get() : nullptr;
    if (!limiter) continue;
    const auto& route = snapshot.config.routes[i];
    auto limits = limiter->limits();
    body += first ? "{" : ",{";
    first = false;
    body += R"("route":)";
    json::append_string(body, route.name);
    if (limits.max_inflight == breaker::ConcurrencyLimits::kUnlimited) {
      json::append_key(body, "max_inflight");
      body += "null";
    } else {
      json::append_int(body, "max_inflight", limits.max_inflight);
    }
    json::append_int(body, "max_pending", limits.max_pending);
    if (route.concurrency) {
      json::append_int(body, "pending_timeout_ms", route.concurrency->pending_timeout.count());
    } else {
      json::append_key(body, "pending_timeout_ms");
      body += "null";
    }
    json::append_int(body, "inflight", limiter->inflight());
    json::append_int(body, "pending", limiter->pending());
    body += '}';
  }
  body += "]}\n";
  return body;
}

// GET /v1/scopes/{id} (the record and its children); revoke() below answers POST .../revoke.
Response scopes(Control& app, const bhttp::request<bhttp::string_body>& req, std::string_view rest) {
  bool get = req.method() == bhttp::verb::get || req.method() == bhttp::verb::head;
  constexpr std::string_view kBudget = "/budget";
  if (rest.ends_with(kBudget)) {
    std::string_view id = rest.substr(0, rest.size() - kBudget.size());
    if (!http::is_uuid(id)) return error(http::ErrorCode::no_route, "not a scope id");
    if (!get) return error(http::ErrorCode::method_not_allowed, "use GET");
    return budget(app, id);
  }
  if (!http::is_uuid(rest)) return error(http::ErrorCode::no_route, "no admin endpoint at this path");
  if (!get) return error(http::ErrorCode::method_not_allowed, "use GET");
  auto view = app.scopes().find(rest);
  if (!view) return error(http::ErrorCode::no_route, "this node has not seen scope " + std::string(rest));
  std::string body = R"({"scope":)";
  delegation::append_scope_json(body, view->record);
  body += R"(,"revoked":)";
  body += view->revoked ? "true" : "false";
  body += R"(,"children":[)";
  for (std::size_t i = 0; i < view->children.size(); ++i) {
    if (i) body += ',';
    delegation::append_scope_json(body, view->children[i]);
  }
  body += "]}\n";
  return json(200, std::move(body));
}

// GET /metrics (docs/protocol.md §8): the text format 0.0.4, or OpenMetrics when the scraper's
// Accept prefers it. Rendered here, on the control thread: the workers only ever touch atomics.
Response metrics_page(Control& app, const bhttp::request<bhttp::string_body>& req) {
  runtime::sample_before_scrape(app);
  auto format = metrics::negotiate(req[bhttp::field::accept]);
  Response res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, metrics::content_type(format));
  metrics::render(runtime::GatewayMetrics::instance().registry(), format, res.body());
  return res;
}

// GET /v1/policies: the running snapshot's policy set, its files with their SHA-256 and its rules
// in file order with their hits since the set was loaded. No policies: the stage allows everything.
std::string policies_json(const policy::PolicySet* set) {
  std::string body = R"({"default":)";
  scopegate::json::append_string(body, !set || set->default_allow() ? "allow" : "deny");
  body += R"(,"files":[)";
  if (set) {
    bool first = true;
    for (const auto& f : set->files()) {
      body += first ? R"({"path":)" : R"(,{"path":)";
      scopegate::json::append_string(body, f.path);
      scopegate::json::append_field(body, "sha256", f.sha256_hex);
      scopegate::json::append_int(body, "rules", static_cast<std::int64_t>(f.rules));
      body += '}';
      first = false;
    }
  }
  body += R"(],"rules":[)";
  if (set) {
    bool first = true;
    for (const auto& r : set->rules()) {
      body += first ? R"({"id":)" : R"(,{"id":)";
      scopegate::json::append_string(body, r.id);
      scopegate::json::append_field(body, "location", r.location);
      scopegate::json::append_field(body, "effect", r.forbid ? "forbid" : "permit");
      scopegate::json::append_field(body, "mode", r.shadow ? "shadow" : "enforce");
      scopegate::json::append_int(body, "hits", static_cast<std::int64_t>(r.hits));
      body += '}';
      first = false;
    }
  }
  return body + "]}\n";
}

// One route table for the admin endpoints: path, whether it mutates, handler.
Response handle(Control& app, const bhttp::request<bhttp::string_body>& req) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  bool get = req.method() == bhttp::verb::get || req.method() == bhttp::verb::head;
  bool post = req.method() == bhttp::verb::post;

  if (path == "/healthz") {
    if (!get) return error(http::ErrorCode::method_not_allowed, "use GET");
    return json(200, R"({"status":"ok"})" "\n");
  }
  if (path == "/readyz") {
    if (!get) return error(http::ErrorCode::method_not_allowed, "use GET");
    if (app.draining()) return json(503, R"({"status":"draining"})" "\n");
    if (auto* writer = app.audit_writer(); writer && !writer->accepting()) {
      std::string body = R"({"status":"audit_unavailable","reason":)";
      scopegate::json::append_string(body, writer->unavailable_reason());
      return json(503, body + "}\n");
    }
    // Fleet mode (docs/fleet.md): not ready before the fleet's revocations were loaded once; after
    // that a node out of touch with Redis still serves under the on_store_unavailable settings, and
    // says so here.
    if (auto* fleet = app.fleet()) {
      bool up = fleet->connected() && fleet->in_sync();
      std::string store = R"(,"fleet":{"store":)";
      store += up ? R"("up")" : R"("down")";
      if (!up) {
        store += R"(,"reason":)";
        scopegate::json::append_string(store, fleet->trouble());
      }
      store += "}";
      if (!fleet->synced_once()) return json(503, R"({"status":"fleet_unavailable")" + store + "}\n");
      return json(200, R"({"status":"ready")" + store + "}\n");
    }
    return json(200, R"({"status":"ready"})" "\n");
  }
  if (path == "/metrics") {
    if (!get) return error(http::ErrorCode::method_not_allowed, "use GET");
    return metrics_page(app, req);
  }
  if (path.starts_with(kScopesPrefix)) return scopes(app, req, path.substr(kScopesPrefix.size()));
  if (path == "/v1/breakers") {
    if (!get) return error(http::ErrorCode::method_not_allowed, "use GET");
    return json(200, breakers_json(*app.snapshot()));
  }
  if (path == "/v1/policies") {
    if (!get) return error(http::ErrorCode::method_not_allowed, "use GET");
    auto snapshot = app.snapshot();  // held while its policy set is read
    return json(200, policies_json(snapshot->policies.get()));
  }
  // Plans (docs/plans.md): every plan this node holds, or one, whatever its scope.
  if (path == "/v1/plans" || path.starts_with("/v1/plans/")) {
    if (!get) return error(http::ErrorCode::method_not_allowed, "use GET");
    if (path == "/v1/plans") return json(200, app.plans().list());
    auto view = app.plans().view(path.substr(10), {});
    if (!view) return error(http::ErrorCode::no_route, "no plan with that id on this node");
    return json(200, std::move(*view) + "\n");
  }
  if (path == "/v1/reload") {
    if (!post) return error(http::ErrorCode::method_not_allowed, "reload is a mutation: use POST");
    if (!authorized(app, req)) {
      return error(http::ErrorCode::unauthenticated, "the admin bearer token is missing or wrong");
    }
    auto outcome = app.reload();
    if (!outcome.ok) return error(http::ErrorCode::bad_request, "config rejected, still running the previous one: " +
                                                                    outcome.message);
    std::string body = R"({"status":"reloaded","generation":)" + std::to_string(app.generation()) + "}\n";
    return json(200, body);
  }
  return error(http::ErrorCode::no_route, "no admin endpoint at this path");
}

// The scope id of /v1/scopes/{id}<suffix>, when the target is that and the id a UUID.
std::optional<std::string> scope_target(const bhttp::request<bhttp::string_body>& req, std::string_view suffix) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  if (!path.starts_with(kScopesPrefix) || !path.ends_with(suffix)) return std::nullopt;
  std::string_view id = path.substr(kScopesPrefix.size(), path.size() - kScopesPrefix.size() - suffix.size());
  if (!http::is_uuid(id)) return std::nullopt;
  return std::string(id);
}

// POST /v1/scopes/{id}/revoke: the scope and every descendant this node knows, at once here; kept in
// the revocations file when one is configured, and shared with the fleet in fleet mode.
std::optional<std::string> revoke_target(const bhttp::request<bhttp::string_body>& req) {
  return scope_target(req, "/revoke");
}

asio::awaitable<Response> revoke(Control& app, const bhttp::request<bhttp::string_body>& req, std::string id) {
  if (req.method() != bhttp::verb::post) co_return error(http::ErrorCode::method_not_allowed, "revoking is a mutation: use POST");
  if (!authorized(app, req)) co_return error(http::ErrorCode::unauthenticated, "the admin bearer token is missing or wrong");
  std::int64_t now = clock::unix_now();
  auto max_ttl = std::chrono::duration_cast<std::chrono::seconds>(app.snapshot()->config.token.max_ttl);
  auto view = app.scopes().find(id);
  bool known = view.has_value();
  // An id this node never saw is revoked too (another node or `token mint` may have made it),
  // and remembered for token.max_ttl, the longest any POST /v1/scopes token can live.
  auto revoked = app.scopes().revoke(id, now + max_ttl.count());
  std::vector<std::string> ids;
  for (const auto& r : revoked) ids.push_back(r.id);
  app.sink().scope_revoked(known ? &view->record : nullptr, id, ids, "admin");
  std::string body = R"({"scope":")" + std::string(id) + R"(","known":)" + (known ? "true" : "false") +
                     R"(,"revoked":[)";
  for (std::size_t i = 0; i < ids.size(); ++i) body += (i ? ",\"" : "\"") + ids[i] + "\"";
  body += "]";
  // Kept across restarts when a file is configured. The revocation holds in memory either way;
  // a failed write is reported, never hidden.
  const std::string& file = app.snapshot()->config.token.revocations_file;
  if (!file.empty()) {
    std::string error;
    bool persisted = revoked.empty() || delegation::append_revocations(file, revoked, error);
    if (!persisted) log::error("revocation not persisted", {{"scope", std::string(id)}, {"error", error}});
    body += persisted ? R"(,"persisted":true)" : R"(,"persisted":false)";
  }
  // Fleet mode (docs/fleet.md): written to the fleet's set and published to every node; one that
  // cannot be written now is kept and written when Redis is back ("pending").
  // A scope revoked here before (its revocation perhaps still pending) is published again: the same
  // revocation twice changes nothing anywhere.
  if (auto* fleet = app.fleet()) {
    std::vector<std::pair<std::string, std::int64_t>> shared;
    for (const auto& r : revoked) shared.emplace_back(r.id, r.until);
    if (shared.empty()) shared.emplace_back(id, now + max_ttl.count());
    bool published = co_await fleet->publish_revocations(std::move(shared));
    body += published ? R"(,"fleet":"published")" : R"(,"fleet":"pending")";
  }
  body += "}\n";
  co_return json(200, std::move(body));
}

// GET /v1/scopes/{id}/footprint[?descendants=false]: the footprint query over this node's audit
// directory, run on the query thread so the control thread (signals, reloads) never waits on it.
std::optional<std::string> footprint_target(const bhttp::request<bhttp::string_body>& req) {
  return scope_target(req, "/footprint");
}

asio::awaitable<Response> footprint(Control& app, const bhttp::request<bhttp::string_body>& req, std::string id) {
  if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head) {
    co_return error(http::ErrorCode::method_not_allowed, "use GET");
  }
  auto* writer = app.audit_writer();
  if (!writer) co_return error(http::ErrorCode::no_route, "no audit log is configured (audit.dir)");
  audit::QueryOptions options;
  options.dirs = {writer->dir()};
  options.scope = std::move(id);
  std::string_view target = req.target();
  auto query = target.find('?') == std::string_view::npos ? std::string_view{} : target.substr(target.find('?') + 1);
  if (query == "descendants=false") options.descendants = false;
  else if (!query.empty() && query != "descendants=true") {
    co_return error(http::ErrorCode::bad_request, "the only parameter is descendants=true|false");
  }
  auto home = co_await asio::this_coro::executor;
  co_await asio::post(app.query_pool(), asio::use_awaitable);
  auto result = audit::run_query(audit::QueryKind::footprint, options);
  std::string body = result.error.empty() ? audit::footprint_json(options, result) : std::string();
  co_await asio::post(home, asio::use_awaitable);
  if (!result.error.empty()) co_return error(http::ErrorCode::audit_unavailable, "cannot read the audit log: " + result.error);
  // As `scopegate query`: an id the log never mentions is not an empty footprint.
  if (result.matched == 0) {
    co_return error(http::ErrorCode::no_route, "scope " + options.scope + " is not in this node's audit log");
  }
  co_return json(200, std::move(body));
}

constexpr std::uint32_t kHeaderLimit = 16 * 1024;
constexpr std::uint64_t kBodyLimit = 64 * 1024;

// The JSON error for a request that could not be read (docs/protocol.md §5), or nullopt when there is
// nobody to answer: the client left, or never sent a byte before the deadline.
std::optional<Response> unreadable(const boost::system::error_code& ec, bool started) {
  if (ec == bhttp::error::header_limit) {
    return error(http::ErrorCode::headers_too_large, "request header over 16 KiB");
  }
  if (ec == bhttp::error::body_limit) return error(http::ErrorCode::payload_too_large, "request body over 64 KiB");
  if (ec == beast::error::timeout) {
    if (!started) return std::nullopt;
    return error(http::ErrorCode::request_timeout, "the request did not arrive in time");
  }
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
    return std::nullopt;
  }
  return error(http::ErrorCode::bad_request, "malformed request: " + ec.message());
}

asio::awaitable<void> session(Control& app, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  bool linger = false;
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(kBodyLimit);
    stream.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, use_tuple);
    if (ec) {
      // Answered, then closed: after a bad request the byte stream cannot be trusted any more.
      auto refusal = unreadable(ec, parser.got_some() || buffer.size() > 0);
      if (refusal) {
        refusal->keep_alive(false);
        refusal->prepare_payload();
        stream.expires_after(std::chrono::seconds(10));
        auto [wec, wn] = co_await bhttp::async_write(stream, *refusal, use_tuple);
        linger = !wec;
      }
      break;
    }
    auto& req = parser.get();
    Response res;
    if (auto id = footprint_target(req)) res = co_await footprint(app, req, std::move(*id));
    else if (auto rid = revoke_target(req)) res = co_await revoke(app, req, std::move(*rid));
    else res = handle(app, req);
    bool keep = req.keep_alive() && !app.draining();
    res.keep_alive(keep);
    res.prepare_payload();
    beast::error_code wec;
    if (req.method() == bhttp::verb::head) {
      // The GET's header, Content-Length included, and no body (RFC 9110 §9.3.2): a body here
      // would be read as the start of the next response on a kept-alive connection.
      bhttp::response<bhttp::empty_body> head{std::move(res.base())};
      std::tie(wec, std::ignore) = co_await bhttp::async_write(stream, head, use_tuple);
    } else {
      std::tie(wec, std::ignore) = co_await bhttp::async_write(stream, res, use_tuple);
    }
    if (wec || !keep) break;
  }
  if (linger) {
    // The rest of the bad request may still be arriving: read and dropped for a while, so the
    // error is not lost to a reset (http/linger.hpp).
    stream.expires_never();
    auto limit = app.snapshot()->config.timeouts.lingering_close;
    co_await http::lingering_close(stream.socket(), limit);
    co_return;
  }
  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}
}  // namespace

asio::awaitable<void> serve(Control& app, tcp::acceptor& acceptor) {
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec) {
      if (!acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
      continue;
    }
    asio::co_spawn(acceptor.get_executor(), session(app, std::move(socket)), asio::detached);
  }
}

}  // namespace scopegate::admin

