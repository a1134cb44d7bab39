#include "llm/usage.hpp"

#include <cmath>

namespace scopegate::llm {

namespace {

// a * b without wrapping.
std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > UINT64_MAX / a) return UINT64_MAX;
  return a * b;
}

}  // namespace

std::uint64_t Usage::total() const { return saturating_add((*this)[TokenType::input], (*this)[TokenType::output]); }

void Usage::add(const Usage& o) {
  for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = saturating_add(tokens[i], o.tokens[i]);
}

std::uint64_t cost_of(const Usage& usage, const config::ModelPrice& price) {
  std::uint64_t cached = std::min(usage[TokenType::cache_read], usage[TokenType::input]);
  std::uint64_t uncached = usage[TokenType::input] - cached;
  std::uint64_t cost = saturating_mul(uncached, price.input);
  cost = saturating_add(cost, saturating_mul(cached, price.cache_read));
  return saturating_add(cost, saturating_mul(usage[TokenType::output], price.output));
}

void append_cost(std::string& out, std::uint64_t pico) {
  out += std::to_string(pico / kPicoPerUnit);
  std::uint64_t fraction = pico % kPicoPerUnit;
  if (fraction == 0) return;
  std::string digits = std::to_string(fraction);
  digits.insert(0, 12 - digits.size(), '0');
  while (digits.back() == '0') digits.pop_back();
  out += '.';
  out += digits;
}

std::string format_cost(std::uint64_t pico) {
  std::string out;
  append_cost(out, pico);
  return out;
}

std::optional<std::uint64_t> parse_cost(std::string_view text) {
  auto dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  if (whole.empty() || whole.size() > 7 || fraction.size() > 12) return std::nullopt;
  std::uint64_t units = 0, pico = 0;
  for (char c : whole) {
    if (c < '0' || c > '9') return std::nullopt;
    units = units * 10 + static_cast<std::uint64_t>(c - '0');
  }
  std::uint64_t scale = kPicoPerUnit;
  for (char c : fraction) {
    if (c < '0' || c > '9') return std::nullopt;
    scale /= 10;
    pico += static_cast<std::uint64_t>(c - '0') * scale;
  }
  return units * kPicoPerUnit + pico;
}

std::uint64_t cost_from_double(double value) {
  // A record's cost has at most 12 decimals: below 10^3 units a double holds it to well under
  // half a pico-unit, so rounding recovers the integer the gateway wrote.
  if (!(value > 0)) return 0;
  if (value >= 9.0e6) return UINT64_MAX;  // past what llround can hold
  return static_cast<std::uint64_t>(std::llround(value * static_cast<double>(kPicoPerUnit)));
}

void append_usage_object(std::string& out, const Usage& usage) {
  out += '{';
  for (std::size_t i = 0; i < kTokenFields.size(); ++i) {
    if (i) out += ',';
    out += '"';
    out += kTokenFields[i];
    out += "\":";
    out += std::to_string(usage.tokens[i]);
  }
  out += '}';
}

}  // namespace scopegate::llm
