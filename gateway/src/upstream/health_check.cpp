#include "upstream/health_check.hpp"

#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include <algorithm>
#include <chrono>

#include "http/use_tuple.hpp"
#include "upstream/pool.hpp"

namespace scopegate::upstream {

namespace bhttp = boost::beast::http;
using http::use_tuple;

namespace {
// A health endpoint answers with a small head; one that does not is not worth reading further.
constexpr std::uint32_t kHeadLimit = 16 * 1024;
}  // namespace

bool status_passes(const config::HealthCheck& check, unsigned status) {
  if (check.expect.empty()) return status >= 200 && status <= 299;
  return std::find(check.expect.begin(), check.expect.end(), status) != check.expect.end();
}

std::string check_request(const config::HealthCheck& check, std::string_view host_header) {
  std::string out;
  out.reserve(check.path.size() + host_header.size() + 96);
  out += "GET ";
  out += check.path;
  out += " HTTP/1.1\r\nHost: ";
  out += host_header;
  // A name the upstream's operators can filter from their logs and counters; Connection: close
  // because the check closes anyway, and saying so spares the upstream an idle connection.
  out += "\r\nUser-Agent: scopegate-health-check\r\nConnection: close\r\n\r\n";
  return out;
}

asio::awaitable<CheckResult> check_endpoint(const config::Upstream& upstream, asio::ssl::context* tls,
                                            std::string_view host_header, const config::HealthCheck& check) {
  CheckResult result;
  auto deadline = std::chrono::steady_clock::now() + check.timeout;
  auto connected = co_await connect(upstream, tls, check.timeout);
  if (!connected.connection) {
    result.detail = std::string(to_string(connected.failure)) + ": " + connected.detail;
    co_return result;
  }
  auto& c = *connected.connection;
  // What connect() left of the timeout covers the rest: one deadline for the whole check.
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  c.stream.expires_after(std::max(left, std::chrono::milliseconds(1)));

  std::string request = check_request(check, host_header);
  auto [wec, written] = co_await asio::async_write(c.stream, asio::buffer(request), use_tuple);
  if (wec) {
    result.detail = c.stream.timed_out() ? "timed out sending the request" : "send: " + wec.message();
    co_return result;
  }
  bhttp::response_parser<bhttp::empty_body> parser;
  parser.header_limit(kHeadLimit);
  auto [rec, read] = co_await bhttp::async_read_header(c.stream, c.buffer, parser, use_tuple);
  if (rec) {
    result.detail = c.stream.timed_out() ? "timed out waiting for the response head" : "response: " + rec.message();
    co_return result;
  }
  result.status = parser.get().result_int();
  result.passed = status_passes(check, result.status);
  if (!result.passed) result.detail = "status " + std::to_string(result.status);
  // The connection closes with `connected` (TLS without close_notify): the body, if any, is not
  // wanted, and a check must not hold a connection the upstream could give a real request.
  co_return result;
}

}  // namespace scopegate::upstream
