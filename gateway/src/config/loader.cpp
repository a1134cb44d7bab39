#include "config/loader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <thread>

#include "config/grant_pattern.hpp"
#include "config/route_match.hpp"
#include "config/units.hpp"
#include "config/url.hpp"
#include "crypto/ed25519.hpp"

namespace scopegate::config {

std::string ConfigError::to_string() const {
  std::ostringstream out;
  out << file;
  if (line > 0) out << ':' << line;
  out << ": ";
  if (!key.empty()) out << key << ": ";
  out << message;
  return out.str();
}

namespace {

std::optional<std::string> process_env(const std::string& name) {
  if (const char* v = std::getenv(name.c_str())) return std::string(v);
  return std::nullopt;
}

// Walks the YAML tree, tracking key paths and collecting errors instead of stopping at the first.
class Reader {
 public:
  Reader(std::string file, EnvLookup env, std::vector<ConfigError>& errors, Secrets secrets,
         std::vector<ConfigError>& missing_secrets)
      : file_(std::move(file)), env_(std::move(env)), errors_(errors), secrets_(secrets),
        missing_secrets_(missing_secrets) {}

  void error(const YAML::Node& at, const std::string& key, std::string message) {
    int line = at.IsDefined() ? at.Mark().line + 1 : 0;
    errors_.push_back({file_, line, key, std::move(message)});
  }

  // A secret that is not available here (`what`: "environment variable X is not set", "secret
  // file 'F' does not exist"). With Secrets::optional it is noted once and the caller goes on with
  // a stand-in (true); otherwise it is the caller's error to report (false).
  bool secret_missing(const YAML::Node& at, const std::string& key, const std::string& what) {
    if (secrets_ != Secrets::optional) return false;
    bool noted = std::any_of(missing_secrets_.begin(), missing_secrets_.end(),
                             [&](const ConfigError& e) { return e.message == what; });
    if (!noted) missing_secrets_.push_back({file_, at.IsDefined() ? at.Mark().line + 1 : 0, key, what});
    return true;
  }

  // A string setting that holds a secret when it is written as ${NAME} (admin.token).
  void read_secret_string(const YAML::Node& parent, const std::string& pk, const char* name, std::string& out) {
    in_secret_ = true;
    read_string(parent, pk, name, out);
    in_secret_ = false;
  }

  // A mapping whose keys must all be among `known`; reports unknown and duplicate keys.
  bool expect_map(const YAML::Node& node, const std::string& key, std::initializer_list<std::string_view> known) {
    if (!node.IsMap()) {
      error(node, key, "expected a mapping");
      return false;
    }
    std::set<std::string> seen;
    for (const auto& item : node) {
      std::string name = item.first.Scalar();
      std::string path = join(key, name);
      if (!seen.insert(name).second) {
        error(item.first, path, "duplicate key");
      } else if (std::find(known.begin(), known.end(), name) == known.end()) {
        std::string list;
        for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
        error(item.first, path, "unknown key (expected one of: " + list + ")");
      }
    }
    return true;
  }

  // The scalar's text with ${NAME} and ${NAME:-default} references resolved.
  std::optional<std::string> scalar(const YAML::Node& node, const std::string& key) {
    if (!node.IsScalar()) {
      error(node, key, "expected a scalar value");
      return std::nullopt;
    }
    const std::string& raw = node.Scalar();
    std::string out;
    std::size_t pos = 0;
    while (true) {
      auto open = raw.find("${", pos);
      if (open == std::string::npos) break;
      auto close = raw.find('}', open);
      if (close == std::string::npos) {
        error(node, key, "unterminated ${ reference");
        return std::nullopt;
      }
      out.append(raw, pos, open - pos);
      std::string ref = raw.substr(open + 2, close - open - 2);
      std::optional<std::string> fallback;
      if (auto dash = ref.find(":-"); dash != std::string::npos) {
        fallback = ref.substr(dash + 2);
        ref.resize(dash);
      }
      auto value = env_(ref);
      if (!value || (value->empty() && fallback)) value = fallback;
      if (!value && in_secret_ && secret_missing(node, key, "environment variable " + ref + " is not set")) {
        value = "";
      }
      if (!value) {
        error(node, key, "environment variable " + ref + " is not set");
        return std::nullopt;
      }
      out += *value;
      pos = close + 1;
    }
    out.append(raw, pos);
    return out;
  }

  template <class Parse>
  void read(const YAML::Node& parent, const std::string& parent_key, const char* name, Parse parse) {
    const YAML::Node node = parent[name];
    if (!node.IsDefined() || node.IsNull()) return;
    std::string key = join(parent_key, name);
    if (auto text = scalar(node, key)) parse(node, key, *text);
  }

  void read_string(const YAML::Node& parent, const std::string& pk, const char* name, std::string& out) {
    read(parent, pk, name, [&](auto&, auto&, const std::string& text) { out = text; });
  }

  void read_bool(const YAML::Node& parent, const std::string& pk, const char* name, bool& out) {
    read(parent, pk, name, [&](const YAML::Node& n, const std::string& key, const std::string& text) {
      if (text == "true") out = true;
      else if (text == "false") out = false;
      else error(n, key, "expected true or false, got '" + text + "'");
    });
  }

  template <class Int>
  void read_uint(const YAML::Node& parent, const std::string& pk, const char* name, Int& out,
                 std::uint64_t min, std::uint64_t max) {
    read(parent, pk, name, [&](const YAML::Node& n, const std::string& key, const std::string& text) {
      std::uint64_t value = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc{} || end != text.data() + text.size() || value < min || value > max) {
        error(n, key, "expected an integer from " + std::to_string(min) + " to " + std::to_string(max) +
                          ", got '" + text + "'");
        return;
      }
      out = static_cast<Int>(value);
    });
  }

  void read_duration(const YAML::Node& parent, const std::string& pk, const char* name, Duration& out,
                     bool may_be_off) {
    read(parent, pk, name, [&](const YAML::Node& n, const std::string& key, const std::string& text) {
      auto d = parse_duration(text);
      if (!d) {
        error(n, key, "expected a duration such as 250ms, 10s, 2m or 1h, got '" + text + "'");
      } else if (d->count() == 0 && !may_be_off) {
        error(n, key, "must be greater than zero");
      } else {
        out = *d;
      }
    });
  }

  template <class Int>
  void read_size(const YAML::Node& parent, const std::string& pk, const char* name, Int& out) {
    read(parent, pk, name, [&](const YAML::Node& n, const std::string& key, const std::string& text) {
      auto s = parse_size(text);
      if (!s || *s == 0) {
        error(n, key, "expected a positive size such as 512, 32KiB, 10MB or 1GiB, got '" + text + "'");
      } else {
        out = static_cast<Int>(*s);
      }
    });
  }

  void read_string_list(const YAML::Node& parent, const std::string& pk, const char* name,
                        std::vector<std::string>& out) {
    const YAML::Node node = parent[name];
    if (!node.IsDefined() || node.IsNull()) return;
    std::string key = join(pk, name);
    if (!node.IsSequence()) {
      error(node, key, "expected a list");
      return;
    }
    for (std::size_t i = 0; i < node.size(); ++i) {
      if (auto text = scalar(node[i], key + "[" + std::to_string(i) + "]")) out.push_back(*text);
    }
  }

  std::optional<std::string> env(const std::string& name) { return env_(name); }

  static std::string join(const std::string& a, std::string_view b) {
    return a.empty() ? std::string(b) : a + "." + std::string(b);
  }

