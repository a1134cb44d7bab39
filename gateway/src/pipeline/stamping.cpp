#include "pipeline/stamping.hpp"

#include "pipeline/llm.hpp"

namespace scopegate::pipeline {

Verdict stamp_delegation_headers(RequestContext& x) {
  auto& req = x.parser.get();
  x.stamped.clear();
  x.stamped.reserve(256);
  auto replace = [&](std::string_view name) { x.replaced[x.replaced_count++] = name; };
  replace(x.snapshot.config.listeners[x.info.listener].credential_header);
  replace("traceparent");
  std::string baggage;
  if (x.token) {
    replace("baggage");
    auto [first, last] = x.inbound.baggage ? req.equal_range("baggage") : std::pair{req.end(), req.end()};
    for (auto it = first; it != last; ++it) baggage += (baggage.empty() ? "" : ",") + std::string(it->value());
  }
  delegation::StampInput in;
  in.token = x.token.get();
  in.child = x.child ? &*x.child : nullptr;
  in.child_token = x.child_token;
  in.actor = x.agent ? std::string_view(x.agent->id) : std::string_view{};
  in.stamp_objective = x.route->stamp_objective;
  in.inbound_traceparent = x.inbound.traceparent;
  in.inbound_baggage = baggage;
  x.trace = delegation::render_delegation_headers(in, x.stamped);
  if (!x.trace.continued()) replace("tracestate");  // state of a trace we did not continue means nothing
  prepare_llm_request(x);  // an LLM call's answer must stay readable (pipeline/llm.hpp)
  return Verdict::next();
}

}  // namespace scopegate::pipeline
