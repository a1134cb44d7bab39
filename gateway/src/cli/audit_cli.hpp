// `scopegate query ...` and `scopegate audit verify` (docs/protocol.md §7, docs/audit.md).
#pragma once

namespace scopegate::cli {

int cmd_query(int argc, char** argv);
int cmd_audit(int argc, char** argv);

}  // namespace scopegate::cli
