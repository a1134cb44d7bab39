// The request head, as the first bytes a client sends: Beast's request_parser with the gateway's
// limits (as pipeline/forward.cpp sets them), then what inspect_request checks (line endings and
// chunk framing, framing, header count, CONNECT, target, path normalisation, spoofing, upgrade),
// routing, and the head sent upstream (http/head.hpp). The same bytes are also read as an
// upstream's response head.
//
// Beyond "no crash": every refusal becomes a JSON error reply; the normal form of a path is
// normal (no dot segments, upper-case escapes, normalising it again changes nothing); a head the
// gateway sends upstream is itself one the gateway would accept (one Host, no hop-by-hop or
// inbound Delegation-* header, framing the gateway chose, a path already in normal form); feeding
// the bytes in pieces, as a socket delivers them, reads the same header as feeding them at once.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#include "config/loader.hpp"
#include "fuzz_support.hpp"
#include "http/errors.hpp"
#include "http/framing_watch.hpp"
#include "http/head.hpp"
#include "http/hygiene.hpp"
#include "http/path.hpp"
#include "router/router.hpp"

namespace {

using namespace scopegate;
namespace bhttp = boost::beast::http;
namespace asio = boost::asio;

// Routes with each kind of rewrite the upstream head can get (prefix stripped or kept, a base
// path, a host match, the client's Host preserved) and each path rule (escaped slashes rejected,
// kept or unescaped; path parameters rejected or kept).
constexpr std::string_view kConfig = R"(
node: gw-fuzz
listeners: [{ name: data, port: 0 }]
routes:
  - name: tools
    access: open
    match: { path_prefix: /tools/search }
    upstream: http://127.0.0.1:9001/base
    strip_prefix: true
    paths: { escaped_slashes: unescape, path_params: keep }
  - name: files
    access: open
    match: { path_prefix: /files/ }
    upstream: http://127.0.0.1:9001
    paths: { escaped_slashes: keep }
  - name: mcp
    kind: mcp
    access: open
    match: { path_prefix: /mcp, host: tools.example, methods: [POST, GET, DELETE] }
    upstream: http://[::1]:9002/
    preserve_host: true
  - name: rest
    access: open
    match: { path_prefix: / }
    upstream: http://upstream.internal:8080
)";

const config::Config& test_config() {
  static const config::Config config = [] {
    auto loaded = config::load_string(kConfig, "http_head_fuzz.yaml");
    fuzz::require(loaded.config.has_value(), "the harness's own config loads");
    return std::move(*loaded.config);
  }();
  return config;
}

const router::Router& test_router() {
  static const router::Router router(test_config().routes);
  return router;
}

using RequestParser = bhttp::request_parser<bhttp::buffer_body>;

// Feeds `bytes` to a fresh parser the way the gateway's header read does, in pieces of `piece`
// bytes arriving one after another (0: all at once). Returns the bytes the header took, or nullopt
// when no complete header was read (error, or the input ended first).
std::optional<std::size_t> read_header(RequestParser& parser, std::string_view bytes, std::size_t piece) {
  boost::system::error_code ec;
  parser.header_limit(static_cast<std::uint32_t>(test_config().limits.max_header_bytes));
  parser.body_limit(boost::none);
  std::size_t used = 0, available = piece == 0 ? bytes.size() : std::min(piece, bytes.size());
  while (!parser.is_header_done()) {
    used += parser.put(asio::buffer(bytes.data() + used, available - used), ec);
    if (ec == bhttp::error::need_more) {
      ec = {};
      if (available == bytes.size()) {
        parser.put_eof(ec);
        return std::nullopt;
      }
      available = std::min(bytes.size(), available + piece);
      continue;
    }
    if (ec) return std::nullopt;
  }
  return used;
}

// The header as text, for comparing two readings of the same bytes.
std::string describe(const bhttp::request_header<>& req) {
  std::string out(req.method_string());
  out += ' ';
  out += req.target();
  out += ' ';
  out += std::to_string(req.version());
  for (const auto& f : req) {
    out += '\n';
    out += f.name_string();
    out += ':';
    out += f.value();
  }
  return out;
}

void require_json_reply(const http::Violation& v) {
  unsigned status = http::status_of(v.code);
  fuzz::require(status >= 400 && status < 600, "a violation maps to an error status");
  std::string body = http::error_body(v.code, {.message = v.message, .request_id = "0193a6f0-0000-7000-8000-000000000001"});
  fuzz::require_json_reply(body, v.message);
}