 private:
  std::string file_;
  EnvLookup env_;
  std::vector<ConfigError>& errors_;
  Secrets secrets_;
  std::vector<ConfigError>& missing_secrets_;
  bool in_secret_ = false;
};

// Names the metrics use for "no route", "no agent" and "past a table's capacity" (docs/protocol.md
// §8): a route, agent or tool may not take them, so that a series never means two things.
bool is_reserved_label(std::string_view name) { return name == "none" || name == "other"; }

std::string reserved_label_message(std::string_view name) {
  return "'" + std::string(name) + "' is reserved: the metrics use none and other for requests with no route or "
                                   "agent and for series past a table's capacity";
}

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

bool istarts_with(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

void read_timeouts(Reader& r, const YAML::Node& node, const std::string& key, Timeouts& t, bool route_level) {
  if (route_level) {
    if (!r.expect_map(node, key, {"upstream_connect", "upstream_first_byte", "upstream_idle", "request_total"}))
      return;
  } else {
    if (!r.expect_map(node, key,
                      {"client_first_byte", "client_header", "client_body_idle", "client_send", "keepalive_idle",
                       "upstream_connect", "upstream_first_byte", "upstream_idle", "request_total",
                       "upstream_pool_idle", "drain", "lingering_close"}))
      return;
    r.read_duration(node, key, "client_first_byte", t.client_first_byte, false);
    r.read_duration(node, key, "client_header", t.client_header, false);
    r.read_duration(node, key, "client_body_idle", t.client_body_idle, false);
    r.read_duration(node, key, "client_send", t.client_send, false);
    r.read_duration(node, key, "keepalive_idle", t.keepalive_idle, false);
    r.read_duration(node, key, "upstream_pool_idle", t.upstream_pool_idle, false);
    r.read_duration(node, key, "drain", t.drain, true);
    r.read_duration(node, key, "lingering_close", t.lingering_close, true);
  }
  r.read_duration(node, key, "upstream_connect", t.upstream_connect, false);
  r.read_duration(node, key, "upstream_first_byte", t.upstream_first_byte, false);
  r.read_duration(node, key, "upstream_idle", t.upstream_idle, false);
  r.read_duration(node, key, "request_total", t.request_total, true);
}

// `paths:` at the top level (with merge_slashes) or on a route (overrides of the top level's rules).
void read_paths(Reader& r, const YAML::Node& node, const std::string& key, PathRules& rules, bool* merge_slashes) {
  if (merge_slashes) {
    if (!r.expect_map(node, key, {"merge_slashes", "escaped_slashes", "path_params"})) return;
    r.read_bool(node, key, "merge_slashes", *merge_slashes);
  } else if (node.IsMap() && node["merge_slashes"].IsDefined()) {
    r.error(node["merge_slashes"], key + ".merge_slashes",
            "applies before routing, so only in the top-level paths section");
    return;
  } else if (!r.expect_map(node, key, {"escaped_slashes", "path_params"})) {
    return;
  }
  r.read(node, key, "escaped_slashes", [&](const YAML::Node& n, const std::string& k, const std::string& text) {
    if (text == "reject") rules.escaped_slashes = EscapedSlashes::reject;
    else if (text == "keep") rules.escaped_slashes = EscapedSlashes::keep;
    else if (text == "unescape") rules.escaped_slashes = EscapedSlashes::unescape;
    else r.error(n, k, "expected one of reject, keep, unescape; got '" + text + "'");
  });
  r.read(node, key, "path_params", [&](const YAML::Node& n, const std::string& k, const std::string& text) {
    if (text == "reject") rules.path_params = PathParams::reject;
    else if (text == "keep") rules.path_params = PathParams::keep;
    else r.error(n, k, "expected one of reject, keep; got '" + text + "'");
  });
}

void read_listener(Reader& r, const YAML::Node& node, const std::string& key, Listener& l, std::size_t index) {
  if (!r.expect_map(node, key, {"name", "address", "port", "tls", "credential_header"})) return;
  l.name = "listener-" + std::to_string(index);
  r.read_string(node, key, "name", l.name);
  r.read_string(node, key, "credential_header", l.credential_header);
  if (!is_token(l.credential_header) || l.credential_header.find('.') != std::string::npos) {
    r.error(node["credential_header"], key + ".credential_header", "expected a header name");
  } else if (istarts_with(l.credential_header, "delegation-")) {
    r.error(node["credential_header"], key + ".credential_header", "Delegation-* headers belong to the gateway");
  }
  r.read_string(node, key, "address", l.address);
  r.read_uint(node, key, "port", l.port, 0, 65535);
  if (auto tls = node["tls"]; tls.IsDefined() && !tls.IsNull()) {
    std::string tk = key + ".tls";
    if (r.expect_map(tls, tk, {"certificate", "key", "client_ca"})) {
      TlsServer t;
      r.read_string(tls, tk, "certificate", t.certificate);
      r.read_string(tls, tk, "key", t.key);
      r.read_string(tls, tk, "client_ca", t.client_ca);
      if (t.certificate.empty()) r.error(tls, tk + ".certificate", "required when tls is set");
      if (t.key.empty()) r.error(tls, tk + ".key", "required when tls is set");
      for (auto [file, name] : {std::pair{&t.certificate, "certificate"}, {&t.key, "key"}, {&t.client_ca, "client_ca"}}) {
        if (!file->empty() && !std::ifstream(*file)) {
          r.error(tls[name], tk + "." + name, "cannot read file '" + *file + "'");
        }
      }
      l.tls = t;
    }
  }
}

void read_upstream(Reader& r, const YAML::Node& node, const std::string& key, Upstream& u) {
  if (node.IsScalar()) {
    if (auto text = r.scalar(node, key)) u.url = *text;
  } else if (r.expect_map(node, key, {"url", "ca_file", "verify", "server_name", "pool_size", "weight"})) {
    r.read_string(node, key, "url", u.url);
    r.read_string(node, key, "ca_file", u.ca_file);
    r.read_bool(node, key, "verify", u.verify);
    r.read_string(node, key, "server_name", u.server_name);
    r.read_uint(node, key, "pool_size", u.pool_size, 0, 100000);
    r.read_uint(node, key, "weight", u.weight, 1, 1000);
    if (!u.ca_file.empty() && !std::ifstream(u.ca_file)) {
      r.error(node["ca_file"], key + ".ca_file", "cannot read file '" + u.ca_file + "'");
    }
  } else {
    return;
  }
  const YAML::Node at = node.IsMap() ? node["url"] : node;
  std::string url_key = node.IsMap() ? key + ".url" : key;
  if (u.url.empty()) {
    r.error(node, url_key, "required");
    return;
  }
  std::string why;
  auto parsed = parse_url(u.url, why);
  if (!parsed) {
    r.error(at, url_key, "invalid upstream URL '" + u.url + "': " + why);
    return;
  }
  u.tls = parsed->tls;
  u.host = parsed->host;
  u.port = parsed->port;
  u.base_path = parsed->base_path;
  if (u.server_name.empty()) u.server_name = u.host;
  if (!u.tls && (!u.ca_file.empty() || (node.IsMap() && node["verify"].IsDefined()))) {
    r.error(node, key, "ca_file and verify apply only to https:// upstreams");
  }
}

// A route balances over at most this many endpoints (a request's tried endpoints are one 64-bit set).
constexpr std::size_t kMaxEndpoints = 64;

// `upstream:` is one endpoint (a URL, or a map with its TLS settings) or a list of them.
void read_upstreams(Reader& r, const YAML::Node& node, const std::string& key, std::vector<Upstream>& out) {
  if (!node.IsSequence()) {
    out.emplace_back();
    read_upstream(r, node, key, out.back());
    return;
  }
  if (node.size() == 0) {
    r.error(node, key, "list at least one endpoint");
    return;
  }
  if (node.size() > kMaxEndpoints) {
    r.error(node, key, "at most " + std::to_string(kMaxEndpoints) + " endpoints per route");
    return;
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    std::string item_key = key + "[" + std::to_string(i) + "]";
    Upstream u;
    read_upstream(r, node[i], item_key, u);
    // Two entries for one server would split its breaker and its share of requests in two. Host
    // names compare as DNS does: case aside, and with or without the root's trailing dot.
    auto same_host = [](std::string_view a, std::string_view b) {
      if (a.ends_with('.')) a.remove_suffix(1);
      if (b.ends_with('.')) b.remove_suffix(1);
      return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
               return std::tolower(x) == std::tolower(y);
             });
    };
    for (const auto& other : out) {
      if (!u.host.empty() && same_host(other.host, u.host) && other.port == u.port) {
        r.error(node[i], item_key, "the same endpoint as " + other.url + " (give it a weight instead)");
      }
    }
    out.push_back(std::move(u));
  }
}

void read_retries(Reader& r, const YAML::Node& node, const std::string& key, Retries& t) {
  if (!r.expect_map(node, key, {"max", "backoff", "max_backoff", "budget", "min_retries"})) return;
  r.read_uint(node, key, "max", t.max, 0, 10);
  r.read_duration(node, key, "backoff", t.backoff, false);
  r.read_duration(node, key, "max_backoff", t.max_backoff, false);
  r.read(node, key, "budget", [&](const YAML::Node& n, const std::string& k, const std::string& text) {
    double v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || !(v >= 0) || v > 1) {
      r.error(n, k, "expected a share of active requests from 0 to 1, such as 0.2, got '" + text + "'");
    } else {
      t.budget = v;
    }
  });
  r.read_uint(node, key, "min_retries", t.min_retries, 0, 100000);
  if (t.max_backoff < t.backoff) r.error(node, key + ".max_backoff", "shorter than backoff");
}

// A token holds at most 16 blocks, so no scope is deeper than 15.
constexpr int kMaxDepth = 15;

void check_grants(Reader& r, const YAML::Node& node, const std::string& key, const std::vector<std::string>& grants);
void read_data_label(Reader& r, const YAML::Node& node, const std::string& key, DataLabel& label);

void read_breaker(Reader& r, const YAML::Node& node, const std::string& key, Breaker& b) {
  if (!r.expect_map(node, key, {"consecutive_failures", "failure_ratio", "min_requests", "window", "open", "max_open",
                                "half_open_probes", "failure_on", "per"}))
    return;
  r.read_uint(node, key, "consecutive_failures", b.consecutive_failures, 0, 1'000'000);
  r.read(node, key, "failure_ratio", [&](const YAML::Node& n, const std::string& k, const std::string& text) {
    double v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || !(v > 0) || v > 1) {
      r.error(n, k, "expected a share of failures above 0 and at most 1, such as 0.5, got '" + text + "'");
    } else {
      b.failure_ratio = v;
    }
  });
  r.read_uint(node, key, "min_requests", b.min_requests, 1, 1'000'000);
  r.read_duration(node, key, "window", b.window, false);
  r.read_duration(node, key, "open", b.open, false);
  r.read_duration(node, key, "max_open", b.max_open, false);
  r.read_uint(node, key, "half_open_probes", b.half_open_probes, 1, 1000);
  std::string per = "endpoint";
  r.read_string(node, key, "per", per);
  if (per == "tool") b.per = Breaker::Per::tool;
  else if (per != "endpoint") r.error(node["per"], key + ".per", "expected endpoint or tool, got '" + per + "'");
  if (b.max_open < b.open) r.error(node, key + ".max_open", "shorter than open");
  if (b.consecutive_failures == 0 && b.failure_ratio == 0) {
    r.error(node, key, "the breaker can never open: set consecutive_failures or failure_ratio");
  }
  if (auto list = node["failure_on"]; list.IsDefined()) {
    std::vector<std::string> items;
    r.read_string_list(node, key, "failure_on", items);
    b.on_connect = b.on_timeout = b.on_reset = b.on_protocol = b.on_5xx = false;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::string& item = items[i];
      unsigned code = 0;
      auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), code);
      if (item == "connect") b.on_connect = true;
      else if (item == "timeout") b.on_timeout = true;
      else if (item == "reset") b.on_reset = true;
      else if (item == "protocol") b.on_protocol = true;
      else if (item == "5xx") b.on_5xx = true;
      else if (item == "jsonrpc_error") b.on_jsonrpc_error = true;
      else if (item == "tool_error") b.on_tool_error = true;
      else if (ec == std::errc{} && end == item.data() + item.size() && code >= 100 && code <= 599) b.statuses.push_back(code);
      else r.error(list[i], key + ".failure_on[" + std::to_string(i) + "]",
                   "expected connect, timeout, reset, protocol, 5xx, jsonrpc_error, tool_error or a status code, got '" +
                       item + "'");
    }
  }
}

