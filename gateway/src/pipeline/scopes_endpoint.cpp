#include "pipeline/scopes_endpoint.hpp"

#include <simdjson.h>

#include <chrono>

#include "clock/unix_clock.hpp"
#include "config/grant_pattern.hpp"
#include "delegation/grants.hpp"
#include "delegation/stamp.hpp"
#include "http/request_id.hpp"
#include "json/strict.hpp"
#include "pipeline/delegate.hpp"
#include "pipeline/reply.hpp"
#include "pipeline/verification.hpp"
#include "runtime/services.hpp"

namespace scopegate::pipeline {

namespace asio = boost::asio;
using http::ErrorCode;
using http::Violation;

namespace {

constexpr std::uint64_t kMaxBody = 64 * 1024;
constexpr std::size_t kMaxPrincipal = 256;
constexpr std::int64_t kDefaultTtl = 900;

struct OpenRequest {
  std::string objective;
  std::optional<delegation::Grants> grants;
  std::optional<std::int64_t> ttl_s;
  std::string principal;
  std::string agent;
};

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

std::optional<OpenRequest> parse(const std::string& body, std::string& why) {
  namespace dom = simdjson::dom;
  thread_local dom::parser parser;
  auto object = json::parse_strict_object(parser, body, why);
  if (!object) return std::nullopt;
  OpenRequest out;
  for (auto field : *object) {
    std::string_view key = field.key;
    std::string_view text;
    if (key == "objective" || key == "principal" || key == "agent") {
      if (field.value.get_string().get(text)) {
        why = std::string(key) + " must be a string";
        return std::nullopt;
      }
      if (key == "objective") out.objective = delegation::cut_utf8(text, delegation::kMaxObjectiveBytes);
      else if (key == "principal") out.principal = text;
      else out.agent = text;
    } else if (key == "ttl_s") {
      std::int64_t ttl = 0;
      if (field.value.get_int64().get(ttl) || ttl <= 0) {
        why = "ttl_s must be a positive integer";
        return std::nullopt;
      }
      out.ttl_s = ttl;
    } else if (key == "grants") {
      dom::array list;
      if (field.value.get_array().get(list)) {
        why = "grants must be a list of grant patterns";
        return std::nullopt;
      }
      out.grants.emplace();
      for (auto item : list) {
        if (item.get_string().get(text) || !config::is_valid_grant_pattern(text)) {
          why = "grants must be a list of grant patterns (an action, or a prefix ending in *)";
          return std::nullopt;
        }
        out.grants->emplace_back(text);
      }
    } else {
      why = "unknown field '" + std::string(key) + "' (expected objective, grants, ttl_s, principal, agent)";
      return std::nullopt;
    }
  }
  return out;
}

struct Opened {
  delegation::ScopeRecord scope;
  std::string token;
};

// Checks the request against the caller's rights and mints the scope (recorded and reported as
// opened); a violation otherwise.
std::variant<Opened, Violation> open_scope(RequestContext& x, OpenRequest& r) {
  const auto& settings = x.snapshot.config.token;
  const config::Agent& caller = *x.agent;
  auto max_ttl = std::chrono::duration_cast<std::chrono::seconds>(settings.max_ttl).count();
  std::int64_t ttl = r.ttl_s.value_or(kDefaultTtl);
  if (ttl > max_ttl) {
    return Violation{ErrorCode::bad_request, "ttl_s over token.max_ttl (" + std::to_string(max_ttl) + " s)"};
  }

  if (x.token) {
    // A child, delegated by the caller to `agent` (or a narrower scope for itself).
    const auto& parent = *x.token;
    std::string target_id = r.agent.empty() ? caller.id : r.agent;
    const config::Agent* target = x.snapshot.agents.by_id(target_id);
    if (!target) return Violation{ErrorCode::bad_request, "no agent with id '" + target_id + "'"};
    if (target != &caller && !parent.allows("agent:" + target->id)) {
      return Violation{ErrorCode::grant_exceeded, "the scope does not grant agent:" + target->id};
    }
    if (!r.principal.empty() && r.principal != parent.root().sub) {
      return Violation{ErrorCode::bad_request, "a child scope keeps its root's principal"};
    }
    auto child = open_child_scope(x, *target, target->grants, r.grants, r.objective, ttl);
    if (auto* v = std::get_if<Violation>(&child)) return *v;
    auto& c = std::get<ChildScope>(child);
    return Opened{std::move(c.record), std::move(c.token)};
  }

  // A root.
  if (!caller.may_open_root) {
    return Violation{ErrorCode::policy_denied, "agent " + caller.id + " may not open root scopes"};
  }
  if (!r.agent.empty() && r.agent != caller.id) {
    return Violation{ErrorCode::bad_request, "a root scope is opened by the agent that acts in it: omit agent"};
  }
  if (r.principal.empty() || r.principal.size() > kMaxPrincipal || !printable(r.principal)) {
    return Violation{ErrorCode::bad_request, "a root scope needs a principal (printable, at most 256 bytes)"};
  }
  std::string sid = http::make_uuid_v7();
  delegation::RootMint in{x.snapshot.keyring, settings, caller, r.principal, r.grants, r.objective, ttl,
                          clock::unix_now(), sid};
  auto minted = delegation::mint_root_scope(in);
  if (auto* refused = std::get_if<delegation::MintRefusal>(&minted)) {
    return Violation{refused->code, std::move(refused->message)};
  }
  auto& root = std::get<delegation::MintedScope>(minted);
  Opened out{std::move(root.record), std::move(root.token)};
  const auto& s = out.scope;
  x.worker.app().scopes().open(s);
  x.worker.app().sink().scope_opened(s, audit::Opening::minted, x.request_id);
  return out;
}

}  // namespace

asio::awaitable<bool> serve_open_scope(RequestContext& x) {
  if (x.method != bhttp::verb::post) {
    co_return co_await reply_error(x, ErrorCode::method_not_allowed, "opening a scope is a mutation: use POST");
  }
  if (!x.agent) {
    const auto& listener = x.snapshot.config.listeners[x.info.listener];
    std::string why = "opening a scope needs an agent credential (" + listener.credential_header + ")";
    co_return co_await reply_error(x, ErrorCode::unauthenticated, why);
  }
  if (auto v = verify_scope(x); !v.proceeds()) co_return co_await refuse(x, v);
  if (auto v = co_await read_whole_body(x, kMaxBody); !v.proceeds()) co_return co_await refuse(x, v);
  std::string why;
  auto request = parse(x.body, why);
  if (!request) co_return co_await reply_error(x, ErrorCode::bad_request, why);
  auto opened = open_scope(x, *request);
  if (auto* v = std::get_if<Violation>(&opened)) co_return co_await reply_violation(x, *v);
  auto& [scope, token] = std::get<Opened>(opened);
  x.child = scope;
  std::string body = R"({"scope":)";
  delegation::append_scope_json(body, scope);
  body += R"(,"token":")";
  body += token;  // base64url and dots: nothing to escape
  body += "\"}\n";
  co_return co_await reply_json(x, 201, std::move(body));
}

}  // namespace scopegate::pipeline
