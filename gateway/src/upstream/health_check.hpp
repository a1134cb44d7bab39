// One active health check of an endpoint (docs/resilience.md, "Health checks"): connect (with the
// endpoint's TLS settings), send `GET <path>`, read the response head, close. Only the I/O and the
// verdict on the status: what a result does to the endpoint's breaker is app/health_checks.cpp's.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include <string>
#include <string_view>

#include "config/config.hpp"

namespace scopegate::upstream {

struct CheckResult {
  bool passed = false;
  unsigned status = 0;  // the response's status; 0: no response head
  std::string detail;   // why it failed, for the operational log
};

// Whether a response status passes `check`: one of `expect`, or any 2xx when it lists none.
bool status_passes(const config::HealthCheck& check, unsigned status);

// The request a check sends, as written on the wire.
std::string check_request(const config::HealthCheck& check, std::string_view host_header);

// Runs one check of `upstream` within check.timeout (connect, handshake, send and the response
// head together). Never throws for an I/O outcome: a refused connection, a timeout or a broken
// response is a failed check.
boost::asio::awaitable<CheckResult> check_endpoint(const config::Upstream& upstream, boost::asio::ssl::context* tls,
                                                   std::string_view host_header, const config::HealthCheck& check);

}  // namespace scopegate::upstream
