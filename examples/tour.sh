#!/usr/bin/env bash
# The README's five-minute tour, runnable as written: start `bash scripts/demo.sh` in one terminal,
# then `bash examples/tour.sh` in another. Each step prints what the gateway answered and stops
# the tour if the status is not the one expected. (tests/integration/test_examples.py runs it.)
# It finds the demo where scripts/demo.sh put it: the same SCOPEGATE_PORT, SCOPEGATE_ADMIN_PORT,
# SCOPEGATE_ADMIN_TOKEN and SCOPEGATE_AUDIT_DIR (`source build/demo.env` sets them all), or GW and
# ADMIN as whole URLs.
set -euo pipefail
GW=${GW:-http://127.0.0.1:${SCOPEGATE_PORT:-8080}}
ADMIN=${ADMIN:-http://127.0.0.1:${SCOPEGATE_ADMIN_PORT:-9901}}
ADMIN_TOKEN=${ADMIN_TOKEN:-${SCOPEGATE_ADMIN_TOKEN:-demo-admin-token}}
AUDIT_DIR=${SCOPEGATE_AUDIT_DIR:-/var/tmp/scopegate-demo-audit}
SCOPEGATE=${SCOPEGATE:-$(dirname "$0")/../build/gateway/scopegate}
PLANNER='Authorization: Bearer demo-planner-key'
RESEARCHER='Authorization: Bearer demo-researcher-key'
out=$(mktemp)
trap 'rm -f "$out"' EXIT

step() { printf '\n== %s\n' "$*"; }
# The demo gateway is not where the tour looks: say what was expected where, and how to point the
# tour elsewhere (rather than end with curl's bare exit status).
not_found() {
  local what=$1 url=$2 why=$3
  cat >&2 <<MSG
tour: $why at $url, where the tour expects the demo's $what.
  Start the demo first (bash scripts/demo.sh), then run the tour in a second terminal. If the demo
  runs elsewhere, give the tour its ports: source build/demo.env (the demo writes it), or set
  SCOPEGATE_PORT and SCOPEGATE_ADMIN_PORT (here: ${SCOPEGATE_PORT:-8080 by default} and ${SCOPEGATE_ADMIN_PORT:-9901 by default}), or GW and ADMIN as URLs.
MSG
  exit 1
}
# expect STATUS CURL-ARGS...: runs curl, prints the body, checks the status.
expect() {
  local want=$1 got arg url=
  shift
  for arg in "$@"; do case $arg in http://* | https://*) url=${arg%%\?*} ;; esac; done
  got=$(curl -s -o "$out" -w '%{http_code}' "$@") || not_found "gateway" "$url" "no answer (curl exit $?)"
  cat "$out"
  echo
  if [ "$got" != "$want" ]; then
    echo "tour: expected HTTP $want, got $got" >&2
    exit 1
  fi
}

# Before the first step: the admin listener answers, as a ready scopegate. (A data listener that
# does not answer is reported by the first step.)
ready=$(curl -s -m 5 "$ADMIN/readyz") || not_found "admin listener" "$ADMIN" "no answer (curl exit $?)"
case $ready in
  *'"status":"ready"'*) ;;
  *'"status":'*) echo "tour: the demo gateway at $ADMIN is not ready: $ready" >&2; exit 1 ;;
  *) not_found "admin listener" "$ADMIN" "an answer that is not scopegate's /readyz" ;;
esac
# field PYTHON-EXPR: reads the last answer as JSON and prints one value of it.
field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($1)" "$out"; }

step "1. Without an agent key nothing passes: 401 unauthenticated"
expect 401 "$GW/tools/search/hello"

step "2. The planner opens a root scope on behalf of user:alice"
expect 201 -X POST "$GW/v1/scopes" -H "$PLANNER" \
  -d '{"principal": "user:alice", "objective": "Q3 board report", "grants": ["tool:*", "agent:researcher", "model:gpt-4o*"], "ttl_s": 900}'
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

step "8. Policies decide what the grants allow (policies/, docs/policies.md). The root holds tool:*,"
echo "   but hr.lookup with a wildcard employee id is refused by rule hr-lookup-no-wildcard, whose"
echo "   reason tells the agent's model what would pass; one exact id is forwarded"
HR_CALL='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"hr.lookup","arguments":{"employee_id":"*"}}}'
expect 403 -X POST "$GW/mcp/hr" -H "$PLANNER" -H "Delegation-Token: $TOKEN" -H 'Content-Type: application/json' \
  -d "$HR_CALL"
