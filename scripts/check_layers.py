#!/usr/bin/env python3
"""Fails when a file in gateway/src includes a header from a higher layer (STYLE.md, "Dependencies
point down"). Every `#include "folder/..."` is checked against LAYERS below, lowest first; folders
on one line are peers and may include each other. docs/architecture.md describes the same order.

Usage: scripts/check_layers.py [SOURCE_DIR]   (default: gateway/src)"""
import os
import re
import sys

# Lowest first. A folder may include its own layer and every layer before it.
LAYERS = [
    ("json", "clock", "metrics"),                   # leaf helpers: JSON, Unix time, metric cells and exposition
    ("log",),                                       # the operational log (JSON lines on stderr)
    ("http",),                                      # header hygiene, framing, wire I/O, JSON errors
    ("crypto",),                                    # Ed25519, hex, shared TLS settings
    ("config",),                                    # plain structs, YAML loading and validation
    ("router", "protocol", "delegation", "upstream", "policy", "breaker", "llm"),  # built from config: routes, JSON-RPC, tokens, pools, policy rules, breakers, LLM usage
    ("auth", "audit", "guard", "plan"),             # agent identity; the audit record, chain and writer; rate limits, loop guard, budgets; plans
    ("fleet",),                                     # fleet mode: Redis, shared revocations, budget and rate-limit leases
    ("runtime",),                                   # what workers share: snapshot, worker, services
    ("pipeline",),                                  # the request's stages
    ("listener", "admin"),                          # accept loops and sessions; the admin endpoint
    ("app",),                                       # threads, snapshot swaps, shutdown
    ("cli",),                                       # subcommands
    ("",),                                          # main.cpp, asio_impl.cpp (gateway/src itself)
]

# Upward includes known and not yet undone, by (including folder, included header). Empty: keep it
# so. Nothing may be added here without an issue that removes it.
PENDING = set()

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "gateway", "src")
    root = os.path.normpath(root)
    rank = {folder: i for i, group in enumerate(LAYERS) for folder in group}
    problems = []
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            if not name.endswith((".cpp", ".hpp", ".h")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            folder = os.path.dirname(rel).split(os.sep)[0] if os.path.dirname(rel) else ""
            if folder not in rank:
                problems.append(f"{rel}:1: folder '{folder}' has no layer in scripts/check_layers.py")
                continue
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m or "/" not in m.group(1):
                        continue
                    header = m.group(1)
                    target = header.split("/")[0]
                    if target not in rank:
                        problems.append(f"{rel}:{number}: includes \"{header}\" from '{target}', which has no layer")
                    elif rank[target] > rank[folder] and (folder, header) not in PENDING:
                        problems.append(f"{rel}:{number}: '{folder or 'gateway/src'}' includes \"{header}\" "
                                        f"from the higher layer '{target}'")
    for p in sorted(problems):
        print(p)
    if problems:
        print(f"{len(problems)} include(s) point up the layers (lowest first: "
              + " → ".join(", ".join(g) or "main" for g in LAYERS) + ")")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
