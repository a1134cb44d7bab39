// Writing the registry for a scraper: Prometheus text format 0.0.4, or OpenMetrics 1.0 when the
// scraper's Accept header prefers it (docs/protocol.md §8).
#pragma once

#include <string>
#include <string_view>

#include "metrics/registry.hpp"

namespace scopegate::metrics {

enum class Format { text_0_0_4, openmetrics_1_0 };

// The format an Accept header asks for: OpenMetrics when it is acceptable with a quality above
// text/plain's (Prometheus sends both, OpenMetrics first); else text 0.0.4.
Format negotiate(std::string_view accept);
std::string_view content_type(Format format);

// Appends every family of `registry`, then the process_* families (metrics/process.hpp). OpenMetrics
// ends with "# EOF".
void render(const Registry& registry, Format format, std::string& out);

// Label values and HELP text escaped as the formats want: backslash, newline and (label values,
// and OpenMetrics HELP) double quote.
void append_escaped(std::string& out, std::string_view text, bool quote);
// A sample value: integers as integers, others shortest round-trip, +Inf/-Inf/NaN spelled out.
void append_number(std::string& out, double v);

}  // namespace scopegate::metrics
