// The checkpoint parts of `scopegate audit` (docs/audit.md, "Signed checkpoints"): `audit keygen`,
// and the --checkpoints/--public-key options of `audit verify`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "audit/checkpoint_verify.hpp"

namespace scopegate::cli {

// `scopegate audit keygen --out PREFIX` (argv[3] on): exit 0, 1 when a file exists or cannot be
// written, 64 for a usage error.
int audit_keygen(int argc, char** argv);

struct CheckpointOptions {
  std::string dir;
  std::vector<std::string> public_keys;
};

// Takes --checkpoints DIR and --public-key FILE (repeatable) out of argv[first..argc), leaving the
// other arguments in order for the common parser. False with `error` for a usage error.
bool take_checkpoint_options(int& argc, char** argv, int first, CheckpointOptions& out, std::string& error);

// Reads the keys and the checkpoints named by `options`, or nullopt when none were asked for.
// Sets `error` (nothing could be proven: exit 2) when they cannot be read.
std::optional<audit::CheckpointCheck> read_checkpoints(const CheckpointOptions& options, std::string& error);

}  // namespace scopegate::cli
