#include "pipeline/llm.hpp"

#include "http/hygiene.hpp"
#include "runtime/gateway_metrics.hpp"

namespace scopegate::pipeline {

using http::ErrorCode;
using metrics::Family;
using metrics::pack;

Verdict classify_llm(RequestContext& x) {
  auto operation = llm::operation_of(x.route->llm.api, x.parser.get().target());
  if (operation == llm::Operation::other || x.method != bhttp::verb::post) {
    // A model list, a file upload, a batch, images or audio: no usage the gateway reads, so the
    // route's own action (like an MCP method the gateway does not name), grant-checked all the
    // same: a grant of model:* does not cover it. A GET of the API's listings or of a stored
    // object reads nothing on anyone's behalf: housekeeping.
    if (x.method != bhttp::verb::get && x.method != bhttp::verb::head) x.action = "route:" + x.route->name;
    return Verdict::next();
  }
  if (!x.body_buffered) return http::Violation{ErrorCode::bad_request, "an LLM request has a JSON body naming its model"};
  std::string why;
  auto request = llm::parse_request(x.body, why);
  if (!request) return http::Violation{ErrorCode::bad_request, "LLM request: " + why};
  x.model = std::move(request->model);
  std::uint64_t input = 0;
  x.reserve_tokens = llm::estimated_tokens(x.body.size(), *request, operation, input);
  x.llm_stream = request->stream;
  if (const auto* price = x.snapshot.config.llm.price(x.model)) {
    llm::Usage estimate;
    estimate[llm::TokenType::input] = input;
    estimate[llm::TokenType::output] = x.reserve_tokens - input;
    x.reserve_cost = llm::cost_of(estimate, *price);
  }
  x.operation = llm::operation_name(operation);
  x.action = "model:" + x.model;
  // Only a streamed chat completion leaves its usage out unless asked; the body is changed here,
  // after every check read it, and only by adding that one member.
  if ((operation == llm::Operation::chat || operation == llm::Operation::completions) &&
      x.route->llm.api == config::LlmApi::openai &&
      x.route->llm.stream_usage) {
    llm::ask_for_stream_usage(x.body, *request);
  }
  x.response_tap = &read_llm_usage;
  return Verdict::next();
}

void prepare_llm_request(RequestContext& x) {
  if (x.model.empty()) return;
  // A compressed answer could not be read for its usage: the upstream is asked for none.
  x.replaced[x.replaced_count++] = "accept-encoding";
  x.stamped += "Accept-Encoding: identity\r\n";
}

bool provider_key_header(const RequestContext& x, std::string& line) {
  if (x.route->kind != config::RouteKind::llm) return false;
  // The provider that serves this attempt: the route's own, or its fallback's (same API,
  // config/loader.cpp), which a retry may have switched to after the head was first stamped.
  const config::Route& serving = x.serving_route ? *x.serving_route : *x.route;
  const std::string& key = serving.llm.api_key;  // validated printable at load
  if (key.empty()) return false;
  line = serving.llm.api == config::LlmApi::anthropic ? "x-api-key: " : "Authorization: Bearer ";
  line += key;
  line += "\r\n";
  return true;
}

void expect_llm_response(RequestContext& x, std::string_view content_type, std::string_view content_encoding) {
  if (x.model.empty()) return;
  // Asked for none, an upstream may still compress: its usage cannot be read (counted as missing).
  if (!content_encoding.empty() && !http::iequals_ascii(content_encoding, "identity")) return;
  // As the SDKs read it: a call that asked to stream is read as events unless the answer says JSON
  // (an error, typically), whatever else its Content-Type says.
  bool sse = content_type.size() >= 17 && http::iequals_ascii(content_type.substr(0, 17), "text/event-stream");
  bool json = content_type.size() >= 16 && http::iequals_ascii(content_type.substr(0, 16), "application/json");
  bool event_stream = sse || (x.llm_stream && !json);
  x.usage_reader.emplace(x.route->llm.api, event_stream);
}

void read_llm_usage(RequestContext& x, std::string_view piece, bool last) {
  if (!x.usage_reader) return;
  if (x.first_piece_at == Clock::time_point{} && !piece.empty()) x.first_piece_at = Clock::now();
  x.usage_reader->feed(piece);
  if (last) x.usage_reader->finish();
}

void summarize_llm(const RequestContext& x, RequestSummary& out) {
  if (x.model.empty()) return;
  auto& f = out.facts;
  f.model = x.model;
  const config::ModelPrice* price = x.snapshot.config.llm.price(x.model);
  out.priced = price != nullptr;
  out.model_label = x.snapshot.metric_labels.model(x.model);
  out.llm_call = x.forwarded;
  // A cut stream included: what arrived of it was read (a usage event already relayed counts).
  if (x.usage_reader && x.usage_reader->seen()) {
    out.usage = x.usage_reader->usage();
    f.usage = &out.usage;
    f.cost = price ? llm::cost_of(out.usage, *price) : 0;
  }
  if (x.first_piece_at != Clock::time_point{} && x.forwarded) {
    out.first_piece_ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(x.first_piece_at - x.upstream_started).count());
  }
}

void record_llm(runtime::Services&, const RequestSummary& summary) {
  if (!summary.llm_call || !summary.metrics.has_route) return;
  auto& m = runtime::GatewayMetrics::instance();
  auto& r = m.registry();
  const auto& s = summary.metrics;
  const auto& f = summary.facts;
  r.observe(Family::llm_duration_seconds, pack(s.route), s.upstream_ns);
  if (summary.first_piece_ns) r.observe(Family::llm_time_to_first_chunk_seconds, pack(s.route), summary.first_piece_ns);
  if (!summary.priced) r.add(Family::llm_unpriced_calls_total, pack(s.route));
  if (!f.usage) {
    // An error answer carries no usage and costs nothing; a successful one without it goes uncounted.
    if (f.status >= 200 && f.status < 300) r.add(Family::llm_usage_missing_total, pack(s.route));
    return;
  }
  // Counts from an upstream may be anything: a counter never goes down for one past int64.
  auto clamp = [](std::uint64_t n) { return static_cast<std::int64_t>(std::min<std::uint64_t>(n, INT64_MAX / 4)); };
  for (std::size_t t = 0; t < llm::kTokenLabels.size(); ++t) {
    if (auto n = f.usage->tokens[t]) {
      r.add(Family::llm_tokens_total, pack(s.route, s.agent, summary.model_label, m.token_type(t)), clamp(n));
    }
  }
  // Nano-units: the counter's cells are integers, and a scrape divides (metrics/families.hpp).
  if (f.cost) r.add(Family::llm_cost_total, pack(s.route, s.agent, summary.model_label), clamp(f.cost / 1000));
}

}  // namespace scopegate::pipeline
