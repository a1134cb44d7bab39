#include "audit/journal.hpp"

#include "audit/segments.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace scopegate::audit {

namespace {

constexpr char kMagic[8] = {'s', 'g', 'j', 'r', 'n', 'l', '0', '1'};
constexpr std::size_t kHeaderBytes = 4096;
constexpr std::uint32_t kRecord = 1, kSkip = 2;

std::uint64_t align8(std::uint64_t n) { return (n + 7) & ~std::uint64_t{7}; }


}  // namespace

struct Journal::Header {
  char magic[8];
  std::uint64_t capacity;
  std::uint64_t durable;  // the mark: entries ending at or before it are in the log (atomic_ref)
};

struct Journal::EntryHead {
  std::uint64_t offset;  // logical start of this entry; stored last (atomic_ref, release)
  std::uint32_t kind;    // kRecord, or kSkip: the rest of the lap is unused
  std::uint32_t event;
  std::int64_t at_us;
  std::uint64_t size;  // bytes of members after the head
};
Journal::Journal(std::string path, std::uint64_t capacity) : path_(std::move(path)), capacity_(align8(capacity)) {
  static_assert(sizeof(EntryHead) == 32);
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd_ < 0) throw std::runtime_error(errno_text("audit journal " + path_));
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw std::runtime_error(errno_text("audit journal " + path_));
  std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
  if (size != 0 && !header_matches(size)) {
    // Truncated, resized or overwritten: its entries cannot be trusted to lie where the header
    // says. It is kept aside for inspection and a new journal begins.
    set_aside_ = path_ + ".damaged-" + std::to_string(::time(nullptr));
    ::close(fd_);
    if (::rename(path_.c_str(), set_aside_.c_str()) != 0) {
      throw std::runtime_error(errno_text("audit journal " + path_ + " is damaged; moving it aside"));
    }
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd_ < 0) throw std::runtime_error(errno_text("audit journal " + path_));
    size = 0;
  }
  bool fresh = size == 0;
  map_size_ = fresh ? kHeaderBytes + capacity_ : static_cast<std::size_t>(size);
  // Blocks are reserved now, so that a store into the mapping can never fault on a full disk.
  if (int rc = ::posix_fallocate(fd_, 0, static_cast<off_t>(map_size_)); rc != 0) {
    errno = rc;
    ::close(fd_);
    throw std::runtime_error(errno_text("audit journal " + path_ + " (reserving " + std::to_string(map_size_) +
                                        " bytes; see audit.journal_bytes)"));
  }
  void* p = ::mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (p == MAP_FAILED) {
    ::close(fd_);
    throw std::runtime_error(errno_text("audit journal " + path_ + " (mmap)"));
  }
  map_ = static_cast<char*>(p);
  area_ = map_ + kHeaderBytes;
  if (fresh) {
    Header& h = header();
    std::memcpy(h.magic, kMagic, sizeof kMagic);
    h.capacity = capacity_;
    h.durable = 0;
  }
  head_ = scan_end();
}

// The header names this file's own size: magic, and a capacity that fills the rest of the file.
bool Journal::header_matches(std::uint64_t file_size) const {
  Header h{};
  if (::pread(fd_, &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) return false;
  return std::memcmp(h.magic, kMagic, sizeof kMagic) == 0 && h.capacity >= 4096 && h.capacity % 8 == 0 &&
         h.capacity + kHeaderBytes == file_size;
}

Journal::~Journal() {
  if (map_) ::munmap(map_, map_size_);
  if (fd_ >= 0) ::close(fd_);
}

Journal::Header& Journal::header() const { return *reinterpret_cast<Header*>(map_); }

// From the mark, the end of the run of valid entries.
std::uint64_t Journal::scan_end() const {
  const Header& h = header();
  std::uint64_t cap = h.capacity;
  std::uint64_t at = std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(h.durable)).load();
  std::uint64_t limit = at + cap;  // one lap at most
  while (at < limit) {
    std::uint64_t pos = at % cap;
    if (cap - pos < sizeof(EntryHead)) {
      at += cap - pos;  // too short for a head: always skipped
      continue;
    }
    const auto* e = reinterpret_cast<const EntryHead*>(area_ + pos);
    std::uint64_t offset = std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(e->offset)).load(std::memory_order_acquire);
    if (offset != at) break;
    if (e->kind == kSkip) {
      at += cap - pos;
      continue;
    }
    if (e->kind != kRecord || e->size > cap - pos - sizeof(EntryHead)) break;
    at += sizeof(EntryHead) + align8(e->size);
  }
  return at;
}

