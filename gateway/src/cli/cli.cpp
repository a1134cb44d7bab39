#include "cli/cli.hpp"

#include <csignal>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "app/app.hpp"
#include "app/log.hpp"
#include "config/loader.hpp"

namespace scopegate::cli {

namespace {

constexpr const char* kVersion = "scopegate 0.1.0";

constexpr const char* kUsage = R"(scopegate - delegation-scope gateway for AI agents and their tools

Usage:
  scopegate serve --config FILE [--log-level LEVEL]   run the gateway
  scopegate check --config FILE                       validate a config file and exit
  scopegate --version

Run 'scopegate COMMAND --help' for a command's options.
)";

constexpr const char* kServeUsage = R"(Usage: scopegate serve --config FILE [--log-level LEVEL]

Runs the gateway until SIGTERM or SIGINT (then drains in-flight requests for timeouts.drain).
SIGHUP or POST /v1/reload on the admin listener reloads FILE; an invalid file keeps the running config.

Options:
  --config FILE       the YAML config (see docs/configuration.md)
  --log-level LEVEL   debug, info (default), warn or error; the log is JSON lines on stderr
  --help              this text
)";

constexpr const char* kCheckUsage = R"(Usage: scopegate check --config FILE

Validates FILE (and the TLS material it names) without binding any port.
Exit 0 when valid; 1 with every error as FILE:LINE: KEY: MESSAGE on stderr.

Options:
  --config FILE   the YAML config
  --help          this text
)";

struct Args {
  std::map<std::string, std::string> values;
  bool help = false;
  std::string error;
};

Args parse(int argc, char** argv, int first, const std::vector<std::string>& flags_with_values) {
  Args args;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      args.help = true;
      continue;
    }
    std::string value;
    if (auto eq = a.find('='); a.starts_with("--") && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[i + 1];
      if (std::find(flags_with_values.begin(), flags_with_values.end(), a) != flags_with_values.end()) ++i;
    }
    if (std::find(flags_with_values.begin(), flags_with_values.end(), a) == flags_with_values.end()) {
      args.error = "unknown option '" + a + "'";
      return args;
    }
    if (value.empty()) {
      args.error = "option " + a + " needs a value";
      return args;
    }
    args.values[a] = value;
  }
  return args;
}

config::LoadResult load_checked(const std::string& path, std::shared_ptr<const app::Snapshot>& snapshot) {
  auto result = config::load_file(path);
  if (result.config) snapshot = app::build_snapshot(std::move(*result.config), result.errors);
  return result;
}

void print_errors(const config::LoadResult& r) {
  for (const auto& e : r.errors) std::cerr << e.to_string() << "\n";
}

int cmd_check(int argc, char** argv) {
  auto args = parse(argc, argv, 2, {"--config"});
  if (args.help) {
    std::cout << kCheckUsage;
    return 0;
  }
  if (!args.error.empty() || !args.values.count("--config")) {
    std::cerr << (args.error.empty() ? "missing --config FILE" : args.error) << "\n" << kCheckUsage;
    return 2;
  }
  std::shared_ptr<const app::Snapshot> snapshot;
  auto result = load_checked(args.values["--config"], snapshot);
  if (!snapshot) {
    print_errors(result);
    return 1;
  }
  std::cout << args.values["--config"] << ": ok (" << snapshot->config.listeners.size() << " listeners, "
            << snapshot->config.routes.size() << " routes, " << snapshot->config.workers << " workers)\n";
  return 0;
}

int cmd_serve(int argc, char** argv) {
  auto args = parse(argc, argv, 2, {"--config", "--log-level"});
  if (args.help) {
    std::cout << kServeUsage;
    return 0;
  }
  if (!args.error.empty() || !args.values.count("--config")) {
    std::cerr << (args.error.empty() ? "missing --config FILE" : args.error) << "\n" << kServeUsage;
    return 2;
  }
  if (args.values.count("--log-level")) {
    log::Level level;
    if (!log::parse_level(args.values["--log-level"], level)) {
      std::cerr << "--log-level must be debug, info, warn or error\n";
      return 2;
    }
    log::set_level(level);
  }
  std::shared_ptr<const app::Snapshot> snapshot;
  auto result = load_checked(args.values["--config"], snapshot);
  if (!snapshot) {
    for (const auto& e : result.errors) log::error("config error", {{"error", e.to_string()}});
    return 1;
  }
  // Signals are handled by the control thread's signal_set; block them in every thread first so
  // no worker thread is picked to run a default handler.
  std::signal(SIGPIPE, SIG_IGN);
  app::App app(args.values["--config"], snapshot);
  return app.run();
}

}  // namespace

int run(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (command == "--version") {
    std::cout << kVersion << "\n";
    return 0;
  }
  if (command == "serve") return cmd_serve(argc, argv);
  if (command == "check") return cmd_check(argc, argv);
  std::cerr << "unknown command '" << command << "'\n" << kUsage;
  return 2;
}

}  // namespace scopegate::cli
