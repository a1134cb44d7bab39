// `scopegate policy explain` (docs/protocol.md §7, docs/policies.md): what the loaded policies decide
// for a request described on the command line, and why each rule did or did not match.
#pragma once

namespace scopegate::cli {

int cmd_policy(int argc, char** argv);

}  // namespace scopegate::cli