// What must hold of a path's normal form (http/path.hpp), whatever the options.
void check_normal_form(std::string_view path) {
  for (bool merge : {true, false}) {
    for (bool unescape : {false, true}) {
      const http::PathOptions options{.merge_slashes = merge, .unescape_slashes = unescape};
      auto normal = http::normalize_path(path, options);
      if (!http::needs_normalizing(path)) {
        fuzz::require(normal.error.empty() && normal.path == path && !normal.escaped_slash && !normal.path_params,
                      "a path that needs no normalising comes back unchanged");
      }
      if (!normal.error.empty()) {
        require_json_reply({http::ErrorCode::bad_request, normal.error});
        continue;
      }
      const std::string& p = normal.path;
      fuzz::require(!p.empty() && p.front() == '/', "a normal path starts with '/'");
      for (std::size_t start = 1; start <= p.size();) {
        auto end = p.find('/', start);
        auto segment = p.substr(start, end == std::string::npos ? std::string::npos : end - start);
        fuzz::require(segment != "." && segment != "..", "a normal path has no dot segments");
        fuzz::require(!merge || !segment.empty() || end == std::string::npos, "merged slashes stay merged");
        if (end == std::string::npos) break;
        start = end + 1;
      }
      for (std::size_t i = p.find('%'); i != std::string::npos; i = p.find('%', i + 1)) {
        fuzz::require(i + 2 < p.size() && std::isxdigit(static_cast<unsigned char>(p[i + 1])) &&
                          std::isxdigit(static_cast<unsigned char>(p[i + 2])) && !std::islower(p[i + 1]) &&
                          !std::islower(p[i + 2]),
                      "escapes in a normal path are two upper-case hex digits");
      }
      bool has_escaped_slash = p.find("%2F") != std::string::npos || p.find("%5C") != std::string::npos;
      // (The flag may also be set for one that a later '..' removed: refusing then is merely cautious.)
      fuzz::require(!has_escaped_slash || normal.escaped_slash, "an escaped slash left in the path is reported");
      fuzz::require(!unescape || !has_escaped_slash, "unescaping leaves no escaped slash");
      auto again = http::normalize_path(p, options);
      fuzz::require(again.error.empty() && again.path == p, "normalising a normal path changes nothing");
    }
  }
}

// inspect_request (pipeline/forward.cpp), step by step, with the limits and routes of the test
// config. The resolved target is written back into the request, as the gateway does.
std::optional<http::Violation> inspect(RequestParser& parser, http::FramingWatch& watch, std::string_view buffered) {
  auto& req = parser.get();
  if (auto v = http::check_request_framing(req)) return v;
  if (parser.chunked()) watch.expect_chunked_body(buffered);
  if (watch.failed()) return http::Violation{http::ErrorCode::bad_request, "request framing: " + watch.error().message()};
  const auto& config = test_config();
  if (static_cast<std::size_t>(std::distance(req.begin(), req.end())) > config.limits.max_header_count) {
    return http::Violation{http::ErrorCode::headers_too_large, "too many header fields"};
  }
  if (req.method() == bhttp::verb::connect) return http::Violation{http::ErrorCode::not_implemented, "CONNECT"};
  if (auto v = http::check_request_target(req.target())) return v;
  std::string_view host = req[bhttp::field::host];
  auto resolved = router::resolve_target(test_router(), config.paths, host, req.method_string(), req.target());
  if (!resolved.refusal.empty()) return http::Violation{http::ErrorCode::bad_request, resolved.refusal};
  if (!resolved.target.empty()) {
    auto again = router::resolve_target(test_router(), config.paths, host, req.method_string(), resolved.target);
    fuzz::require(again.refusal.empty() && again.target.empty(), "a resolved target resolves to itself");
    req.target(resolved.target);
  }
  if (auto v = http::find_spoofed_header(req)) return v;
  if (auto upgrade = req[bhttp::field::upgrade]; !upgrade.empty() && !http::iequals_ascii(upgrade, "h2c")) {
    return http::Violation{http::ErrorCode::not_implemented, "protocol upgrade"};
  }
  return std::nullopt;
}

constexpr std::string_view kStampedScope = "0193a6f0-0000-7000-8000-000000000001";

