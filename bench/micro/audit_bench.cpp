// Audit-log benchmarks (docs/performance.md): the writer's throughput with the hash chain, and a
// generator of large realistic logs for timing `scopegate query`. Run through bench/audit_bench.py.
//   scopegate_audit_bench writer DIR N [batch|none|strict] [CHECKPOINT_DIR KEY_FILE EVERY_RECORDS]
//                                                              N request records from 2 threads,
//                                                              optionally sealing signed checkpoints
//   scopegate_audit_bench generate DIR N                      N records under a tree of scopes;
//                                                              prints a root scope id to query
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "audit/record.hpp"
#include "audit/writer.hpp"
#include "http/request_id.hpp"

using namespace scopegate;

namespace {

struct Scope {
  std::string id, parent, root, path;
  int depth = 0;
};

std::string request_record(const Scope& s, std::uint64_t i, const config::DataLabel& label) {
  static const char* kTools[] = {"search", "fetch", "hr_lookup", "files", "calendar"};
  std::string request_id = http::make_uuid_v7();
  std::string tool = kTools[i % 5];
  std::string action = "tool:" + tool;
  std::string path = "/mcp/" + tool;
  audit::RequestFacts f;
  f.request_id = request_id;
  f.trace_id = "0af7651916cd43dd8448eb211c80319c";
  f.span_id = "b7ad6b7169203331";
  f.scope = {s.id, s.parent, s.root, s.path, s.depth};
  f.principal = "user:alice";
  f.agent = "researcher";
  f.route = "tools";
  f.operation = "execute_tool";
  f.action = action;
  f.tool = tool;
  f.mcp_method = "tools/call";
  f.method = "POST";
  f.path = path;
  f.upstream = "http://10.0.0.7:9101";
  f.allowed = i % 7 != 0;
  f.reason = f.allowed ? "" : "grant_exceeded";
  f.status = f.allowed ? 200 : 403;
  f.duration_ms = 1.25;
  f.bytes_in = 312;
  f.bytes_out = 2048;
  f.route_label = tool == "hr_lookup" ? &label : nullptr;
  return audit::request_members(f);
}

void submit(audit::Writer& w, audit::Event event, std::string members, config::Durability d) {
  audit::Entry e;
  e.event = event;
  e.members = std::move(members);
  e.durability = d;
  while (!w.submit(e)) std::this_thread::yield();  // the queue is full: wait for the writer
}

config::Audit settings(const std::string& dir, config::Durability d) {
  config::Audit a;
  a.dir = dir;
  a.durability = d;
  a.disk_reserve = 0;
  a.queue_records = 1 << 20;
  return a;
}

// audit.checkpoints for the writer benchmark: the key from a PEM file (scopegate audit keygen).
config::Checkpoints checkpoint_settings(const std::string& dir, const std::string& key_file, std::uint64_t every) {
  config::Checkpoints c;
  c.dir = dir;
  c.every_records = every;
  c.key_source = "private_key_file '" + key_file + "'";
  std::ifstream in(key_file);
  std::stringstream pem;
  pem << in.rdbuf();
  c.private_key_pem = pem.str();
  return c;
}

int writer_bench(const std::string& dir, std::uint64_t n, config::Durability d, const config::Checkpoints& checkpoints) {
  config::DataLabel label{{"hr-records"}, "restricted", std::nullopt};
  Scope s{http::make_uuid_v7(), "", "", "", 0};
  s.root = s.path = s.id;
  // Records are rendered beforehand: this measures the writer (serialise, chain, write, fsync).
  std::vector<std::string> members;
  members.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) members.push_back(request_record(s, i, label));
  std::size_t bytes = 0;
  for (const auto& m : members) bytes += m.size() + 250;
  auto with_checkpoints = settings(dir, d);
  with_checkpoints.checkpoints = checkpoints;
  audit::Writer w(with_checkpoints, "bench");
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> producers;
  for (int t = 0; t < 2; ++t) {
    producers.emplace_back([&, t] {
      for (std::uint64_t i = t; i < n; i += 2) submit(w, audit::Event::request, std::move(members[i]), d);
    });
  }
  for (auto& p : producers) p.join();
  w.stop();  // drains, writes and fsyncs the rest
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto& c = w.stats().checkpoints;
  std::printf("{\"records\":%llu,\"seconds\":%.3f,\"records_per_second\":%.0f,\"mb_per_second\":%.1f,\"fsyncs\":%llu,"
              "\"checkpoints_sealed\":%llu,\"checkpoints_written\":%llu}\n",
              static_cast<unsigned long long>(n), secs, n / secs, bytes / secs / 1e6,
              static_cast<unsigned long long>(w.stats().fsyncs.load()),
              static_cast<unsigned long long>(c.sealed.load()), static_cast<unsigned long long>(c.written.load()));
  return 0;
}

// A forest of delegations: each root has 4 children with 2 children each (13 scopes per tree);
// requests are spread over every scope of every tree, interleaved as real traffic would be.
int generate(const std::string& dir, std::uint64_t n) {
  config::DataLabel label{{"hr-records"}, "restricted", std::nullopt};
  audit::Writer w(settings(dir, config::Durability::none), "bench");
  std::vector<Scope> scopes;
  std::uint64_t trees = std::max<std::uint64_t>(1, n / 400);
  for (std::uint64_t t = 0; t < trees; ++t) {
    Scope root{http::make_uuid_v7(), "", "", "", 0};
    root.root = root.path = root.id;
    scopes.push_back(root);
    for (int c = 0; c < 4; ++c) {
      Scope child{http::make_uuid_v7(), root.id, root.id, root.path, 1};
      child.path += "/" + child.id;
      scopes.push_back(child);
      for (int g = 0; g < 2; ++g) {
        Scope grand{http::make_uuid_v7(), child.id, root.id, child.path, 2};
        grand.path += "/" + grand.id;
        scopes.push_back(grand);
      }
    }
  }
  std::uint64_t written = 0;
  for (const auto& s : scopes) {
    delegation::ScopeRecord r;
    r.id = s.id;
    r.parent = s.parent;
    r.root = s.root;
    r.path = s.path;
    r.depth = s.depth;
    r.principal = "user:alice";
    r.actor = s.depth == 0 ? "planner" : "researcher";
    r.objective = "benchmark objective";
    submit(w, audit::Event::scope_open, audit::scope_open_members(r, audit::Opening::minted, http::make_uuid_v7()),
           config::Durability::none);
    ++written;
  }
  for (std::uint64_t i = 0; written < n; ++i, ++written) {
    submit(w, audit::Event::request, request_record(scopes[(i * 7919) % scopes.size()], i, label),
           config::Durability::none);
  }
  w.stop();
  std::printf("%s\n", scopes[scopes.size() / 2 / 13 * 13].id.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s writer DIR N [batch|none|strict] [CHECKPOINT_DIR KEY_FILE EVERY_RECORDS] | generate DIR N\n",
                 argv[0]);
    return 2;
  }
  std::string cmd = argv[1];
  std::uint64_t n = std::strtoull(argv[3], nullptr, 10);
  if (cmd == "writer") {
    std::string mode = argc > 4 ? argv[4] : "batch";
    auto d = mode == "none" ? config::Durability::none : mode == "strict" ? config::Durability::strict
                                                                            : config::Durability::batch;
    config::Checkpoints checkpoints;  // off
    if (argc > 7) checkpoints = checkpoint_settings(argv[5], argv[6], std::strtoull(argv[7], nullptr, 10));
    return writer_bench(argv[2], n, d, checkpoints);
  }
  if (cmd == "generate") return generate(argv[2], n);
  return 2;
}
