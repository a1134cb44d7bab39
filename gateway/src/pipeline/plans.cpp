#include "pipeline/plans.hpp"

#include <charconv>
#include <cmath>

#include "delegation/scope.hpp"
#include "http/request_id.hpp"
#include "pipeline/reply.hpp"
#include "pipeline/request_end.hpp"
#include "runtime/plan_reports.hpp"
#include "runtime/services.hpp"

namespace scopegate::pipeline {

namespace asio = boost::asio;
using http::ErrorCode;
using http::Violation;

namespace {

// The ids of the caller's scope and of its ancestors: the plans it may see and bind to.
std::size_t caller_scopes(const RequestContext& x, std::array<std::string_view, 16>& out) {
  std::size_t n = 0;
  for (const auto& s : x.token->scopes) {
    if (n == out.size()) break;
    out[n++] = s.sid;
  }
  return n;
}

// The agent a delegation hands its scope to: the route's target, or POST /v1/scopes's `agent`.
std::string_view delegation_target(const RequestContext& x) {
  if (x.route->kind == config::RouteKind::scopes) {
    return x.scope_request && !x.scope_request->agent.empty() ? std::string_view(x.scope_request->agent)
                                                               : std::string_view(x.agent->id);
  }
  return x.route->target_agent;
}

// A request whose answer is the A2A state of a task a carrying delegation left unfinished
// (GetTask, tasks/get, a resubscription): it follows that task.
void follow_a2a_task(RequestContext& x, plan::Registry& plans) {
  if (x.route->kind != config::RouteKind::a2a || x.delegates || x.task_id.empty()) return;
  auto followed = plans.a2a_task(x.task_id);
  if (!followed) return;
  x.plan_role = RequestContext::PlanRole::follows;
  x.plan_id = followed->first;
  x.plan_task = followed->second;
  x.plan_reads_answer = true;
}

}  // namespace

bool is_plans_endpoint(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  return path == kPlansPath || (path.starts_with(kPlansPath) && path[kPlansPath.size()] == '/');
}

Verdict check_plan(RequestContext& x) {
  const auto& in = x.inbound;
  if (in.tasks > 1) return Violation{ErrorCode::bad_request, "more than one Delegation-Task header"};
  bool opens_scope = x.route->kind == config::RouteKind::scopes && x.token;
  std::string_view named = in.task;
  if (opens_scope && x.scope_request && !x.scope_request->task.empty()) {
    if (!named.empty()) return Violation{ErrorCode::bad_request, "the task is named twice (header and body)"};
    named = x.scope_request->task;
  }
  bool delegation = x.delegates || opens_scope;
  // Only a delegation carries a task. Agent SDKs set headers per client, not per request, so the
  // header also arrives on an agent card's GET, a GetTask or a tool call: there it means nothing
  // and is dropped with every other Delegation-* header.
  if (!delegation) named = {};
  if (!x.token) {
    if (!named.empty()) return Violation{ErrorCode::bad_request, "Delegation-Task needs the Delegation-Token of the delegating scope"};
    return Verdict::next();
  }
  auto& plans = x.worker.app().plans();
  std::string_view bound = x.token->plan_task();
  // The common case: no plan anywhere near this request.
  if (named.empty() && bound.empty()) {
    if (plans.active() == 0) return Verdict::next();
    follow_a2a_task(x, plans);
    // A delegation to another agent from a scope that runs a plan must name its task.
    bool to_another = x.delegates || (opens_scope && x.action.starts_with("agent:"));
    if (!to_another) return Verdict::next();
  }
  if (named.empty() && x.action.empty()) return Verdict::next();  // housekeeping: no action to check

  runtime::PlanReports reports(x.worker.app());
  auto now = runtime::plan_now_us();
  plan::Act act{x.agent->id, x.action, x.token->current().sid, x.request_id};
  plan::Check check;
  if (!named.empty()) {
    std::array<std::string_view, 16> scopes{};
    std::size_t n = caller_scopes(x, scopes);
    act.agent = delegation_target(x);
    check = plans.check_binding(named, {scopes.data(), n}, act, now, reports);
    if (check.outcome == plan::Check::Outcome::unknown) {
      return Violation{ErrorCode::bad_request, "Delegation-Task: " + check.message};
    }
    x.plan_role = RequestContext::PlanRole::carries;
    x.carried_task = named;
    x.plan_reads_answer = x.route->kind == config::RouteKind::a2a;
  } else if (!bound.empty()) {
    check = plans.check_action(bound, act, now, reports);
    x.plan_role = RequestContext::PlanRole::under;
  } else {
    check = plans.check_unplanned(act, now, reports);
    if (!check.plan.empty()) x.plan_role = RequestContext::PlanRole::under;
  }
  x.plan_id = std::move(check.plan);
  x.plan_task = std::move(check.task);
  if (!check.refuse) return Verdict::next();
  x.guard_rule = "plan:" + x.plan_id + (x.plan_task.empty() ? "" : "/" + x.plan_task);
  return Violation{ErrorCode::plan_deviation, check.message};
}

void start_carried_task(RequestContext& x) {
  if (x.plan_role != RequestContext::PlanRole::carries || !x.child) return;
  runtime::PlanReports reports(x.worker.app());
  x.worker.app().plans().start(x.plan_id, x.plan_task, x.child->id, "delegation", x.request_id,
                               runtime::plan_now_us(), reports);
}

void settle_plan(runtime::Services& app, const RequestSummary& s) {
  const auto& f = s.facts;
  if (s.plan_role == RequestContext::PlanRole::none || f.task.empty()) return;
  auto& plans = app.plans();
  // The duration as the record writes it (milliseconds, three decimals), so that the log alone
  // gives the same tool time as the live plan.
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, f.duration_ms, std::chars_format::fixed, 3);
  double written = 0;
  std::from_chars(buf, end, written);
  bool tool_call = f.allowed && (f.operation == "execute_tool" || f.operation == "read_resource");
  plans.note_request(f.plan, f.task, tool_call, std::llround(written * 1000.0));

