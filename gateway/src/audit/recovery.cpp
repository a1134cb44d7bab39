#include "audit/recovery.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include <simdjson.h>

#include "audit/events.hpp"
#include "audit/segments.hpp"
#include "audit/verify.hpp"
#include "log/log.hpp"

namespace scopegate::audit {

namespace {

// A journal entry read back at start is written into the chain only if its members read as JSON
// members: a damaged journal must not put bytes into the log that no reader can parse.
bool members_well_formed(std::string_view members) {
  if (members.empty()) return true;
  if (members.front() != ',') return false;
  std::string doc = "{\"v\":1" + std::string(members) + "}";
  doc.reserve(doc.size() + simdjson::SIMDJSON_PADDING);
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  return !parser.parse(doc.data(), doc.size(), false).get(e) && e.is_object();
}

}  // namespace

RecoveredLog recover_log(const std::string& dir, int dir_fd, const std::string& node, std::size_t tail_records) {
  RecoveredLog result;
  std::error_code ec;
  // The last records of the log (event and members), as many as the journal holds past its mark:
  // the ones among them that the log already has were written before the process stopped.
  auto keep_tail = [&](std::string_view line) {
    if (tail_records == 0) return;
    std::string_view event, members;
    if (!sealed_parts(line, event, members)) return;
    if (event == event_name<Event::segment_start> || event == event_name<Event::audit_recovery> ||
        event == event_name<Event::audit_unavailable>) {
      return;  // the writer's own records, never journaled
    }
    result.tail.push_back(std::string(event) + '\0' + std::string(members));
    if (result.tail.size() > tail_records) result.tail.pop_front();
  };

  std::map<std::string, std::vector<SegmentFile>> nodes;
  std::string error;
  if (!list_segments(dir, nodes, error)) throw std::runtime_error("audit.dir " + error);
  std::vector<SegmentFile> segments = nodes[node];
  auto refuse = [&](const std::string& what) {
    throw std::runtime_error("audit log " + dir + " is damaged: " + what +
                             ". Refusing to start: run `scopegate audit verify --log " + dir +
                             "`, then decide what to keep (move the damaged segment aside to start a new chain)");
  };

  // Every earlier segment is followed record by record: damage there is for operators to judge
  // (refuse to start); only a torn tail of the last segment is the writer's to repair.
  ChainVerifier chain(node);
  chain.accept_any_start();  // older segments may have been archived: the writer only continues the chain
  for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
    std::uint64_t bytes = 0;
    if (!follow_segment(chain, segments[i], bytes, error)) throw std::runtime_error("audit log: " + error);
    if (const auto& p = chain.problem()) {
      refuse("seq " + std::to_string(p->seq) + " (" + p->file + " line " + std::to_string(p->line) + "): " + p->why);
    }
  }

  if (!segments.empty()) {
    const SegmentFile& last = segments.back();
    LineReader reader;
    if (!reader.open(last.path, error)) throw std::runtime_error("audit log: " + error);
    chain.begin_segment(last);
    std::string_view line;
    std::uint64_t offset = 0, line_no = 0;
    std::uint64_t good_end = 0, bad_offset = 0, bad_line = 0;
    bool bad = false;
    std::optional<std::string> damage;
    RecordHead head;
    while (reader.next(line, offset)) {
      ++line_no;
      bool sound = chain.feed(line, line_no, head);
      bool readable = !head.node.empty();
      if (!bad && sound) {
        good_end = offset + line.size() + 1;
        keep_tail(line);
        continue;
      }
      if (!bad) {
        bad = true;
        bad_offset = offset;
        bad_line = line_no;
      }
      // A torn write leaves bytes no reader can take for a record. A readable record after the
      // first bad line (or a bad line that reads as a record) is damage, not a torn tail.
      if (readable && !damage) {
        damage = line_no == bad_line ? "seq " + std::to_string(chain.problem()->seq) + " (" + last.name + " line " +
                                           std::to_string(bad_line) + "): " + chain.problem()->why
                                     : "line " + std::to_string(bad_line) + " of " + last.name +
                                           " cannot be read, yet intact records follow it";
      }
    }
    if (!reader.error().empty()) throw std::runtime_error("audit log " + last.path + ": " + reader.error());
    if (damage) refuse(*damage);
    if (!bad && reader.tail_bytes() > 0) {
      bad = true;
      bad_offset = reader.tail_offset();
      bad_line = line_no + 1;
    }
    if (!bad && good_end == 0) {
      // Killed between creating the segment and writing its segment.start: nothing to keep.
      ::unlinkat(dir_fd, last.name.c_str(), 0);
      ::fsync(dir_fd);
      log::warn("audit: an empty segment was removed", {{"segment", last.name}});
    }
    if (bad) {
      std::uint64_t end = reader.tail_offset() + reader.tail_bytes();
      std::uint64_t removed = end - bad_offset;
      std::string aside_dir = dir + "/recovered";
      std::filesystem::create_directories(aside_dir, ec);
      std::string aside_name = "recovered/" + last.name + "." + std::to_string(bad_offset) + ".torn";
      std::string aside = dir + "/" + aside_name;
      int in = ::open(last.path.c_str(), O_RDWR | O_CLOEXEC);
      int out = ::open(aside.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
      if (in < 0 || out < 0) throw std::runtime_error(errno_text("audit recovery: " + aside));
      std::string bytes(removed, '\0');
      if (::pread(in, bytes.data(), removed, static_cast<off_t>(bad_offset)) != static_cast<ssize_t>(removed) ||
          !write_all(out, bytes.data(), bytes.size()) || ::fsync(out) != 0 ||
          ::ftruncate(in, static_cast<off_t>(bad_offset)) != 0 || ::fsync(in) != 0) {
        throw std::runtime_error(errno_text("audit recovery of " + last.path));
      }
      ::close(out);
      ::close(in);
      if (int d = ::open(aside_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); d >= 0) {
        ::fsync(d);
        ::close(d);
      }
      if (good_end == 0) ::unlinkat(dir_fd, last.name.c_str(), 0);  // nothing of it survived
      ::fsync(dir_fd);
      result.recovery_members = ",\"segment\":\"" + last.name + "\",\"offset\":" + std::to_string(bad_offset) +
                 ",\"removed_bytes\":" + std::to_string(removed) + ",\"first_removed_line\":" +
                 std::to_string(bad_line) + ",\"copied_to\":\"" + aside_name + "\"";
      log::warn("audit: a torn tail was set aside",
                {{"segment", last.name}, {"bytes", std::to_string(removed)}, {"copied_to", aside}});
    }
  }
  if (chain.records() > 0) {
    result.last_seq = chain.last_seq();
    result.last_hash = chain.last_hash();
  }
  return result;
}

void drop_written(std::vector<Journal::Unwritten>& unwritten, const std::deque<std::string>& tail,
                  std::size_t& damaged) {
  // Matched as a multiset, not as a run: a record dropped from a full queue during an outage is
  // in the journal but not in the log, and must not make the records after it look unwritten.
  std::unordered_map<std::string, std::size_t> in_log;
  for (const auto& t : tail) ++in_log[t];
  std::erase_if(unwritten, [&](const Journal::Unwritten& u) {
    if (u.event >= kEventCount || !members_well_formed(u.members)) {
      ++damaged;
      return true;
    }
    auto it = in_log.find(std::string(to_string(static_cast<Event>(u.event))) + '\0' + u.members);
    if (it == in_log.end() || it->second == 0) return false;
    --it->second;
    return true;
  });
}

}  // namespace scopegate::audit
