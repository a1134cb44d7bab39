// Plans (docs/plans.md): the POST /v1/plans body an agent sends (plan/plan.hpp), and the A2A answer
// a sub-agent sends back, read as it is relayed to learn how a task ended (protocol/a2a_answer.hpp).
// The first input splits the fuzzer's bytes: before the first NUL, a plan body; after it, an answer.
//
// Beyond "no crash": an accepted plan is a DAG of at most 64 uniquely named tasks whose order puts
// every dependency first; a refusal explains itself; a plan driven through checks, ends and
// deadlines always renders a view that is JSON; and an answer read from a stream of server-sent
// events is the same however the stream is cut into pieces.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "http/errors.hpp"
#include "plan/plan.hpp"
#include "plan/run.hpp"
#include "protocol/a2a_answer.hpp"

namespace {

using namespace scopegate;

constexpr std::int64_t kStart = 1'767'225'600'000'000;

void check_plan(std::string_view body) {
  std::string padded(body);
  padded.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  std::string why;
  auto spec = plan::parse_plan(padded, why);
  if (!spec) {
    fuzz::require(!why.empty(), "a refused plan has a reason");
    fuzz::require_json_reply(http::error_body(http::ErrorCode::bad_request, {.message = why}), why);
    return;
  }
  fuzz::require(!spec->tasks.empty() && spec->tasks.size() <= plan::kMaxTasks, "1 to 64 tasks");
  fuzz::require(spec->order.size() == spec->tasks.size(), "every task in the order");
  std::set<std::string> ids, placed;
  for (const auto& t : spec->tasks) fuzz::require(ids.insert(t.id).second, "task ids are unique");
  for (auto i : spec->order) {
    for (auto d : spec->tasks[i].deps) fuzz::require(placed.count(spec->tasks[d].id), "dependencies come first");
    placed.insert(spec->tasks[i].id);
  }
  // Drive it: every task checked, started, ended in turn, deadlines passed; the view stays JSON.
  plan::PlanRun run("p", *spec, {"S0", "planner", "u", "S0"}, kStart, kStart + 3'600'000'000);
  std::int64_t now = kStart;
  for (std::size_t i = 0; i < spec->tasks.size(); ++i) {
    auto t = spec->order[i];
    const auto& task = spec->tasks[t];
    now += 1'000'000;
    run.check_binding(t, {task.agent, "agent:" + task.agent, "S0", "r"}, now);
    run.start(t, "S" + std::to_string(i + 1), "delegation", "r", now);
    run.check_action(t, {task.agent, task.actions.empty() ? "tool:x" : task.actions.front(), "S1", "r"}, now);
    run.note_request(t, true, 1234);
    run.finish(t, i % 3 == 0 ? plan::TaskState::failed : plan::TaskState::completed, "reply", "S1", "r", now);
  }
  run.advance(kStart + 7'200'000'000);
  fuzz::require(run.finished(), "a plan past its scope's expiry has finished");
  std::string view;
  run.write_view(view);
  fuzz::require(fuzz::is_valid_json(view), "the plan view is JSON");
}

bool same(const protocol::A2aAnswer& a, const protocol::A2aAnswer& b) {
  return a.kind == b.kind && a.state == b.state && a.task_id == b.task_id;
}

void check_answer(std::string_view bytes) {
  auto whole = protocol::read_a2a_answer(bytes);
  protocol::A2aAnswerScanner json(false);
  json.feed(bytes);
  fuzz::require(same(json.finish(), whole), "a JSON body scanned reads as the body itself");
  protocol::A2aAnswerScanner one(true), cut(true);
  one.feed(bytes);
  std::size_t at = bytes.empty() ? 0 : static_cast<unsigned char>(bytes.front()) % (bytes.size() + 1);
  cut.feed(bytes.substr(0, at));
  cut.feed(bytes.substr(at));
  auto a = one.finish(), b = cut.finish();
  fuzz::require(same(a, b), "an event stream reads the same however it is cut");
  fuzz::require(!(a.completed() && a.failed()), "an answer is not both completed and failed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto nul = input.find('\0');
  check_plan(input.substr(0, nul));
  if (nul != std::string_view::npos) check_answer(input.substr(nul + 1));
  return 0;
}
