// Request ids: a valid inbound X-Request-Id (a UUID) is kept, otherwise a new UUIDv7 is made.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace scopegate::http {

bool is_uuid(std::string_view text);

// RFC 9562 UUIDv7: 48-bit Unix milliseconds, then random bits; sortable by creation time.
std::string make_uuid_v7();

// 64 random bits from a per-thread generator seeded by OpenSSL (ids, not secrets).
std::uint64_t random_u64();

}  // namespace scopegate::http
