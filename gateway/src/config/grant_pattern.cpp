#include "config/grant_pattern.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

namespace scopegate::config {

namespace {

// The pattern as it may be quoted back in a message: bytes outside printable ASCII become '?',
// and a long one is cut (a POST /v1/scopes body may hold anything).
std::string shown(std::string_view p) {
  constexpr std::size_t kMax = 80;
  std::string out;
  for (std::size_t i = 0; i < p.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(p[i]);
    out += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
  }
  if (p.size() > kMax) out += "...";
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The known kind `word` was probably meant to be (another case, a plural, a typo), if any.
std::optional<std::string_view> near_kind(std::string_view word) {
  constexpr std::size_t kFarthest = 2;
  std::string w = lower(word);
  std::optional<std::string_view> best;
  std::size_t best_distance = kFarthest + 1;
  for (auto kind : kActionKinds) {
    std::size_t d = edit_distance(w, kind);
    if (d < best_distance) {
      best = kind;
      best_distance = d;
    }
  }
  return best;
}

constexpr const char* kExpected =
    "expected <kind>:<name>, <kind>:<prefix>* or * alone, with <kind> one of tool, resource, prompt, agent, route";

}  // namespace

std::optional<std::string> grant_pattern_problem(std::string_view p) {
  if (p.empty()) return std::string("empty grant pattern (") + kExpected + ")";
  for (std::size_t i = 0; i < p.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(p[i]);
    if (c <= 0x20 || c >= 0x7f || c == ',' || c == '"' || c == '\\') {
      return "grant pattern '" + shown(p) +
             "' holds a space, a control character, ',', '\"', '\\' or a byte outside ASCII";
    }
    if (c == '*' && i + 1 != p.size()) {
      return "grant pattern '" + shown(p) + "': '*' may only end a pattern (it is a prefix match, not a glob)";
    }
  }
  if (p == "*") return std::nullopt;
  auto colon = p.find(':');
  std::string_view kind = colon == std::string_view::npos ? p.substr(0, p.size() - p.ends_with('*')) : p.substr(0, colon);
  std::string_view rest = colon == std::string_view::npos ? std::string_view{} : p.substr(colon + 1);
  // What to suggest: the kind meant, then the name as written, or everything of that kind.
  auto suggestion = [&](std::string_view meant) {
    return std::string(meant) + ":" + (rest.empty() ? std::string("*") : shown(rest));
  };
  bool known = std::find(std::begin(kActionKinds), std::end(kActionKinds), kind) != std::end(kActionKinds);
  if (known && colon != std::string_view::npos && !rest.empty()) return std::nullopt;
  if (known) {
    return "grant pattern '" + shown(p) + "' names no " + std::string(kind) + "; did you mean '" +
           suggestion(kind) + "'?";
  }
  if (colon == std::string_view::npos) {
    if (auto meant = near_kind(kind)) {
      return "grant pattern '" + shown(p) + "' has no action kind; did you mean '" + suggestion(*meant) + "'?";
    }
    return "grant pattern '" + shown(p) + "' has no action kind (" + kExpected + ")";
  }
  if (auto meant = near_kind(kind)) {
    return "unknown action kind '" + shown(kind) + "' in grant pattern '" + shown(p) + "'; did you mean '" +
           suggestion(*meant) + "'?";
  }
  return "unknown action kind '" + shown(kind) + "' in grant pattern '" + shown(p) + "' (" + kExpected + ")";
}

bool is_valid_grant_pattern(std::string_view p) { return !grant_pattern_problem(p); }

}  // namespace scopegate::config
