// What an LLM call used and cost (docs/llm.md). Token counts follow the OpenTelemetry GenAI
// conventions: input tokens include cached ones (cache_read is the part of them read from a
// cache), output tokens include reasoning ones. Cost is kept in pico-units of the configured
// currency (10^-12), so that sums over any number of calls are exact; it is written as a decimal.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace scopegate::llm {

// The token types, declared once: their metric label (`type`) and their name in audit records.
#define SCOPEGATE_TOKEN_TYPES(X)                          \
  X(input, "input", "input_tokens")                       \
  X(output, "output", "output_tokens")                    \
  X(cache_read, "cache_read", "cache_read_input_tokens")  \
  X(reasoning, "reasoning", "reasoning_output_tokens")

enum class TokenType {
#define SCOPEGATE_TOKEN_ENUM(id, label, field) id,
  SCOPEGATE_TOKEN_TYPES(SCOPEGATE_TOKEN_ENUM)
#undef SCOPEGATE_TOKEN_ENUM
};
inline constexpr std::array<std::string_view, 4> kTokenLabels{
#define SCOPEGATE_TOKEN_LABEL(id, label, field) label,
    SCOPEGATE_TOKEN_TYPES(SCOPEGATE_TOKEN_LABEL)
#undef SCOPEGATE_TOKEN_LABEL
};
inline constexpr std::array<std::string_view, 4> kTokenFields{
#define SCOPEGATE_TOKEN_FIELD(id, label, field) field,
    SCOPEGATE_TOKEN_TYPES(SCOPEGATE_TOKEN_FIELD)
#undef SCOPEGATE_TOKEN_FIELD
};

inline std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

struct Usage {
  std::array<std::uint64_t, 4> tokens{};  // by TokenType
  std::uint64_t& operator[](TokenType t) { return tokens[static_cast<std::size_t>(t)]; }
  std::uint64_t operator[](TokenType t) const { return tokens[static_cast<std::size_t>(t)]; }
  // What budgets count: every token the model read or wrote. Counts come from an upstream and
  // may be anything: sums saturate rather than wrap.
  std::uint64_t total() const;
  void add(const Usage& o);
  bool operator==(const Usage&) const = default;
};

inline constexpr std::uint64_t kPicoPerUnit = 1'000'000'000'000ull;

// The cost of `usage` at `price` (micro-units per million tokens → pico-units per token, so the
// product is exact): uncached input at the input price, cached input at the cache_read price,
// output (reasoning included) at the output price. Saturates rather than wraps.
std::uint64_t cost_of(const Usage& usage, const config::ModelPrice& price);

// A pico-unit amount as a JSON number in currency units: "0.000125", "12", "0" (no exponent, no
// trailing zeros).
void append_cost(std::string& out, std::uint64_t pico);
std::string format_cost(std::uint64_t pico);
// The inverse, for readers of records: a JSON number's text (or a double as a reader got it).
std::optional<std::uint64_t> parse_cost(std::string_view text);
std::uint64_t cost_from_double(double value);

// `"usage":{...}` members in record order, with every type (zeros included).
void append_usage_object(std::string& out, const Usage& usage);

}  // namespace scopegate::llm
