#include "pipeline/plans.hpp"

#include <algorithm>
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
// (GetTask, tasks/get, a resubscription), asked on the route that carried it, from the plan's scope
// or below: it follows that task. Anyone else asking about the same A2A task id ends nothing.
void follow_a2a_task(RequestContext& x, plan::Registry& plans) {
  if (x.route->kind != config::RouteKind::a2a || x.delegates || x.task_id.empty()) return;
  auto followed = plans.a2a_task(x.task_id);
  if (!followed || followed->route != x.route->name) return;
  std::array<std::string_view, 16> scopes{};
  std::size_t n = caller_scopes(x, scopes);
  if (std::find(scopes.begin(), scopes.begin() + n, std::string_view(followed->owner_scope)) == scopes.begin() + n) {
    return;
  }
  x.plan_role = RequestContext::PlanRole::follows;
  x.plan_id = std::move(followed->plan);
  x.plan_task = std::move(followed->task);
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
    // A root scope carries no task: a plan belongs to a scope, so its tasks run in scopes below it.
    bool root_task = x.route->kind == config::RouteKind::scopes && x.scope_request && !x.scope_request->task.empty();
    if (!named.empty() || root_task) {
      return Violation{ErrorCode::bad_request, "a plan task is carried by a delegation from the plan's scope "
                                               "(under its Delegation-Token), never by a root scope"};
    }
    return Verdict::next();
  }
  auto& plans = x.worker.app().plans();
  // Every task the scope's chain is bound to, the outermost first: a scope nested in two tasks (a
  // worker's own sub-plan inside the task it was given) answers to both.
  std::array<std::string_view, 16> bindings{};
  std::size_t bound = 0, below_binding = 0;  // below_binding: the index of the innermost bound scope
  for (std::size_t i = 0; i < x.token->scopes.size(); ++i) {
    const auto& tsk = x.token->scopes[i].tsk;
    if (tsk.empty() || bound == bindings.size()) continue;
    bindings[bound++] = tsk;
    below_binding = i;
  }
  bool to_another = x.delegates || (opens_scope && x.action.starts_with("agent:"));
  // The common case: no plan anywhere near this request.
  if (named.empty() && bound == 0) {
    if (plans.active() == 0) return Verdict::next();
    follow_a2a_task(x, plans);
    if (!to_another) return Verdict::next();  // a delegation from a scope that runs a plan names its task
  }

  runtime::PlanReports reports(x.worker.app());
  auto now = runtime::plan_now_us();
  std::array<std::string_view, 16> scopes{};
  std::size_t n = caller_scopes(x, scopes);
  std::span<const std::string_view> chain{scopes.data(), n};
  plan::Act act{x.agent->id, x.action, x.token->current().sid, x.request_id};
  std::optional<plan::Check> refusal;
  auto weigh = [&](plan::Check&& check) {
    if (check.refuse && !refusal) refusal = check;
    return std::move(check);
  };
  // The action, against every task up the chain (a delegation is an action too: agent:<target>).
  // A plan this node does not hold cannot be checked: refused (fail closed), never waved through.
  if (!x.action.empty()) {
    for (std::size_t i = 0; i < bound; ++i) {
      auto check = plans.check_action(bindings[i], act, now, reports);
      if (check.outcome == plan::Check::Outcome::unknown) {
        check.refuse = true;
        check.message = "plan " + check.plan + " is not held by this gateway (restarted, or registered on another "
                        "node): an action under its task " + check.task + " cannot be checked here";
      }
      check = weigh(std::move(check));
      if (i + 1 == bound) {
        x.plan_role = RequestContext::PlanRole::under;
        x.plan_id = std::move(check.plan);
        x.plan_task = std::move(check.task);
      }
    }
  }
  if (!named.empty()) {
    // The task it carries: the target is that task's agent, the task may start.
    plan::Act binding = act;
    binding.agent = delegation_target(x);
    auto check = plans.check_binding(named, chain, binding, now, reports);
    if (check.outcome == plan::Check::Outcome::unknown) {
      return Violation{ErrorCode::bad_request, "Delegation-Task: " + check.message};
    }
    check = weigh(std::move(check));
    x.plan_role = RequestContext::PlanRole::carries;
    x.plan_id = std::move(check.plan);
    x.plan_task = std::move(check.task);
    x.carried_task = named;
    x.plan_reads_answer = x.route->kind == config::RouteKind::a2a;
  } else if (to_another) {
    // A delegation naming no task, from a scope that runs a plan: unplanned. Only plans owned at or
    // below the innermost task the chain carries count: above it, handing work on within the task is
    // what the task's actions (checked above) allow or not.
    auto owners = bound == 0 ? chain : chain.subspan(std::min(below_binding, chain.size()));
    auto check = weigh(plans.check_unplanned(owners, act, now, reports));
    if (!check.plan.empty() && x.plan_id.empty()) {
      x.plan_role = RequestContext::PlanRole::under;
      x.plan_id = std::move(check.plan);
    }
  } else if (bound > 0 && plans.active() > 0) {
    // A bound scope asking about an A2A task it handed on for a plan of its own.
    follow_a2a_task(x, plans);
  }
  if (!refusal) return Verdict::next();
  x.guard_rule = "plan:" + refusal->plan + (refusal->task.empty() ? "" : "/" + refusal->task);
  // The refused request's record names the plan and task it departed from.
  x.plan_id = refusal->plan;
  x.plan_task = refusal->task;
  return Violation{ErrorCode::plan_deviation, refusal->message};
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
  if (s.plan_role != RequestContext::PlanRole::carries) return;
  if (!s.child_opened) {
    // Refused before its scope opened: the task did not start. An open breaker is the sub-agent
    // failing, and fails the task; the other refusals (a guard, a policy) leave it to be handed out again.
    if (f.reason == http::to_string(ErrorCode::breaker_open)) finish(plan::TaskState::failed, f.reason);
    return;
  }
  if (s.route_kind == config::RouteKind::scopes) return;  // a scope opened for the task: it ends by the API
  if (answer && answer->kind != protocol::A2aAnswer::Kind::unknown) {
    if (answer->completed()) return finish(plan::TaskState::completed, cause(*answer));
    if (answer->failed()) return finish(plan::TaskState::failed, cause(*answer));
    // Submitted, working, waiting for input: its later state comes through GetTask or a stream.
    if (!answer->task_id.empty()) plans.remember_a2a_task(answer->task_id, f.plan, f.task, f.route);
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
  auto refused = plans.open(id, std::move(spec), {scope.id, x.agent->id, scope.principal, scope.root},
                            runtime::plan_now_us(),
                            token.expires * 1'000'000, x.request_id, reports);
  if (refused) {
    auto code = refused->over_capacity ? ErrorCode::overloaded : ErrorCode::bad_request;
    if (refused->over_capacity) x.retry_after_s = 30;  // plans finish, or expire with their scopes
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
  if (!plans.visible(where.id, visible)) co_return co_await reply_error(x, ErrorCode::no_route, not_found);
  if (auto why = plans.may_end(where.id, where.task, visible)) {
    ErrorCode code = why->unknown ? ErrorCode::no_route : ErrorCode::policy_denied;
    co_return co_await reply_error(x, code, why->message);
  }
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
