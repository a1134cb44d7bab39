#include "audit/checkpoint_verify.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "json/write.hpp"

namespace scopegate::audit {

namespace {

constexpr std::size_t kMaxFile = 4096;  // a checkpoint is about 400 bytes; a key file less

// Up to max + 1 bytes of a regular file (one more shows a longer file as too long).
bool read_bounded(const std::string& path, std::string& out, std::string& error) {
  std::error_code ec;
  std::ifstream in;
  if (std::filesystem::is_regular_file(path, ec)) in.open(path, std::ios::binary);
  if (!in.is_open()) {
    error = path + ": " + (ec ? ec.message() : errno ? std::strerror(errno) : "not a regular file");
    return false;
  }
  out.assign(kMaxFile + 1, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  if (in.bad()) {
    error = path + ": read error";
    return false;
  }
  out.resize(static_cast<std::size_t>(in.gcount()));
  return true;
}

std::string short_id(std::string_view id) { return std::string(id.substr(0, 16)) + "…"; }

std::string located(const CheckpointFile& f) { return f.path + ", signed " + f.checkpoint.ts; }

void set_problem(NodeCheckpoints& n, std::uint64_t seq, const std::string& file, std::string why) {
  if (!n.problem) n.problem = CheckpointProblem{seq, file, std::move(why)};
}

}  // namespace

bool read_public_keys(const std::vector<std::string>& files, std::vector<crypto::Ed25519Key>& out, std::string& error) {
  for (const auto& file : files) {
    std::string pem, why;
    if (!read_bounded(file, pem, error)) return false;
    auto key = crypto::Ed25519Key::from_public_pem(pem, why);
    if (!key) {
      error = file + ": not an Ed25519 public key in PEM (" + why + ")";
      return false;
    }
    out.push_back(std::move(*key));
  }
  return true;
}

bool CheckpointCheck::read(const std::string& dir, std::vector<crypto::Ed25519Key> keys, std::string& error) {
  dir_ = dir;
  keys_ = std::move(keys);
  std::error_code ec;
  std::filesystem::directory_iterator nodes(dir, ec);
  if (ec) {
    error = "checkpoint directory " + dir + ": " + ec.message();
    return false;
  }
  for (const auto& node_dir : nodes) {
    if (!node_dir.is_directory(ec)) continue;
    NodeCheckpoints n;
    n.node = node_dir.path().filename().string();
    std::vector<std::pair<std::uint64_t, std::string>> files;
    std::filesystem::directory_iterator entries(node_dir.path(), ec);
    if (ec) {
      error = node_dir.path().string() + ": " + ec.message();
      return false;
    }
    for (const auto& entry : entries) {
      std::string name = entry.path().filename().string();
      if (auto seq = checkpoint_file_seq(name)) files.emplace_back(*seq, entry.path().string());
    }
    std::sort(files.begin(), files.end());
    for (const auto& [seq, path] : files) {
      ++n.files;
      std::string text, why;
      if (!read_bounded(path, text, error)) return false;
      auto c = text.size() > kMaxFile ? std::nullopt : parse_checkpoint(text, why);
      if (!c) {
        set_problem(n, seq, path, "not a checkpoint: " + (why.empty() ? "too large" : why));
        continue;
      }
      if (c->seq != seq || c->node != n.node) {
        set_problem(n, seq, path, "it is the checkpoint of node " + c->node + " seq " + std::to_string(c->seq) +
                                      ", filed elsewhere (moved or copied)");
        continue;
      }
      auto key = std::find_if(keys_.begin(), keys_.end(), [&](const auto& k) { return k.key_id() == c->key_id; });
      if (key == keys_.end()) {
        set_problem(n, seq, path, "signed by key " + short_id(c->key_id) +
                                      ", which is not a key given with --public-key: forged, or verified with the wrong key");
        continue;
      }
      if (!signed_by(*c, *key)) {
        set_problem(n, seq, path, "bad signature: the checkpoint was altered after it was signed");
        continue;
      }
      n.valid.push_back({std::move(*c), path});
    }
    nodes_.emplace(n.node, std::move(n));
  }
  return true;
}

std::map<std::string, std::vector<std::uint64_t>> CheckpointCheck::seqs() const {
  std::map<std::string, std::vector<std::uint64_t>> out;
  for (const auto& [node, n] : nodes_) {
    auto& seqs = out[node];
    for (const auto& f : n.valid) seqs.push_back(f.checkpoint.seq);  // ascending, as read
  }
  return out;
}

void CheckpointCheck::compare(std::vector<ChainReport>& chains) {
  for (auto& [node, n] : nodes_) {
    if (n.valid.empty()) continue;
    const CheckpointFile& newest = n.valid.back();
    const std::string& name = node;  // (a structured binding cannot be captured before C++20's clang 16)
    auto chain = std::find_if(chains.begin(), chains.end(), [&](const ChainReport& r) { return r.node == name; });
    if (chain == chains.end()) {
      ChainReport missing;
      missing.node = node;
      missing.problem = ChainProblem{1, "", 0, "no segment of node " + node + " in the directories given"};
      chains.push_back(std::move(missing));
      set_problem(n, 1, newest.path,
                  "node " + node + " has no log in the directories given, but checkpoint at seq " +
                      std::to_string(newest.checkpoint.seq) + " (" + located(newest) + ") proves records up to " +
                      std::to_string(newest.checkpoint.seq) + " existed");
      continue;
    }
    // Each checkpoint's record, oldest first: the first whose hash differs is where the log stops
    // being the one that was signed.
    const CheckpointFile* confirmed = nullptr;
    for (const auto& f : n.valid) {
      const Checkpoint& c = f.checkpoint;
      if (chain->records == 0 || c.seq > chain->last_seq) break;  // a cut end: below
      if (c.seq < chain->first_seq) {
        set_problem(n, c.seq, f.path,
                    "seq " + std::to_string(c.seq) + " (" + located(f) + ") is before the log's first seq " +
                        std::to_string(chain->first_seq) + ": give the archived segments with --log too");
        continue;
      }
      auto seen = chain->watched.find(c.seq);
      if (seen == chain->watched.end()) {
        set_problem(n, c.seq, f.path, "seq " + std::to_string(c.seq) + " of checkpoint " + located(f) + " is not in the log");
        break;
      }
      if (view(seen->second) != c.hash) {
        std::string after = confirmed ? "after seq " + std::to_string(confirmed->checkpoint.seq) + ", which checkpoint " +
                                            confirmed->path + " confirms,"
                                      : "at or before seq " + std::to_string(c.seq);
        set_problem(n, c.seq, f.path,
                    "seq " + std::to_string(c.seq) + " has hash " + short_id(view(seen->second)) +
                        " in the log but checkpoint at seq " + std::to_string(c.seq) + " (" + located(f) +
                        ") holds hash " + short_id(c.hash) + ": the log was rewritten " + after +
                        " even though its chain may verify");
        break;
      }
      confirmed = &f;
    }
    const Checkpoint& top = newest.checkpoint;
    if (chain->records == 0 || top.seq > chain->last_seq) {
      std::uint64_t end = chain->records == 0 ? 0 : chain->last_seq;
      set_problem(n, end + 1, newest.path,
                  "log ends at seq " + std::to_string(end) + " but checkpoint at seq " + std::to_string(top.seq) + " (" +
                      located(newest) + ") proves records up to " + std::to_string(top.seq) + " existed: " +
                      std::to_string(top.seq - end) + " records were cut from the end");
    } else {
      n.uncovered = chain->last_seq - top.seq;
    }
  }
}

bool CheckpointCheck::intact() const {
  return std::none_of(nodes_.begin(), nodes_.end(), [](const auto& n) { return n.second.problem.has_value(); });
}

bool CheckpointCheck::covers(std::string_view node) const {
  auto it = nodes_.find(node);
  return it != nodes_.end() && !it->second.valid.empty();
}

void CheckpointCheck::append_json(std::string& out) const {
  namespace json = scopegate::json;
  std::uint64_t checked = 0;
  for (const auto& [node, n] : nodes_) checked += n.files;
  out += ",\"checkpoints\":{\"dir\":";
  json::append_string(out, dir_);
  std::vector<std::string> ids;
  for (const auto& k : keys_) ids.push_back(k.key_id());
  json::append_list(out, "key_ids", ids);
  json::append_int(out, "checked", static_cast<std::int64_t>(checked));
  out += ",\"intact\":";
  out += intact() ? "true}" : "false}";
}

void CheckpointCheck::append_node_json(std::string& out, std::string_view node) const {
  namespace json = scopegate::json;
  auto it = nodes_.find(node);
  out += ",\"checkpoints\":{\"checked\":";
  if (it == nodes_.end()) {
    out += "0,\"signed\":0,\"intact\":true}";
    return;
  }
  const NodeCheckpoints& n = it->second;
  out += std::to_string(n.files);
  json::append_int(out, "signed", static_cast<std::int64_t>(n.valid.size()));
  out += ",\"intact\":";
  out += n.problem ? "false" : "true";
  if (!n.valid.empty()) {
    const auto& newest = n.valid.back();
    out += ",\"newest\":{\"seq\":" + std::to_string(newest.checkpoint.seq);
    json::append_field(out, "hash", newest.checkpoint.hash);
    json::append_field(out, "ts", newest.checkpoint.ts);
    json::append_field(out, "file", newest.path);
    out += '}';
  }
  if (n.uncovered) json::append_int(out, "uncovered_records", static_cast<std::int64_t>(*n.uncovered));
  if (n.problem) {
    out += ",\"problem\":{\"seq\":" + std::to_string(n.problem->seq);
    json::append_field(out, "file", n.problem->file);
    json::append_field(out, "why", n.problem->why);
    out += '}';
  }
  out += '}';
}

std::string CheckpointCheck::node_line(std::string_view node) const {
  auto it = nodes_.find(node);
  if (it == nodes_.end() || it->second.files == 0) {
    return "  checkpoints: none for this node: nothing covers the end of its log\n";
  }
  const NodeCheckpoints& n = it->second;
  if (n.problem) {
    return "  checkpoints: DAMAGE at seq " + std::to_string(n.problem->seq) + " (" + n.problem->file +
           "): " + n.problem->why + "\n";
  }
  const auto& newest = n.valid.back();
  std::string line = "  checkpoints: " + std::to_string(n.files) + " checked, newest at seq " +
                     std::to_string(newest.checkpoint.seq) + " (" + located(newest) + ")";
  if (n.uncovered && *n.uncovered > 0) {
    line += "; the " + std::to_string(*n.uncovered) + " records after it are not covered yet";
  }
  return line + "\n";
}

std::string CheckpointCheck::summary_line() const {
  std::uint64_t checked = 0;
  for (const auto& [node, n] : nodes_) checked += n.files;
  std::string keys;
  for (const auto& k : keys_) keys += (keys.empty() ? "" : ", ") + short_id(k.key_id());
  return "checkpoints in " + dir_ + ": " + std::to_string(checked) + " checked against key " + keys + ": " +
         (intact() ? "consistent with the logs" : "DAMAGE (see above)") + "\n";
}

}  // namespace scopegate::audit
