#include "audit/checkpoint.hpp"
#include "audit/checkpoint_verify.hpp"
#include "audit/checkpointer.hpp"
#include "crypto/ed25519.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

using namespace scopegate;
using namespace scopegate::audit;

namespace {

// RFC 8032 §7.1, test 1's secret key as PKCS#8 PEM (tests/crypto/ed25519_test.cpp checks it signs as
// the RFC says), and the SHA-256 of its public key.
constexpr const char* kRfcPrivatePem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";
constexpr const char* kRfcKeyId = "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9";

crypto::Ed25519Key rfc_key() {
  std::string why;
  auto key = crypto::Ed25519Key::from_private_pem(kRfcPrivatePem, why);
  REQUIRE_MESSAGE(key, why);
  return *key;
}

Checkpoint example(std::uint64_t seq = 42, std::string hash = std::string(64, 'a')) {
  Checkpoint c;
  c.node = "gw-1";
  c.seq = seq;
  c.hash = std::move(hash);
  c.ts = "2026-11-21T10:00:00.000000Z";
  c.segment = "gw-1-00000000000000000001.jsonl";
  return c;
}

std::string hex_digest(char c) { return std::string(64, c); }

// A scratch directory removed at the end of the test.
struct Scratch {
  std::filesystem::path path;
  explicit Scratch(const char* name) : path(std::filesystem::temp_directory_path() / name) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~Scratch() { std::filesystem::remove_all(path); }
  void put(const std::string& relative, const std::string& text) const {
    std::filesystem::create_directories((path / relative).parent_path());
    std::ofstream(path / relative, std::ios::binary) << text;
  }
};

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void store(const Scratch& dir, Checkpoint c, const crypto::Ed25519Key& key) {
  sign(c, key);
  dir.put(c.node + "/" + checkpoint_file_name(c.seq), checkpoint_text(c));
}

ChainReport chain(std::string node, std::uint64_t last_seq, std::map<std::uint64_t, char> hashes) {
  ChainReport r;
  r.node = std::move(node);
  r.first_seq = 1;
  r.last_seq = r.records = last_seq;
  for (auto [seq, c] : hashes) {
    Digest d;
    d.fill(c);
    r.watched[seq] = d;
  }
  return r;
}

}  // namespace

TEST_CASE("checkpoint: the signed bytes are the canonical JSON without sig, sig comes last") {
  auto key = rfc_key();
  Checkpoint c = example();
  sign(c, key);
  CHECK(signed_bytes(c) ==
        "{\"v\":1,\"node\":\"gw-1\",\"seq\":42,\"hash\":\"" + hex_digest('a') +
            "\",\"ts\":\"2026-11-21T10:00:00.000000Z\",\"segment\":\"gw-1-00000000000000000001.jsonl\",\"key_id\":\"" +
            std::string(kRfcKeyId) + "\"}");
  std::string text = checkpoint_text(c);
  CHECK(text == signed_bytes(c).substr(0, signed_bytes(c).size() - 1) + ",\"sig\":\"" + c.sig + "\"}\n");
  CHECK(c.sig.size() == 128);
  CHECK(signed_by(c, key));
  std::string why;
  auto back = parse_checkpoint(text, why);
  REQUIRE_MESSAGE(back, why);
  CHECK(back->seq == 42);
  CHECK(back->hash == hex_digest('a'));
  CHECK(signed_by(*back, key));
  CHECK(checkpoint_file_name(42) == "00000000000000000042.json");
  CHECK(checkpoint_file_seq("00000000000000000042.json") == 42u);
  CHECK_FALSE(checkpoint_file_seq(".00000000000000000042.json.tmp"));
  CHECK_FALSE(checkpoint_file_seq("42.json"));
}

TEST_CASE("checkpoint: any change to a signed member breaks the signature") {
  auto key = rfc_key();
  Checkpoint c = example();
  sign(c, key);
  auto changed = [&](auto edit) {
    Checkpoint t = c;
    edit(t);
    return signed_by(t, key);
  };
  CHECK_FALSE(changed([](Checkpoint& t) { t.seq = 41; }));
  CHECK_FALSE(changed([](Checkpoint& t) { t.hash[0] = 'b'; }));
  CHECK_FALSE(changed([](Checkpoint& t) { t.node = "gw-2"; }));
  CHECK_FALSE(changed([](Checkpoint& t) { t.ts[3] = '7'; }));
  CHECK_FALSE(changed([](Checkpoint& t) { t.segment = "gw-1-00000000000000000009.jsonl"; }));
  CHECK_FALSE(changed([](Checkpoint& t) { t.sig[5] = t.sig[5] == '0' ? '1' : '0'; }));
  CHECK_FALSE(changed([](Checkpoint& t) { t.key_id = std::string(64, '0'); }));
  auto other = crypto::Ed25519Key::generate();
  CHECK_FALSE(signed_by(c, other));
  Checkpoint by_other = example();
  sign(by_other, other);
  CHECK_FALSE(signed_by(by_other, key));
}

