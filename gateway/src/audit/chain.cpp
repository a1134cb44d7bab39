// SHA256_Init/Update/Final: see delegation/hmac.cpp for why the block functions are used.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "audit/chain.hpp"

#include <openssl/sha.h>

#include <charconv>
#include <cstring>
#include <ctime>

namespace scopegate::audit {

namespace {

constexpr std::string_view kHashKey = ",\"hash\":\"";
constexpr std::size_t kHashSuffix = kHashKey.size() + 64 + 2;  // ,"hash":"<64>"}

Digest to_hex(const unsigned char (&raw)[SHA256_DIGEST_LENGTH]) {
  static constexpr char kHex[] = "0123456789abcdef";
  Digest d;
  for (std::size_t i = 0; i < SHA256_DIGEST_LENGTH; ++i) {
    d[2 * i] = kHex[raw[i] >> 4];
    d[2 * i + 1] = kHex[raw[i] & 15];
  }
  return d;
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

}  // namespace

std::string format_timestamp(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(us / 1'000'000);
  long frac = static_cast<long>(us % 1'000'000);
  if (frac < 0) {
    frac += 1'000'000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

Digest seal(std::string& out, std::uint64_t seq, std::string_view ts, std::string_view node, std::string_view event,
            std::string_view members, const Digest& prev) {
  std::size_t start = out.size();
  out += "{\"v\":1,\"seq\":";
  append_uint(out, seq);
  out += ",\"ts\":\"";
  out += ts;
  out += "\",\"node\":\"";
  out += node;  // a config token: letters, digits, '-', '_', '.'
  out += "\",\"event\":\"";
  out += event;
  out += '"';
  out += members;
  out += ",\"prev\":\"";
  out += view(prev);
  out += "\"}";
  // The block functions, not the one-shot SHA256(): in OpenSSL 3 that goes through EVP and costs
  // more than hashing a record.
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, out.data() + start, out.size() - start);
  unsigned char raw[SHA256_DIGEST_LENGTH];
  SHA256_Final(raw, &ctx);
  Digest hash = to_hex(raw);
  out.pop_back();  // the closing brace: the hash member goes before it
  out += kHashKey;
  out += view(hash);
  out += "\"}\n";
  return hash;
}

bool sealed_parts(std::string_view line, std::string_view& event, std::string_view& members) {
  constexpr std::string_view kEvent = "\",\"event\":\"";
  constexpr std::string_view kPrev = ",\"prev\":\"";
  auto e = line.find(kEvent);
  if (e == std::string_view::npos) return false;
  auto event_start = e + kEvent.size();
  auto event_end = line.find('"', event_start);
  auto prev = line.rfind(kPrev);
  if (event_end == std::string_view::npos || prev == std::string_view::npos || prev < event_end + 1) return false;
  event = line.substr(event_start, event_end - event_start);
  members = line.substr(event_end + 1, prev - event_end - 1);
  return true;
}

bool check_seal(std::string_view line, SealedLine& out) {
  if (line.size() < kHashSuffix + 2 || line.back() != '}' || line[line.size() - 2] != '"') return false;
  std::string_view covered = line.substr(0, line.size() - kHashSuffix);
  if (line.substr(covered.size(), kHashKey.size()) != kHashKey) return false;
  out.hash = line.substr(covered.size() + kHashKey.size(), 64);
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, covered.data(), covered.size());
  SHA256_Update(&ctx, "}", 1);
  unsigned char raw[SHA256_DIGEST_LENGTH];
  SHA256_Final(raw, &ctx);
  Digest actual = to_hex(raw);
  out.intact = std::memcmp(actual.data(), out.hash.data(), 64) == 0;
  return true;
}

}  // namespace scopegate::audit
