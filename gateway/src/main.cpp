// scopegate: flags → load config → run. Everything else lives in scopegate_core.
#include "cli/cli.hpp"

int main(int argc, char** argv) { return scopegate::cli::run(argc, argv); }
