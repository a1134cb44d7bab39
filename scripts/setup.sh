#!/usr/bin/env bash
# Installs what scopegate needs, by group: Debian packages, and for the tests the npm packages of
# the real agent SDKs the end-to-end tests drive (tests/e2e, pinned by its lock file).
#   bash scripts/setup.sh                 everything (what scripts/test.sh and CI need)
#   bash scripts/setup.sh build demo      only these groups:
#     build   compiler, CMake and the libraries the gateway links (enough for the scopegate binary)
#     demo    what scripts/demo.sh and examples/tour.sh run (python3, curl, openssl)
#     tests   unit and integration tests: doctest, pytest, the e2e SDKs (Node.js and npm)
#     bench   benchmarks: nginx, wrk, Google Benchmark (scripts/build.sh builds bench/micro)
#     fuzz    clang 14 and its libFuzzer and sanitizer runtimes (scripts/fuzz.sh)
#     all     every group (the default)
# Idempotent: when everything asked for is present it installs nothing and touches no network.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

groups=("$@")
if [ ${#groups[@]} -eq 0 ]; then groups=(all); fi
want() {
  local g
  for g in "${groups[@]}"; do
    if [ "$g" = "$1" ] || [ "$g" = all ]; then return 0; fi
  done
  return 1
}
for g in "${groups[@]}"; do
  case $g in
    all | build | demo | tests | bench | fuzz) ;;
    *) echo "setup: unknown group '$g' (groups: build demo tests bench fuzz all)" >&2; exit 2 ;;
  esac
done

packages=()
if want build; then
  packages+=(g++ cmake ninja-build pkg-config libboost1.81-dev libssl-dev libsimdjson-dev libyaml-cpp-dev libre2-dev
            libhiredis-dev)
fi
if want demo; then
  packages+=(python3 curl openssl)
fi
if want tests; then
  # real clients and processes; python3-yaml reads docker/compose.yaml and the alert rules;
  # prometheus brings promtool, which checks and unit-tests the alert rules and the dashboard's
  # queries (examples/prometheus, examples/grafana), and the server the metrics tests scrape with
  packages+=(doctest-dev curl openssl ca-certificates procps python3 python3-pytest python3-jsonschema python3-yaml
             prometheus
             redis-server haproxy)
  # redis-server and haproxy: the fleet tests (tests/integration/test_fleet.py) run three nodes
  # sharing one real Redis behind a real HAProxy.
  # The official MCP and A2A SDKs, for tests/integration/test_sdk_e2e.py. Node.js comes from the
  # machine when it has one (the SDKs want Node 18 or later), else from Debian.
  if ! command -v npm >/dev/null 2>&1; then packages+=(nodejs npm); fi
fi
if want bench; then
  packages+=(nginx-light wrk libbenchmark-dev)
fi
if want fuzz; then
  packages+=(clang libclang-rt-14-dev)
fi

install_e2e_packages() {
  want tests || return 0
  if [ -d "$root/tests/e2e/node_modules" ] && [ "$root/tests/e2e/node_modules/.package-lock.json" -nt "$root/tests/e2e/package-lock.json" ]; then
    return 0
  fi
  echo "setup: installing the e2e npm packages (tests/e2e)"
  (cd "$root/tests/e2e" && npm ci --no-audit --no-fund --loglevel=error)
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    case " ${missing[*]} " in *" $p "*) ;; *) missing+=("$p") ;; esac
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup (${groups[*]}): all packages present"
  install_e2e_packages
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages: ${missing[*]}; run this script as root (or install them with apt-get)" >&2
  exit 1
fi

echo "setup (${groups[*]}): installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Debian starts nginx, prometheus, redis-server and haproxy when it installs them. The benchmarks run their own nginx
# instances on ports of their own, and the tests their own Prometheus, and need no system one; and a
# machine's running services are never ours to stop. So while installing, a policy-rc.d (Debian's
# hook for exactly this) declines to start those four, and only those; one the machine already has
# is left in place, and with it whatever it decides. invoke-rc.d asks it with the service's name
# (after options such as --quiet), deb-systemd-invoke on a systemd machine with the unit's name.
policy=/usr/sbin/policy-rc.d
own_policy=
marker='# written by scopegate scripts/setup.sh'
# One left behind by a run of ours that was killed before its trap ran is ours to replace.
if [ -e "$policy" ] && grep -qxF "$marker" "$policy"; then rm -f "$policy"; fi
trap '[ -n "$own_policy" ] && rm -f "$policy"' EXIT
if [ ! -e "$policy" ]; then
  own_policy=1
  printf '%s\n' '#!/bin/sh' "$marker" 'while [ "${1#-}" != "$1" ]; do shift; done' \
    'case "$1" in nginx|nginx.service|prometheus|prometheus.service|redis-server|redis-server.service|haproxy|haproxy.service) exit 101 ;; esac' 'exit 0' >"$policy"
  chmod 755 "$policy"
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}"
[ -n "$own_policy" ] && rm -f "$policy" && own_policy=
# Installing them also enabled them for the next boot: a system nginx, Prometheus, Redis or HAProxy would then take
# their ports after a reboot. Disabled, for the ones this run installed, and only those.
for installed in "${missing[@]}"; do
  case $installed in
    nginx-light) service=nginx ;;
    prometheus) service=prometheus ;;
    redis-server) service=redis-server ;;
    haproxy) service=haproxy ;;
    *) continue ;;
  esac
  if command -v deb-systemd-helper >/dev/null 2>&1; then deb-systemd-helper disable "$service.service" >/dev/null 2>&1 || true; fi
  if command -v update-rc.d >/dev/null 2>&1; then update-rc.d "$service" disable >/dev/null 2>&1 || true; fi
done
install_e2e_packages