  runtime::PlanReports reports(app);
  auto now = runtime::plan_now_us();
  auto finish = [&](plan::TaskState to, std::string_view cause) {
    plans.finish(f.plan, f.task, to, cause, f.child_scope, f.request_id, now, reports);
  };
  const protocol::A2aAnswer* answer = s.a2a_answer;
  auto cause = [](const protocol::A2aAnswer& a) {
    using Kind = protocol::A2aAnswer::Kind;
    return a.kind == Kind::message ? std::string("a2a_message")
           : a.kind == Kind::error ? std::string("a2a_error")
                                   : "a2a_" + a.state;
  };
  if (s.plan_role == RequestContext::PlanRole::follows) {
    if (answer && answer->completed()) finish(plan::TaskState::completed, cause(*answer));
    else if (answer && answer->failed()) finish(plan::TaskState::failed, cause(*answer));
    return;
  }
  if (s.plan_role != RequestContext::PlanRole::carries || !s.child_opened) return;
  if (s.route_kind == config::RouteKind::scopes) return;  // a scope opened for the task: it ends by the API
  if (answer && answer->kind != protocol::A2aAnswer::Kind::unknown) {
    if (answer->completed()) return finish(plan::TaskState::completed, cause(*answer));
    if (answer->failed()) return finish(plan::TaskState::failed, cause(*answer));
    // Submitted, working, waiting for input: its later state comes through GetTask or a stream.
    if (!answer->task_id.empty()) plans.remember_a2a_task(answer->task_id, f.plan, f.task);
    return;
  }
  if (f.outcome == "client_cut") return;  // the caller left: what the agent answered is not known
  if (!f.reason.empty()) return finish(plan::TaskState::failed, f.reason);
  if (!f.outcome.empty()) return finish(plan::TaskState::failed, f.outcome);
  if (f.status >= 200 && f.status < 300) {
    // An A2A answer that said nothing readable of the task leaves it running (the API ends it).
    if (s.route_kind == config::RouteKind::a2a) return;
    return finish(plan::TaskState::completed, "reply");
  }
  finish(plan::TaskState::failed, "status_" + std::to_string(f.status));
}

