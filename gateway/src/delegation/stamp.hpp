// Values of the headers the gateway stamps (docs/protocol.md §3): objectives, W3C trace context and
// baggage. Everything produced here is printable ASCII without CR, LF or NUL, whatever came in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "delegation/scope.hpp"
#include "delegation/token.hpp"

namespace scopegate::delegation {

constexpr std::size_t kMaxObjectiveBytes = 512;

// Decodes a percent-encoded UTF-8 objective and cuts it to 512 bytes on a character boundary.
// nullopt when an escape is malformed or the bytes are not valid UTF-8.
std::optional<std::string> decode_objective(std::string_view header_value);

// Cuts UTF-8 text to at most `max` bytes without splitting a character.
std::string_view cut_utf8(std::string_view text, std::size_t max);

bool is_valid_utf8(std::string_view text);

// Percent-encodes every byte outside RFC 3986's unreserved set, so the value can carry any text
// (CR, LF, quotes, non-ASCII) without ever forming a header line of its own.
std::string encode_objective(std::string_view text);

// W3C Trace Context. A valid inbound traceparent keeps its trace id and flags; the gateway is a
// new span. Without one, a new trace starts (sampled).
// Held in fixed buffers: made on every request, it should cost no allocation.
class TraceContext {
 public:
  std::string_view trace_id() const { return {trace_, sizeof trace_}; }   // 32 lower-case hex
  std::string_view span_id() const { return {span_, sizeof span_}; }      // the gateway's span
  std::string_view parent_id() const { return continued_ ? std::string_view(parent_, sizeof parent_) : ""; }
  std::string_view flags() const { return {flags_, sizeof flags_}; }
  bool continued() const { return continued_; }  // false: the trace starts at the gateway
  bool empty() const { return trace_[0] == 0; }

  std::string traceparent() const;
  void append_traceparent(std::string& out) const;

 private:
  friend TraceContext continue_trace(std::string_view inbound_traceparent);
  char trace_[32] = {};
  char span_[16] = {};
  char parent_[16] = {};
  char flags_[2] = {'0', '1'};
  bool continued_ = false;
};
TraceContext continue_trace(std::string_view inbound_traceparent);

// The inbound baggage entries with delegation.scope set to `scope` (an existing entry replaced).
// Inbound values are passed on as they came; entries without '=' are dropped.
std::string stamp_baggage(std::string_view inbound, std::string_view scope);

// What the forwarded request is stamped with (docs/protocol.md §3).
struct StampInput {
  const VerifiedToken* token = nullptr;  // the caller's scope; null on routes that need none
  const ScopeRecord* child = nullptr;    // a delegation's new scope: the one the receiver acts in
  std::string_view child_token;
  std::string_view actor;                // the authenticated caller; empty when there is none
  bool stamp_objective = false;
  std::string_view inbound_traceparent;
  std::string_view inbound_baggage;      // every inbound baggage header, joined by ','
};

// Appends the Delegation-*, traceparent and baggage lines ("Name: value\r\n") to `out`; returns
// the trace context it stamped.
TraceContext render_delegation_headers(const StampInput& in, std::string& out);

}  // namespace scopegate::delegation