expect 200 -X POST "$GW/mcp/hr" -H "$PLANNER" -H "Delegation-Token: $TOKEN" -H 'Content-Type: application/json' \
  -d "${HR_CALL/\"\*\"/\"E1042\"}"
# The same decision, offline, with every rule and why it did or did not match (exit 1: deny).
rc=0
"$SCOPEGATE" policy explain --config "$(dirname "$0")/scopegate.yaml" --agent planner --principal user:alice \
  --depth 0 --route hr --action tool:hr.lookup --args '{"employee_id":"*"}' || rc=$?
[ "$rc" = 1 ] || { echo "tour: expected policy explain to answer deny (exit 1), got exit $rc" >&2; exit 1; }
# Which rules the running gateway has, from which files (SHA-256), and how often each decided.
expect 200 "$ADMIN/v1/policies"

step "9. A stolen token is useless without its agent's key (401 token_invalid)"
expect 401 "$GW/tools/search/x" -H "$PLANNER" -H "Delegation-Token: $CHILD"

step "10. Server-sent events pass event by event under the scope"
expect 200 -N "$GW/tools/events?n=3&interval_ms=300" -H "$PLANNER" -H "Delegation-Token: $TOKEN"

step "11. Plans (docs/plans.md): the planner registers a plan for its scope and names the task each"
echo "   delegation carries (Delegation-Task). The demo agent answers 200 at once, which completes it. A"
echo "   delegation that names no task is a deviation (unplanned_delegation), recorded once; observe"
echo "   mode lets it through (enforce would refuse it: 403 plan_deviation)."
expect 201 -X POST "$GW/v1/plans" -H "$PLANNER" -H "Delegation-Token: $TOKEN" -H 'Content-Type: application/json' \
  -d '{"goal": "Q3 board report", "mode": "observe", "tasks": [
        {"id": "find", "agent": "researcher", "objective": "find the Q3 revenue", "actions": ["tool:search"]},
        {"id": "check", "agent": "researcher", "objective": "check the figures", "actions": ["tool:search"],
         "depends_on": ["find"]}]}'
PLAN=$(field 'd["plan"]')
expect 200 -X POST "$GW/agents/researcher/task" -H "$PLANNER" -H "Delegation-Token: $TOKEN" -H "Delegation-Task: $PLAN/find" -d '{}'
expect 200 -X POST "$GW/agents/researcher/task" -H "$PLANNER" -H "Delegation-Token: $TOKEN" -d '{}'
expect 200 -X POST "$GW/agents/researcher/task" -H "$PLANNER" -H "Delegation-Token: $TOKEN" -H "Delegation-Task: $PLAN/check" -d '{}'
expect 200 "$GW/v1/plans/$PLAN" -H "$PLANNER" -H "Delegation-Token: $TOKEN"
[ "$(field 'd["state"], d["progress"]["completed"], d["deviations"][0]["kind"]')" = "finished 2 unplanned_delegation" ] ||
  { echo "tour: expected the plan finished, both tasks completed, one unplanned delegation" >&2; exit 1; }
# The same plan from the audit log alone (a moment for the writer to put its records down).
for _ in 1 2 3 4 5 6 7 8 9 10; do "$SCOPEGATE" query plan "$PLAN" --log "$AUDIT_DIR" >/dev/null 2>&1 && break; sleep 0.3; done
"$SCOPEGATE" query plan "$PLAN" --log "$AUDIT_DIR"

step "12. Model calls (docs/llm.md): the planner calls a model through the gateway under its scope, once"
echo "   whole and once streamed. The usage the model reported, and its cost at the configured price,"
echo "   go into each call's audit record; a model the scope was not granted is refused (403)."
expect 200 -X POST "$GW/llm/openai/v1/chat/completions" -H "$PLANNER" -H "Delegation-Token: $TOKEN" \
  -H 'Content-Type: application/json' -d '{"model": "gpt-4o", "max_tokens": 6, "messages": [{"role": "user", "content": "summarise the Q3 numbers"}]}'
echo "(usage as the model reported it: $(field 'd["usage"]'))"
expect 200 -N -X POST "$GW/llm/openai/v1/chat/completions" -H "$PLANNER" -H "Delegation-Token: $TOKEN" \
  -H 'Content-Type: application/json' -d '{"model": "gpt-4o-mini", "stream": true, "max_tokens": 3, "messages": [{"role": "user", "content": "one more line"}]}'
