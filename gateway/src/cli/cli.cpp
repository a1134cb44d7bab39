#include "cli/cli.hpp"
#include "cli/audit_cli.hpp"
#include "cli/policy_cli.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <charconv>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "app/app.hpp"
#include "clock/unix_clock.hpp"
#include "config/loader.hpp"
#include "config/units.hpp"
#include "delegation/grants.hpp"
#include "delegation/token.hpp"
#include "http/request_id.hpp"
#include "json/write.hpp"
#include "log/log.hpp"
#include "policy/lint.hpp"

namespace scopegate::cli {

namespace {

constexpr const char* kVersion = "scopegate 0.1.0";

constexpr const char* kUsage = R"(scopegate - delegation-scope gateway for AI agents and their tools

Usage:
  scopegate serve --config FILE [--log-level LEVEL]   run the gateway
  scopegate check --config FILE [--require-secrets]   validate a config file and exit
  scopegate token mint --config FILE --principal P --agent A --grants G[,G...] [--ttl D] [--objective T]
                                                      mint a root delegation token (operators)
  scopegate token inspect TOKEN [--config FILE]       show a token's blocks; verify it with FILE's keys
  scopegate policy explain --config FILE --route R (--token T | --agent A ...) [--action X] [...]
                                                      what the policies decide for a request, and why
  scopegate query footprint|actions|tree SCOPE --log DIR [...]
  scopegate query never SCOPE --dataset D|--tool T|--route R|--resource U --log DIR [...]
                                                      forensic questions over the audit log
  scopegate audit verify --log DIR [--log DIR...] [--checkpoints DIR --public-key FILE]
                                                      verify the audit log's hash chains (and
                                                      its signed checkpoints: a cut or rewritten log)
  scopegate audit keygen --out PREFIX                 make the key pair that signs checkpoints
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

constexpr const char* kCheckUsage = R"(Usage: scopegate check --config FILE [--require-secrets]

Validates FILE (and the TLS material it names, and its policy files) without binding any port.
Exit 0 when valid; 1 with every error as FILE:LINE: KEY: MESSAGE on stderr.
A policy rule that can never match (a route, agent or dataset the config does not have, depth
bounds that exclude each other) or a permit that an enforce forbid always overrides is one
warning: FILE:LINE: KEY: MESSAGE line each (docs/policies.md, "Warnings"); the exit stays 0.
A secret that is not available where check runs (an unset token key, admin token or checkpoint key
variable, a secret file that does not exist) is one warning line each, and everything else is still
checked; serve refuses to start without it.

Options:
  --config FILE       the YAML config
  --require-secrets   a secret that is not available is an error (exit 1): run it where serve runs
  --help              this text
)";

constexpr const char* kTokenUsage = R"(Usage:
  scopegate token mint --config FILE --principal P --agent A --grants G[,G...] [--ttl 1h]
                       [--objective TEXT] [--kid KID]
  scopegate token inspect TOKEN [--config FILE] [--at UNIX_SECONDS]

mint: prints a root dst1 token signed with the config's token.signing_kid (or --kid), for principal
P and acting agent A, with the given grant patterns, valid from now for --ttl (default 1h).
inspect: prints the token's blocks as JSON. With --config it also verifies the token (MAC chain,
endorsements, parents, audience, expiry at --at or now): exit 0 when valid, 1 with the reason when
not. Without --config nothing is verified and the output says so.
)";