void read_health_check(Reader& r, const YAML::Node& node, const std::string& key, HealthCheck& h) {
  if (!r.expect_map(node, key, {"path", "interval", "timeout", "expect"})) return;
  r.read_string(node, key, "path", h.path);
  if (h.path.empty()) {
    r.error(node, key + ".path", "required");
  } else if (!h.path.starts_with('/')) {
    r.error(node["path"], key + ".path", "must start with '/'");
  } else if (!std::all_of(h.path.begin(), h.path.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; })) {
    // It becomes the request line as written: a space or a line break would change the request.
    r.error(node["path"], key + ".path", "use visible ASCII only (percent-encode the rest)");
  }
  r.read_duration(node, key, "interval", h.interval, false);
  r.read_duration(node, key, "timeout", h.timeout, false);
  std::vector<std::string> items;
  r.read_string_list(node, key, "expect", items);
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string& item = items[i];
    unsigned code = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), code);
    if (ec == std::errc{} && end == item.data() + item.size() && code >= 100 && code <= 599) {
      h.expect.push_back(code);
    } else {
      r.error(node["expect"][i], key + ".expect[" + std::to_string(i) + "]",
              "expected a status code from 100 to 599, got '" + item + "'");
    }
  }
  if (auto list = node["expect"]; list.IsDefined() && list.IsSequence() && list.size() == 0) {
    r.error(list, key + ".expect", "list at least one status (or leave expect out: any 2xx passes)");
  }
}

void read_concurrency(Reader& r, const YAML::Node& node, const std::string& key, Concurrency& c) {
  if (!r.expect_map(node, key, {"max_inflight", "max_pending", "pending_timeout"})) return;
  if (!node["max_inflight"].IsDefined() || node["max_inflight"].IsNull()) {
    r.error(node, key + ".max_inflight", "required: the most requests to the upstream at once");
  }
  r.read_uint(node, key, "max_inflight", c.max_inflight, 1, 1'000'000);
  // 0, the default, is a limit without a queue; said explicitly, it means the same.
  r.read_uint(node, key, "max_pending", c.max_pending, 0, 1'000'000);
  r.read_duration(node, key, "pending_timeout", c.pending_timeout, false);
}

void read_route(Reader& r, const YAML::Node& node, const std::string& key, Route& route, const Config& config,
                const std::string& file) {
  route.location = file + ":" + std::to_string(node.Mark().line + 1);
  route.max_body_bytes = config.limits.max_body_bytes;
  route.timeouts = config.timeouts;
  route.paths = config.paths.rules;
  if (!r.expect_map(node, key, {"name", "kind", "match", "upstream", "strip_prefix", "preserve_host",
                                "max_body_bytes", "timeouts", "paths", "access", "target_agent", "grants",
                                "stamp_objective", "audit", "datasets", "classification", "tools", "breaker",
                                "retries", "on_unavailable", "fallback", "concurrency", "health_check", "api",
                                "stream_usage", "api_key"}))
    return;
  if (auto b = node["breaker"]; b.IsDefined() && !b.IsNull()) {
    route.breaker.emplace();
    read_breaker(r, b, key + ".breaker", *route.breaker);
  }
  if (auto c = node["concurrency"]; c.IsDefined() && !c.IsNull()) {
    route.concurrency.emplace();
    read_concurrency(r, c, key + ".concurrency", *route.concurrency);
  }
  if (auto h = node["health_check"]; h.IsDefined() && !h.IsNull()) {
    route.health_check.emplace();
    read_health_check(r, h, key + ".health_check", *route.health_check);
    // A check only ever closes a breaker (docs/resilience.md, "Health checks"): without one it
    // would probe the upstream for nothing.
    if (!route.breaker) {
      r.error(h, key + ".health_check", "applies only to a route with a breaker (a passing check closes an open "
                                        "breaker; a check never stops traffic): add breaker: or remove health_check");
    }
  }
  r.read_string(node, key, "name", route.name);
  if (route.name.empty()) r.error(node, key + ".name", "required");
  else if (!is_token(route.name)) r.error(node["name"], key + ".name", "use letters, digits, '-', '_' and '.'");
  else if (is_reserved_label(route.name)) r.error(node["name"], key + ".name", reserved_label_message(route.name));

  std::string kind = "http";
  r.read_string(node, key, "kind", kind);
  if (kind == "http") route.kind = RouteKind::http;
  else if (kind == "mcp") route.kind = RouteKind::mcp;
  else if (kind == "agent") route.kind = RouteKind::agent;
  else if (kind == "a2a") route.kind = RouteKind::a2a;
  else if (kind == "llm") route.kind = RouteKind::llm;
  else r.error(node["kind"], key + ".kind", "expected one of http, mcp, agent, a2a, llm; got '" + kind + "'");
  if (route.kind == RouteKind::llm) {
    std::string api = "openai";
    r.read_string(node, key, "api", api);
    if (api == "openai") route.llm.api = LlmApi::openai;
    else if (api == "anthropic") route.llm.api = LlmApi::anthropic;
    else r.error(node["api"], key + ".api", "expected openai or anthropic, got '" + api + "'");
    r.read_bool(node, key, "stream_usage", route.llm.stream_usage);
    r.read_secret_string(node, key, "api_key", route.llm.api_key);
    const std::string& k = route.llm.api_key;
    if (node["api_key"].IsDefined() && node["api_key"].IsScalar() && node["api_key"].Scalar().find("${") == std::string::npos) {
      r.error(node["api_key"], key + ".api_key", "a key is a secret: write ${ENV_VAR}, never the key itself");
    } else if (std::any_of(k.begin(), k.end(), [](unsigned char c) { return c <= 0x20 || c >= 0x7f; })) {
      r.error(node["api_key"], key + ".api_key", "the key must be printable ASCII without spaces");
    }
  } else if (node["api"].IsDefined() || node["stream_usage"].IsDefined() || node["api_key"].IsDefined()) {
    r.error(node["api"].IsDefined() ? node["api"] : node["stream_usage"].IsDefined() ? node["stream_usage"] : node["api_key"], key,
            "api, stream_usage and api_key apply only to llm routes (kind: llm)");
  }
  if (route.breaker && route.kind != RouteKind::mcp) {
    // Tools and JSON-RPC answers are MCP's: elsewhere there is nothing to key or read them by.
    if (route.breaker->per == Breaker::Per::tool) r.error(node["breaker"]["per"], key + ".breaker.per", "per: tool applies to mcp routes only");
    if (route.breaker->on_jsonrpc_error || route.breaker->on_tool_error) {
      r.error(node["breaker"]["failure_on"], key + ".breaker.failure_on", "jsonrpc_error and tool_error apply to mcp routes only");
    }
  }

  if (auto match = node["match"]; !match.IsDefined()) {
    r.error(node, key + ".match", "required");
  } else if (r.expect_map(match, key + ".match", {"path_prefix", "host", "methods"})) {
    std::string mk = key + ".match";
    r.read_string(match, mk, "path_prefix", route.match.path_prefix);
    if (!route.match.path_prefix.starts_with('/')) {
      r.error(match["path_prefix"], mk + ".path_prefix", "must start with '/'");
    }
    r.read_string(match, mk, "host", route.match.host);
    std::transform(route.match.host.begin(), route.match.host.end(), route.match.host.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    r.read_string_list(match, mk, "methods", route.match.methods);
    for (auto& m : route.match.methods) {
      if (!is_token(m)) r.error(match["methods"], mk + ".methods", "invalid method '" + m + "'");
      std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return std::toupper(c); });
    }
  }

  if (auto up = node["upstream"]; !up.IsDefined()) r.error(node, key + ".upstream", "required");
  else read_upstreams(r, up, key + ".upstream", route.upstreams);
  if (auto t = node["retries"]; t.IsDefined() && !t.IsNull()) read_retries(r, t, key + ".retries", route.retries);
  std::string on_unavailable = "error";
  r.read_string(node, key, "on_unavailable", on_unavailable);
  r.read_string(node, key, "fallback", route.fallback);
  if (on_unavailable == "fallback") {
    route.on_unavailable = OnUnavailable::fallback;
    if (route.fallback.empty()) r.error(node, key + ".fallback", "required with on_unavailable: fallback (a route's name)");
  } else if (on_unavailable != "error") {
    r.error(node["on_unavailable"], key + ".on_unavailable", "expected error or fallback, got '" + on_unavailable + "'");
  } else if (!route.fallback.empty()) {
    r.error(node["fallback"], key + ".fallback", "applies only with on_unavailable: fallback");
  }

  r.read_bool(node, key, "strip_prefix", route.strip_prefix);
  r.read_bool(node, key, "preserve_host", route.preserve_host);
  r.read_size(node, key, "max_body_bytes", route.max_body_bytes);
  route.max_inspect_bytes = std::min<std::uint64_t>(route.max_body_bytes, config.limits.max_inspect_bytes);
  if (auto t = node["timeouts"]; t.IsDefined()) read_timeouts(r, t, key + ".timeouts", route.timeouts, true);
  if (auto p = node["paths"]; p.IsDefined()) read_paths(r, p, key + ".paths", route.paths, nullptr);

  std::string access = "scoped";
  r.read_string(node, key, "access", access);
  if (access == "scoped") route.access = Access::scoped;
  else if (access == "authenticated") route.access = Access::authenticated;
  else if (access == "open") route.access = Access::open;
  else r.error(node["access"], key + ".access", "expected one of scoped, authenticated, open; got '" + access + "'");

  bool delegates = route.kind == RouteKind::agent || route.kind == RouteKind::a2a;
  r.read_string(node, key, "target_agent", route.target_agent);
  if (node["grants"].IsDefined()) {
    route.grants.clear();
    r.read_string_list(node, key, "grants", route.grants);
    check_grants(r, node["grants"], key + ".grants", route.grants);
  }
  r.read_bool(node, key, "stamp_objective", route.stamp_objective);
  if (delegates) {
    if (route.target_agent.empty()) {
      r.error(node, key + ".target_agent", "required on agent and a2a routes: the agent a delegation is for");
    } else if (std::none_of(config.agents.begin(), config.agents.end(),
                            [&](const Agent& a) { return a.id == route.target_agent; })) {
      r.error(node["target_agent"], key + ".target_agent", "no agent with id '" + route.target_agent + "'");
    }
    if (route.access != Access::scoped) {
      r.error(node["access"], key + ".access", "agent and a2a routes delegate, so they need access: scoped");
    }
  } else if (!route.target_agent.empty() || node["grants"].IsDefined()) {
    r.error(node, key, "target_agent and grants apply only to agent and a2a routes");
  }

  read_data_label(r, node, key, route.data);
  if (auto tools = node["tools"]; tools.IsDefined()) {
    if (route.kind != RouteKind::mcp) {
      r.error(tools, key + ".tools", "tool labels apply only to mcp routes");
    } else if (!tools.IsMap()) {
      r.error(tools, key + ".tools", "expected a mapping of tool name to {datasets, classification, audit}");
    } else {
      for (const auto& item : tools) {
        std::string name = item.first.as<std::string>();
        std::string tk = key + ".tools." + name;
        if (name.empty() || is_reserved_label(name)) {
          r.error(item.first, tk, name.empty() ? std::string("a tool needs a name") : reserved_label_message(name));
        }
        if (r.expect_map(item.second, tk, {"datasets", "classification", "audit"})) {
          read_data_label(r, item.second, tk, route.tools[name]);
        }
      }
    }
  }
}

