// The hash chain of docs/protocol.md §6: how a record is sealed into a line, and how a line is checked.
// A line is `{"v":1,"seq":…,"ts":…,"node":…,"event":…<members>,"prev":"<64 hex>","hash":"<64 hex>"}`;
// the hash covers the line as it would read without its `,"hash":"…"` member.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace scopegate::audit {

using Digest = std::array<char, 64>;  // lower-case hex of a SHA-256

inline constexpr Digest kGenesis = [] {
  Digest d{};
  for (auto& c : d) c = '0';
  return d;
}();

inline std::string_view view(const Digest& d) { return {d.data(), d.size()}; }

// RFC 3339 UTC with microseconds: 2026-11-21T10:04:05.123456Z.
std::string format_timestamp(std::chrono::system_clock::time_point t);

// Appends the sealed line (with its newline) to `out` and returns its hash. `members` is a run of
// `,"key":value` members (possibly empty) written after the fixed head.
Digest seal(std::string& out, std::uint64_t seq, std::string_view ts, std::string_view node, std::string_view event,
            std::string_view members, const Digest& prev);

// The line (without newline) split into its hash and the bytes the hash covers.
struct SealedLine {
  std::string_view hash;  // the 64 hex digits the line claims
  bool intact = false;    // SHA-256 of the covered bytes equals `hash`
};
// False when the line does not end in a hash member at all.
bool check_seal(std::string_view line, SealedLine& out);

// The event and the members run of a line written by seal(): what the writer was handed. False
// when the line does not have seal()'s shape.
bool sealed_parts(std::string_view line, std::string_view& event, std::string_view& members);

}  // namespace scopegate::audit
