// LLM routes (docs/llm.md): what a model call asks for, and what it used. The request's body names
// the model (the action `model:<name>`, checked like any action); a streamed chat completion is made
// to report its usage; the response's usage is read as it is relayed, piece by piece, after each
// piece went to the client; its cost comes from the config's price table.
#pragma once

#include <string_view>

#include "pipeline/request_end.hpp"
#include "pipeline/verdict.hpp"

namespace scopegate::pipeline {

// Stage 10 for llm routes: the operation from the path, the model from the body.
Verdict classify_llm(RequestContext& x);

// Before forwarding a model call: the header that keeps its answer readable (Accept-Encoding:
// identity), appended to x.stamped.
void prepare_llm_request(RequestContext& x);

// For each attempt's head: the provider key of the route that serves it (the route's, or its
// fallback's after a retry switched), as a header line; false when that route holds none. The
// agent's own Authorization and x-api-key are then dropped (upstream_request_head).
bool provider_key_header(const RequestContext& x, std::string& line);

// When the response head arrives: whether its body can be read for usage (an encoded body
// cannot), and how (JSON or server-sent events).
void expect_llm_response(RequestContext& x, std::string_view content_type, std::string_view content_encoding);

// The response tap of llm calls (RequestContext::response_tap).
void read_llm_usage(RequestContext& x, std::string_view piece, bool last);

// The usage and cost of a finished call, into the summary (called by summarize).
void summarize_llm(const RequestContext& x, RequestSummary& out);

// End-of-request observer: the token, cost and latency metrics of model calls.
void record_llm(runtime::Services& app, const RequestSummary& summary);

}  // namespace scopegate::pipeline
