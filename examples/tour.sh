#!/usr/bin/env bash
# The README's five-minute tour, runnable as written: start `bash scripts/demo.sh` in one terminal,
# then `bash examples/tour.sh` in another. Each step prints what the gateway answered and stops
# the tour if the status is not the one expected. (tests/integration/test_examples.py runs it.)
set -euo pipefail
GW=${GW:-http://127.0.0.1:8080}
ADMIN=${ADMIN:-http://127.0.0.1:9901}
ADMIN_TOKEN=${ADMIN_TOKEN:-demo-admin-token}
AUDIT_DIR=${SCOPEGATE_AUDIT_DIR:-/var/tmp/scopegate-demo-audit}
SCOPEGATE=${SCOPEGATE:-$(dirname "$0")/../build/gateway/scopegate}
PLANNER='Authorization: Bearer demo-planner-key'
RESEARCHER='Authorization: Bearer demo-researcher-key'
out=$(mktemp)
trap 'rm -f "$out"' EXIT

step() { printf '\n== %s\n' "$*"; }
# expect STATUS CURL-ARGS...: runs curl, prints the body, checks the status.
expect() {
  local want=$1 got
  shift
  got=$(curl -s -o "$out" -w '%{http_code}' "$@")
  cat "$out"
  echo
  if [ "$got" != "$want" ]; then
    echo "tour: expected HTTP $want, got $got" >&2
    exit 1
  fi
}
# field PYTHON-EXPR: reads the last answer as JSON and prints one value of it.
field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($1)" "$out"; }

step "1. Without an agent key nothing passes: 401 unauthenticated"
expect 401 "$GW/tools/search/hello"

step "2. The planner opens a root scope on behalf of user:alice"
expect 201 -X POST "$GW/v1/scopes" -H "$PLANNER" \
  -d '{"principal": "user:alice", "objective": "Q3 board report", "grants": ["tool:*", "agent:researcher"], "ttl_s": 900}'
TOKEN=$(field 'd["token"]')
ROOT=$(field 'd["scope"]["id"]')

step "3. A tool call under the root scope. The demo tool echoes what it received: Delegation-Scope,"
echo "   -Root, -Depth 0, -Principal, -Actor, traceparent and baggage stamped; the forged header is gone"
expect 200 "$GW/tools/search/hello?q=q3" -H "$PLANNER" -H "Delegation-Token: $TOKEN" -H 'Delegation-Scope: forged'

step "4. A '_' variant of a gateway header is refused outright: 400 header_spoofing"
expect 400 "$GW/tools/search/x" -H "$PLANNER" -H "Delegation-Token: $TOKEN" -H 'Delegation_Scope: forged'

step "5. Delegation: the planner hands a task to the researcher. The gateway opens a child scope"
echo "   (depth 1, tool:search only) and forwards the child's Delegation-Token to the sub-agent"
expect 200 -X POST "$GW/agents/researcher/task" -H "$PLANNER" -H "Delegation-Token: $TOKEN" \
  -H 'Delegation-Objective: find%20the%20Q3%20revenue%20figures' -H 'Delegation-Grants: tool:search' -d '{}'
CHILD=$(field '[v for k, v in d["headers"] if k.lower() == "delegation-token"][0]')
CHILD_ID=$(field '[v for k, v in d["headers"] if k.lower() == "delegation-scope"][0]')

step "6. The researcher, with its own key and the child token, calls search: the tool sees depth 1"
expect 200 "$GW/tools/search/revenue" -H "$RESEARCHER" -H "Delegation-Token: $CHILD"

step "7. ... but not files: the child scope was granted tool:search only (403 grant_exceeded)"
expect 403 -X POST "$GW/tools/files" -H "$RESEARCHER" -H "Delegation-Token: $CHILD" -d 'x'

step "8. A stolen token is useless without its agent's key (401 token_invalid)"
expect 401 "$GW/tools/search/x" -H "$PLANNER" -H "Delegation-Token: $CHILD"

step "9. Server-sent events pass event by event under the scope"
expect 200 -N "$GW/tools/events?n=3&interval_ms=300" -H "$PLANNER" -H "Delegation-Token: $TOKEN"

step "10. The admin API shows the scope with its child; revoking the root revokes the subtree"
expect 200 "$ADMIN/v1/scopes/$ROOT"
expect 200 -X POST "$ADMIN/v1/scopes/$ROOT/revoke" -H "Authorization: Bearer $ADMIN_TOKEN"
expect 401 "$GW/tools/search/revenue" -H "$RESEARCHER" -H "Delegation-Token: $CHILD"
echo "(child scope $CHILD_ID: revoked with its root)"

step "11. The audit log: which scopes were opened for user:alice, and what was done under the root and below"
"$SCOPEGATE" query scopes --principal user:alice --log "$AUDIT_DIR"
"$SCOPEGATE" query footprint "$ROOT" --log "$AUDIT_DIR"
# The child's actions in plain words (a unique prefix of its id is enough).
"$SCOPEGATE" query actions "${CHILD_ID:0:13}" --log "$AUDIT_DIR"

step "12. The delegation tree, and the evidence answer: was shared-drive ever touched under the root?"
"$SCOPEGATE" query tree "$ROOT" --log "$AUDIT_DIR"
# Exit 0 = never (the researcher's refused upload is listed as an attempt, not an access).
"$SCOPEGATE" query never "$ROOT" --dataset shared-drive --log "$AUDIT_DIR" || { echo "tour: expected exit 0" >&2; exit 1; }
"$SCOPEGATE" audit verify --log "$AUDIT_DIR"
# A one-file report to attach to a ticket: the tree, each scope's footprint, the evidence.
"$SCOPEGATE" query footprint "$ROOT" --log "$AUDIT_DIR" --format md >"$AUDIT_DIR/../scopegate-tour-report.md"
echo "(report written to $(cd "$AUDIT_DIR/.." && pwd)/scopegate-tour-report.md)"

step "Done. Offline tools: scopegate token inspect \$TOKEN; scopegate check --config examples/scopegate.yaml"
