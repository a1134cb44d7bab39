#include "audit/chain.hpp"
#include "audit/segments.hpp"
#include "audit/verify.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace scopegate::audit;

namespace {
// Seals `n` records as the writer does and returns the lines (without newlines) and the last hash.
std::vector<std::string> sealed_chain(int n, Digest& last) {
  std::vector<std::string> lines;
  Digest prev = kGenesis;
  for (int i = 1; i <= n; ++i) {
    std::string out;
    prev = seal(out, static_cast<std::uint64_t>(i), "2026-11-21T10:00:00.000000Z", "gw-1",
                i == 1 ? "segment.start" : "request", i == 1 ? ",\"segment\":\"gw-1-00000000000000000001.jsonl\"" : ",\"x\":\"\\\"q\\\"\"", prev);
    out.pop_back();
    lines.push_back(out);
  }
  last = prev;
  return lines;
}

SegmentFile segment() { return {"", "gw-1-00000000000000000001.jsonl", "gw-1", 1}; }
}  // namespace

TEST_CASE("a sealed line carries its hash last, over the line without it") {
  std::string out;
  Digest h = seal(out, 7, "2026-11-21T10:00:00.000001Z", "gw-1", "request", ",\"a\":1", kGenesis);
  REQUIRE(out.back() == '\n');
  out.pop_back();
  CHECK(out.starts_with(R"({"v":1,"seq":7,"ts":"2026-11-21T10:00:00.000001Z","node":"gw-1","event":"request","a":1,"prev":")"));
  CHECK(out.ends_with(",\"hash\":\"" + std::string(view(h)) + "\"}"));
  SealedLine s;
  REQUIRE(check_seal(out, s));
  CHECK(s.intact);
  CHECK(s.hash == view(h));
  RecordHead head;
  REQUIRE(parse_head(out, head));
  CHECK(head.seq == 7);
  CHECK(head.event == "request");
  CHECK(head.prev == view(kGenesis));

  out[30] = out[30] == '0' ? '1' : '0';  // one byte of the timestamp
  REQUIRE(check_seal(out, s));
  CHECK_FALSE(s.intact);
  CHECK_FALSE(check_seal("{\"v\":1}", s));
}

TEST_CASE("the verifier names the first bad seq: intact, edited, deleted, duplicated, reordered") {
  Digest last;
  auto lines = sealed_chain(6, last);
  auto run = [&](const std::vector<std::string>& ls) {
    ChainVerifier v("gw-1");
    v.begin_segment(segment());
    RecordHead head;
    std::uint64_t n = 0;
    for (const auto& l : ls) v.feed(l, ++n, head);
    v.end_segment(0, n + 1);
    return v.problem();
  };
  CHECK_FALSE(run(lines).has_value());

  auto edited = lines;
  edited[3].replace(edited[3].find("\\\"q"), 3, "\\\"Q");
  REQUIRE(run(edited));
  CHECK(run(edited)->seq == 4);
  CHECK(run(edited)->why.find("hash mismatch") != std::string::npos);

  auto deleted = lines;
  deleted.erase(deleted.begin() + 2);
  REQUIRE(run(deleted));
  CHECK(run(deleted)->seq == 3);

  auto duplicated = lines;
  duplicated.insert(duplicated.begin() + 3, lines[2]);
  REQUIRE(run(duplicated));
  CHECK(run(duplicated)->seq == 4);

  auto reordered = lines;
  std::swap(reordered[1], reordered[2]);
  REQUIRE(run(reordered));
  CHECK(run(reordered)->seq == 2);

  auto cut = lines;
  cut[4].resize(cut[4].size() / 2);
  REQUIRE(run(cut));
  CHECK(run(cut)->seq == 5);

  auto headless = lines;
  headless.erase(headless.begin());
  REQUIRE(run(headless));
  CHECK(run(headless)->seq == 1);  // the log's start is missing
}

TEST_CASE("a torn last line is reported, an empty segment too") {
  Digest last;
  auto lines = sealed_chain(2, last);
  ChainVerifier v("gw-1");
  v.begin_segment(segment());
  RecordHead head;
  v.feed(lines[0], 1, head);
  v.feed(lines[1], 2, head);
  v.end_segment(17, 3);
  REQUIRE(v.problem());
  CHECK(v.problem()->seq == 3);
  CHECK(v.problem()->line == 3);

  ChainVerifier empty("gw-1");
  empty.begin_segment(segment());
  empty.end_segment(0, 1);
  CHECK(empty.problem().has_value());
}

TEST_CASE("timestamps are RFC 3339 UTC with microseconds") {
  using namespace std::chrono;
  system_clock::time_point t{microseconds(1795261473123456LL)};
  CHECK(format_timestamp(t) == "2026-11-21T11:44:33.123456Z");
}

TEST_CASE("segment names sort in chain order") {
  CHECK(segment_name("gw-1", 42) == "gw-1-00000000000000000042.jsonl");
}