TEST_CASE("checkpoint: only the exact form the gateway writes is read") {
  auto key = rfc_key();
  Checkpoint c = example();
  sign(c, key);
  std::string text = checkpoint_text(c);
  std::string why;
  auto refused = [&](std::string t) {
    why.clear();
    return !parse_checkpoint(t, why) && !why.empty();
  };
  CHECK(refused(text.substr(0, text.size() - 1)));            // no newline
  CHECK(refused(std::string(" ") + text));                     // spaced
  CHECK(refused("{\"seq\":42," + text.substr(1)));             // a member twice
  CHECK(refused(text.substr(0, text.size() - 2) + ",\"x\":1}\n"));  // a member added
  std::string upper = text;
  upper.replace(upper.find(c.hash), 1, "A");                   // upper-case hex
  CHECK(refused(upper));
  CHECK(refused("[]"));
  CHECK(refused("{\"v\":2}"));
  CHECK(refused(text.substr(0, 40)));
}

TEST_CASE("checkpoint check: a log that matches, a cut end, a rewrite, a missing log, bad files") {
  auto key = rfc_key();
  Scratch dir("scopegate-checkpoint-test");
  store(dir, example(10, hex_digest('a')), key);
  store(dir, example(20, hex_digest('b')), key);
  store(dir, example(30, hex_digest('c')), key);
  dir.put("gw-1/.00000000000000000040.json.tmp", "half");  // a write that never finished: ignored
  auto run = [&](std::vector<ChainReport> chains) {
    CheckpointCheck check;
    std::string error;
    REQUIRE(check.read(dir.path.string(), {key}, error));
    auto seqs = check.seqs();
    CHECK(seqs["gw-1"] == std::vector<std::uint64_t>{10, 20, 30});
    check.compare(chains);
    return std::pair{check, chains};
  };

  SUBCASE("intact: every checkpoint's record is there with its hash") {
    auto [check, chains] = run({chain("gw-1", 35, {{10, 'a'}, {20, 'b'}, {30, 'c'}})});
    CHECK(check.intact());
    std::string json;
    check.append_node_json(json, "gw-1");
    CHECK(json.find("\"uncovered_records\":5") != std::string::npos);
    CHECK(check.node_line("gw-1").find("newest at seq 30") != std::string::npos);
  }
  SUBCASE("cut: the log ends before the newest checkpoint") {
    auto [check, chains] = run({chain("gw-1", 25, {{10, 'a'}, {20, 'b'}})});
    CHECK_FALSE(check.intact());
    CHECK(check.node_line("gw-1").find("log ends at seq 25 but checkpoint at seq 30") != std::string::npos);
    std::string json;
    check.append_node_json(json, "gw-1");
    CHECK(json.find("\"problem\":{\"seq\":26") != std::string::npos);
  }
  SUBCASE("rewritten: a checkpoint's record has another hash") {
    auto [check, chains] = run({chain("gw-1", 35, {{10, 'a'}, {20, 'e'}, {30, 'f'}})});
    CHECK_FALSE(check.intact());
    auto line = check.node_line("gw-1");
    CHECK(line.find("DAMAGE at seq 20") != std::string::npos);
    CHECK(line.find("rewritten after seq 10") != std::string::npos);
  }
  SUBCASE("a node with checkpoints and no log at all") {
    auto [check, chains] = run({});
    CHECK_FALSE(check.intact());
    REQUIRE(chains.size() == 1);
    CHECK(chains[0].node == "gw-1");
    CHECK(chains[0].problem.has_value());
  }
  SUBCASE("a tampered file, and one filed under another seq") {
    std::string original = slurp(dir.path / "gw-1" / checkpoint_file_name(20));
    std::string edited = original;
    edited.replace(edited.find("\"seq\":20"), 8, "\"seq\":21");
    dir.put("gw-1/" + checkpoint_file_name(21), edited);
    auto [check, chains] = run({chain("gw-1", 35, {{10, 'a'}, {20, 'b'}, {30, 'c'}})});
    CHECK_FALSE(check.intact());
    CHECK(check.node_line("gw-1").find("bad signature") != std::string::npos);
    dir.put("gw-1/" + checkpoint_file_name(21), original);  // a good checkpoint, misfiled
    auto [again, chains2] = run({chain("gw-1", 35, {{10, 'a'}, {20, 'b'}, {30, 'c'}})});
    CHECK(again.node_line("gw-1").find("filed elsewhere") != std::string::npos);
  }
  SUBCASE("another key") {
    CheckpointCheck check;
    std::string error;
    REQUIRE(check.read(dir.path.string(), {crypto::Ed25519Key::generate()}, error));
    CHECK(check.seqs()["gw-1"].empty());
    std::vector<ChainReport> chains{chain("gw-1", 35, {})};
    check.compare(chains);
    CHECK_FALSE(check.intact());
    CHECK(check.node_line("gw-1").find("not a key given with --public-key") != std::string::npos);
  }
  SUBCASE("an unreadable directory is an error, not a verdict") {
    CheckpointCheck check;
    std::string error;
    CHECK_FALSE(check.read((dir.path / "nowhere").string(), {key}, error));
    CHECK(error.find("nowhere") != std::string::npos);
  }
}

