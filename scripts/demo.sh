#!/usr/bin/env bash
# Quick start: builds scopegate, starts the demo tool server, and runs the gateway on
# examples/scopegate.yaml in the foreground (Ctrl-C stops both).
#   curl localhost:8080/tools/search/hello            a tool call through the gateway
#   curl -N localhost:8080/tools/events?n=5           server-sent events, event by event
#   curl localhost:9901/readyz                        the admin listener
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
export DEMO_UPSTREAM_PORT=${DEMO_UPSTREAM_PORT:-9101}
python3 examples/upstreams/demo_upstream.py --port "$DEMO_UPSTREAM_PORT" --name demo-tools >/dev/null &
upstream=$!
trap 'kill $upstream 2>/dev/null || true' EXIT
echo "demo tool server on 127.0.0.1:$DEMO_UPSTREAM_PORT; gateway on 127.0.0.1:${SCOPEGATE_PORT:-8080}, admin on 127.0.0.1:${SCOPEGATE_ADMIN_PORT:-9901}" >&2
echo "try: curl localhost:${SCOPEGATE_PORT:-8080}/tools/search/hello" >&2
build/gateway/scopegate serve --config examples/scopegate.yaml
