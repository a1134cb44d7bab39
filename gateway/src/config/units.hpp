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

}  // namespace scopegate::config
