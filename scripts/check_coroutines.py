#!/usr/bin/env python3
"""Fails when a coroutine suspends inside an expression that builds temporaries GCC 12 may destroy
twice: a conditional (?:) or a string concatenation inside the arguments of `co_await f(...)`.
GCC 12 miscompiles some of these (a double free in the fail-closed path, issue 9); the house rule
is to build such values in a named local first, then co_await with the local.

Usage: scripts/check_coroutines.py [SOURCE_DIR]   (default: gateway/src)"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "gateway", "src")
# Within the parentheses of a co_await'ed call: a braced temporary, a ?:, or a `+` next to a string
# literal or a call that returns a string (to_string, message(), std::string(...)).
RISKY = re.compile(r'\{|\?[^:]*:|"\s*\+|\+\s*"|\+\s*std::(to_)?string|\.message\(\)\s*\+|\+\s*[a-z_>.-]+\.message\(\)')


def statements(text):
    """Yields (line number, statement text) for each statement containing co_await."""
    for m in re.finditer(r"co_await\b", text):
        start = m.start()
        depth, i = 0, m.end()
        while i < len(text):
            c = text[i]
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
            elif c == ";" and depth <= 0:
                break
            elif c == "{" and depth <= 0:
                break
            i += 1
        yield text.count("\n", 0, start) + 1, text[start:i]


def strip_comments(text):
    return re.sub(r"//[^\n]*", "", text)


problems = []
for dirpath, _, files in os.walk(root):
    for name in files:
        if not name.endswith(".cpp"):
            continue
        path = os.path.join(dirpath, name)
        with open(path) as f:
            text = strip_comments(f.read())
        for line, stmt in statements(text):
            call = stmt[stmt.find("("):] if "(" in stmt else ""
            # Literal text inside quotes cannot contain the operators we look for.
            call_no_literals = re.sub(r'"(\\.|[^"\\])*"', '""', call)
            if RISKY.search(call_no_literals):
                problems.append("%s:%d: %s" % (os.path.relpath(path), line, " ".join(stmt.split())[:160]))

if problems:
    print("co_await with a temporary-building argument (build it in a named local first):")
    print("\n".join(problems))
    sys.exit(1)
print("check_coroutines: no co_await argument builds a temporary string or uses ?:")
