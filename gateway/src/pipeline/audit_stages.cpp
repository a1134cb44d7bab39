#include "pipeline/audit_stages.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "app/app.hpp"
#include "audit/record.hpp"
#include "audit/writer.hpp"

namespace scopegate::pipeline {

namespace asio = boost::asio;

namespace {

// What the request did, as facts for the sink. `path` holds the scope path the facts point to.
void describe(RequestContext& x, audit::RequestFacts& f, std::string& path) {
  f.request_id = x.request_id;
  // Every request record joins the agent's trace, refusals made before stamping included: the
  // trace the request came with continues (or one starts) here, as stamping would have done.
  if (x.trace.empty()) x.trace = delegation::continue_trace(x.inbound.traceparent);
  f.trace_id = x.trace.trace_id();
  f.span_id = x.trace.span_id();
  if (x.token) {
    const auto& current = x.token->current();
    f.scope.id = current.sid;
    f.scope.parent = current.par;
    f.scope.root = x.token->root().sid;
    f.scope.depth = x.token->depth();
    delegation::append_scope_path(path, *x.token, x.token->scopes.size() - 1);
    f.scope.path = path;
    f.principal = x.token->root().sub;
  }
  if (x.agent) f.agent = x.agent->id;
  if (x.child) {
    f.child_scope = x.child->id;
    f.target_agent = x.child->actor;
  }
  if (x.route) {
    f.route = x.route->name;
    f.upstream = x.route->upstream.url;
    f.route_label = &x.route->data;
    if (!x.tool.empty()) {
      if (auto it = x.route->tools.find(x.tool); it != x.route->tools.end()) f.tool_label = &it->second;
    }
  }
  f.operation = x.operation;
  f.action = x.action;
  f.tool = x.tool;
  f.resource = x.resource;
  f.mcp_method = x.mcp_method;
  f.task_id = x.task_id;
  f.context_id = x.context_id;
  const auto& req = x.parser.get();
  if (x.method != bhttp::verb::unknown || x.parser.is_header_done()) {
    f.method = req.method_string();
    f.path = req.target();
  }
  // Forwarded, or answered by the gateway's own endpoint (POST /v1/scopes) without an error.
  f.allowed = x.forwarded || (!x.reason && x.status >= 200 && x.status < 400);
  if (x.reason) f.reason = http::to_string(*x.reason);
  f.status = x.status;
  f.outcome = x.outcome;
  f.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - x.started).count();
  f.bytes_in = x.bytes_in;
  f.bytes_out = x.bytes_out;
  f.durability = x.durability;
}

asio::awaitable<bool> commit(RequestContext& x, audit::Writer& writer, bool ahead) {
  audit::RequestFacts f;
  std::string path;
  describe(x, f, path);
  f.ahead = ahead;
  f.allowed = ahead;
  if (ahead) f.bytes_in = x.body_buffered ? x.body.size() : x.content_length.value_or(0);
  audit::Entry e;
  e.event = audit::Event::request;
  e.members = audit::request_members(f);
  e.durability = config::Durability::strict;
  co_return co_await audit::commit(writer, std::move(e), co_await asio::this_coro::executor);
}

}  // namespace

Verdict require_audit(RequestContext& x) {
  auto* writer = x.worker.app().audit_writer();
  if (!writer || writer->accepting()) return Verdict::next();
  return http::Violation{http::ErrorCode::audit_unavailable, writer->unavailable_reason()};
}

Verdict resolve_durability(RequestContext& x) {
  if (x.route) x.durability = config::effective_durability(x.snapshot.config.audit, *x.route, x.tool);
  return Verdict::next();
}

asio::awaitable<Verdict> commit_before_forward(RequestContext& x) {
  auto* writer = x.worker.app().audit_writer();
  if (!writer || x.durability != config::Durability::strict) co_return Verdict::next();
  if (co_await commit(x, *writer, true)) {
    x.recorded = RequestContext::Recorded::before_forward;
    co_return Verdict::next();
  }
  co_return Verdict::refuse(http::ErrorCode::audit_unavailable,
                            "the request's audit record could not be made durable (" + writer->unavailable_reason() +
                                ")");
}

asio::awaitable<void> commit_refusal(RequestContext& x) {
  auto* writer = x.worker.app().audit_writer();
  if (!writer || x.durability != config::Durability::strict || x.recorded != RequestContext::Recorded::not_yet ||
      !x.route) {
    co_return;
  }
  // A refusal that cannot be made durable is still sent; report() queues its record again.
  if (co_await commit(x, *writer, false)) x.recorded = RequestContext::Recorded::whole;
}

void report(RequestContext& x) {
  if (x.recorded == RequestContext::Recorded::whole || x.reported) return;
  x.reported = true;
  audit::RequestFacts f;
  std::string path;
  describe(x, f, path);
  if (x.recorded == RequestContext::Recorded::before_forward) {
    x.worker.app().sink().request_outcome(f);
  } else {
    x.worker.app().sink().request(f);
  }
}

}  // namespace scopegate::pipeline
