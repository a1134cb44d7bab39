#include "pipeline/reply.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "http/use_tuple.hpp"
#include "http/hygiene.hpp"
#include "pipeline/audit_stages.hpp"
#include "pipeline/request_end.hpp"
#include "pipeline/verification.hpp"
#include "protocol/jsonrpc.hpp"

namespace scopegate::pipeline {

namespace asio = boost::asio;
using http::ErrorCode;
using std::chrono::milliseconds;

namespace {
using http::use_tuple;
}

milliseconds phase(const RequestContext& x, milliseconds limit) {
  if (x.deadline == Clock::time_point::max()) return limit;
  auto left = std::chrono::duration_cast<milliseconds>(x.deadline - Clock::now());
  return std::max(milliseconds(1), std::min(limit, left));
}

bool total_deadline_passed(const RequestContext& x) {
  return x.deadline != Clock::time_point::max() && Clock::now() >= x.deadline;
}

bool may_keep_client(const RequestContext& x) {
  return x.client_keep_alive && x.body_consumed && !x.worker.draining();
}

bool is_disconnect(const boost::system::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::operation_aborted || ec == asio::ssl::error::stream_truncated;
}

namespace {

asio::awaitable<bool> reply(RequestContext& x, unsigned status, std::string body, bool force_close) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  if (!x.request_id.empty()) res.set("X-Request-Id", x.request_id);
  if (x.retry_after_s > 0 && status >= 400) res.set(bhttp::field::retry_after, std::to_string(x.retry_after_s));
  res.body() = std::move(body);
  bool keep = !force_close && may_keep_client(x);
  res.keep_alive(keep);
  if (keep && x.version == 10) res.set(bhttp::field::connection, "keep-alive");
  if (x.method == bhttp::verb::head) res.content_length(res.body().size());
  res.prepare_payload();
  x.status = status;
  x.bytes_out += res.body().size();
  end_request(x);  // before the reply goes out: a crash after it cannot lose the record (audit/journal.hpp)
  x.client.expires_after(x.snapshot.config.timeouts.client_send);
  if (x.method == bhttp::verb::head) {
    bhttp::response_serializer<bhttp::string_body> sr{res};
    auto [ec, n] = co_await bhttp::async_write_header(x.client, sr, use_tuple);
    co_return !ec && keep;
  }
  auto [ec, n] = co_await bhttp::async_write(x.client, res, use_tuple);
  co_return !ec && keep;
}

}  // namespace

asio::awaitable<bool> reply_error(RequestContext& x, ErrorCode code, std::string_view message, bool force_close) {
  x.reason = code;
  attribute_refusal(x);  // refused before its scope was known: the record still names it, if the token verifies
  if (code != ErrorCode::audit_unavailable && x.durability == config::Durability::strict) {
    x.status = http::status_of(code);
    co_await commit_refusal(x);
  }
  std::string_view scope;
  if (x.token) scope = x.token->current().sid;
  std::string_view rule = !x.guard_rule.empty()              ? std::string_view(x.guard_rule)
                          : x.policy && !x.policy->allow ? x.policy->rule
                                                         : std::string_view{};
  std::string body = http::error_body(code, {message, x.request_id, scope, rule});
  co_return co_await reply(x, http::status_of(code), std::move(body), force_close);
}

asio::awaitable<bool> refuse(RequestContext& x, const Verdict& verdict) {
  const Refusal& r = verdict.refusal();
  if (r.silent) {
    x.client_keep_alive = false;
    co_return false;
  }
  co_return co_await reply_error(x, r.code, r.message, r.after == AfterRefusal::close);
}

asio::awaitable<bool> reply_violation(RequestContext& x, const http::Violation& v, bool force_close) {
  co_return co_await reply_error(x, v.code, v.message, force_close);
}

asio::awaitable<bool> reply_json(RequestContext& x, unsigned status, std::string body) {
  co_return co_await reply(x, status, std::move(body), false);
}

asio::awaitable<bool> send_continue(RequestContext& x) {
  if (!x.expect_continue || !x.has_body || x.version < 11 || x.continue_sent) co_return true;
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  x.client.expires_after(x.snapshot.config.timeouts.client_send);
  auto [ec, n] = co_await asio::async_write(x.client, asio::buffer(kContinue), use_tuple);
  if (ec) co_return false;
  x.continue_sent = true;
  co_return true;
}

asio::awaitable<Verdict> read_whole_body(RequestContext& x, std::uint64_t limit) {
  auto& req = x.parser.get();
  // Read whole only to be inspected: the tool must decode these bytes as the gateway does.
  if (auto v = http::check_inspected_body_encoding(req)) {
    x.client_keep_alive = false;
    co_return v;
  }
  if (x.content_length && *x.content_length > limit) {
    x.client_keep_alive = false;
    co_return http::Violation{ErrorCode::payload_too_large, "request body over " + std::to_string(limit) +
                                                                " bytes, the most this route reads before forwarding"};
  }
  if (!co_await send_continue(x)) {
    x.client_keep_alive = false;
    co_return http::Violation{ErrorCode::bad_request, "client gone"};
  }
  constexpr std::size_t kStep = 16 * 1024;
  x.body.clear();
  x.body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(x.content_length.value_or(kStep), limit)) +
                 protocol::json_padding());
  while (x.has_body && !x.parser.is_done()) {
    std::size_t old = x.body.size();
    x.body.resize(old + kStep);
    req.body().data = x.body.data() + old;
    req.body().size = kStep;
    x.client.expires_after(phase(x, x.snapshot.config.timeouts.client_body_idle));
    auto [ec, n] = co_await bhttp::async_read_some(x.client, x.client_buffer, x.parser, use_tuple);
    if (ec == bhttp::error::need_buffer) ec = {};
    x.body.resize(old + (kStep - req.body().size));
    if (ec) {
      x.client_keep_alive = false;
      if (x.client.timed_out()) co_return http::Violation{ErrorCode::request_timeout, "the request body stalled"};
      co_return http::Violation{ErrorCode::bad_request, "request body: " + ec.message()};
    }
    if (x.body.size() > limit) {
      x.client_keep_alive = false;
      co_return http::Violation{ErrorCode::payload_too_large, "request body over " + std::to_string(limit) +
                                                                  " bytes, the most this route reads before forwarding"};
    }
  }
  x.bytes_in = x.body.size();
  x.body.reserve(x.body.size() + protocol::json_padding());
  x.body_consumed = true;
  x.body_buffered = true;
  co_return Verdict::next();
}

}  // namespace scopegate::pipeline
