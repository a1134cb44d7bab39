// The files of an audit directory: segment names, listing a node's chain in order, and reading
// lines without loading whole files (shared by the writer's recovery, `audit verify` and queries).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace scopegate::audit {

// One segment: `<node>-<first seq, 20 digits>.jsonl`, so a directory may hold several nodes'
// chains and a plain `ls` lists each chain in order.
struct SegmentFile {
  std::string path;
  std::string name;
  std::string node;
  std::uint64_t first_seq = 0;
};

std::string segment_name(std::string_view node, std::uint64_t first_seq);
// A seq as the 20 zero-padded digits of file names (segments, checkpoints), and back.
std::string seq_digits(std::uint64_t seq);
std::optional<std::uint64_t> parse_seq_digits(std::string_view digits);

// Every node's segments in `dir`, each list in chain order. Other files are ignored.
// Returns false (with `error`) when the directory cannot be read.
bool list_segments(const std::string& dir, std::map<std::string, std::vector<SegmentFile>>& out, std::string& error);

// Writes all of `data` to `fd`, again after EINTR or a short write. False with errno set.
bool write_all(int fd, const char* data, std::size_t size);

// "what: <strerror(errno)>", for the exceptions of the writer, its recovery and its journal.
std::string errno_text(std::string_view what);

// Reads a file line by line through one reusable buffer. Lines are views into the buffer, valid
// until the next call, and are followed by simdjson's padding so they can be parsed in place.
class LineReader {
 public:
  explicit LineReader(std::size_t chunk = 1 << 20);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  bool open(const std::string& path, std::string& error);
  // The next complete line (without its newline) and its byte offset. False at the end of the
  // file or on a read error (see error()). Bytes after the last newline are the torn tail.
  bool next(std::string_view& line, std::uint64_t& offset);
  std::uint64_t tail_offset() const { return tail_offset_; }
  std::uint64_t tail_bytes() const { return tail_bytes_; }
  const std::string& error() const { return error_; }
  // How many readable bytes follow `p` inside the buffer (for simdjson's padded parsing).
  std::size_t capacity_from(const char* p) const;

 private:
  bool fill();
  int fd_ = -1;
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;
  std::uint64_t file_offset_ = 0;  // offset of buf_[0]
  std::uint64_t tail_offset_ = 0, tail_bytes_ = 0;
  bool eof_ = false;
  std::string error_;
};

// The fixed head and the prev member every sealed line has (chain.cpp writes them in this
// layout; the hash covers it). Views into the line.
struct RecordHead {
  std::uint64_t seq = 0;
  std::string_view ts, node, event, prev;
};
bool parse_head(std::string_view line, RecordHead& out);

}  // namespace scopegate::audit