std::optional<Durability> parse_durability(std::string_view text) {
  if (text == "none") return Durability::none;
  if (text == "batch") return Durability::batch;
  if (text == "strict") return Durability::strict;
  return std::nullopt;
}

void read_durability(Reader& r, const YAML::Node& node, const std::string& key, const char* name,
                     std::optional<Durability>& out) {
  r.read(node, key, name, [&](const YAML::Node& n, const std::string& k, const std::string& text) {
    out = parse_durability(text);
    if (!out) r.error(n, k, "expected one of none, batch, strict; got '" + text + "'");
  });
}

// datasets / classification / audit, on a route or on one of its MCP tools.
void read_data_label(Reader& r, const YAML::Node& node, const std::string& key, DataLabel& label) {
  r.read_string_list(node, key, "datasets", label.datasets);
  for (const auto& d : label.datasets) {
    if (!is_token(d)) r.error(node["datasets"], key + ".datasets", "invalid dataset name '" + d + "'");
  }
  r.read_string(node, key, "classification", label.classification);
  static constexpr std::string_view kLevels[] = {"public", "internal", "confidential", "restricted"};
  if (!label.classification.empty() &&
      std::find(std::begin(kLevels), std::end(kLevels), label.classification) == std::end(kLevels)) {
    r.error(node["classification"], key + ".classification",
            "expected one of public, internal, confidential, restricted; got '" + label.classification + "'");
  }
  read_durability(r, node, key, "audit", label.audit);
}

// audit.checkpoints, all but the key itself: that is read by read_checkpoint_key, only when the
// whole config is loaded (the query and audit commands read this section without it).
void read_checkpoints(Reader& r, const YAML::Node& node, const std::string& audit_dir, Checkpoints& c) {
  const std::string key = "audit.checkpoints";
  if (!r.expect_map(node, key, {"dir", "every_records", "every", "private_key_file", "private_key_env"})) return;
  r.read_string(node, key, "dir", c.dir);
  if (c.dir.empty()) {
    r.error(node, key + ".dir", "required: where the checkpoints are kept (another disk or a mounted share)");
  } else if (!audit_dir.empty()) {
    // Checkpoints beside the log would be cut or rewritten with it: they must live elsewhere.
    auto log = std::filesystem::path(audit_dir).lexically_normal();
    auto rel = std::filesystem::path(c.dir).lexically_normal().lexically_relative(log);
    if (!rel.empty() && *rel.begin() != "..") {
      r.error(node["dir"], key + ".dir",
              "must not be audit.dir or inside it: whoever can rewrite the log could rewrite them too");
    }
  }
  r.read_uint(node, key, "every_records", c.every_records, 1, 1'000'000'000);
  r.read_duration(node, key, "every", c.every, false);
  std::string file, env;
  r.read_string(node, key, "private_key_file", file);
  r.read_string(node, key, "private_key_env", env);
  if (file.empty() == env.empty()) {
    r.error(node, key, "exactly one of private_key_file and private_key_env (keys never live in the YAML)");
  } else {
    c.key_source = file.empty() ? "private_key_env " + env : "private_key_file '" + file + "'";
  }
}

void read_audit(Reader& r, const YAML::Node& node, Audit& a) {
  const std::string key = "audit";
  if (!r.expect_map(node, key, {"dir", "durability", "fsync_interval", "fsync_records", "segment_max_bytes",
                                "segment_max_age", "queue_records", "queue_bytes", "journal_bytes", "disk_reserve",
                                "checkpoints"}))
    return;
  r.read_string(node, key, "dir", a.dir);
  if (a.dir.empty()) r.error(node, "audit.dir", "required: the directory the audit segments are written to");
  std::optional<Durability> d;
  read_durability(r, node, key, "durability", d);
  if (d) a.durability = *d;
  r.read_duration(node, key, "fsync_interval", a.fsync_interval, false);
  r.read_uint(node, key, "fsync_records", a.fsync_records, 1, 1'000'000);
  r.read_size(node, key, "segment_max_bytes", a.segment_max_bytes);
  if (a.segment_max_bytes < 4096) r.error(node["segment_max_bytes"], "audit.segment_max_bytes", "at least 4KiB");
  r.read_duration(node, key, "segment_max_age", a.segment_max_age, false);
  r.read_uint(node, key, "queue_records", a.queue_records, 64, 16'000'000);
  r.read_size(node, key, "queue_bytes", a.queue_bytes);
  if (a.queue_bytes < (1u << 20)) r.error(node["queue_bytes"], "audit.queue_bytes", "at least 1MiB");
  r.read(node, key, "journal_bytes", [&](const YAML::Node& n, const std::string& k, const std::string& text) {
    auto s = text == "0" ? std::optional<std::uint64_t>(0) : parse_size(text);
    if (!s || (*s != 0 && *s < (1u << 20))) {
      r.error(n, k, "expected 0 (no journal) or a size of at least 1MiB such as 64MiB, got '" + text + "'");
    } else {
      a.journal_bytes = *s;
    }
  });
  r.read(node, key, "disk_reserve", [&](const YAML::Node& n, const std::string& k, const std::string& text) {
    if (text == "0") {
      a.disk_reserve = 0;
    } else if (auto s = parse_size(text)) {
      a.disk_reserve = *s;
    } else {
      r.error(n, k, "expected a size such as 0, 64MiB or 1GiB, got '" + text + "'");
    }
  });
  if (auto c = node["checkpoints"]; c.IsDefined() && !c.IsNull()) read_checkpoints(r, c, a.dir, a.checkpoints);
}

// Each grant is `*` or a known action kind with an exact name or a prefix ending in '*'
// (config/grant_pattern.hpp): a '*' elsewhere would look like a glob it is not, and an unknown kind
// ("tools:*") would never match anything. The error points at the item itself.
void check_grants(Reader& r, const YAML::Node& node, const std::string& key, const std::vector<std::string>& grants) {
  // (An item that could not be read at all is already reported and missing from `grants`.)
  bool aligned = node.IsSequence() && node.size() == grants.size();
  for (std::size_t i = 0; i < grants.size(); ++i) {
    if (auto problem = grant_pattern_problem(grants[i])) {
      if (aligned) r.error(node[i], key + "[" + std::to_string(i) + "]", *problem);
      else r.error(node, key, *problem);
    }
  }
}

void read_agent(Reader& r, const YAML::Node& node, const std::string& key, Agent& a) {
  if (!r.expect_map(node, key, {"id", "api_key_sha256", "certificate_subject", "may_open_root", "grants",
                                "max_depth"}))
    return;
  r.read_string(node, key, "id", a.id);
  if (!is_token(a.id)) r.error(node, key + ".id", "required: letters, digits, '-', '_' and '.'");
  else if (is_reserved_label(a.id)) r.error(node["id"], key + ".id", reserved_label_message(a.id));
  std::string hash;
  r.read_string(node, key, "api_key_sha256", hash);
  if (!hash.empty()) {
    if (hash.size() != 64 || !is_hex(hash)) {
      r.error(node["api_key_sha256"], key + ".api_key_sha256", "expected 64 hex digits (sha256sum of the key)");
    } else {
      for (std::size_t i = 0; i < 64; i += 2) a.api_key_sha256 += static_cast<char>(std::stoi(hash.substr(i, 2), nullptr, 16));
    }
  }
  r.read_string(node, key, "certificate_subject", a.certificate_subject);
  if (hash.empty() && a.certificate_subject.empty()) {
    r.error(node, key, "an agent needs api_key_sha256 or certificate_subject to authenticate");
  }
  r.read_bool(node, key, "may_open_root", a.may_open_root);
  if (node["grants"].IsDefined()) {
    a.grants.clear();
    r.read_string_list(node, key, "grants", a.grants);
    check_grants(r, node["grants"], key + ".grants", a.grants);
  }
  r.read_uint(node, key, "max_depth", a.max_depth, 0, kMaxDepth);
}

// A key secret as written in an environment variable or a file: 64 hex digits, or a file of
// exactly 32 raw bytes. Anything else is refused rather than guessed at.
std::optional<std::string> decode_secret(std::string text, bool raw_allowed) {
  if (raw_allowed && text.size() == 32) return text;
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  if (text.size() != 64 || !is_hex(text)) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < 64; i += 2) out += static_cast<char>(std::stoi(text.substr(i, 2), nullptr, 16));
  return out;
}

