#include "audit/recovery.hpp"
#include "audit/events.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

using namespace scopegate::audit;
namespace fs = std::filesystem;

namespace {

constexpr const char* kSegment = "gw-1-00000000000000000001.jsonl";

// A directory holding one segment of `n` sealed records (segment.start first), plus `extra` bytes.
struct LogDir {
  fs::path dir;
  int fd = -1;
  std::string text;

  LogDir(int n, const std::string& extra) {
    dir = fs::temp_directory_path() / ("sg-recovery-test-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    Digest prev = kGenesis;
    for (int i = 1; i <= n; ++i) {
      prev = seal(text, static_cast<std::uint64_t>(i), "2026-11-21T10:00:00.000000Z", "gw-1",
                  i == 1 ? "segment.start" : "request", i == 1 ? ",\"segment\":\"x\"" : ",\"n\":" + std::to_string(i),
                  prev);
    }
    write(text + extra);
    fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  }
  ~LogDir() {
    ::close(fd);
    fs::remove_all(dir);
  }
  void write(const std::string& bytes) const { std::ofstream(dir / kSegment, std::ios::binary | std::ios::trunc) << bytes; }
  std::string read(const fs::path& p) const {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
};

}  // namespace

TEST_CASE("recovery: a torn last line is copied aside, cut off and described") {
  const std::string torn = "{\"v\":1,\"seq\":4,\"ts\":\"2026-11";
  LogDir log(3, torn);
  RecoveredLog r = recover_log(log.dir.string(), log.fd, "gw-1", 2);
  CHECK(r.last_seq == 3);
  CHECK(log.read(log.dir / kSegment) == log.text);  // the sound records stay, byte for byte
  auto aside = log.dir / "recovered" / (std::string(kSegment) + "." + std::to_string(log.text.size()) + ".torn");
  REQUIRE(fs::exists(aside));
  CHECK(log.read(aside) == torn);
  CHECK(r.recovery_members.find("\"removed_bytes\":" + std::to_string(torn.size())) != std::string::npos);
  CHECK(r.recovery_members.find("\"first_removed_line\":4") != std::string::npos);
  REQUIRE(r.tail.size() == 2);  // the last two records, segment.start excluded
  CHECK(r.tail.back() == std::string("request") + '\0' + ",\"n\":3");
}

TEST_CASE("recovery: an intact log is left alone, damage before the end refuses the start") {
  {
    LogDir log(3, "");
    RecoveredLog r = recover_log(log.dir.string(), log.fd, "gw-1", 0);
    CHECK(r.last_seq == 3);
    CHECK(r.recovery_members.empty());
    CHECK(r.tail.empty());
    CHECK_FALSE(fs::exists(log.dir / "recovered"));
  }
  {
    LogDir log(3, "");
    std::string edited = log.text;
    edited.replace(edited.find("\"n\":2"), 5, "\"n\":9");
    log.write(edited);
    CHECK_THROWS_WITH_AS(recover_log(log.dir.string(), log.fd, "gw-1", 0), doctest::Contains("seq 2"),
                         std::runtime_error);
    CHECK(log.read(log.dir / kSegment) == edited);  // nothing cut: damage is for operators to judge
  }
}

TEST_CASE("recovery: a segment killed before its first record is removed") {
  LogDir log(0, "");
  RecoveredLog r = recover_log(log.dir.string(), log.fd, "gw-1", 0);
  CHECK(r.last_seq == 0);
  CHECK_FALSE(fs::exists(log.dir / kSegment));
}

TEST_CASE("recovery: journal entries the log already holds are dropped, as a multiset") {
  std::deque<std::string> tail = {std::string("request") + '\0' + ",\"n\":1", std::string("request") + '\0' + ",\"n\":2"};
  std::vector<Journal::Unwritten> unwritten = {
      {static_cast<unsigned>(Event::request), 0, ",\"n\":1"},
      {static_cast<unsigned>(Event::request), 0, ",\"n\":5"},  // dropped by a full queue: not in the log
      {static_cast<unsigned>(Event::request), 0, ",\"n\":2"},
      {static_cast<unsigned>(Event::request), 0, ",\"n\":2"},  // a second copy: the log has only one
      {static_cast<unsigned>(Event::request), 0, "not members"},
      {999, 0, ",\"n\":7"},
  };
  std::size_t damaged = 0;
  drop_written(unwritten, tail, damaged);
  CHECK(damaged == 2);
  REQUIRE(unwritten.size() == 2);
  CHECK(unwritten[0].members == ",\"n\":5");
  CHECK(unwritten[1].members == ",\"n\":2");
}
