#include "delegation/scope_request.hpp"

#include <simdjson.h>

#include "config/grant_pattern.hpp"
#include "delegation/stamp.hpp"
#include "json/strict.hpp"

namespace scopegate::delegation {

std::optional<ScopeRequest> parse_scope_request(std::string_view body, std::string& why) {
  namespace dom = simdjson::dom;
  thread_local dom::parser parser;
  auto object = json::parse_strict_object(parser, body, why);
  if (!object) return std::nullopt;
  ScopeRequest out;
  for (auto field : *object) {
    std::string_view key = field.key;
    std::string_view text;
    if (key == "objective" || key == "principal" || key == "agent" || key == "task") {
      if (field.value.get_string().get(text)) {
        why = std::string(key) + " must be a string";
        return std::nullopt;
      }
      if (key == "objective") out.objective = cut_utf8(text, kMaxObjectiveBytes);
      else if (key == "principal") out.principal = text;
      else if (key == "task") out.task = text;
      else out.agent = text;
    } else if (key == "ttl_s") {
      std::int64_t ttl = 0;
      if (field.value.get_int64().get(ttl) || ttl <= 0) {
        why = "ttl_s must be a positive integer";
        return std::nullopt;
      }
      out.ttl_s = ttl;
    } else if (key == "grants") {
      dom::array list;
      if (field.value.get_array().get(list)) {
        why = "grants must be a list of grant patterns";
        return std::nullopt;
      }
      out.grants.emplace();
      for (auto item : list) {
        if (item.get_string().get(text)) {
          why = "grants must be a list of grant patterns (strings such as \"tool:search\" or \"tool:*\")";
          return std::nullopt;
        }
        if (auto problem = config::grant_pattern_problem(text)) {
          why = "grants: " + *problem;
          return std::nullopt;
        }
        out.grants->emplace_back(text);
      }
    } else {
      why = "unknown field '" + std::string(key) + "' (expected objective, grants, ttl_s, principal, agent, task)";
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace scopegate::delegation
