#!/usr/bin/env bash
# Installs what scopegate's build, tests and benchmarks need: Debian packages, and the npm
# packages of the real agent SDKs the end-to-end tests drive (tests/e2e, pinned by its lock file).
# Idempotent: when everything is present it installs nothing and touches no network.
set -euo pipefail

packages=(
  # build
  g++ cmake ninja-build pkg-config
  libboost1.81-dev libssl-dev libsimdjson-dev libyaml-cpp-dev doctest-dev
  # tests: real clients and processes; prometheus brings promtool, which checks and unit-tests the
  # alert rules and the dashboard's queries (examples/prometheus, examples/grafana), read with yaml
  curl openssl ca-certificates procps python3 python3-pytest python3-jsonschema python3-yaml prometheus
  # benchmarks
  nginx-light wrk libbenchmark-dev
  # fuzzing (scripts/fuzz.sh): clang 14 and its libFuzzer and sanitizer runtimes
  clang libclang-rt-14-dev
)
root=$(cd "$(dirname "$0")/.." && pwd)

# The official MCP and A2A SDKs, for tests/integration/test_sdk_e2e.py. Node.js comes from the
# machine when it has one (the SDKs want Node 18 or later), else from Debian.
install_e2e_packages() {
  if [ -n "${SCOPEGATE_SETUP_NO_E2E:-}" ]; then return; fi  # builds that run no tests (docker/)
  if [ -d "$root/tests/e2e/node_modules" ] && [ "$root/tests/e2e/node_modules/.package-lock.json" -nt "$root/tests/e2e/package-lock.json" ]; then
    return
  fi
  echo "setup: installing the e2e npm packages (tests/e2e)"
  (cd "$root/tests/e2e" && npm ci --no-audit --no-fund --loglevel=error)
}
if [ -z "${SCOPEGATE_SETUP_NO_E2E:-}" ] && ! command -v npm >/dev/null 2>&1; then packages+=(nodejs npm); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  install_e2e_packages
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages: ${missing[*]}; run this script as root (or install them with apt-get)" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Debian starts nginx and prometheus when it installs them. The benchmarks run their own nginx
# instances on ports of their own, and the tests their own Prometheus, and need no system one; and a
# machine's running services are never ours to stop. So while installing, a policy-rc.d (Debian's
# hook for exactly this) declines to start those two, and only those; one the machine already has
# is left in place, and with it whatever it decides. invoke-rc.d asks it with the service's name
# (after options such as --quiet), deb-systemd-invoke on a systemd machine with the unit's name.
policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$policy" ]; then
  printf '%s\n' '#!/bin/sh' 'while [ "${1#-}" != "$1" ]; do shift; done' \
    'case "$1" in nginx|nginx.service|prometheus|prometheus.service) exit 101 ;; esac' 'exit 0' >"$policy"
  chmod 755 "$policy"
  own_policy=1
fi
trap '[ -n "$own_policy" ] && rm -f "$policy"' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}"
[ -n "$own_policy" ] && rm -f "$policy" && own_policy=
install_e2e_packages