TEST_CASE("checkpointer: due after every_records durable records, after `every`, or when forced") {
  Scratch dir("scopegate-checkpointer-test");
  config::Checkpoints settings;
  settings.dir = dir.path.string();
  settings.every_records = 10;
  settings.every = std::chrono::hours(1);
  settings.private_key_pem = kRfcPrivatePem;
  settings.key_source = "private_key_env TEST";
  CheckpointStats stats;
  Checkpointer c(settings, "gw-1", stats);
  auto now = Checkpointer::Steady::now();
  using Due = Checkpointer::Due;
  CHECK(c.due(0, 0, now, true) == Due::no);     // nothing written yet
  CHECK(c.due(9, 9, now, false) == Due::no);
  CHECK(c.due(10, 12, now, false) == Due::now);  // by records: what is durable
  CHECK(c.due(5, 9, now, true) == Due::after_sync);
  CHECK(c.due(9, 9, now + std::chrono::hours(2), false) == Due::now);
  c.seal(10, hex_digest('d'), "gw-1-00000000000000000001.jsonl");
  CHECK(c.due(15, 15, now, false) == Due::no);
  CHECK(c.due(10, 10, now, true) == Due::no);  // that one is sealed already
  c.seal(10, hex_digest('e'), "x");              // ...and not sealed twice
  c.stop();
  CHECK(stats.sealed.load() == 1);
  CHECK(stats.written.load() == 1);
  std::string why;
  auto read = parse_checkpoint(slurp(dir.path / "gw-1" / checkpoint_file_name(10)), why);
  REQUIRE_MESSAGE(read, why);
  CHECK(read->hash == hex_digest('d'));
  CHECK(signed_by(*read, rfc_key()));

  settings.private_key_pem = "not a key";
  CHECK_THROWS_WITH_AS(Checkpointer(settings, "gw-1", stats), doctest::Contains("private_key_env TEST"),
                       std::runtime_error);
}

TEST_CASE("checkpointer: an unwritable directory is counted, never fatal, an existing file is never replaced") {
  Scratch dir("scopegate-checkpointer-fail-test");
  dir.put("blocker", "a file where the directory should be");
  config::Checkpoints settings;
  settings.dir = (dir.path / "blocker" / "checkpoints").string();
  settings.private_key_pem = kRfcPrivatePem;
  // One checkpoint sealed, then the checkpointer stopped: how many were written, and failed.
  auto seal_one = [&](std::uint64_t seq) {
    CheckpointStats stats;
    {
      Checkpointer c(settings, "gw-1", stats);
      c.seal(seq, hex_digest('a'), "s");
    }
    return std::pair{stats.written.load(), stats.failures.load()};
  };
  auto [written, failures] = seal_one(5);
  CHECK(written == 0);
  CHECK(failures >= 1);  // (tried again at exit)

  settings.dir = dir.path.string();
  dir.put("gw-1/" + checkpoint_file_name(7), "evidence");
  CHECK(seal_one(7) == std::pair<std::uint64_t, std::uint64_t>{0, 1});  // refused, not tried again
  CHECK(slurp(dir.path / "gw-1" / checkpoint_file_name(7)) == "evidence");
}

TEST_CASE("the chain verifier notes the hashes of the seqs it is asked to watch") {
  std::vector<std::string> lines;
  Digest prev = kGenesis;
  std::vector<Digest> hashes;
  for (std::uint64_t i = 1; i <= 4; ++i) {
    std::string out;
    prev = seal(out, i, "2026-11-21T10:00:00.000000Z", "gw-1", i == 1 ? "segment.start" : "request", "", prev);
    out.pop_back();
    lines.push_back(out);
    hashes.push_back(prev);
  }
  ChainVerifier v("gw-1");
  v.watch({2, 4, 9});
  v.begin_segment({"", "gw-1-00000000000000000001.jsonl", "gw-1", 1});
  RecordHead head;
  for (std::size_t i = 0; i < lines.size(); ++i) v.feed(lines[i], i + 1, head);
  REQUIRE(v.watched().size() == 2);
  CHECK(v.watched().at(2) == hashes[1]);
  CHECK(v.watched().at(4) == hashes[3]);
}
