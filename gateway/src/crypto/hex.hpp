// Bytes as lower-case hex and back: key ids, signatures and digests are written this way.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace scopegate::crypto {

std::string to_hex(std::string_view bytes);
// The bytes of an even number of hex digits (either case), or nullopt.
std::optional<std::string> from_hex(std::string_view hex);

}  // namespace scopegate::crypto
