#include "pipeline/audit_stages.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "runtime/services.hpp"
#include "audit/record.hpp"
#include "audit/writer.hpp"
#include "pipeline/request_end.hpp"

namespace scopegate::pipeline {

namespace asio = boost::asio;

namespace {

asio::awaitable<bool> commit(RequestContext& x, audit::Writer& writer, bool ahead) {
  RequestSummary summary;
  summarize(x, summary);
  audit::RequestFacts& f = summary.facts;
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
  // A refusal that cannot be made durable is still sent; the audit observer queues its record again.
  if (co_await commit(x, *writer, false)) x.recorded = RequestContext::Recorded::whole;
}

void audit_request(runtime::Services& app, const RequestSummary& summary) {
  // A strict refusal's record was committed whole before the refusal went out: nothing is left.
  if (summary.recorded == RequestContext::Recorded::whole) return;
  if (summary.recorded == RequestContext::Recorded::before_forward) {
    app.sink().request_outcome(summary.facts);
  } else {
    app.sink().request(summary.facts);
  }
}

}  // namespace scopegate::pipeline
