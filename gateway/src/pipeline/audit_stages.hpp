// The audit log's place in the pipeline (docs/protocol.md §6, docs/audit.md): refusing while the log
// cannot keep records, making a strict route's record durable before the upstream or the client
// hears anything, and keeping every other request's record once it is over (an end-of-request
// observer).
#pragma once

#include <boost/asio/awaitable.hpp>

#include <optional>

#include "http/hygiene.hpp"
#include "pipeline/context.hpp"
#include "pipeline/verdict.hpp"

namespace scopegate::app {
class App;
}

namespace scopegate::pipeline {

struct RequestSummary;

// Fail closed: 503 audit_unavailable while the writer is failing, the disk is below its reserve
// or the queue is nearly full. Nothing when no audit log is configured.
Verdict require_audit(RequestContext& x);

// The route's (and, once the MCP tool is known, the tool's) durability.
Verdict resolve_durability(RequestContext& x);

// Strict: the request's record is written and fsynced before it is forwarded. Refused
// (audit_unavailable) when it could not be made durable: the request is then not forwarded.
boost::asio::awaitable<Verdict> commit_before_forward(RequestContext& x);

// Strict: a refusal's record is made durable before the refusal is sent.
boost::asio::awaitable<void> commit_refusal(RequestContext& x);

// The end-of-request observer that keeps the request's record (pipeline/request_end.hpp): the
// whole record, or after a strict write-ahead record its outcome (request.outcome); nothing when a
// strict refusal's record was already committed whole.
void audit_request(runtime::Services& app, const RequestSummary& summary);

}  // namespace scopegate::pipeline
