#!/usr/bin/env bash
# Quick start: builds the scopegate binary (only it: no tests, no benchmarks), starts the demo tool
# server, and runs the gateway on examples/scopegate.yaml in the foreground (Ctrl-C stops both).
# The README's tour shows how to open a scope (POST /v1/scopes with the demo planner's key) and call
# tools under it.
#   SCOPEGATE_PORT (8080), SCOPEGATE_ADMIN_PORT (9901), DEMO_UPSTREAM_PORT (9101),
#   DEMO_UPSTREAM_B_PORT (9102, the search route's second tool server), DEMO_MODEL_PORT (9103, the
#   stand-in model server behind the llm routes): the ports
#   SCOPEGATE_TOKEN_KEY (random), SCOPEGATE_ADMIN_TOKEN (demo-admin-token), SCOPEGATE_AUDIT_DIR
# What a second terminal needs (the generated token key, the ports, the admin token, the audit
# directory) is written to build/demo.env, readable by its owner only: `source build/demo.env`.
# SCOPEGATE_BUILD_DIR picks another build directory (default build/; demo.env goes there too).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build demo
SCOPEGATE_TARGET=scopegate bash scripts/build.sh
build_dir=${SCOPEGATE_BUILD_DIR:-build}
export SCOPEGATE_PORT=${SCOPEGATE_PORT:-8080}
export SCOPEGATE_ADMIN_PORT=${SCOPEGATE_ADMIN_PORT:-9901}
export DEMO_UPSTREAM_PORT=${DEMO_UPSTREAM_PORT:-9101}
export DEMO_UPSTREAM_B_PORT=${DEMO_UPSTREAM_B_PORT:-9102}
export DEMO_MODEL_PORT=${DEMO_MODEL_PORT:-9103}
export SCOPEGATE_AUDIT_DIR=${SCOPEGATE_AUDIT_DIR:-/var/tmp/scopegate-demo-audit}
# The delegation-token key: random per demo run unless given (64 hex digits).
export SCOPEGATE_TOKEN_KEY=${SCOPEGATE_TOKEN_KEY:-$(openssl rand -hex 32)}
# Admin mutations (reload, revoke) on the loopback admin listener; a demo value unless given.
export SCOPEGATE_ADMIN_TOKEN=${SCOPEGATE_ADMIN_TOKEN:-demo-admin-token}

# The values above, for a second terminal. Written to a new file made with umask 077 and renamed
# over the old one, so that the key is never readable by others, even for a moment, and a file
# left by an earlier run with other permissions is replaced rather than reused.
# (SCOPEGATE: the binary, which the tour runs for its audit steps.)
export SCOPEGATE
SCOPEGATE=$(realpath "$build_dir/gateway/scopegate")
env_file=$build_dir/demo.env
env_tmp=$(umask 077 && mktemp "$env_file.XXXXXX")
{
  echo "# Written by scripts/demo.sh for the demo it is running: source it in a second terminal."
  for name in SCOPEGATE_PORT SCOPEGATE_ADMIN_PORT DEMO_UPSTREAM_PORT DEMO_UPSTREAM_B_PORT DEMO_MODEL_PORT SCOPEGATE_AUDIT_DIR SCOPEGATE_TOKEN_KEY \
              SCOPEGATE_ADMIN_TOKEN SCOPEGATE; do
    printf 'export %s=%q\n' "$name" "${!name}"
  done
} >"$env_tmp"
mv -f "$env_tmp" "$env_file"

python3 examples/upstreams/demo_upstream.py --port "$DEMO_UPSTREAM_PORT" --name demo-tools >/dev/null &
upstream=$!
python3 examples/upstreams/demo_upstream.py --port "$DEMO_UPSTREAM_B_PORT" --name demo-tools-b >/dev/null &
upstream_b=$!
python3 examples/upstreams/model_upstream.py --port "$DEMO_MODEL_PORT" --name demo-models >/dev/null &
models=$!
gateway=
# However the demo ends (Ctrl-C, SIGTERM to this script, an error), every process stops with it.
trap 'kill $upstream $upstream_b $models $gateway 2>/dev/null || true; rm -f "$env_file"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# The tool servers must be the demo's own: if a port is taken, something else would receive the
# gateway's forwarded requests (and their delegation tokens).
wait_for_tool_server() {  # pid port
  for _ in $(seq 50); do
    if ! kill -0 "$1" 2>/dev/null; then
      echo "demo: a demo server did not start: is 127.0.0.1:$2 in use? (set DEMO_UPSTREAM_PORT, DEMO_UPSTREAM_B_PORT, DEMO_MODEL_PORT)" >&2
      exit 1
    fi
    if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()' \
         "$2" 2>/dev/null; then
      sleep 0.5  # the port answers: still ours only if our server did not exit on a taken port
      kill -0 "$1" 2>/dev/null && return 0
      continue
    fi
    sleep 0.1
  done
}
wait_for_tool_server "$upstream" "$DEMO_UPSTREAM_PORT"
wait_for_tool_server "$upstream_b" "$DEMO_UPSTREAM_B_PORT"
wait_for_tool_server "$models" "$DEMO_MODEL_PORT"
echo "demo tool servers on 127.0.0.1:$DEMO_UPSTREAM_PORT and :$DEMO_UPSTREAM_B_PORT, model server on :$DEMO_MODEL_PORT; gateway on 127.0.0.1:$SCOPEGATE_PORT, admin on 127.0.0.1:$SCOPEGATE_ADMIN_PORT" >&2
echo "in another terminal: source $env_file && bash examples/tour.sh" >&2
"$SCOPEGATE" serve --config examples/scopegate.yaml &
gateway=$!
wait "$gateway"