std::vector<Journal::Unwritten> Journal::unwritten() const {
  std::vector<Unwritten> out;
  const Header& h = header();
  std::uint64_t cap = h.capacity;
  std::uint64_t at = h.durable;
  std::uint64_t end = scan_end();
  while (at < end) {
    std::uint64_t pos = at % cap;
    if (cap - pos < sizeof(EntryHead)) {
      at += cap - pos;
      continue;
    }
    const auto* e = reinterpret_cast<const EntryHead*>(area_ + pos);
    if (e->kind == kSkip) {
      at += cap - pos;
      continue;
    }
    out.push_back({e->event, e->at_us, std::string(area_ + pos + sizeof(EntryHead), e->size)});
    at += sizeof(EntryHead) + align8(e->size);
  }
  return out;
}

void Journal::forget_unwritten() {
  Header& h = header();
  if (h.capacity != capacity_) {
    // Written with another capacity: its entries are in the log now; start anew at this size.
    ::munmap(map_, map_size_);
    map_size_ = kHeaderBytes + capacity_;
    if (::ftruncate(fd_, 0) != 0 || ::posix_fallocate(fd_, 0, static_cast<off_t>(map_size_)) != 0) {
      throw std::runtime_error(errno_text("audit journal " + path_ + " (resizing)"));
    }
    void* p = ::mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) throw std::runtime_error(errno_text("audit journal " + path_ + " (mmap)"));
    map_ = static_cast<char*>(p);
    area_ = map_ + kHeaderBytes;
    Header& fresh = header();
    std::memcpy(fresh.magic, kMagic, sizeof kMagic);
    fresh.capacity = capacity_;
    fresh.durable = 0;
    head_ = 0;
    ::msync(map_, kHeaderBytes, MS_SYNC);
    return;
  }
  std::atomic_ref<std::uint64_t>(h.durable).store(head_, std::memory_order_release);
  ::msync(map_, kHeaderBytes, MS_SYNC);
}

std::uint64_t Journal::append(unsigned event, std::int64_t at_us, std::string_view members) {
  std::uint64_t need = sizeof(EntryHead) + align8(members.size());
  if (need > capacity_) return 0;
  std::uint64_t durable = std::atomic_ref<std::uint64_t>(header().durable).load(std::memory_order_acquire);
  std::uint64_t pos = head_ % capacity_;
  std::uint64_t skip = capacity_ - pos < need ? capacity_ - pos : 0;
  if (head_ + skip + need - durable > capacity_) return 0;
  if (skip >= sizeof(EntryHead)) {
    auto* s = reinterpret_cast<EntryHead*>(area_ + pos);
    s->kind = kSkip;
    std::atomic_ref<std::uint64_t>(s->offset).store(head_, std::memory_order_release);
  }
  head_ += skip;
  pos = head_ % capacity_;
  auto* e = reinterpret_cast<EntryHead*>(area_ + pos);
  e->kind = kRecord;
  e->event = event;
  e->at_us = at_us;
  e->size = members.size();
  std::memcpy(area_ + pos + sizeof(EntryHead), members.data(), members.size());
  std::atomic_ref<std::uint64_t>(e->offset).store(head_, std::memory_order_release);
  head_ += need;
  return head_;
}

void Journal::mark_durable(std::uint64_t end) {
  std::atomic_ref<std::uint64_t>(header().durable).store(end, std::memory_order_release);
}

}  // namespace scopegate::audit
