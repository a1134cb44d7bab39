#include "delegation/revocation_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

namespace scopegate::delegation {

namespace {

std::string errno_text() { return std::strerror(errno); }

bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::string lines(const Revocations& entries) {
  std::string out;
  for (const auto& e : entries) out += e.id + " " + std::to_string(e.until) + "\n";
  return out;
}

std::string directory_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

bool load_revocations(const std::string& path, std::int64_t now, Revocations& out, std::string& error) {
  std::ifstream in(path);
  if (in) {
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      if (line.empty()) continue;
      auto space = line.find(' ');
      ScopeRegistry::Revocation r;
      bool ok = space != std::string::npos && space > 0;
      if (ok) {
        r.id = line.substr(0, space);
        auto digits = std::string_view(line).substr(space + 1);
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), r.until);
        ok = ec == std::errc{} && end == digits.data() + digits.size();
      }
      if (!ok) {
        // A torn last line (a crash mid-append) is the only damage an append-only file can get.
        if (in.peek() == std::char_traits<char>::eof()) break;
        error = path + ":" + std::to_string(number) + ": expected '<scope id> <unix seconds>'";
        return false;
      }
      if (r.until >= now) out.push_back(std::move(r));
    }
  } else if (errno != ENOENT) {
    error = path + ": " + errno_text();
    return false;
  }

  // Compact: the live entries to a temporary file, fsynced, renamed over, directory fsynced.
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = tmp + ": " + errno_text();
    return false;
  }
  bool ok = write_all(fd, lines(out)) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    error = path + ": " + errno_text();
    ::unlink(tmp.c_str());
    return false;
  }
  int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return true;
}

bool append_revocations(const std::string& path, const Revocations& entries, std::string& error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = path + ": " + errno_text();
    return false;
  }
  bool ok = write_all(fd, lines(entries)) && ::fsync(fd) == 0;
  if (!ok) error = path + ": " + errno_text();
  ::close(fd);
  return ok;
}

}  // namespace scopegate::delegation