namespace {

struct PlanPath {
  std::string_view id, task, verb;  // /v1/plans/{id}[/tasks/{task}/{verb}]
  bool valid = false;
};

PlanPath parse_plan_path(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  PlanPath out;
  if (path == kPlansPath) return out.valid = true, out;
  path.remove_prefix(kPlansPath.size() + 1);
  auto slash = path.find('/');
  out.id = path.substr(0, slash);
  if (out.id.empty()) return out;
  if (slash == std::string_view::npos) return out.valid = true, out;
  std::string_view rest = path.substr(slash + 1);
  if (!rest.starts_with("tasks/")) return out;
  rest.remove_prefix(6);
  slash = rest.find('/');
  if (slash == std::string_view::npos) return out;
  out.task = rest.substr(0, slash);
  out.verb = rest.substr(slash + 1);
  out.valid = !out.task.empty() && (out.verb == "complete" || out.verb == "fail" || out.verb == "skip");
  return out;
}

asio::awaitable<bool> register_plan(RequestContext& x) {
  const auto& token = *x.token;
  auto& spec = *x.plan_spec;
  auto scope = delegation::scope_record(token, token.scopes.size() - 1);
  auto problem = plan::check_against_scope(
      spec, [&](std::string_view id) { return x.snapshot.agents.by_id(id) != nullptr; }, scope.grants);
  if (problem) co_return co_await reply_error(x, ErrorCode::bad_request, *problem);
  std::string id = http::make_uuid_v7();
  runtime::PlanReports reports(x.worker.app());
  auto& plans = x.worker.app().plans();
  auto refused = plans.open(id, std::move(spec), {scope.id, x.agent->id, scope.principal}, runtime::plan_now_us(),
                            token.expires * 1'000'000, x.request_id, reports);
  if (refused) {
    auto code = refused->over_capacity ? ErrorCode::overloaded : ErrorCode::bad_request;
    co_return co_await reply_error(x, code, refused->message);
  }
  x.plan_id = id;
  std::array<std::string_view, 16> scopes{};
  std::size_t n = caller_scopes(x, scopes);
  std::string body = plans.view(id, {scopes.data(), n}).value_or("{}") + "\n";
  co_return co_await reply_json(x, 201, std::move(body));
}

}  // namespace

asio::awaitable<bool> serve_plans(RequestContext& x) {
  auto where = parse_plan_path(x.parser.get().target());
  if (!where.valid) co_return co_await reply_error(x, ErrorCode::no_route, "no such plans endpoint");
  if (!x.token) {
    co_return co_await reply_error(x, ErrorCode::token_invalid,
                                   "plans belong to scopes: send the Delegation-Token of the plan's scope");
  }
  if (where.id.empty()) {
    if (x.method != bhttp::verb::post) {
      co_return co_await reply_error(x, ErrorCode::method_not_allowed, "POST /v1/plans registers a plan");
    }
    co_return co_await register_plan(x);
  }
  auto& plans = x.worker.app().plans();
  std::array<std::string_view, 16> scopes{};
  std::size_t n = caller_scopes(x, scopes);
  std::span<const std::string_view> visible{scopes.data(), n};
  std::string not_found = "no plan with id '" + std::string(where.id) + "' that this scope may see";
  if (where.task.empty()) {
    if (x.method != bhttp::verb::get) {
      co_return co_await reply_error(x, ErrorCode::method_not_allowed, "GET /v1/plans/{id} shows a plan");
    }
    auto view = plans.view(where.id, visible);
    if (!view) co_return co_await reply_error(x, ErrorCode::no_route, not_found);
    x.plan_id = where.id;
    std::string body = std::move(*view) + "\n";
    co_return co_await reply_json(x, 200, std::move(body));
  }
  if (x.method != bhttp::verb::post) {
    co_return co_await reply_error(x, ErrorCode::method_not_allowed, "ending a task is a mutation: use POST");
  }
  if (!plans.view(where.id, visible)) co_return co_await reply_error(x, ErrorCode::no_route, not_found);
  auto to = where.verb == "complete" ? plan::TaskState::completed
            : where.verb == "fail"   ? plan::TaskState::failed
                                     : plan::TaskState::skipped;
  runtime::PlanReports reports(x.worker.app());
  if (!plans.finish(where.id, where.task, to, "api", x.token->current().sid, x.request_id, runtime::plan_now_us(),
                    reports)) {
    std::string why = "plan " + std::string(where.id) + " has no task '" + std::string(where.task) + "'";
    co_return co_await reply_error(x, ErrorCode::no_route, why);
  }
  // The record names the plan; the task is named in the plan.task record this call wrote (a request
  // record with a task is one of the task's own requests).
  x.plan_id = where.id;
  std::string body = plans.view(where.id, visible).value_or("{}") + "\n";
  co_return co_await reply_json(x, 200, std::move(body));
}

}  // namespace scopegate::pipeline