// A regular file, read up to `max` bytes (one more, so that a longer file shows as too long): a
// directory or a device (/dev/zero) is an error, not a hang.
bool read_secret_file(const std::string& path, std::size_t max, std::string& content) {
  std::error_code ec;
  std::ifstream in;
  if (std::filesystem::is_regular_file(path, ec)) in.open(path, std::ios::binary);
  if (!in.is_open()) return false;
  content.assign(max + 1, '\0');
  in.read(content.data(), static_cast<std::streamsize>(content.size()));
  content.resize(static_cast<std::size_t>(in.gcount()));
  return true;
}

void read_token(Reader& r, const YAML::Node& node, TokenSettings& t) {
  const std::string key = "token";
  if (!r.expect_map(node, key, {"audience", "clock_skew", "signing_kid", "keys", "max_depth", "delegation_ttl",
                                "max_ttl", "revocations_file"}))
    return;
  r.read_string(node, key, "revocations_file", t.revocations_file);
  r.read_string(node, key, "audience", t.audience);
  r.read_uint(node, key, "max_depth", t.max_depth, 0, kMaxDepth);
  r.read_duration(node, key, "delegation_ttl", t.delegation_ttl, false);
  r.read_duration(node, key, "max_ttl", t.max_ttl, false);
  r.read_duration(node, key, "clock_skew", t.clock_skew, true);
  r.read_string(node, key, "signing_kid", t.signing_kid);
  const YAML::Node keys = node["keys"];
  if (keys.IsDefined() && !keys.IsSequence()) {
    r.error(keys, key + ".keys", "expected a list");
    return;
  }
  std::set<std::string> kids;
  for (std::size_t i = 0; keys.IsDefined() && i < keys.size(); ++i) {
    const YAML::Node k = keys[i];
    std::string kk = key + ".keys[" + std::to_string(i) + "]";
    if (!r.expect_map(k, kk, {"kid", "secret_env", "secret_file"})) continue;
    TokenKey tk;
    std::string env_name, file_name;
    r.read_string(k, kk, "kid", tk.kid);
    r.read_string(k, kk, "secret_env", env_name);
    r.read_string(k, kk, "secret_file", file_name);
    if (!is_token(tk.kid)) {
      r.error(k, kk + ".kid", "required: letters, digits, '-', '_' and '.'");
      continue;
    }
    if (!kids.insert(tk.kid).second) r.error(k["kid"], kk + ".kid", "duplicate kid '" + tk.kid + "'");
    if (env_name.empty() == file_name.empty()) {
      r.error(k, kk, "exactly one of secret_env and secret_file (secrets never live in the YAML)");
      continue;
    }
    std::optional<std::string> secret;
    // Only `scopegate check` goes on without the secret (Secrets::optional): with a stand-in key,
    // so that what depends on having a key (scoped routes) is still checked.
    const std::string stand_in(32, '\0');
    if (!env_name.empty()) {
      const std::string what = "environment variable " + env_name + " is not set";
      if (auto value = r.env(env_name)) {
        secret = decode_secret(*value, false);
        if (!secret) r.error(k["secret_env"], kk + ".secret_env", env_name + " must hold 64 hex digits (32 bytes)");
      } else if (r.secret_missing(k["secret_env"], kk + ".secret_env", what)) {
        secret = stand_in;
      } else {
        r.error(k["secret_env"], kk + ".secret_env", what);
        continue;
      }
    } else {
      std::string content;
      std::error_code ec;
      if (!std::filesystem::exists(file_name, ec) &&
          r.secret_missing(k["secret_file"], kk + ".secret_file", "secret file '" + file_name + "' does not exist")) {
        secret = stand_in;
      } else if (!read_secret_file(file_name, 4096, content)) {
        r.error(k["secret_file"], kk + ".secret_file", "cannot read file '" + file_name + "' (a regular file)");
        continue;
      } else {
        secret = decode_secret(content, true);
        if (!secret) {
          r.error(k["secret_file"], kk + ".secret_file", "'" + file_name + "' must hold 32 raw bytes or 64 hex digits");
        }
      }
    }
    if (!secret) continue;
    tk.secret = *secret;
    t.keys.push_back(std::move(tk));
  }
  if (t.signing_kid.empty() && !t.keys.empty()) t.signing_kid = t.keys.front().kid;
  // Against the kids declared: a key that failed to load is reported once, above.
  if (!t.signing_kid.empty() && !kids.count(t.signing_kid)) {
    r.error(node["signing_kid"], key + ".signing_kid", "no key with kid '" + t.signing_kid + "'");
  }
}

// The checkpoint signing key, read and checked at load: a gateway whose key is missing or is not
// an Ed25519 private key refuses to start, and `scopegate check` says why. Messages name where the
// key was to come from, never what it holds.
void read_checkpoint_key(Reader& r, const YAML::Node& node, Checkpoints& c) {
  const std::string key = "audit.checkpoints";
  if (c.key_source.empty()) return;  // (already reported)
  bool from_file = node["private_key_file"].IsDefined();
  const std::string field = from_file ? "private_key_file" : "private_key_env";
  std::string name;
  r.read_string(node, key, field.c_str(), name);
  std::string pem;
  std::error_code ec;
  // Without the key (`scopegate check` only, Secrets::optional) the rest of the section is checked.
  if (from_file && !std::filesystem::exists(name, ec) &&
      r.secret_missing(node[field], key + "." + field, "secret file '" + name + "' does not exist")) {
    return;
  }
  if (!from_file && !r.env(name) &&
      r.secret_missing(node[field], key + "." + field, "environment variable " + name + " is not set")) {
    return;
  }
  if (from_file) {
    constexpr std::size_t kMaxKeyFile = 16 * 1024;  // an Ed25519 PEM is about 120 bytes
    if (!read_secret_file(name, kMaxKeyFile, pem) || pem.size() > kMaxKeyFile) {
      r.error(node[field], key + "." + field, "cannot read file '" + name + "' (a regular file of at most 16KiB)");
      return;
    }
  } else if (auto value = r.env(name)) {
    pem = *value;
  } else {
    r.error(node[field], key + "." + field, "environment variable " + name + " is not set");
    return;
  }
  std::string why;
  if (!crypto::Ed25519Key::from_private_pem(pem, why)) {
    r.error(node[field], key + "." + field,
            (from_file ? "'" + name + "'" : name) + " does not hold an Ed25519 private key in PEM (PKCS#8, " +
                "unencrypted; `scopegate audit keygen` makes one): " + why);
    return;
  }
  c.private_key_pem = std::move(pem);
}

// "20/s", "600/min", "1000/h": tokens per second; a decimal count is allowed ("0.5/s").
std::optional<double> parse_rate(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view count = text.substr(0, slash), unit = text.substr(slash + 1);
  double value = 0;
  auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), value);
  if (ec != std::errc{} || end != count.data() + count.size() || !(value > 0) || value > 1e9) return std::nullopt;
  if (unit == "s") return value;
  if (unit == "min") return value / 60;
  if (unit == "h") return value / 3600;
  return std::nullopt;
}

void read_budget_limits(Reader& r, const YAML::Node& node, const std::string& key, BudgetLimits& b) {
  if (!r.expect_map(node, key, {"max_actions", "max_delegations", "max_children", "max_bytes_out", "max_tokens",
                                "max_cost"})) {
    return;
  }
  auto count = [&](const char* name, std::optional<std::uint64_t>& out) {
    std::uint64_t v = 0;
    bool set = node[name].IsDefined() && !node[name].IsNull();
    r.read_uint(node, key, name, v, 0, 1'000'000'000'000ull);
    if (set) out = v;
  };
  count("max_actions", b.max_actions);
  count("max_delegations", b.max_delegations);
  count("max_children", b.max_children);
  count("max_tokens", b.max_tokens);
  r.read(node, key, "max_cost", [&](const YAML::Node& n, const std::string& k, const std::string& text) {
    // In the currency of llm.currency, kept in pico-units as every cost is (docs/llm.md).
    if (auto cost = parse_decimal(text, 12)) {
      b.max_cost = *cost;
    } else {
      r.error(n, k, "expected an amount such as 5, 0.25 or 12.5 (in llm.currency), got '" + text + "'");
    }
  });
  r.read(node, key, "max_bytes_out", [&](const YAML::Node& n, const std::string& k, const std::string& text) {
    if (auto size = text == "0" ? std::optional<std::uint64_t>(0) : parse_size(text)) {
      b.max_bytes_out = *size;
    } else {
      r.error(n, k, "expected a size such as 0, 512KiB, 10MB or 1GiB, got '" + text + "'");
    }
  });
}