struct Args {
  std::map<std::string, std::string> values;
  std::vector<std::string> positional;
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
    if (!a.starts_with("--")) {
      args.positional.push_back(a);
      continue;
    }
    std::string value;
    if (auto eq = a.find('='); eq != std::string::npos) {
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

config::LoadResult load_checked(const std::string& path, std::shared_ptr<const app::Snapshot>& snapshot,
                                config::Secrets secrets = config::Secrets::required) {
  auto result = config::load_file(path, {}, secrets);
  if (result.config) snapshot = app::build_snapshot(std::move(*result.config), result.errors);
  return result;
}

void print_errors(const config::LoadResult& r) {
  for (const auto& e : r.errors) std::cerr << e.to_string() << "\n";
}

int cmd_check(int argc, char** argv) {
  // --require-secrets takes no value: taken out before the options that do are parsed.
  bool require_secrets = false;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (i >= 2 && std::string_view(argv[i]) == "--require-secrets") require_secrets = true;
    else rest.push_back(argv[i]);
  }
  argc = static_cast<int>(rest.size());
  argv = rest.data();
  auto args = parse(argc, argv, 2, {"--config"});
  if (args.error.empty() && !args.positional.empty()) args.error = "unexpected argument " + args.positional.front();
  if (args.help) {
    std::cout << kCheckUsage;
    return 0;
  }
  if (!args.error.empty() || !args.values.count("--config")) {
    std::cerr << (args.error.empty() ? "missing --config FILE" : args.error) << "\n" << kCheckUsage;
    return 2;
  }
  std::shared_ptr<const app::Snapshot> snapshot;
  auto result = load_checked(args.values["--config"], snapshot,
                             require_secrets ? config::Secrets::required : config::Secrets::optional);
  for (const auto& missing : result.missing_secrets) {
    std::cerr << "warning: " << missing.to_string()
              << " (a secret: serve refuses to start without it; check --require-secrets makes this an error)\n";
  }
  if (!snapshot) {
    print_errors(result);
    return 1;
  }
  std::vector<config::ConfigError> policy_warnings;
  if (snapshot->policies) {
    auto known = policy::vocabulary_of(snapshot->config);
    known.routes.insert(snapshot->scopes_route.name);
    known.routes.insert(snapshot->plans_route.name);
    policy_warnings = policy::lint(*snapshot->policies, known);
  }
  for (const auto& w : policy_warnings) std::cerr << "warning: " << w.to_string() << "\n";
  std::cout << args.values["--config"] << ": ok (" << snapshot->config.listeners.size() << " listeners, "
            << snapshot->config.routes.size() << " routes, " << snapshot->config.workers << " workers";
  if (snapshot->policies) std::cout << ", " << snapshot->policies->rules().size() << " policy rules";
  if (!result.missing_secrets.empty()) std::cout << "; " << result.missing_secrets.size() << " secret(s) not available here";
  if (!policy_warnings.empty()) std::cout << "; " << policy_warnings.size() << " policy warning(s)";
  std::cout << ")\n";
  return 0;
}

int cmd_serve(int argc, char** argv) {
  auto args = parse(argc, argv, 2, {"--config", "--log-level"});
  if (args.error.empty() && !args.positional.empty()) args.error = "unexpected argument " + args.positional.front();
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

int cmd_token_mint(int argc, char** argv) {
  auto args = parse(argc, argv, 3, {"--config", "--principal", "--agent", "--grants", "--ttl", "--objective", "--kid"});
  if (args.help) {
    std::cout << kTokenUsage;
    return 0;
  }
  for (auto required : {"--config", "--principal", "--agent", "--grants"}) {
    if (args.error.empty() && !args.values.count(required)) args.error = std::string("missing ") + required;
  }
  if (!args.error.empty() || !args.positional.empty()) {
    std::cerr << (args.error.empty() ? "unexpected argument " + args.positional.front() : args.error) << "\n"
              << kTokenUsage;
    return 2;
  }
  // The grants first: a pattern the gateway would refuse (or that could never match) is a usage
  // error whatever the config holds.
  delegation::Grants grants;
  std::string why;
  if (!delegation::parse_grant_list(args.values["--grants"], grants, &why)) {
    std::cerr << "--grants: " << why << "\n";
    return 2;
  }
  auto loaded = config::load_file(args.values["--config"]);
  if (!loaded.config) {
    print_errors(loaded);
    return 1;
  }
  const auto& settings = loaded.config->token;
  auto keyring = delegation::make_keyring(settings);
  delegation::ScopeBlock root;
  root.kid = args.values.count("--kid") ? args.values["--kid"] : settings.signing_kid;
  if (root.kid.empty() || !keyring.keys.count(root.kid)) {
    std::cerr << "no signing key: configure token.keys (and token.signing_kid) in " << args.values["--config"] << "\n";
    return 1;
  }
  auto ttl = config::parse_duration(args.values.count("--ttl") ? args.values["--ttl"] : "1h");
  if (!ttl || ttl->count() < 1000) {
    std::cerr << "--ttl must be a duration of at least 1s (e.g. 15m, 1h)\n";
    return 2;
  }
  // No scope outlives token.max_ttl, however it was opened: revocations are kept that long, and
  // budgets are rebuilt at start from the log of that last stretch (docs/policies.md, "Budgets").
  if (*ttl > settings.max_ttl) {
    std::cerr << "--ttl is over token.max_ttl (" << settings.max_ttl.count() / 1000
              << " s): no scope may live longer; raise token.max_ttl in the config to mint longer roots\n";
    return 2;
  }
  for (auto name : {"--principal", "--agent"}) {
    const std::string& v = args.values[name];
    // The gateway stamps them into upstream headers, and refuses a token carrying a control character.
    if (v.empty() || v.size() > 256 ||
        !std::all_of(v.begin(), v.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; })) {
      std::cerr << name << " must be 1 to 256 printable ASCII characters without spaces\n";
      return 2;
    }
  }
  root.sid = http::make_uuid_v7();
  root.sub = args.values["--principal"];
  root.agt = args.values["--agent"];
  root.scp = std::move(grants);
  root.obj = args.values.count("--objective") ? args.values["--objective"] : "";
  root.aud = settings.audience;
  root.iat = clock::unix_now();
  root.exp = root.iat + ttl->count() / 1000;
  if (root.scp.empty()) {
    std::cerr << "--grants needs at least one pattern\n";
    return 2;
  }
  std::cout << *delegation::mint_root(keyring, root) << "\n";
  return 0;
}

int cmd_token_inspect(int argc, char** argv) {
  auto args = parse(argc, argv, 3, {"--config", "--at"});
  if (args.help) {
    std::cout << kTokenUsage;
    return 0;
  }
  if (!args.error.empty() || args.positional.size() != 1) {
    std::cerr << (args.error.empty() ? "expected exactly one TOKEN" : args.error) << "\n" << kTokenUsage;
    return 2;
  }
  const std::string& token = args.positional.front();
  auto blocks = delegation::decode_blocks(token);
  if (!blocks) {
    std::cout << R"({"verified":false,"valid":false,"error":"malformed"})" << "\n";
    return 1;
  }
  std::string out = R"({"blocks":[)";
  for (std::size_t i = 0; i < blocks->size(); ++i) out += (i ? "," : "") + (*blocks)[i];
  out += "]";
  int status = 0;
  if (!args.values.count("--config")) {
    out += R"(,"verified":false})";
  } else {
    auto loaded = config::load_file(args.values["--config"]);
    if (!loaded.config) {
      print_errors(loaded);
      return 1;
    }
    delegation::VerifyOptions options;
    options.audience = loaded.config->token.audience;
    options.skew_s = loaded.config->token.clock_skew.count() / 1000;
    options.now = clock::unix_now();
    if (args.values.count("--at")) {
      const std::string& at = args.values["--at"];
      auto [end, ec] = std::from_chars(at.data(), at.data() + at.size(), options.now);
      if (ec != std::errc() || end != at.data() + at.size()) {
        std::cerr << "--at is a Unix time in seconds, got '" << at << "'\n" << kTokenUsage;
        return 2;
      }
    }
    auto result = delegation::verify(token, delegation::make_keyring(loaded.config->token), options);
    if (auto* v = std::get_if<delegation::VerifiedToken>(&result)) {
      namespace json = scopegate::json;
      out += R"(,"verified":true,"valid":true)";
      json::append_int(out, "depth", v->depth());
      json::append_field(out, "scope", v->current().sid);
      json::append_field(out, "actor", v->current().agt);
      json::append_field(out, "principal", v->root().sub);
      json::append_int(out, "expires", v->expires);
      out += "}";
    } else {
      out += R"(,"verified":true,"valid":false,"error":")" +
             std::string(delegation::to_string(std::get<delegation::TokenError>(result))) + "\"}";
      status = 1;
    }
  }
  std::cout << out << "\n";
  return status;
}

int cmd_token(int argc, char** argv) {
  std::string verb = argc > 2 ? argv[2] : "";
  if (verb == "mint") return cmd_token_mint(argc, argv);
  if (verb == "inspect") return cmd_token_inspect(argc, argv);
  if (verb == "--help" || verb == "-h") {
    std::cout << kTokenUsage;
    return 0;
  }
  std::cerr << kTokenUsage;
  return 2;
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
  if (command == "token") return cmd_token(argc, argv);
  if (command == "query") return cmd_query(argc, argv);
  if (command == "audit") return cmd_audit(argc, argv);
  if (command == "policy") return cmd_policy(argc, argv);
  std::cerr << "unknown command '" << command << "'\n" << kUsage;
  return 2;
}

}  // namespace scopegate::cli
