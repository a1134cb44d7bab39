// The audit log's place in the pipeline (docs/protocol.md §6, docs/audit.md): refusing while the log
// cannot keep records, making a strict route's record durable before the upstream or the client
// hears anything, and reporting every other request once it is over.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <optional>

#include "http/hygiene.hpp"
#include "pipeline/context.hpp"
#include "pipeline/verdict.hpp"

namespace scopegate::pipeline {

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

// Hands the request to the fact sink once, unless its record was already committed whole: before
// the last write of its response where there is one (audit/journal.hpp says why), else when it
// ends. A record committed before forwarding is followed by its outcome (request.outcome) instead.
void report(RequestContext& x);

}  // namespace scopegate::pipeline