void read_budgets(Reader& r, const YAML::Node& node, Budgets& b) {
  if (!r.expect_map(node, "budgets", {"default", "agents"})) return;
  if (auto d = node["default"]; d.IsDefined() && !d.IsNull()) read_budget_limits(r, d, "budgets.default", b.defaults);
  auto agents = node["agents"];
  if (!agents.IsDefined() || agents.IsNull()) return;
  if (!agents.IsMap()) {
    r.error(agents, "budgets.agents", "expected a mapping of agent id to limits");
    return;
  }
  for (const auto& item : agents) {
    std::string id = item.first.Scalar();
    BudgetLimits own;
    read_budget_limits(r, item.second, "budgets.agents." + id, own);
    // Merged once here: each key the agent sets replaces the default's.
    BudgetLimits merged = b.defaults;
    if (own.max_actions) merged.max_actions = own.max_actions;
    if (own.max_delegations) merged.max_delegations = own.max_delegations;
    if (own.max_children) merged.max_children = own.max_children;
    if (own.max_bytes_out) merged.max_bytes_out = own.max_bytes_out;
    if (own.max_tokens) merged.max_tokens = own.max_tokens;
    if (own.max_cost) merged.max_cost = own.max_cost;
    if (!b.agents.emplace(id, merged).second) r.error(item.first, "budgets.agents." + id, "duplicate agent");
  }
}

// The `llm` section (docs/llm.md): the currency and the price table. Model names become metric
// labels, so they are held to the characters a label value reads well with.
void read_llm(Reader& r, const YAML::Node& node, Llm& llm) {
  if (!r.expect_map(node, "llm", {"currency", "prices"})) return;
  r.read_string(node, "llm", "currency", llm.currency);
  bool currency_ok = !llm.currency.empty() && llm.currency.size() <= 8 &&
                     std::all_of(llm.currency.begin(), llm.currency.end(), [](unsigned char c) { return std::isalnum(c); });
  if (!currency_ok) r.error(node["currency"], "llm.currency", "expected a currency code such as USD or EUR");
  auto prices = node["prices"];
  if (!prices.IsDefined() || prices.IsNull()) return;
  if (!prices.IsMap()) {
    r.error(prices, "llm.prices", "expected a mapping of model name to {input, output, cache_read}");
    return;
  }
  for (const auto& item : prices) {
    std::string model = item.first.Scalar();
    std::string mk = "llm.prices." + model;
    bool printable = !model.empty() && model.size() <= 128 &&
                     std::all_of(model.begin(), model.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; });
    if (!printable) r.error(item.first, mk, "a model name is printable ASCII without spaces, at most 128 characters");
    else if (is_reserved_label(model)) r.error(item.first, mk, reserved_label_message(model));
    if (!r.expect_map(item.second, mk, {"input", "output", "cache_read"})) continue;
    ModelPrice price;
    bool cache_read_set = false;
    auto amount = [&](const char* name, std::uint64_t& out, bool* set) {
      r.read(item.second, mk, name, [&](const YAML::Node& n, const std::string& k, const std::string& text) {
        // Micro-units per million tokens: six decimals, which every published price fits.
        // At most 10,000 per million tokens: with the largest estimate a call holds (llm/request.hpp)
        // a cost stays far inside the counters' range.
        if (auto v = parse_decimal(text, 6); v && *v <= 10'000'000'000ull) {
          out = *v;
          if (set) *set = true;
        } else {
          r.error(n, k, "expected a price per million tokens such as 2.5 or 0.075 (at most 6 decimals, at most 10000), got '" +
                            text + "'");
        }
      });
    };
    if (!item.second["input"].IsDefined() || !item.second["output"].IsDefined()) {
      r.error(item.second, mk, "input and output prices are required (per million tokens)");
    }
    amount("input", price.input, nullptr);
    amount("output", price.output, nullptr);
    amount("cache_read", price.cache_read, &cache_read_set);
    if (!cache_read_set) price.cache_read = price.input;
    if (!llm.prices.emplace(model, price).second) r.error(item.first, mk, "duplicate model");
  }
}

void read_rate_limit(Reader& r, const YAML::Node& node, const std::string& key, RateLimit& l, const std::string& file) {
  if (!r.expect_map(node, key, {"id", "per", "rate", "burst", "agents", "routes"})) return;
  l.location = file + ":" + std::to_string(node.Mark().line + 1);
  r.read_string(node, key, "id", l.id);
  if (!is_token(l.id)) r.error(node["id"], key + ".id", "required: letters, digits, '-', '_' and '.'");
  std::string per = "agent";
  r.read_string(node, key, "per", per);
  if (per == "agent") l.per = RateLimit::Per::agent;
  else if (per == "route") l.per = RateLimit::Per::route;
  else if (per == "agent_route") l.per = RateLimit::Per::agent_route;
  else r.error(node["per"], key + ".per", "expected agent, route or agent_route, got '" + per + "'");
  if (!node["rate"].IsDefined()) r.error(node, key + ".rate", "required: tokens per time such as 20/s, 600/min or 1000/h");
  r.read(node, key, "rate", [&](const YAML::Node& n, const std::string& k, const std::string& text) {
    auto rate = parse_rate(text);
    if (!rate) {
      r.error(n, k, "expected tokens per time such as 20/s, 600/min or 1000/h, got '" + text + "'");
    } else if (*rate * 86400 < 1 - 1e-9) {
      // Slower than that is a budget, not a rate; and the wait until a token (Retry-After) must fit.
      r.error(n, k, "at least one token a day (0.0417/h), got '" + text + "'");
    } else {
      l.rate = *rate;
    }
  });
  std::uint64_t burst = 0;
  r.read_uint(node, key, "burst", burst, 1, 1'000'000'000);
  // Unset: one second's worth of tokens, and at least one, so the first request always passes.
  l.burst = burst > 0 ? static_cast<double>(burst) : std::max(1.0, std::ceil(l.rate));
  r.read_string_list(node, key, "agents", l.agents);
  r.read_string_list(node, key, "routes", l.routes);
}

void read_loop_guard(Reader& r, const YAML::Node& node, LoopGuard& g) {
  if (!r.expect_map(node, "loop_guard", {"max_repeats", "window", "max_entries"})) return;
  if (!node["max_repeats"].IsDefined()) {
    r.error(node, "loop_guard.max_repeats", "required: how many identical calls a scope may make within the window");
  }
  r.read_uint(node, "loop_guard", "max_repeats", g.max_repeats, 1, 1'000'000);
  r.read_duration(node, "loop_guard", "window", g.window, false);
  // A loop shows within minutes; a longer window only holds entries longer, and far beyond a day
  // its count in nanoseconds (guard/loop_guard.hpp) would overflow.
  if (g.window > std::chrono::hours(24)) {
    r.error(node["window"], "loop_guard.window", "at most 24h");
    g.window = std::chrono::hours(24);
  }
  r.read_uint(node, "loop_guard", "max_entries", g.max_entries, 1000, 100'000'000);
}

// A fallback names another route of the config, one that falls back no further: a chain would hide
// how far a request strayed from the route it asked for, and a cycle would never end.
void check_fallbacks(Reader& r, const YAML::Node& routes, const Config& c) {
  for (std::size_t i = 0; i < c.routes.size(); ++i) {
    const auto& route = c.routes[i];
    if (route.on_unavailable != OnUnavailable::fallback || route.fallback.empty()) continue;
    std::string key = "routes[" + std::to_string(i) + "].fallback";
    const YAML::Node at = routes[i]["fallback"];
    auto it = std::find_if(c.routes.begin(), c.routes.end(), [&](const Route& rt) { return rt.name == route.fallback; });
    if (it == c.routes.end()) r.error(at, key, "no route named '" + route.fallback + "'");
    else if (it->name == route.name) r.error(at, key, "a route cannot fall back to itself");
    else if (it->on_unavailable == OnUnavailable::fallback) {
      r.error(at, key, "route '" + it->name + "' falls back in turn; fallbacks do not chain");
    } else if (it->kind != route.kind) {
      // An MCP request sent to a plain HTTP tool, or the reverse, would be read by neither as meant.
      r.error(at, key, "route '" + it->name + "' is of another kind; a fallback serves the same protocol");
    } else if ((route.kind == RouteKind::agent || route.kind == RouteKind::a2a) && it->target_agent != route.target_agent) {
      // The child scope was minted for this route's agent: another agent must not act in it.
      r.error(at, key, "route '" + it->name + "' delegates to agent '" + it->target_agent + "', not '" +
                           route.target_agent + "'; a delegation falls back only to the same agent");
    } else if (route.kind == RouteKind::llm && it->llm.api != route.llm.api) {
      // The call was read, and its usage will be, as this route's API.
      r.error(at, key, "route '" + it->name + "' speaks the " + to_string(it->llm.api) + " API, not " +
                           to_string(route.llm.api) + "; a model call falls back only to the same API");
    }
  }
}

// Names in the guards must be the config's own: a limit for an agent or route that does not exist
// would never apply, and nobody would notice.
void check_guard_names(Reader& r, const YAML::Node& root, Config& c) {
  auto agent_known = [&](std::string_view id) {
    return std::any_of(c.agents.begin(), c.agents.end(), [&](const Agent& a) { return a.id == id; });
  };
  auto route_known = [&](std::string_view name) {
    return name == "scopegate:scopes" || name == "scopegate:plans" ||
           std::any_of(c.routes.begin(), c.routes.end(), [&](const Route& rt) { return rt.name == name; });
  };
  const YAML::Node budgets = root["budgets"];
  if (auto agents = budgets.IsDefined() && budgets.IsMap() ? budgets["agents"] : YAML::Node(); agents.IsDefined() && agents.IsMap()) {
    for (const auto& item : agents) {
      if (!agent_known(item.first.Scalar())) {
        r.error(item.first, "budgets.agents." + item.first.Scalar(), "no agent with this id is configured");
      }
    }
  }
  std::set<std::string> ids;
  for (std::size_t i = 0; i < c.rate_limits.size(); ++i) {
    const auto& l = c.rate_limits[i];
    std::string key = "rate_limits[" + std::to_string(i) + "]";
    const YAML::Node node = root["rate_limits"][i];  // rate_limits was read as a list of this many
    if (!l.id.empty() && !ids.insert(l.id).second) r.error(node["id"], key + ".id", "duplicate rate limit id '" + l.id + "'");
    for (std::size_t j = 0; j < l.agents.size(); ++j) {
      if (!agent_known(l.agents[j])) {
        r.error(node["agents"][j], key + ".agents[" + std::to_string(j) + "]", "no agent '" + l.agents[j] + "' is configured");
      }
    }
    for (std::size_t j = 0; j < l.routes.size(); ++j) {
      if (!route_known(l.routes[j])) {
        r.error(node["routes"][j], key + ".routes[" + std::to_string(j) + "]",
                "no route '" + l.routes[j] + "' is configured (the gateway's own POST /v1/scopes is scopegate:scopes)");
      }
    }
  }
}

// redis://[user@]host[:port][/db] or rediss://...: the Redis of fleet mode.
bool parse_redis_url(const std::string& url, Fleet::Redis& redis, std::string& why) {
  std::string_view rest = url;
  if (rest.starts_with("redis://")) rest.remove_prefix(8);
  else if (rest.starts_with("rediss://")) rest.remove_prefix(9), redis.tls = true;
  else return why = "expected redis://host:port[/db] or rediss://host:port[/db]", false;
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view user = rest.substr(0, at);
    if (user.find(':') != std::string_view::npos) {
      return why = "no password in the URL: name an environment variable in fleet.redis.password_env", false;
    }
    bool plain = !user.empty() && std::all_of(user.begin(), user.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '-' || c == '_' || c == '.';
    });
    if (!plain) return why = "the user name is letters, digits, '-', '_' and '.' (or set fleet.redis.username)", false;
    redis.username = std::string(user);
    rest.remove_prefix(at + 1);
  }
  std::string_view db;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  std::string_view port;
  if (rest.starts_with('[')) {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return why = "unterminated [IPv6] host", false;
    redis.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    bool v6 = std::all_of(redis.host.begin(), redis.host.end(), [](unsigned char c) {
      return std::isxdigit(c) || c == ':' || c == '.';
    });
    if (!v6) return why = "not an IPv6 address in the brackets", false;
    if (rest.starts_with(':')) port = rest.substr(1);
    else if (!rest.empty()) return why = "unexpected text after the host", false;
    if (rest == ":") return why = "no port after ':'", false;
  } else {
    auto colon = rest.find(':');
    redis.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = rest.substr(colon + 1);
      if (port.find(':') != std::string_view::npos) {
        return why = "an IPv6 address goes in brackets: redis://[::1]:6379", false;
      }
      if (port.empty()) return why = "no port after ':'", false;
    }
    bool name_ok = std::all_of(redis.host.begin(), redis.host.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '-' || c == '.' || c == '_';
    });
    if (!name_ok) return why = "the host is a name or an address (letters, digits, '-', '.')", false;
  }
  if (redis.host.empty()) return why = "no host", false;
  auto number = [](std::string_view text, unsigned max, unsigned& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size() && out <= max;
  };
  unsigned p = 6379;
  if (!port.empty() && (!number(port, 65535, p) || p == 0)) return why = "the port is 1 to 65535", false;
  redis.port = static_cast<std::uint16_t>(p);
  if (!db.empty() && !number(db, 15, redis.db)) return why = "the database is a number from 0 to 15", false;
  return true;
}

