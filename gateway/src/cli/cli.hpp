// The `scopegate` command line: subcommands, their flags and --help.
#pragma once

namespace scopegate::cli {

int run(int argc, char** argv);

}  // namespace scopegate::cli
