// `scopegate query ...` and `scopegate audit verify` (CONTRACT.md §7, docs/query.md).
#pragma once

namespace scopegate::cli {

int cmd_query(int argc, char** argv);
int cmd_audit(int argc, char** argv);

}  // namespace scopegate::cli
