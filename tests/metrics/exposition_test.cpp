// The metric cells, the label dictionary and the exposition formats (docs/protocol.md §8).
#include <doctest/doctest.h>

#include <string>

#include "metrics/exposition.hpp"
#include "metrics/registry.hpp"

using namespace scopegate::metrics;

namespace {

std::string rendered(const Registry& r, Format f = Format::text_0_0_4) {
  std::string out;
  render(r, f, out);
  return out;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
}

}  // namespace

TEST_CASE("metrics: label values are interned once, past capacity they are other") {
  LabelDictionary d;
  auto a = d.intern("search");
  CHECK(d.intern("search") == a);
  CHECK(d.value(a) == "search");
  CHECK(d.value(LabelDictionary::kOther) == "other");
  CHECK(d.value(4000) == "other");  // never interned
  for (int i = 0; i < 5000; ++i) d.intern("v" + std::to_string(i));
  CHECK(d.intern("one too many") == LabelDictionary::kOther);
}

TEST_CASE("metrics: a full table folds new combinations into the other series") {
  CellTable<ValueCell> t(4);
  for (std::uint16_t i = 1; i <= 40; ++i) t.cell(pack(i)).value.fetch_add(1);
  std::int64_t total = 0, other = 0;
  t.for_each([&](Key k, const ValueCell& c, std::int64_t) {
    total += c.value.load();
    if (k == kOtherKey) other = c.value.load();
  });
  CHECK(total == 40);
  CHECK(other > 0);
  CHECK(t.size() <= t.capacity());
}

TEST_CASE("metrics: keys pack five label ids") {
  Key k = pack(1, 2, 3, 4, kMaxId);
  CHECK(unpack(k, 0) == 1);
  CHECK(unpack(k, 3) == 4);
  CHECK(unpack(k, 4) == kMaxId);
  CHECK(k != kEmptyKey);
}

TEST_CASE("metrics: histogram buckets follow le (an observation on a bound counts in it)") {
  Buckets b = latency_buckets();
  CHECK(b.index(0) == 0);
  CHECK(b.index(100'000) == 0);  // 100 µs is in le="0.0001"
  CHECK(b.index(100'001) == 1);
  CHECK(b.index(61'000'000'000ULL) == b.count);  // +Inf
}

TEST_CASE("metrics: text format 0.0.4") {
  Registry r;
  auto& l = r.labels();
  auto route = l.intern("search");
  auto weird = l.intern("a\"b\\c\nd");
  auto agent = l.intern("planner");
  auto op = l.intern("execute_tool");
  auto allow = l.intern("allow");
  auto code = l.intern("2xx");
  r.add(Family::requests_total, pack(route, agent, op, allow, code), 3);
  r.add(Family::requests_total, pack(weird, agent, op, allow, code));
  r.observe(Family::request_duration_seconds, pack(route), 100'000);        // le 0.0001
  r.observe(Family::request_duration_seconds, pack(route), 30'000'000'000);  // le 30
  auto text = rendered(r);
  CHECK(has_line(text, "# TYPE scopegate_requests_total counter"));
  CHECK(has_line(text, "scopegate_requests_total{route=\"search\",agent=\"planner\",operation=\"execute_tool\","
                       "decision=\"allow\",code=\"2xx\"} 3"));
  CHECK(has_line(text, "scopegate_requests_total{route=\"a\\\"b\\\\c\\nd\",agent=\"planner\",operation=\"execute_tool\","
                       "decision=\"allow\",code=\"2xx\"} 1"));
  CHECK(has_line(text, "scopegate_request_duration_seconds_bucket{route=\"search\",le=\"0.0001\"} 1"));
  CHECK(has_line(text, "scopegate_request_duration_seconds_bucket{route=\"search\",le=\"10.0\"} 1"));
  CHECK(has_line(text, "scopegate_request_duration_seconds_bucket{route=\"search\",le=\"30.0\"} 2"));
  CHECK(has_line(text, "scopegate_request_duration_seconds_bucket{route=\"search\",le=\"+Inf\"} 2"));
  CHECK(has_line(text, "scopegate_request_duration_seconds_sum{route=\"search\"} 30.0001"));
  CHECK(has_line(text, "scopegate_request_duration_seconds_count{route=\"search\"} 2"));
  // The empty fallback series of a labelled family is not shown; an unlabelled gauge is.
  CHECK(text.find("route=\"other\"") == std::string::npos);
  CHECK(has_line(text, "scopegate_inflight_requests 0"));
  CHECK(text.find("# EOF") == std::string::npos);
  CHECK(has_line(text, "# TYPE process_cpu_seconds_total counter"));
}

TEST_CASE("metrics: OpenMetrics 1.0") {
  Registry r;
  auto route = r.labels().intern("search");
  r.add(Family::config_reloads_total, pack(r.labels().intern("ok")));
  r.observe(Family::request_duration_seconds, pack(route), 2'000'000);
  r.set(Family::build_info, pack(r.labels().intern("1.2.3")), 1);
  auto text = rendered(r, Format::openmetrics_1_0);
  CHECK(has_line(text, "# TYPE scopegate_config_reloads counter"));
  CHECK(has_line(text, "scopegate_config_reloads_total{result=\"ok\"} 1"));
  CHECK(text.find("scopegate_config_reloads_created{result=\"ok\"} ") != std::string::npos);
  CHECK(has_line(text, "# TYPE scopegate_request_duration_seconds histogram"));
  CHECK(has_line(text, "# UNIT scopegate_request_duration_seconds seconds"));
  CHECK(text.find("scopegate_request_duration_seconds_created{route=\"search\"} ") != std::string::npos);
  CHECK(has_line(text, "# TYPE scopegate_build info"));
  CHECK(has_line(text, "scopegate_build_info{version=\"1.2.3\"} 1"));
  CHECK(has_line(text, "# TYPE process_cpu_seconds counter"));
  CHECK(text.ends_with("# EOF\n"));
}

TEST_CASE("metrics: the Accept header picks the format") {
  CHECK(negotiate("") == Format::text_0_0_4);
  CHECK(negotiate("text/plain;version=0.0.4") == Format::text_0_0_4);
  CHECK(negotiate("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                  "text/plain;version=0.0.4;q=0.5,*/*;q=0.1") == Format::openmetrics_1_0);
  CHECK(negotiate("application/openmetrics-text; version=1.0.0; q=0.2, text/plain;q=0.9") == Format::text_0_0_4);
  CHECK(negotiate("Application/OpenMetrics-Text") == Format::openmetrics_1_0);
  CHECK(negotiate("application/openmetrics-text;q=0") == Format::text_0_0_4);
  CHECK(content_type(Format::text_0_0_4) == "text/plain; version=0.0.4; charset=utf-8");
}

TEST_CASE("metrics: numbers") {
  std::string s;
  append_number(s, 3);
  s += ' ';
  append_number(s, 0.25);
  s += ' ';
  append_number(s, 1.0 / 0.0);
  CHECK(s == "3 0.25 +Inf");
}