expect 403 -X POST "$GW/llm/anthropic/v1/messages" -H "$PLANNER" -H "Delegation-Token: $TOKEN" \
  -H 'Content-Type: application/json' -d '{"model": "claude-sonnet", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}'
# The records of the two calls (a moment for the writer to put them down).
for _ in 1 2 3 4 5 6 7 8 9 10; do grep -q '"model":"gpt-4o-mini".*"usage"' "$AUDIT_DIR"/*.jsonl 2>/dev/null && break; sleep 0.3; done
python3 -c '
import decimal, glob, json, sys
for path in sorted(glob.glob(sys.argv[1] + "/*.jsonl")):
    for line in open(path):
        r = json.loads(line, parse_float=decimal.Decimal)
        if r.get("usage"):
            print("   %-12s %-10s %s tokens in, %s out, cost %s USD" % (r["model"], r["operation"], r["usage"]["input_tokens"],
                                                                   r["usage"]["output_tokens"], r["cost"]))
' "$AUDIT_DIR"
grep -q '"model":"gpt-4o-mini".*"usage"' "$AUDIT_DIR"/*.jsonl || { echo "tour: expected the streamed call's usage in its record" >&2; exit 1; }

step "13. The admin API shows the scope with its child; revoking the root revokes the subtree"
expect 200 "$ADMIN/v1/scopes/$ROOT"
expect 200 -X POST "$ADMIN/v1/scopes/$ROOT/revoke" -H "Authorization: Bearer $ADMIN_TOKEN"
expect 401 "$GW/tools/search/revenue" -H "$RESEARCHER" -H "Delegation-Token: $CHILD"
echo "(child scope $CHILD_ID: revoked with its root)"

step "14. The audit log: which scopes were opened for user:alice, and what was done under the root and below"
"$SCOPEGATE" query scopes --principal user:alice --log "$AUDIT_DIR"
"$SCOPEGATE" query footprint "$ROOT" --log "$AUDIT_DIR"
# The child's actions in plain words (a unique prefix of its id is enough).
"$SCOPEGATE" query actions "${CHILD_ID:0:13}" --log "$AUDIT_DIR"

step "15. The delegation tree, and the evidence answer: was shared-drive ever touched under the root?"
"$SCOPEGATE" query tree "$ROOT" --log "$AUDIT_DIR"
# Exit 0 = never (the researcher's refused upload is listed as an attempt, not an access).
"$SCOPEGATE" query never "$ROOT" --dataset shared-drive --log "$AUDIT_DIR" || { echo "tour: expected exit 0" >&2; exit 1; }
"$SCOPEGATE" audit verify --log "$AUDIT_DIR"
# A one-file report to attach to a ticket: the tree, each scope's footprint, the evidence.
"$SCOPEGATE" query footprint "$ROOT" --log "$AUDIT_DIR" --format md >"$AUDIT_DIR/../scopegate-tour-report.md"
echo "(report written to $(cd "$AUDIT_DIR/.." && pwd)/scopegate-tour-report.md)"

step "16. Metrics for Prometheus on the admin listener: the tour's requests by route, agent, decision and code"
metrics=$(curl -s "$ADMIN/metrics") || not_found "admin listener" "$ADMIN/metrics" "no answer (curl exit $?)"
grep '^scopegate_requests_total' <<<"$metrics" ||
  { echo "tour: expected scopegate_requests_total series in $ADMIN/metrics" >&2; exit 1; }
grep -q '^scopegate_requests_total{route="files",agent="researcher",operation="execute_tool",decision="deny",code="grant_exceeded"} ' <<<"$metrics" ||
  { echo "tour: expected the refused files call (step 7) among the metrics" >&2; exit 1; }

step "17. Resilience: the search route balances over two tool servers, each endpoint with its own breaker"
breakers=$(curl -s "$ADMIN/v1/breakers") || not_found "admin listener" "$ADMIN/v1/breakers" "no answer (curl exit $?)"
python3 -c '
import json, sys
d = json.loads(sys.argv[1])
for e in d["endpoints"]:
    if e["route"] == "search":
        state = [b["state"] for b in d["breakers"] if b["route"] == "search" and b["endpoint"] == e["endpoint"]]
        print("   search -> %-16s weight %d, in flight %d, breaker %s" % (e["endpoint"], e["weight"], e["outstanding"], state[0]))
' "$breakers" || { echo "tour: expected the search route's endpoints in $ADMIN/v1/breakers" >&2; exit 1; }

step "Done. Offline tools: scopegate token inspect \$TOKEN; scopegate check --config examples/scopegate.yaml"
