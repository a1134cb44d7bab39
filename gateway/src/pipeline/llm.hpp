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

// Before forwarding: the body change that asks a stream for its usage, and the header that keeps
// the response readable (Accept-Encoding: identity). Appends to x.stamped.
void prepare_llm_request(RequestContext& x);

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
