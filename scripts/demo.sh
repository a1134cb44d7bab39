#!/usr/bin/env bash
# Quick start: builds scopegate, starts the demo tool server, and runs the gateway on
# examples/scopegate.yaml in the foreground (Ctrl-C stops both). The README's tour shows how to
# open a scope (POST /v1/scopes with the demo planner's key) and call tools under it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
export DEMO_UPSTREAM_PORT=${DEMO_UPSTREAM_PORT:-9101}
# The delegation-token key: random per demo run unless given (64 hex digits).
export SCOPEGATE_TOKEN_KEY=${SCOPEGATE_TOKEN_KEY:-$(openssl rand -hex 32)}
# Admin mutations (reload, revoke) on the loopback admin listener; a demo value unless given.
export SCOPEGATE_ADMIN_TOKEN=${SCOPEGATE_ADMIN_TOKEN:-demo-admin-token}
python3 examples/upstreams/demo_upstream.py --port "$DEMO_UPSTREAM_PORT" --name demo-tools >/dev/null &
upstream=$!
trap 'kill $upstream 2>/dev/null || true' EXIT
echo "demo tool server on 127.0.0.1:$DEMO_UPSTREAM_PORT; gateway on 127.0.0.1:${SCOPEGATE_PORT:-8080}, admin on 127.0.0.1:${SCOPEGATE_ADMIN_PORT:-9901}" >&2
echo "try the tour in another terminal: bash examples/tour.sh" >&2
build/gateway/scopegate serve --config examples/scopegate.yaml
