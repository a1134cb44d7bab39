#include "audit/segments.hpp"

#include <simdjson.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

namespace scopegate::audit {

namespace {
constexpr std::string_view kSuffix = ".jsonl";
constexpr std::size_t kSeqDigits = 20;

std::string_view between(std::string_view line, std::string_view key, std::size_t from = 0) {
  auto at = line.find(key, from);
  if (at == std::string_view::npos) return {};
  auto start = at + key.size();
  auto end = line.find('"', start);
  if (end == std::string_view::npos) return {};
  return line.substr(start, end - start);
}
}  // namespace

std::string seq_digits(std::uint64_t seq) {
  char digits[kSeqDigits + 1];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(seq));
  return digits;
}

std::optional<std::uint64_t> parse_seq_digits(std::string_view digits) {
  std::uint64_t seq = 0;
  if (digits.size() != kSeqDigits) return std::nullopt;
  auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
  if (err != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return seq;
}

std::string segment_name(std::string_view node, std::uint64_t first_seq) {
  std::string name(node);
  name += '-';
  name += seq_digits(first_seq);
  name += kSuffix;
  return name;
}

std::string errno_text(std::string_view what) { return std::string(what) + ": " + std::strerror(errno); }

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool list_segments(const std::string& dir, std::map<std::string, std::vector<SegmentFile>>& out, std::string& error) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) {
    error = dir + ": " + ec.message();
    return false;
  }
  for (const auto& entry : it) {
    if (!entry.is_regular_file(ec)) continue;
    std::string name = entry.path().filename().string();
    if (name.size() < kSeqDigits + 1 + kSuffix.size() + 1 || !name.ends_with(kSuffix)) continue;
    std::size_t digits_at = name.size() - kSuffix.size() - kSeqDigits;
    if (name[digits_at - 1] != '-') continue;
    auto seq = parse_seq_digits(std::string_view(name).substr(digits_at, kSeqDigits));
    if (!seq) continue;
    SegmentFile s;
    s.path = entry.path().string();
    s.node = name.substr(0, digits_at - 1);
    s.name = std::move(name);
    s.first_seq = *seq;
    out[s.node].push_back(std::move(s));
  }
  for (auto& [node, list] : out) {
    std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.first_seq < b.first_seq; });
  }
  return true;
}

LineReader::LineReader(std::size_t chunk) : buf_(chunk + simdjson::SIMDJSON_PADDING) {}

LineReader::~LineReader() {
  if (fd_ >= 0) ::close(fd_);
}

bool LineReader::open(const std::string& path, std::string& error) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    error = path + ": " + std::strerror(errno);
    return false;
  }
  ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  return true;
}

bool LineReader::fill() {
  // Keep the unread part, then read after it; grow when one line fills the whole buffer.
  std::size_t usable = buf_.size() - simdjson::SIMDJSON_PADDING;
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    file_offset_ += begin_;
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == usable) {
    buf_.resize(buf_.size() * 2);
    usable = buf_.size() - simdjson::SIMDJSON_PADDING;
  }
  for (;;) {
    ssize_t n = ::read(fd_, buf_.data() + end_, usable - end_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error_ = std::strerror(errno);
      return false;
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    end_ += static_cast<std::size_t>(n);
    return true;
  }
}

bool LineReader::next(std::string_view& line, std::uint64_t& offset) {
  for (;;) {
    const char* start = buf_.data() + begin_;
    const void* nl = std::memchr(start, '\n', end_ - begin_);
    if (nl) {
      std::size_t len = static_cast<const char*>(nl) - start;
      line = std::string_view(start, len);
      offset = file_offset_ + begin_;
      begin_ += len + 1;
      return true;
    }
    if (eof_ || !fill()) {
      tail_offset_ = file_offset_ + begin_;
      tail_bytes_ = end_ - begin_;
      return false;
    }
  }
}

std::size_t LineReader::capacity_from(const char* p) const {
  return static_cast<std::size_t>(buf_.data() + buf_.size() - p);
}

bool parse_head(std::string_view line, RecordHead& out) {
  constexpr std::string_view kHead = "{\"v\":1,\"seq\":";
  if (!line.starts_with(kHead)) return false;
  const char* p = line.data() + kHead.size();
  auto [end, ec] = std::from_chars(p, line.data() + line.size(), out.seq);
  if (ec != std::errc{} || end == p || *end != ',') return false;
  std::size_t after = static_cast<std::size_t>(end - line.data());
  out.ts = between(line, ",\"ts\":\"", after);
  out.node = between(line, ",\"node\":\"", after);
  out.event = between(line, ",\"event\":\"", after);
  // prev is the last member before the hash: ,"prev":"<64>","hash":"<64>"}
  constexpr std::size_t kTail = 9 + 64 + 1 + 9 + 64 + 2;  // ,"prev":"…"  ,"hash":"…"}
  if (line.size() < kTail || line.substr(line.size() - kTail, 9) != ",\"prev\":\"") return false;
  out.prev = line.substr(line.size() - kTail + 9, 64);
  return !out.ts.empty() && !out.node.empty() && !out.event.empty();
}

}  // namespace scopegate::audit
