#include "audit/record.hpp"
#include "audit/writer.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <variant>
#include <vector>

using namespace scopegate::audit;

namespace {
// A strict request under a depth-1 scope, as audit_stages.cpp describes it.
RequestFacts strict_request() {
  RequestFacts f;
  f.request_id = "0193a6f0-0000-7000-8000-000000000001";
  f.trace_id = "0af7651916cd43dd8448eb211c80319c";
  f.span_id = "b7ad6b7169203331";
  f.scope = {"c", "r", "r", "r/c", 1};
  f.principal = "user:alice";
  f.agent = "researcher";
  f.route = "hr";
  f.operation = "execute_tool";
  f.tool = "hr";
  f.method = "GET";
  f.path = "/tools/hr/alice";
  f.upstream = "http://hr";
  f.allowed = true;
  f.status = 200;
  f.duration_ms = 1.5;
  f.bytes_in = 3;
  f.bytes_out = 20;
  return f;
}
}  // namespace

TEST_CASE("a strict request is written ahead without its result, which its outcome carries") {
  RequestFacts f = strict_request();
  f.ahead = true;
  std::string ahead = request_members(f);
  CHECK(ahead.find(R"("recorded":"before_forward")") != std::string::npos);
  CHECK(ahead.find("\"status\"") == std::string::npos);
  CHECK(ahead.find("\"bytes_out\"") == std::string::npos);

  f.ahead = false;
  CHECK(request_outcome_members(f) ==
        R"(,"request_id":"0193a6f0-0000-7000-8000-000000000001","trace_id":"0af7651916cd43dd8448eb211c80319c",)"
        R"("span_id":"b7ad6b7169203331","scope":{"id":"c","parent":"r","root":"r","depth":1,"path":"r/c"},)"
        R"("principal":"user:alice","agent":"researcher","route":"hr","upstream":"http://hr","status":200,)"
        R"("duration_ms":1.500,"bytes_out":20)");
  // Where it went, known only after forwarding: a retry or a fallback may have changed the endpoint.
  f.endpoint = "10.0.0.6:9000";
  f.upstream = "http://10.0.0.6:9000";
  f.retries = 1;
  f.fallback = "hr-cache";
  CHECK(request_outcome_members(f).find(R"("route":"hr","upstream":"http://10.0.0.6:9000","endpoint":"10.0.0.6:9000",)"
                                        R"("retries":1,"fallback":"hr-cache","status":200)") != std::string::npos);
}

TEST_CASE("an outcome carries the cut and the gateway's own error when there is one") {
  RequestFacts f = strict_request();
  f.outcome = "upstream_cut";
  std::string cut = request_outcome_members(f);
  CHECK(cut.find(R"("status":200,"outcome":"upstream_cut","duration_ms":1.500,"bytes_out":20)") != std::string::npos);
  f.outcome = {};
  f.reason = "upstream_timeout";
  f.status = 504;
  std::string failed = request_outcome_members(f);
  CHECK(failed.find(R"("route":"hr","upstream":"http://hr","reason":"upstream_timeout","status":504)") != std::string::npos);
  CHECK(failed.find("\"decision\"") == std::string::npos);  // decided in the request record
}

TEST_CASE("request.outcome is an event of its own") {
  CHECK(to_string(Event::request_outcome) == "request.outcome");
  // Journal entries carry the event's number: a new event goes after the existing ones.
  CHECK(static_cast<int>(Event::request_outcome) == static_cast<int>(Event::audit_unavailable) + 1);
}

TEST_CASE("policy.reload: an applied reload names every file of the new set with its SHA-256") {
  auto loaded = scopegate::policy::load_policy_texts(
      {{"p/a.yaml", "version: 1\ndefault: deny\nrules:\n  - id: r1\n    effect: permit\n    when:\n"
                    "      agent: [x]\n  - id: r2\n    effect: forbid\n    when:\n      agent: [y]\n"},
       {"p/b.yaml", "version: 1\nrules:\n  - id: r3\n    effect: permit\n    when:\n      agent: [z]\n"}});
  auto set = std::get<std::shared_ptr<const scopegate::policy::PolicySet>>(loaded);
  std::string out = reload_members({ReloadTrigger::file, true, 7, set.get(), {}});
  std::string a(set->files()[0].sha256_hex), b(set->files()[1].sha256_hex);
  CHECK(out == R"(,"trigger":"file","result":"applied","generation":7,"files":[{"path":"p/a.yaml","sha256":")" + a +
                   R"(","rules":2},{"path":"p/b.yaml","sha256":")" + b + R"(","rules":1}],"rules":3,"default":"deny")");
}

TEST_CASE("policy.reload: a refused reload gives each error and the files still running") {
  auto loaded = scopegate::policy::load_policy_texts(
      {{"p/a.yaml", "version: 1\ndefault: allow\nrules:\n  - id: r1\n    effect: forbid\n    when:\n"
                    "      agent: [x]\n"}});
  auto set = std::get<std::shared_ptr<const scopegate::policy::PolicySet>>(loaded);
  std::vector<std::string> errors{"p/a.yaml:5: rules[0].effect: must be permit or forbid", "p/b.yaml: cannot \"open\""};
  std::string out = reload_members({ReloadTrigger::signal, false, 3, set.get(), errors});
  CHECK(out.starts_with(R"(,"trigger":"signal","result":"refused","generation":3,"files":[{"path":"p/a.yaml","sha256":")" +
                        std::string(set->files()[0].sha256_hex) + R"(","rules":1}],"rules":1,"default":"allow")"));
  CHECK(out.ends_with(R"(,"errors":["p/a.yaml:5: rules[0].effect: must be permit or forbid","p/b.yaml: cannot \"open\""])"));
}

TEST_CASE("policy.reload: without policies the set is empty and nothing is refused by one") {
  CHECK(reload_members({ReloadTrigger::admin, true, 2, nullptr, {}}) ==
        R"(,"trigger":"admin","result":"applied","generation":2,"files":[],"rules":0,"default":"allow")");
}

TEST_CASE("policy.reload: a refusal with very many errors keeps the first 64 and counts the rest") {
  std::vector<std::string> errors;
  for (int i = 1; i <= 100; ++i) errors.push_back("p/a.yaml:" + std::to_string(i) + ": rules: bad");
  std::string out = reload_members({ReloadTrigger::file, false, 1, nullptr, errors});
  CHECK(out.find("p/a.yaml:64: rules: bad\",\"36 more errors (scopegate check lists every one)\"]") != std::string::npos);
  CHECK(out.find("p/a.yaml:65:") == std::string::npos);
}
