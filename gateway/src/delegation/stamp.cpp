#include "delegation/stamp.hpp"

#include <charconv>

#include "http/header_line.hpp"
#include "http/path.hpp"
#include "http/request_id.hpp"

namespace scopegate::delegation {

namespace {

using http::hex_value;

bool is_lower_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool all_zero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

// Fills `n` characters with random lower-case hex, never all zeros (invalid in W3C trace context).
void random_hex(char* out, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (;;) {
    bool zero = true;
    for (std::size_t i = 0; i < n; i += 16) {
      std::uint64_t v = http::random_u64();
      for (std::size_t k = 0; k < 16 && i + k < n; ++k, v >>= 4) {
        out[i + k] = kDigits[v & 15];
        zero = zero && (v & 15) == 0;
      }
    }
    if (!zero) return;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t n = text.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

std::string_view cut_utf8(std::string_view text, std::size_t max) {
  if (text.size() <= max) return text;
  std::size_t end = max;
  // Step back over continuation bytes to the start of the character that would be split.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80) --end;
  return text.substr(0, end);
}

std::optional<std::string> decode_objective(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '%') {
      if (i + 2 >= value.size()) return std::nullopt;
      int hi = hex_value(value[i + 1]), lo = hex_value(value[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  if (!is_valid_utf8(out)) return std::nullopt;
  out.resize(cut_utf8(out, kMaxObjectiveBytes).size());
  return out;
}

std::string encode_objective(std::string_view text) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kDigits[c >> 4];
      out += kDigits[c & 15];
    }
  }
  return out;
}

void TraceContext::append_traceparent(std::string& out) const {
  out += "00-";
  out += trace_id();
  out += '-';
  out += span_id();
  out += '-';
  out += flags();
}

std::string TraceContext::traceparent() const {
  std::string out;
  append_traceparent(out);
  return out;
}

TraceContext continue_trace(std::string_view in) {
  TraceContext t;
  random_hex(t.span_, sizeof t.span_);
  // version-traceid-parentid-flags; a later version may append fields after a '-'.
  bool valid = in.size() >= 55 && in[2] == '-' && in[35] == '-' && in[52] == '-' &&
               (in.size() == 55 || (in.substr(0, 2) != "00" && in[55] == '-'));
  if (valid) {
    std::string_view version = in.substr(0, 2), trace = in.substr(3, 32), parent = in.substr(36, 16),
                     flags = in.substr(53, 2);
    valid = is_lower_hex(version) && version != "ff" && is_lower_hex(trace) && !all_zero(trace) &&
            is_lower_hex(parent) && !all_zero(parent) && is_lower_hex(flags);
    if (valid) {
      trace.copy(t.trace_, sizeof t.trace_);
      parent.copy(t.parent_, sizeof t.parent_);
      flags.copy(t.flags_, sizeof t.flags_);
      t.continued_ = true;
      return t;
    }
  }
  random_hex(t.trace_, sizeof t.trace_);
  return t;
}

std::string stamp_baggage(std::string_view inbound, std::string_view scope) {
  std::string out;
  while (!inbound.empty()) {
    auto comma = inbound.find(',');
    std::string_view entry = trim(inbound.substr(0, comma));
    inbound = comma == std::string_view::npos ? std::string_view{} : inbound.substr(comma + 1);
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    if (trim(entry.substr(0, eq)) == "delegation.scope") continue;
    out += entry;
    out += ',';
  }
  out += "delegation.scope=";
  out += scope;
  return out;
}

namespace {
using http::append_header_line;

void add_depth(std::string& out, int depth) {
  char digits[16];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, depth);
  append_header_line(out, "Delegation-Depth", std::string_view(digits, static_cast<std::size_t>(end - digits)));
}
}  // namespace

TraceContext render_delegation_headers(const StampInput& in, std::string& out) {
  std::string_view scope_id;
  if (in.token) {
    const auto& root = in.token->root();
    const auto& current = in.token->current();
    if (in.child) {
      scope_id = in.child->id;
      append_header_line(out, "Delegation-Scope", in.child->id);
      append_header_line(out, "Delegation-Parent", in.child->parent);
      append_header_line(out, "Delegation-Root", in.child->root);
      add_depth(out, in.child->depth);
    } else {
      scope_id = current.sid;
      append_header_line(out, "Delegation-Scope", current.sid);
      if (!current.par.empty()) append_header_line(out, "Delegation-Parent", current.par);
      append_header_line(out, "Delegation-Root", root.sid);
      add_depth(out, in.token->depth());
    }
    append_header_line(out, "Delegation-Principal", root.sub);
  }
  if (!in.actor.empty()) append_header_line(out, "Delegation-Actor", in.actor);
  if (in.stamp_objective) {
    std::string_view objective = in.child ? std::string_view(in.child->objective)
                                 : in.token ? std::string_view(in.token->current().obj)
                                            : std::string_view{};
    if (!objective.empty()) append_header_line(out, "Delegation-Objective", encode_objective(objective));
  }
  if (in.child) append_header_line(out, "Delegation-Token", in.child_token);
  TraceContext trace = continue_trace(in.inbound_traceparent);
  out += "traceparent: ";
  trace.append_traceparent(out);
  out += "\r\n";
  if (in.token) append_header_line(out, "baggage", stamp_baggage(in.inbound_baggage, scope_id));
  return trace;
}

}  // namespace scopegate::delegation
