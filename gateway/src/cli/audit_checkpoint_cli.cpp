#include "cli/audit_checkpoint_cli.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "audit/segments.hpp"
#include "crypto/ed25519.hpp"

namespace scopegate::cli {

namespace {

constexpr int kUsageError = 64;

constexpr const char* kKeygenUsage = R"(Usage: scopegate audit keygen --out PREFIX

Makes an Ed25519 key pair for signing audit checkpoints (audit.checkpoints, docs/audit.md):
PREFIX.key, the private key (PEM PKCS#8, mode 0600) for the gateway, and PREFIX.pub, the public key
for `scopegate audit verify --public-key`. Prints the key id (SHA-256 of the public key), which
every checkpoint it signs names. Never overwrites a file. Exit 0; 1 when PREFIX.key or PREFIX.pub
exists or cannot be written; 64 for a usage error.
)";

// Creates `path` (never over an existing file) with `mode` and writes `text` to it, fsynced.
bool create_file(const std::string& path, const std::string& text, mode_t mode, std::string& error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    error = path + ": " + std::strerror(errno);
    return false;
  }
  bool ok = ::fchmod(fd, mode) == 0 && audit::write_all(fd, text.data(), text.size()) && ::fsync(fd) == 0;
  if (!ok) error = path + ": " + std::strerror(errno);
  ::close(fd);
  if (!ok) ::unlink(path.c_str());
  return ok;
}

}  // namespace

int audit_keygen(int argc, char** argv) {
  std::string prefix;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kKeygenUsage;
      return 0;
    }
    if (a == "--out" && i + 1 < argc) {
      prefix = argv[++i];
    } else if (a.starts_with("--out=")) {
      prefix = a.substr(6);
    } else {
      std::cerr << "unexpected argument '" << a << "'\n" << kKeygenUsage;
      return kUsageError;
    }
  }
  if (prefix.empty()) {
    std::cerr << "give the files' prefix with --out PREFIX\n" << kKeygenUsage;
    return kUsageError;
  }
  std::string private_file = prefix + ".key", public_file = prefix + ".pub";
  for (const auto& file : {private_file, public_file}) {
    struct stat st {};
    if (::lstat(file.c_str(), &st) == 0) {
      std::cerr << file << " exists: it is never overwritten (a key in use signs checkpoints that must stay "
                   "verifiable); choose another prefix\n";
      return 1;
    }
  }
  auto key = crypto::Ed25519Key::generate();
  std::string error;
  if (!create_file(private_file, key.private_pem(), 0600, error)) {
    std::cerr << "cannot write the private key: " << error << "\n";
    return 1;
  }
  if (!create_file(public_file, key.public_pem(), 0644, error)) {
    std::cerr << "cannot write the public key: " << error << "\n";
    ::unlink(private_file.c_str());  // half a pair is of no use
    return 1;
  }
  std::cout << "private key: " << private_file << " (keep it secret: audit.checkpoints.private_key_file)\n"
            << "public key:  " << public_file << " (for audit verify --public-key)\n"
            << "key id:      " << key.key_id() << "\n";
  return 0;
}

bool take_checkpoint_options(int& argc, char** argv, int first, CheckpointOptions& out, std::string& error) {
  int kept = first;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    std::string name = a.substr(0, a.find('='));
    if (name != "--checkpoints" && name != "--public-key") {
      argv[kept++] = argv[i];
      continue;
    }
    std::string value;
    if (name.size() < a.size()) {
      value = a.substr(name.size() + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      error = "option " + name + " needs a value";
      return false;
    }
    if (name == "--checkpoints") {
      if (!out.dir.empty()) {
        error = "give --checkpoints once";
        return false;
      }
      out.dir = value;
    } else {
      out.public_keys.push_back(value);
    }
  }
  argc = kept;
  if (out.dir.empty() != out.public_keys.empty()) {
    error = "--checkpoints DIR and --public-key FILE go together";
    return false;
  }
  return true;
}

std::optional<audit::CheckpointCheck> read_checkpoints(const CheckpointOptions& options, std::string& error) {
  if (options.dir.empty()) return std::nullopt;
  std::vector<crypto::Ed25519Key> keys;
  if (!audit::read_public_keys(options.public_keys, keys, error)) return std::nullopt;
  audit::CheckpointCheck check;
  if (!check.read(options.dir, std::move(keys), error)) return std::nullopt;
  return check;
}

}  // namespace scopegate::cli
