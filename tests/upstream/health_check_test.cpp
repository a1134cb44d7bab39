// What an active health check sends and which statuses pass (docs/resilience.md, "Health checks").
#include "upstream/health_check.hpp"

#include <doctest/doctest.h>

using scopegate::config::HealthCheck;
using scopegate::upstream::check_request;
using scopegate::upstream::status_passes;

TEST_CASE("health check: any 2xx passes unless expect lists the statuses") {
  HealthCheck any;
  for (unsigned status : {200u, 204u, 299u}) CHECK(status_passes(any, status));
  for (unsigned status : {101u, 199u, 301u, 404u, 500u, 503u}) CHECK_FALSE(status_passes(any, status));
  HealthCheck listed;
  listed.expect = {200, 503};
  CHECK(status_passes(listed, 200));
  CHECK(status_passes(listed, 503));  // a listed status passes even outside 2xx
  CHECK_FALSE(status_passes(listed, 204));
}

TEST_CASE("health check: a GET of the path as written, with the endpoint's Host and its own User-Agent") {
  HealthCheck check;
  check.path = "/status?code=200";
  CHECK(check_request(check, "tools.internal:8443") ==
        "GET /status?code=200 HTTP/1.1\r\nHost: tools.internal:8443\r\nUser-Agent: scopegate-health-check\r\n"
        "Connection: close\r\n\r\n");
}
