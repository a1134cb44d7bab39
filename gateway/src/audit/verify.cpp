#include "audit/verify.hpp"

#include <algorithm>
#include <cstring>

#include "json/write.hpp"

namespace scopegate::audit {

void ChainVerifier::begin_segment(const SegmentFile& segment) {
  file_ = segment.name;
  segment_first_seq_ = segment.first_seq;
  segment_records_ = 0;
}

void append_problem_json(std::string& out, const ChainProblem& p) {
  namespace json = scopegate::json;
  out += ",\"problem\":{\"seq\":" + std::to_string(p.seq);
  json::append_field(out, "file", p.file);
  json::append_int(out, "line", static_cast<std::int64_t>(p.line));
  json::append_field(out, "why", p.why);
  out += '}';
}

void ChainVerifier::resume_after(std::uint64_t seq, std::string_view hash) {
  records_ = std::max<std::uint64_t>(records_, 1);
  if (first_seq_ == 0) first_seq_ = seq;
  last_seq_ = seq;
  std::memcpy(last_hash_.data(), hash.data(), 64);
}

void ChainVerifier::watch(std::vector<std::uint64_t> seqs) { watch_ = std::move(seqs); }

void ChainVerifier::fail(std::uint64_t seq, std::uint64_t line, std::string why) {
  if (!problem_) problem_ = ChainProblem{seq, file_, line, std::move(why)};
}

bool ChainVerifier::feed(std::string_view line, std::uint64_t line_no, RecordHead& head) {
  std::uint64_t expected = expected_seq();
  bool first_in_segment = segment_records_++ == 0;
  SealedLine sealed;
  bool readable = check_seal(line, sealed) && parse_head(line, head);
  if (readable && records_ == 0 && any_start_) {
    expected = head.seq;
    std::memcpy(last_hash_.data(), head.prev.data(), 64);
  }
  if (!readable) {
    head = RecordHead{};
    fail(expected, line_no, "line " + std::to_string(line_no) + " of " + file_ + " is not a sealed record (edited or cut)");
    return false;
  }
  bool sound = true;
  auto broken = [&](std::uint64_t seq, std::string why) {
    fail(seq, line_no, std::move(why));
    sound = false;
  };
  if (!sealed.intact) {
    broken(head.seq, "hash mismatch: the record was altered after it was written");
  } else if (head.seq != expected) {
    if (records_ == 0) {
      broken(1, "the chain starts at seq " + std::to_string(head.seq) + ": every earlier record is missing");
    } else if (head.seq < expected) {
      broken(expected, "expected seq " + std::to_string(expected) + ", found seq " + std::to_string(head.seq) +
                           " (a record duplicated or moved)");
    } else {
      broken(expected, "missing: the next record is seq " + std::to_string(head.seq) +
                           (first_in_segment ? " (a segment was removed?)" : " (records were deleted or moved)"));
    }
  } else if (std::memcmp(head.prev.data(), last_hash_.data(), 64) != 0) {
    broken(head.seq, records_ == 0 ? "the first record's prev is not 64 zeros"
                                   : "prev does not match the hash of seq " + std::to_string(last_seq_));
  } else if (head.node != node_) {
    broken(head.seq, "record of node '" + std::string(head.node) + "' in node '" + node_ + "''s chain");
  } else if (first_in_segment && (head.event != "segment.start" || head.seq != segment_first_seq_)) {
    broken(head.seq, "segment " + file_ + " does not begin with its segment.start record");
  }
  if (!watch_.empty() && std::binary_search(watch_.begin(), watch_.end(), head.seq)) {
    Digest hash;
    std::memcpy(hash.data(), sealed.hash.data(), 64);
    watched_.try_emplace(head.seq, hash);  // a duplicated seq keeps its first hash
  }
  // The chain follows the file as it is: after a problem, each later record is checked against
  // its neighbour, but only the first problem is reported.
  if (records_ == 0) first_seq_ = head.seq;
  ++records_;
  last_seq_ = head.seq;
  std::memcpy(last_hash_.data(), sealed.hash.data(), 64);
  return sound;
}

void ChainVerifier::end_segment(std::uint64_t torn_bytes, std::uint64_t torn_line) {
  if (segment_records_ == 0 && torn_bytes == 0) {
    fail(expected_seq(), 0, "segment " + file_ + " is empty");
  } else if (torn_bytes > 0) {
    fail(expected_seq(), torn_line,
         "line " + std::to_string(torn_line) + " of " + file_ + " is incomplete (" + std::to_string(torn_bytes) +
             " bytes without a newline): a write cut short; the gateway sets it aside at its next start");
  }
}

bool follow_segment(ChainVerifier& chain, const SegmentFile& segment, std::uint64_t& bytes, std::string& error) {
  LineReader reader;
  if (!reader.open(segment.path, error)) return false;
  chain.begin_segment(segment);
  std::string_view line;
  std::uint64_t offset = 0, line_no = 0;
  RecordHead head;
  while (reader.next(line, offset)) chain.feed(line, ++line_no, head);
  if (!reader.error().empty()) {
    error = segment.path + ": " + reader.error();
    return false;
  }
  chain.end_segment(reader.tail_bytes(), line_no + 1);
  bytes += reader.tail_offset() + reader.tail_bytes();
  return true;
}

bool verify_directories(const std::vector<std::string>& dirs, std::vector<ChainReport>& out, std::string& error,
                        const std::map<std::string, std::vector<std::uint64_t>>& watch) {
  std::map<std::string, std::vector<SegmentFile>> nodes;
  for (const auto& dir : dirs) {
    if (!list_segments(dir, nodes, error)) return false;
  }
  for (auto& [node, segments] : nodes) {
    std::stable_sort(segments.begin(), segments.end(), [](const auto& a, const auto& b) { return a.first_seq < b.first_seq; });
    ChainVerifier chain(node);
    if (auto it = watch.find(node); it != watch.end()) chain.watch(it->second);
    ChainReport report;
    report.node = node;
    for (const auto& segment : segments) {
      if (!follow_segment(chain, segment, report.bytes, error)) return false;
      ++report.segments;
    }
    report.records = chain.records();
    report.first_seq = chain.first_seq();
    report.last_seq = chain.last_seq();
    report.problem = chain.problem();
    report.last_hash = chain.last_hash();
    report.watched = chain.watched();
    out.push_back(std::move(report));
  }
  return true;
}

}  // namespace scopegate::audit
