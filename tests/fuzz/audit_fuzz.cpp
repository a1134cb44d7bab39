// The audit log as read back (docs/protocol.md §6, §7): the hash-chain checker behind `audit verify`
// and the writer's start-up recovery (audit/verify.hpp), the line reader and record head
// (audit/segments.hpp), and the query engine (audit/query.hpp). A log on disk may have been cut
// short or edited by anyone with access to the directory: the reader must cope with any bytes.
//
// SHA-256 seals stop mutated lines at the first check, so each input is read twice: as given,
// and re-sealed and re-chained (every line's prev set to the previous line's hash, its hash
// recomputed), which is what a tamperer who knows the format writes, and which carries mutated
// records past the seal into the sequence, node and segment checks and into the queries.
//
// Beyond "no crash": a chain reports at most one first problem and counts its records; every
// JSON output is valid JSON when the log itself is valid UTF-8 (bytes that are not UTF-8 pass
// through some fields unchanged; see docs/fuzzing.md).
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/chain.hpp"
#include "audit/query.hpp"
#include "audit/query_output.hpp"
#include "audit/segments.hpp"
#include "audit/verify.hpp"
#include "delegation/hmac.hpp"
#include "fuzz_support.hpp"

namespace {

using namespace scopegate;
using namespace scopegate::audit;

constexpr std::string_view kHashKey = ",\"hash\":\"";
constexpr std::size_t kHashSuffix = kHashKey.size() + 64 + 2;         // ,"hash":"<64>"}
constexpr std::size_t kPrevTail = 9 + 64 + 1 + kHashSuffix;           // ,"prev":"<64>" then the hash

// One directory for the whole run, removed at exit; in memory when /dev/shm is there.
struct ScratchDir {
  std::string path;
  ScratchDir() {
    std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path().string();
    path = base + "/scopegate-audit-fuzz-XXXXXX";
    fuzz::require(::mkdtemp(path.data()) != nullptr, "a scratch directory can be made");
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

const std::string& scratch_dir() {
  static const ScratchDir dir;
  return dir.path;
}

std::string hex_sha256(std::string_view covered) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto raw = delegation::sha256(covered);
  std::string out;
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::vector<std::string_view> complete_lines(std::string_view text, std::string_view& tail) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (auto nl = text.find('\n'); nl != std::string_view::npos; nl = text.find('\n', start)) {
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  tail = text.substr(start);
  return out;
}

// Every line shaped like a sealed record gets the previous line's hash as prev (the first keeps
// its own) and a correct hash; other lines stay as they are.
std::string reseal(std::string_view text) {
  std::string_view tail;
  std::string out;
  std::string previous;
  for (auto line : complete_lines(text, tail)) {
    SealedLine sealed;
    if (line.size() < kPrevTail || !check_seal(line, sealed) ||
        line.substr(line.size() - kPrevTail, 9) != ",\"prev\":\"") {
      out += line;
      out += '\n';
      continue;
    }
    std::string covered(line.substr(0, line.size() - kHashSuffix));
    if (!previous.empty()) covered.replace(covered.size() - 65, 64, previous);
    previous = hex_sha256(covered + "}");
    out += covered;
    out += kHashKey;
    out += previous;
    out += "\"}\n";
  }
  out += tail;
  return out;
}

// The chain checker over lines held in memory, as follow_segment feeds it from a file.
void follow_in_memory(std::string_view text, std::string_view node, std::uint64_t first_seq) {
  ChainVerifier chain{std::string(node)};
  SegmentFile segment{.path = "", .name = segment_name(node, first_seq), .node = std::string(node), .first_seq = first_seq};
  chain.begin_segment(segment);
  std::string_view tail;
  std::uint64_t line_no = 0;
  std::string padded;
  for (auto line : complete_lines(text, tail)) {
    padded.reserve(line.size() + simdjson::SIMDJSON_PADDING);
    padded.assign(line);
    RecordHead head;
    bool sound = chain.feed(padded, ++line_no, head);
    if (!sound) fuzz::require(!chain.intact(), "an unsound line leaves the chain with a problem");
    RecordHead alone;
    if (parse_head(padded, alone)) fuzz::require(alone.prev.size() == 64, "a record head's prev is 64 characters");
  }
  chain.end_segment(tail.size(), line_no + 1);
  fuzz::require(chain.records() <= line_no, "the chain counts no more records than lines");
  if (auto p = chain.problem()) fuzz::require(!p->why.empty(), "a chain problem says what is wrong");
}

bool is_node_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (unsigned char c : s) {
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// The value after the first occurrence of `key` up to the next quote, for picking a scope or a
// tool the queries then look for.
std::string value_after(std::string_view text, std::string_view key, std::string fallback) {
  auto at = text.find(key);
  if (at == std::string_view::npos) return fallback;
  auto start = at + key.size();
  auto end = text.find('"', start);
  if (end == std::string_view::npos || end - start > 128) return fallback;
  return std::string(text.substr(start, end - start));
}

void require_json(bool check, const std::string& text, const char* what) {
  if (check) fuzz::require(fuzz::is_valid_json(text), what);
}

void write_segment(const std::string& path, std::string_view text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  fuzz::require(fd >= 0, "the scratch segment can be written");
  for (std::size_t done = 0; done < text.size();) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    fuzz::require(n > 0, "the scratch segment can be written");
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

// The line reader with a small buffer (so that long lines make it grow) against a plain split.
void read_lines_back(const std::string& path, std::string_view text) {
  LineReader reader(64);
  std::string error;
  fuzz::require(reader.open(path, error), "the scratch segment can be opened");
  std::string_view tail;
  auto expected = complete_lines(text, tail);
  std::string_view line;
  std::uint64_t offset = 0;
  std::size_t i = 0, at = 0;
  while (reader.next(line, offset)) {
    fuzz::require(i < expected.size() && line == expected[i] && offset == at, "the line reader reads each line as written");
    fuzz::require(reader.capacity_from(line.data()) >= line.size() + simdjson::SIMDJSON_PADDING,
                  "a line read back carries the parser's padding");
    at += line.size() + 1;
    ++i;
  }
  fuzz::require(reader.error().empty() && i == expected.size(), "the line reader reads every line");
  fuzz::require(reader.tail_offset() == at && reader.tail_bytes() == tail.size(), "the torn tail is measured exactly");
}

// Which reading of the segment an input gets. Each one allocates the reader's 1 MiB buffer, which
// under ASan costs a fresh mapping; one per input keeps the harness fast.
enum class Reading { verify, footprint, tree, actions, never };

Reading pick_reading(std::string_view text) {
  std::uint32_t h = 2166136261u;  // FNV-1a
  for (unsigned char c : text) h = (h ^ c) * 16777619u;
  return static_cast<Reading>(h % 5);
}

// The log as one segment file in the scratch directory, read by `audit verify` or a query.
void read_segment(std::string_view text, std::string_view node, std::uint64_t first_seq, bool utf8) {
  std::string path = scratch_dir() + "/" + segment_name(node, first_seq);
  write_segment(path, text);
  read_lines_back(path, text);

  QueryOptions o;
  o.dirs = {scratch_dir()};
  o.scope = value_after(text, "\"scope\":{\"id\":\"", "0193a6f0-0000-7000-8000-000000000001");
  switch (pick_reading(text)) {
    case Reading::verify: {
      std::vector<ChainReport> reports;
      std::string error;
      fuzz::require(verify_directories({scratch_dir()}, reports, error), "the scratch directory verifies without I/O errors");
      fuzz::require(reports.size() == 1, "one segment is one node's chain");
      if (auto& p = reports.front().problem) {
        std::string json = "{\"x\":0";
        append_problem_json(json, *p);
        require_json(utf8, json + "}", "a chain problem is valid JSON");
      }
      break;
    }
    case Reading::footprint: {
      RecordHead first;
      if (parse_head(text.substr(0, text.find('\n')), first)) {
        if (auto since = canonical_time(first.ts, false)) o.since = *since;
      }
      auto r = run_query(QueryKind::footprint, o);
      require_json(utf8, footprint_json(o, r), "footprint JSON is valid");
      require_json(utf8, scanned_json(r), "scanned JSON is valid");
      footprint_table(o, r);
      footprint_csv(r);
      footprint_report(o, r, true);
      footprint_report(o, r, false);
      break;
    }
    case Reading::tree: {
      o.verify = true;
      auto r = run_query(QueryKind::tree, o);
      require_json(utf8, tree_json(o, r), "tree JSON is valid");
      tree_table(o, r);
      tree_csv(r);
      break;
    }
    case Reading::actions: {
      o.descendants = false;
      auto r = run_query(QueryKind::actions, o);
      require_json(utf8, actions_json(o, r), "actions JSON is valid");
      actions_table(o, r);
      actions_csv(r);
      break;
    }
    case Reading::never: {
      Criterion c{"tool", value_after(text, "\"tool\":\"", "search")};
      auto r = run_query(QueryKind::never, o, &c);
      int code = never_exit_code(r);
      fuzz::require(code >= 0 && code <= 2, "query never exits 0, 1 or 2");
      fuzz::require(code != 0 || (r.records_json.empty() && !r.incomplete()),
                    "never says no only with no record and complete evidence");
      require_json(utf8, never_json(o, c, r, code), "never JSON is valid");
      never_table(o, c, r, code);
      never_csv(r);
      break;
    }
  }
  std::filesystem::remove(path);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const bool utf8 = simdjson::validate_utf8(input.data(), input.size());

  // The node and first seq the segment is named after: the first record's, when it has them.
  RecordHead first;
  std::string node = "fuzz";
  std::uint64_t first_seq = 1;
  std::string first_line(input.substr(0, input.find('\n')));
  if (parse_head(first_line, first)) {
    if (is_node_name(first.node)) node = first.node;
    first_seq = first.seq;
  }

  // Times as queries take them (--since/--until): the first line, or the first record's ts.
  for (std::string_view text : {std::string_view(first_line), first.ts}) {
    for (bool end_of_range : {false, true}) {
      if (auto t = canonical_time(text, end_of_range)) {
        fuzz::require(canonical_time(*t, end_of_range) == t, "a canonical time is its own canonical form");
      }
    }
  }

  follow_in_memory(input, node, first_seq);
  std::string resealed = reseal(input);
  follow_in_memory(resealed, node, first_seq);
  read_segment(resealed, node, first_seq, utf8);
  return 0;
}