// The head the gateway would send upstream for an accepted request, and what must hold of it.
void check_upstream_head(RequestParser& parser) {
  const auto& req = parser.get();
  std::string_view host = req[bhttp::field::host];
  const auto* route = test_router().match(http::host_without_port(host), req.method_string(), req.target());
  if (!route) return;
  std::string target = router::upstream_target(*route, route->upstreams.front(), req.target());
  http::UpstreamRequestHead head;
  head.target = target;
  head.host = route->preserve_host && !host.empty() ? host : std::string_view("upstream.internal:8080");
  head.client_host = host;
  head.peer_address = "192.0.2.7";
  head.proto = "http";
  head.node = "gw-fuzz";
  head.request_id = "0193a6f0-0000-7000-8000-0000000000ff";
  std::string stamped = "Delegation-Scope: " + std::string(kStampedScope) + "\r\n";
  head.stamped = stamped;
  static constexpr std::array<std::string_view, 3> kReplaced = {"authorization", "traceparent", "baggage"};
  head.replaced = kReplaced;
  if (parser.chunked()) {
    head.framing = http::Framing::chunked;
  } else if (auto length = parser.content_length()) {
    head.framing = http::Framing::content_length;
    head.content_length = *length;
  }
  std::string out;
  http::append_upstream_request_head(out, req, head);

  bhttp::request_parser<bhttp::empty_body> again;
  again.header_limit(1 << 20);
  again.body_limit(boost::none);  // only the head is read back: a large Content-Length is not an error here
  boost::system::error_code ec;
  std::size_t used = again.put(asio::buffer(out), ec);
  fuzz::require(!ec && again.is_header_done() && used == out.size(), "the upstream head parses whole");
  const auto& up = again.get();
  fuzz::require(!http::check_request_framing(up), "the upstream head passes the gateway's own framing checks");
  std::string_view up_path = up.target().substr(0, up.target().find('?'));
  auto normal = http::normalize_path(up_path, {.merge_slashes = test_config().paths.merge_slashes});
  fuzz::require(normal.error.empty() && normal.path == up_path,
                "the path sent upstream is in normal form: an upstream normalising it reads the routed path");
  fuzz::require(up.count(bhttp::field::host) == 1, "the upstream head has one Host");
  http::ConnectionTokens named(up);
  for (const auto& f : up) {
    std::string_view name = f.name_string();
    if (http::is_gateway_owned(name)) {
      fuzz::require(http::iequals_ascii(name, "Delegation-Scope") && f.value() == kStampedScope,
                    "the only Delegation-* header upstream is the one the gateway stamped");
    }
    bool own_framing = f.name() == bhttp::field::transfer_encoding && head.framing == http::Framing::chunked;
    fuzz::require(own_framing || !http::is_hop_by_hop(name, named), "no hop-by-hop header goes upstream");
    for (auto r : kReplaced) fuzz::require(!http::iequals_ascii(name, r), "a replaced header is not forwarded");
  }
}

// The body after the header, through one relay buffer, as send_request streams it.
void relay_body(RequestParser& parser, std::string_view rest) {
  std::array<char, 512> relay;
  std::size_t used = 0;
  while (!parser.is_done()) {
    parser.get().body().data = relay.data();
    parser.get().body().size = relay.size();
    boost::system::error_code ec;
    std::size_t n = parser.put(asio::buffer(rest.data() + used, rest.size() - used), ec);
    used += n;
    if (ec == bhttp::error::need_buffer) continue;
    if (ec || n == 0) return;
  }
}

// The same bytes as an upstream's response head, and the head the client would get.
void check_response(std::string_view bytes) {
  http::FramingWatch watch;
  watch.expect_header();
  watch.feed(bytes);
  bhttp::response_parser<bhttp::empty_body> parser;
  parser.header_limit(64 * 1024);
  boost::system::error_code ec;
  std::size_t used = parser.put(asio::buffer(bytes.data(), bytes.size()), ec);
  if (ec || !parser.is_header_done()) return;
  if (parser.chunked()) watch.expect_chunked_body(bytes.substr(used));
  const auto& res = parser.get();
  if (res.result_int() < 200) return;  // interim, or not a status: the gateway answers 502 (forward.cpp)
  if (auto v = http::check_response_framing(res)) {
    require_json_reply(*v);
    return;
  }
  http::ClientResponseHead head;
  head.node = "gw-fuzz";
  head.request_id = "0193a6f0-0000-7000-8000-0000000000ff";
  head.framing = parser.chunked() ? http::Framing::chunked : http::Framing::until_close;
  head.keep_alive = false;
  std::string out;
  http::append_client_response_head(out, res, head);
  bhttp::response_parser<bhttp::empty_body> again;
  again.header_limit(1 << 20);
  again.body_limit(boost::none);  // only the head is read back: a large Content-Length is not an error here
  again.put(asio::buffer(out), ec);
  fuzz::require(!ec && again.is_header_done(), "the head sent to the client parses");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  // The raw bytes as a path, before Beast's parser has limited them to target characters.
  if (!bytes.empty() && bytes.front() == '/') check_normal_form(bytes.substr(0, bytes.find_first_of("? ")));

  // The line-ending watch sees every byte read from the client, from the header's start.
  http::FramingWatch watch;
  watch.expect_header();
  watch.feed(bytes);

  RequestParser parser;
  auto header_bytes = read_header(parser, bytes, 0);

  // A socket delivers the same bytes in pieces; the header read must not depend on where they break.
  RequestParser in_pieces;
  auto pieces_bytes = read_header(in_pieces, bytes, 61);
  fuzz::require(header_bytes == pieces_bytes, "the header ends at the same byte however the input is split");
  if (!header_bytes) {
    check_response(bytes);
    return 0;
  }
  fuzz::require(describe(parser.get()) == describe(in_pieces.get()), "split input reads the same header");

  std::string_view target = parser.get().target();
  if (target.starts_with('/')) check_normal_form(target.substr(0, target.find('?')));
  std::string_view rest = bytes.substr(*header_bytes);
  if (auto v = inspect(parser, watch, rest)) {
    require_json_reply(*v);
  } else {
    check_upstream_head(parser);
    relay_body(parser, rest);
  }
  check_response(bytes);
  return 0;
}
