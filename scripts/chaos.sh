#!/usr/bin/env bash
# The chaos suite: real `bot worker` processes (real Docker engine, ISO
# builder and QEMU) on PostgreSQL, a shared artifact store and the fake
# GitHub, with faults injected while runs build — kill -9 in every step and
# during the release, SIGTERM, SIGSTOP/SIGCONT, GitHub answering 502, a full
# DATA_DIR, a PostgreSQL restart, a private dockerd killed and restarted
# under a build — then checks that every run completed (or
# failed with its reason), was published, and left nothing behind. Prints
# the table (fault, runs, completed, time to recover, time to COMPLETE,
# leftovers). All traffic is on loopback; every wait is bounded.
#
#   sudo bash scripts/chaos.sh                      # every fault (~30 min on 2 cores)
#   sudo bash scripts/chaos.sh --faults kill9-BUILDING,sigterm-BUILDING
#   sudo bash scripts/chaos.sh --outage 2m          # GitHub's 502 window (default 2m)
#
# Needs root (a tmpfs for the DATA_DIR fault, a throw-away PostgreSQL
# cluster run as the postgres user, a throw-away dockerd on /var/tmp). The
# machine's PostgreSQL and Docker engine are used but never restarted. CI runs a subset through
# `go test ./cmd/bot -run TestChaos` (CHAOS_FAULTS unset).
set -euo pipefail
cd "$(dirname "$0")/.."
faults=all
outage=2m
while [ $# -gt 0 ]; do
  case "$1" in
    --faults) faults="$2"; shift 2 ;;
    --outage) outage="$2"; shift 2 ;;
    *) echo "usage: $0 [--faults LIST|all] [--outage DURATION]" >&2; exit 2 ;;
  esac
done
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

db="linux_builder_chaos_$$"
psql_admin() { psql -q -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
psql_admin -c "CREATE DATABASE $db"
out=$(mktemp -d /var/tmp/chaos.XXXXXX)
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() { psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; }
trap cleanup EXIT
export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"

echo "chaos: faults=$faults outage=$outage; log in $out/test.log"
status=0
CHAOS_FAULTS="$faults" CHAOS_GITHUB_OUTAGE="$outage" CHAOS_KEEP_GOING=1 CHAOS_TABLE="$out/table.md" \
  go test -count=1 -timeout 90m -run '^TestChaos$' -v ./cmd/bot >"$out/test.log" 2>&1 || status=$?
if [ -s "$out/table.md" ]; then
  cat "$out/table.md"
else
  tail -n 50 "$out/test.log"
fi
grep -E '^\s+chaos_.*\.go:[0-9]+:' "$out/test.log" | grep -v 'chaos table' | head -n 40 || true
echo "chaos: $( [ "$status" = 0 ] && echo PASS || echo FAIL ) (log: $out/test.log)"
exit "$status"
