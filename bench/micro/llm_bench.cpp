// What reading an LLM answer's usage costs per piece the relay hands over (issue 16; target
// ≤ 1 µs per piece): an SSE stream event by event, as a chat completion or an Anthropic message
// arrives, and a large JSON answer (embeddings) in the relay's 16 KiB pieces.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "llm/usage_reader.hpp"

namespace {

using namespace scopegate;

// One chat completion chunk as OpenAI streams it: about 200 bytes.
std::string chunk(int i) {
  return R"(data: {"id":"chatcmpl-9Xq2","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o-2024-08-06",)"
         R"("system_fingerprint":"fp_0","choices":[{"index":0,"delta":{"content":" word)" +
         std::to_string(i) + R"("},"logprobs":null,"finish_reason":null}],"usage":null})" + "\n\n";
}

void BM_usage_reader_per_sse_event(benchmark::State& state) {
  std::vector<std::string> events;
  for (int i = 0; i < 256; ++i) events.push_back(chunk(i));
  events.push_back(R"(data: {"id":"c","choices":[],"usage":{"prompt_tokens":812,"completion_tokens":256,)"
                   R"("total_tokens":1068,"prompt_tokens_details":{"cached_tokens":512},)"
                   R"("completion_tokens_details":{"reasoning_tokens":0}}})" "\n\ndata: [DONE]\n\n");
  std::size_t pieces = 0;
  for (auto _ : state) {
    llm::UsageReader reader(config::LlmApi::openai, true);
    for (const auto& e : events) reader.feed(e);
    reader.finish();
    benchmark::DoNotOptimize(reader.usage());
    pieces += events.size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(pieces));
  state.counters["ns_per_piece"] = benchmark::Counter(static_cast<double>(pieces) * 1e-9,
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_usage_reader_per_sse_event);

void BM_usage_reader_per_16k_json_piece(benchmark::State& state) {
  // An embeddings answer of 1536 floats per input, 8 inputs: about 150 KiB, usage at the end.
  std::string body = R"({"object":"list","data":[)";
  for (int i = 0; i < 8; ++i) {
    body += (i ? "," : "") + std::string(R"({"object":"embedding","index":)") + std::to_string(i) + R"(,"embedding":[)";
    for (int d = 0; d < 1536; ++d) body += (d ? "," : "") + std::to_string(-0.0123456789 + d * 1e-5);
    body += "]}";
  }
  body += R"(],"model":"text-embedding-3-small","usage":{"prompt_tokens":64,"total_tokens":64}})";
  constexpr std::size_t kPiece = 16 * 1024;
  std::size_t pieces = 0;
  for (auto _ : state) {
    llm::UsageReader reader(config::LlmApi::openai, false);
    for (std::size_t at = 0; at < body.size(); at += kPiece) reader.feed(std::string_view(body).substr(at, kPiece));
    reader.finish();
    benchmark::DoNotOptimize(reader.usage());
    pieces += (body.size() + kPiece - 1) / kPiece;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(pieces));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
  state.counters["ns_per_piece"] = benchmark::Counter(static_cast<double>(pieces) * 1e-9,
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_usage_reader_per_16k_json_piece);

}  // namespace
