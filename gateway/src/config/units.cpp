#include "config/units.hpp"

#include <charconv>
#include <limits>
#include <tuple>

namespace scopegate::config {
namespace {

// Splits "123unit" into the number and the unit; nullopt when the number is missing or overflows.
std::optional<std::pair<std::uint64_t, std::string_view>> split_number(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end == text.data()) return std::nullopt;
  return std::pair{value, text.substr(static_cast<std::size_t>(end - text.data()))};
}

std::optional<std::uint64_t> checked_multiply(std::uint64_t value, std::uint64_t factor) {
  if (factor != 0 && value > std::numeric_limits<std::uint64_t>::max() / factor) return std::nullopt;
  return value * factor;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  if (text == "off") return Duration{0};
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  auto [value, unit] = *parts;
  std::uint64_t factor = 0;
  if (unit.empty() || unit == "s") factor = 1000;
  else if (unit == "ms") factor = 1;
  else if (unit == "m") factor = 60'000;
  else if (unit == "h") factor = 3'600'000;
  else return std::nullopt;
  auto ms = checked_multiply(value, factor);
  if (!ms || *ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / 1000)) {
    return std::nullopt;
  }
  return Duration{static_cast<Duration::rep>(*ms)};
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  auto [value, unit] = *parts;
  std::uint64_t factor = 0;
  if (unit.empty() || unit == "B") factor = 1;
  else if (unit == "KB") factor = 1000;
  else if (unit == "MB") factor = 1000 * 1000;
  else if (unit == "GB") factor = 1000 * 1000 * 1000;
  else if (unit == "KiB") factor = 1024;
  else if (unit == "MiB") factor = 1024 * 1024;
  else if (unit == "GiB") factor = 1024 * 1024 * 1024;
  else return std::nullopt;
  return checked_multiply(value, factor);
}

std::optional<std::uint64_t> parse_decimal(std::string_view text, int scale) {
  auto dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  if (whole.empty() || (dot != std::string_view::npos && fraction.empty())) return std::nullopt;
  if (fraction.size() > static_cast<std::size_t>(scale)) return std::nullopt;
  std::uint64_t value = 0;
  for (std::string_view digits : {whole, fraction}) {
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      auto next = checked_multiply(value, 10);
      if (!next || *next > std::numeric_limits<std::uint64_t>::max() - static_cast<std::uint64_t>(c - '0')) return std::nullopt;
      value = *next + static_cast<std::uint64_t>(c - '0');
    }
  }
  for (std::size_t i = fraction.size(); i < static_cast<std::size_t>(scale); ++i) {
    auto next = checked_multiply(value, 10);
    if (!next) return std::nullopt;
    value = *next;
  }
  return value;
}

const char* to_string(RouteKind kind) {
  switch (kind) {
    case RouteKind::http: return "http";
    case RouteKind::mcp: return "mcp";
    case RouteKind::agent: return "agent";
    case RouteKind::a2a: return "a2a";
    case RouteKind::scopes: return "scopes";
    case RouteKind::plans: return "plans";
    case RouteKind::llm: return "llm";
  }
  return "http";
}

const char* to_string(LlmApi api) { return api == LlmApi::anthropic ? "anthropic" : "openai"; }

const char* to_string(Access access) {
  switch (access) {
    case Access::scoped: return "scoped";
    case Access::authenticated: return "authenticated";
    case Access::open: return "open";
  }
  return "scoped";
}

const char* to_string(Durability durability) {
  switch (durability) {
    case Durability::none: return "none";
    case Durability::batch: return "batch";
    case Durability::strict: return "strict";
  }
  return "batch";
}

Durability effective_durability(const Audit& audit, const Route& route, std::string_view tool) {
  const DataLabel* tool_label = nullptr;
  if (!tool.empty()) {
    if (auto it = route.tools.find(tool); it != route.tools.end()) tool_label = &it->second;
  }
  if (tool_label && tool_label->audit) return *tool_label->audit;
  if (route.data.audit) return *route.data.audit;
  bool restricted = route.data.classification == "restricted" ||
                    (tool_label && tool_label->classification == "restricted");
  return restricted ? Durability::strict : audit.durability;
}

const char* to_string(Fleet::OnUnavailable on) {
  return on == Fleet::OnUnavailable::local ? "local" : "closed";
}

bool Fleet::operator==(const Fleet& o) const {
  auto tie = [](const Fleet& f) {
    const Redis& r = f.redis;
    return std::tie(f.enabled, r.url, r.tls, r.host, r.port, r.db, r.ca_file, r.verify, r.server_name, r.username,
                    r.password, r.key_prefix, r.timeout, f.revocations_strict, f.budget_lease, f.budget_lease_idle,
                    f.budgets_unavailable, f.rate_lease, f.rate_lease_ttl, f.rate_limits_unavailable);
  };
  return tie(*this) == tie(o);
}

const char* to_string(RateLimit::Per per) {
  switch (per) {
    case RateLimit::Per::agent: return "agent";
    case RateLimit::Per::route: return "route";
    case RateLimit::Per::agent_route: return "agent_route";
  }
  return "agent";
}

bool Budgets::any() const {
  if (defaults.any()) return true;
  for (const auto& [agent, limits] : agents) {
    if (limits.any()) return true;
  }
  return false;
}

const BudgetLimits& Budgets::for_agent(std::string_view agent) const {
  auto it = agents.find(agent);
  return it == agents.end() ? defaults : it->second;
}

}  // namespace scopegate::config