// The `fleet` section (docs/fleet.md).
void read_fleet(Reader& r, const YAML::Node& node, Config& c, bool node_set) {
  if (!r.expect_map(node, "fleet", {"node", "redis", "revocations", "budgets", "rate_limits"})) return;
  Fleet& f = c.fleet;
  f.enabled = true;
  std::string name;
  r.read_string(node, "fleet", "node", name);
  if (name.empty() && !node_set) {
    r.error(node, "fleet.node", "fleet mode needs this node's own name, unique in the fleet: set node (or fleet.node)");
  }
  if (!name.empty()) {
    if (node_set && name != c.node) {
      r.error(node["node"], "fleet.node", "differs from the top-level node '" + c.node + "': set one of them");
    } else if (!is_token(name) || name.find_first_not_of('.') == std::string::npos) {
      r.error(node["node"], "fleet.node", "use letters, digits, '-', '_' and '.', not dots alone");
    } else {
      c.node = name;
    }
  }
  auto redis = node["redis"];
  if (!redis.IsDefined() || redis.IsNull()) {
    r.error(node, "fleet.redis", "required: the Redis the fleet shares (url: redis://host:port)");
  } else if (r.expect_map(redis, "fleet.redis", {"url", "tls", "username", "password_env", "key_prefix", "timeout"})) {
    Fleet::Redis& rd = f.redis;
    r.read_string(redis, "fleet.redis", "url", rd.url);
    std::string why;
    if (rd.url.empty()) r.error(redis, "fleet.redis.url", "required: redis://host:port[/db] or rediss://...");
    else if (!parse_redis_url(rd.url, rd, why)) r.error(redis["url"], "fleet.redis.url", why);
    std::string user;
    r.read_string(redis, "fleet.redis", "username", user);
    if (!user.empty()) rd.username = user;
    if (auto tls = redis["tls"]; tls.IsDefined() && !tls.IsNull()) {
      if (r.expect_map(tls, "fleet.redis.tls", {"ca_file", "verify", "server_name"})) {
        r.read_string(tls, "fleet.redis.tls", "ca_file", rd.ca_file);
        r.read_bool(tls, "fleet.redis.tls", "verify", rd.verify);
        r.read_string(tls, "fleet.redis.tls", "server_name", rd.server_name);
        if (!rd.tls) r.error(tls, "fleet.redis.tls", "applies only to a rediss:// url");
        if (!rd.ca_file.empty() && !std::ifstream(rd.ca_file)) {
          r.error(tls["ca_file"], "fleet.redis.tls.ca_file", "cannot read file '" + rd.ca_file + "'");
        }
      }
    }
    if (rd.server_name.empty()) rd.server_name = rd.host;
    r.read_string(redis, "fleet.redis", "password_env", rd.password_env);
    if (!rd.password_env.empty()) {
      auto value = r.env(rd.password_env);
      std::string what = "environment variable " + rd.password_env + " is not set";
      if (value) rd.password = *value;
      else if (!r.secret_missing(redis["password_env"], "fleet.redis.password_env", what)) {
        r.error(redis["password_env"], "fleet.redis.password_env", what);
      }
    }
    r.read_string(redis, "fleet.redis", "key_prefix", rd.key_prefix);
    bool prefix_ok = rd.key_prefix.size() <= 64 && std::all_of(rd.key_prefix.begin(), rd.key_prefix.end(), [](unsigned char ch) {
                       return ch > 0x20 && ch < 0x7f && ch != '{' && ch != '}';
                     });
    if (!prefix_ok) r.error(redis["key_prefix"], "fleet.redis.key_prefix", "printable ASCII without spaces or braces, at most 64 characters");
    r.read_duration(redis, "fleet.redis", "timeout", rd.timeout, false);
    // Requests may wait for another's lease up to twice this: a setting of minutes is a mistake.
    if (rd.timeout > std::chrono::seconds(10)) r.error(redis["timeout"], "fleet.redis.timeout", "at most 10s");
  }
  if (auto rev = node["revocations"]; rev.IsDefined() && !rev.IsNull()) {
    if (r.expect_map(rev, "fleet.revocations", {"strict"})) r.read_bool(rev, "fleet.revocations", "strict", f.revocations_strict);
  }
  auto on_unavailable = [&](const YAML::Node& n, const std::string& key, Fleet::OnUnavailable& out) {
    r.read(n, key, "on_store_unavailable", [&](const YAML::Node& v, const std::string& k, const std::string& text) {
      if (text == "closed") out = Fleet::OnUnavailable::closed;
      else if (text == "local") out = Fleet::OnUnavailable::local;
      else r.error(v, k, "expected closed or local, got '" + text + "'");
    });
  };
  auto lease = [&](const YAML::Node& n, const std::string& key, double& out) {
    r.read(n, key, "lease", [&](const YAML::Node& v, const std::string& k, const std::string& text) {
      double value = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc{} || end != text.data() + text.size() || !(value > 0) || value > 1) {
        r.error(v, k, "expected a fraction of each limit above 0 and at most 1, such as 0.1, got '" + text + "'");
      } else {
        out = value;
      }
    });
  };
  if (auto b = node["budgets"]; b.IsDefined() && !b.IsNull()) {
    if (r.expect_map(b, "fleet.budgets", {"lease", "lease_idle", "on_store_unavailable"})) {
      lease(b, "fleet.budgets", f.budget_lease);
      r.read_duration(b, "fleet.budgets", "lease_idle", f.budget_lease_idle, false);
      on_unavailable(b, "fleet.budgets", f.budgets_unavailable);
    }
  }
  if (auto l = node["rate_limits"]; l.IsDefined() && !l.IsNull()) {
    if (r.expect_map(l, "fleet.rate_limits", {"lease", "lease_ttl", "on_store_unavailable"})) {
      lease(l, "fleet.rate_limits", f.rate_lease);
      r.read_duration(l, "fleet.rate_limits", "lease_ttl", f.rate_lease_ttl, false);
      on_unavailable(l, "fleet.rate_limits", f.rate_limits_unavailable);
    }
  }
}

