#include "json/strict.hpp"

#include <algorithm>
#include <vector>

namespace scopegate::json {

namespace dom = simdjson::dom;

namespace {

// Objects up to this many members are checked pairwise (no allocation); larger ones are sorted.
constexpr std::size_t kPairwiseLimit = 16;

std::optional<std::string_view> repeated_name(dom::object object) {
  std::size_t n = object.size();
  if (n < 2) return std::nullopt;
  if (n <= kPairwiseLimit) {
    std::string_view names[kPairwiseLimit];
    std::size_t i = 0;
    for (auto field : object) {
      for (std::size_t j = 0; j < i; ++j) {
        if (names[j] == field.key) return field.key;
      }
      names[i++] = field.key;
    }
    return std::nullopt;
  }
  thread_local std::vector<std::string_view> names;
  names.clear();
  for (auto field : object) names.push_back(field.key);
  std::sort(names.begin(), names.end());
  auto it = std::adjacent_find(names.begin(), names.end());
  if (it == names.end()) return std::nullopt;
  return *it;
}

// Depth is bounded by kMaxDepth, so recursion cannot outgrow the stack.
std::optional<Ambiguity> search(dom::element e, std::string& path, std::size_t depth) {
  dom::object object;
  dom::array array;
  bool nested = e.is_object() || e.is_array();
  if (nested && depth >= kMaxDepth) return Ambiguity{path.empty() ? "$" : path, ""};
  if (!e.get_object().get(object)) {
    if (auto name = repeated_name(object)) return Ambiguity{path.empty() ? "$" : path, std::string(*name)};
    for (auto field : object) {
      std::size_t mark = path.size();
      if (!path.empty()) path += '.';
      path += field.key;
      if (auto found = search(field.value, path, depth + 1)) return found;
      path.resize(mark);
    }
  } else if (!e.get_array().get(array)) {
    std::size_t index = 0;
    for (auto item : array) {
      std::size_t mark = path.size();
      path += '[';
      path += std::to_string(index++);
      path += ']';
      if (auto found = search(item, path, depth + 1)) return found;
      path.resize(mark);
    }
  }
  return std::nullopt;
}

// For messages: a name or path from the body, cut to a readable length on a character boundary.
std::string quoted_part(std::string_view s) {
  constexpr std::size_t kMax = 80;
  if (s.size() <= kMax) return std::string(s);
  std::size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return std::string(s.substr(0, cut)) + "...";
}

}  // namespace

std::optional<Ambiguity> find_ambiguity(dom::element root) {
  std::string path;
  return search(root, path, 0);
}

std::optional<dom::object> parse_strict_object(dom::parser& parser, std::string_view text, std::string& why) {
  // simdjson validates UTF-8 (including escapes that would make a lone surrogate), refuses
  // anything after the value and numbers no double can hold; what it lets through is one value.
  dom::element doc;
  if (auto error = parser.parse(text.data(), text.size(), false).get(doc)) {
    why = std::string("the body is not one valid JSON value in UTF-8 (") + simdjson::error_message(error) + ")";
    return std::nullopt;
  }
  if (doc.is_array()) {
    why = "JSON-RPC batches are not accepted: send one request per HTTP request";
    return std::nullopt;
  }
  dom::object object;
  if (doc.get_object().get(object)) {
    why = "the body must be one JSON object";
    return std::nullopt;
  }
  if (auto dup = find_ambiguity(doc)) {
    if (dup->name.empty()) {
      why = "the body nests deeper than " + std::to_string(kMaxDepth) + " levels";
      return std::nullopt;
    }
    std::string where = dup->path == "$" ? std::string("the body") : quoted_part(dup->path);
    why = "member \"" + quoted_part(dup->name) + "\" appears twice in " + where +
          ": parsers disagree on which one counts, so the gateway refuses it";
    return std::nullopt;
  }
  return object;
}

}  // namespace scopegate::json
