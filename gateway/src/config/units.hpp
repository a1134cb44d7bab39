// Human units in config files: durations ("250ms", "10s", "2m", "1h", "off")
// and sizes ("512", "32KiB", "10MB", "1GiB").
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "config/config.hpp"

namespace scopegate::config {

// "off" and "0" parse as zero; a bare number is seconds.
std::optional<Duration> parse_duration(std::string_view text);

// KB/MB/GB are powers of 1000, KiB/MiB/GiB powers of 1024; a bare number is bytes.
std::optional<std::uint64_t> parse_size(std::string_view text);

// A non-negative decimal ("2.5", "0.075", "10") times 10^scale, exactly: no floating point between
// the text and the integer, so that a price or a cost limit is the number written. nullopt for
// anything else, for more fractional digits than `scale`, and on overflow.
std::optional<std::uint64_t> parse_decimal(std::string_view text, int scale);

}  // namespace scopegate::config
