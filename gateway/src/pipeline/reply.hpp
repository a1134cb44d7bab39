// What every stage needs to answer the client itself or read a body whole: JSON error replies
// (docs/protocol.md §5), JSON success replies, deadlines per phase.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "http/hygiene.hpp"
#include "pipeline/context.hpp"
#include "pipeline/verdict.hpp"

namespace scopegate::pipeline {

// A phase's deadline, cut short by the request's total deadline when the route has one.
std::chrono::milliseconds phase(const RequestContext& x, std::chrono::milliseconds limit);
bool total_deadline_passed(const RequestContext& x);
bool may_keep_client(const RequestContext& x);
bool is_disconnect(const boost::system::error_code& ec);

// The one place a refusal becomes what the client and the log see: the JSON error reply (its
// connection kept by the one rule of may_keep_client unless the refusal says close), the
// request's record (strict routes: made durable first), and later its metrics. Every stage's
// refusal comes through here. Returns whether the connection may carry another request.
boost::asio::awaitable<bool> refuse(RequestContext& x, const Verdict& verdict);

// Writes one JSON error reply. Returns whether the connection may carry another request.
boost::asio::awaitable<bool> reply_error(RequestContext& x, http::ErrorCode code, std::string_view message,
                                         bool force_close = false);
boost::asio::awaitable<bool> reply_violation(RequestContext& x, const http::Violation& v, bool force_close = false);

// Writes a JSON reply the gateway produced itself (POST /v1/scopes).
boost::asio::awaitable<bool> reply_json(RequestContext& x, unsigned status, std::string body);

// Answers Expect: 100-continue once, when the client asked for it and a body is to be read
// (the gateway answers the expectation itself, as nginx does, and strips it upstream). False when
// the client could not be written to.
boost::asio::awaitable<bool> send_continue(RequestContext& x);

// Reads the whole request body into x.body, at most `limit` bytes (413 beyond), answering
// Expect: 100-continue first. The buffer keeps room for in-place JSON parsing.
boost::asio::awaitable<Verdict> read_whole_body(RequestContext& x, std::uint64_t limit);

}  // namespace scopegate::pipeline