void read_config(Reader& r, const YAML::Node& root, Config& c, const std::string& file) {
  if (root.IsNull() || !root.IsDefined()) {
    r.error(root, "", "the file is empty");
    return;
  }
  if (!r.expect_map(root, "", {"node", "workers", "listeners", "admin", "limits", "timeouts", "paths", "token",
                               "audit", "agents", "routes", "policies", "budgets", "rate_limits", "loop_guard",
                               "llm", "fleet"})) {
    return;
  }
  r.read_string_list(root, "", "policies", c.policies);
  for (std::size_t i = 0; i < c.policies.size(); ++i) {
    auto& p = c.policies[i];
    if (p.empty()) {
      r.error(root["policies"][i], "policies[" + std::to_string(i) + "]", "an empty path");
      continue;
    }
    // Relative to the config file, wherever the gateway was started from.
    if (std::filesystem::path(p).is_relative()) p = (std::filesystem::path(file).parent_path() / p).lexically_normal();
  }
  r.read_string(root, "", "node", c.node);
  // The node names directories (checkpoints/<node>/) and files: "." and ".." would name others.
  if (!is_token(c.node) || c.node.find_first_not_of('.') == std::string::npos) {
    r.error(root["node"], "node", "use letters, digits, '-', '_' and '.', not dots alone");
  }
  r.read_uint(root, "", "workers", c.workers, 0, 256);

  if (auto limits = root["limits"]; limits.IsDefined() &&
      r.expect_map(limits, "limits",
                   {"max_header_bytes", "max_header_count", "max_body_bytes", "max_connections",
                    "max_connections_per_peer", "max_inspect_bytes"})) {
    r.read_size(limits, "limits", "max_inspect_bytes", c.limits.max_inspect_bytes);
    r.read_size(limits, "limits", "max_header_bytes", c.limits.max_header_bytes);
    r.read_uint(limits, "limits", "max_header_count", c.limits.max_header_count, 1, 10000);
    r.read_size(limits, "limits", "max_body_bytes", c.limits.max_body_bytes);
    r.read_uint(limits, "limits", "max_connections", c.limits.max_connections, 1, 10'000'000);
    r.read_uint(limits, "limits", "max_connections_per_peer", c.limits.max_connections_per_peer, 0, 10'000'000);
  }
  if (auto t = root["timeouts"]; t.IsDefined()) read_timeouts(r, t, "timeouts", c.timeouts, false);
  if (auto p = root["paths"]; p.IsDefined()) read_paths(r, p, "paths", c.paths.rules, &c.paths.merge_slashes);
  if (auto t = root["token"]; t.IsDefined()) read_token(r, t, c.token);
  if (auto a = root["audit"]; a.IsDefined()) {
    read_audit(r, a, c.audit);
    if (a.IsMap() && a["checkpoints"].IsMap()) read_checkpoint_key(r, a["checkpoints"], c.audit.checkpoints);
  }

  if (auto admin = root["admin"]; admin.IsDefined() && r.expect_map(admin, "admin", {"address", "port", "token"})) {
    r.read_string(admin, "admin", "address", c.admin.address);
    r.read_uint(admin, "admin", "port", c.admin.port, 0, 65535);
    r.read_secret_string(admin, "admin", "token", c.admin.token);
  }

  auto listeners = root["listeners"];
  if (!listeners.IsDefined() || !listeners.IsSequence() || listeners.size() == 0) {
    r.error(listeners.IsDefined() ? listeners : root, "listeners", "at least one listener is required");
  } else {
    std::set<std::string> names;
    for (std::size_t i = 0; i < listeners.size(); ++i) {
      std::string key = "listeners[" + std::to_string(i) + "]";
      Listener l;
      read_listener(r, listeners[i], key, l, i);
      if (!names.insert(l.name).second) r.error(listeners[i], key + ".name", "duplicate listener name '" + l.name + "'");
      c.listeners.push_back(std::move(l));
    }
  }

  auto agents = root["agents"];
  if (agents.IsDefined() && !agents.IsSequence()) {
    r.error(agents, "agents", "expected a list");
  } else if (agents.IsDefined()) {
    std::set<std::string> ids, keys, subjects;
    for (std::size_t i = 0; i < agents.size(); ++i) {
      std::string key = "agents[" + std::to_string(i) + "]";
      Agent a;
      read_agent(r, agents[i], key, a);
      if (!a.id.empty() && !ids.insert(a.id).second) r.error(agents[i]["id"], key + ".id", "duplicate agent id '" + a.id + "'");
      if (!a.api_key_sha256.empty() && !keys.insert(a.api_key_sha256).second) {
        r.error(agents[i]["api_key_sha256"], key + ".api_key_sha256", "the same key hash is given to another agent");
      }
      if (!a.certificate_subject.empty() && !subjects.insert(a.certificate_subject).second) {
        r.error(agents[i]["certificate_subject"], key + ".certificate_subject", "the same subject is given to another agent");
      }
      c.agents.push_back(std::move(a));
    }
  }

  const YAML::Node token = root["token"];
  const bool token_keys_declared =
      token.IsDefined() && token.IsMap() && token["keys"].IsDefined() && token["keys"].IsSequence() && token["keys"].size() > 0;
  auto routes = root["routes"];
  if (routes.IsDefined() && !routes.IsSequence()) {
    r.error(routes, "routes", "expected a list");
  } else if (routes.IsDefined()) {
    std::set<std::string> names;
    for (std::size_t i = 0; i < routes.size(); ++i) {
      std::string key = "routes[" + std::to_string(i) + "]";
      Route route;
      read_route(r, routes[i], key, route, c, file);
      if (!route.name.empty() && !names.insert(route.name).second) {
        r.error(routes[i]["name"], key + ".name", "duplicate route name '" + route.name + "'");
      }
      for (std::size_t j = 0; j < c.routes.size(); ++j) {
        if (covers(c.routes[j].match, route.match)) {
          r.error(routes[i]["match"], key + ".match",
                  "unreachable: every request it matches is taken first by route '" + c.routes[j].name +
                      "' (" + c.routes[j].location + "); put the more specific route first");
          break;
        }
      }
      // (Keys that are declared but failed to load are reported once, under token.keys.)
      if (route.access == Access::scoped && c.token.keys.empty() && !token_keys_declared) {
        r.error(routes[i], key + ".access",
                "a scoped route verifies Delegation-Tokens: configure token.keys, or set access: authenticated or open");
      }
      c.routes.push_back(std::move(route));
    }
  }
  if (auto b = root["budgets"]; b.IsDefined() && !b.IsNull()) read_budgets(r, b, c.budgets);
  if (auto limits = root["rate_limits"]; limits.IsDefined() && !limits.IsNull()) {
    if (!limits.IsSequence()) {
      r.error(limits, "rate_limits", "expected a list");
    } else {
      for (std::size_t i = 0; i < limits.size(); ++i) {
        RateLimit l;
        read_rate_limit(r, limits[i], "rate_limits[" + std::to_string(i) + "]", l, file);
        c.rate_limits.push_back(std::move(l));
      }
    }
  }
  if (auto g = root["loop_guard"]; g.IsDefined() && !g.IsNull()) read_loop_guard(r, g, c.loop_guard);
  if (auto l = root["llm"]; l.IsDefined() && !l.IsNull()) read_llm(r, l, c.llm);
  if (auto f = root["fleet"]; f.IsDefined() && !f.IsNull()) read_fleet(r, f, c, root["node"].IsDefined());
  check_guard_names(r, root, c);
  check_fallbacks(r, routes, c);
  if (c.workers == 0) c.workers = std::max(1u, std::thread::hardware_concurrency());
}

using SectionReader = void (*)(Reader&, const YAML::Node&, Config&, const std::string&);

LoadResult load(const std::function<YAML::Node()>& parse, const std::string& file, EnvLookup env,
                Secrets secrets, SectionReader read = read_config) {
  LoadResult result;
  Config config;
  config.source_file = file;
  Reader reader(file, env ? std::move(env) : EnvLookup(process_env), result.errors, secrets, result.missing_secrets);
  try {
    read(reader, parse(), config, file);
  } catch (const YAML::Exception& e) {
    result.errors.push_back({file, e.mark.is_null() ? 0 : e.mark.line + 1, "", e.msg});
  } catch (const std::exception& e) {
    // A file the config names that cannot be read as expected: an error, never a dead gateway.
    result.errors.push_back({file, 0, "", e.what()});
  }
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

// The query and audit commands read a gateway's config for its node name and audit section only:
// they must run where the token keys and the admin token are not available, and never resolve them.
void read_audit_only(Reader& r, const YAML::Node& root, Config& c, const std::string&) {
  if (root.IsNull() || !root.IsDefined()) {
    r.error(root, "", "the file is empty");
    return;
  }
  if (!root.IsMap()) {
    r.error(root, "", "expected a mapping");
    return;
  }
  r.read_string(root, "", "node", c.node);
  if (auto a = root["audit"]; a.IsDefined()) read_audit(r, a, c.audit);
}

LoadResult load_path(const std::string& path, EnvLookup env, Secrets secrets, SectionReader read) {
  std::error_code ec;
  std::ifstream in;
  if (std::filesystem::is_regular_file(path, ec)) in.open(path);
  if (!in.is_open()) {
    LoadResult result;
    result.errors.push_back({path, 0, "", "cannot open the file"});
    return result;
  }
  return load([&] { return YAML::Load(in); }, path, std::move(env), secrets, read);
}

}  // namespace

LoadResult load_audit_section(const std::string& path, EnvLookup env) {
  return load_path(path, std::move(env), Secrets::required, read_audit_only);
}

LoadResult load_file(const std::string& path, EnvLookup env, Secrets secrets) {
  return load_path(path, std::move(env), secrets, read_config);
}

LoadResult load_string(std::string_view yaml, const std::string& file_name, EnvLookup env, Secrets secrets) {
  std::string text(yaml);
  return load([&] { return YAML::Load(text); }, file_name, std::move(env), secrets);
}

}  // namespace scopegate::config
