#!/usr/bin/env bash
# Webhook load benchmark (issue 6): wrk sends signed real push deliveries,
# each with a unique delivery id, to `bot serve --workers 0` (durable intake
# on PostgreSQL, group commit), loopback only, for a bounded time. The same
# wrk run against a bare Fiber handler gives the ceiling of this machine, so
# the ratio is comparable across machines.
#
#   scripts/loadtest.sh [DURATION_SECONDS]   (default 15; CONNS=128 THREADS=1)
#
# Measures `bot serve --workers 0` and the lean receiver
# (cmd/webhook, linux-builder-webhook). Prints: bare Fiber req/s; for each,
# deliveries/s and the ratio to bare Fiber, p99 ack latency at a paced 500
# deliveries/s, peak RSS; and checks that every acknowledged delivery is in
# the database.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-15}
CONNS=${CONNS:-128}
export THREADS=${THREADS:-1}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
pg_isready -q -h 127.0.0.1 || { echo "PostgreSQL is not running on 127.0.0.1:5432" >&2; exit 1; }

work=$(mktemp -d)
db="lb_load_$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] && cat "$work"/*.log >&2; rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/bot" ./cmd/bot
go build -o "$work/loadtest" ./scripts/loadtest
secret="load-test-secret"
# Every delivery is a different push (its own commit), as from GitHub; the
# warm-up, the paced and the saturating runs each have their own commits.
"$work/loadtest" bodies 2000 1 "$secret" "$work/warm.txt"
"$work/loadtest" bodies $(( DURATION * 500 + 1000 )) 1000001 "$secret" "$work/paced.txt"
"$work/loadtest" bodies $(( DURATION * 12000 )) 2000001 "$secret" "$work/max.txt"
# The bare ceiling gets finished bodies: the cheapest requests for wrk.
"$work/loadtest" full-bodies 20000 1 "$secret" "$work/bare-bodies.txt"
openssl genrsa -out "$work/key.pem" 2048 2>/dev/null

wait_up() { for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "server at $1 did not start" >&2; return 1; }
result() { grep '^RESULT' "$1" | sed 's/^RESULT //'; }
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# 1. The ceiling: a bare Fiber handler, same wrk settings. Measured first
# and again last: this machine's speed drifts (shared cores), and the ratio
# uses the mean of the two.
bare_run() {
  "$work/loadtest" bare 127.0.0.1:18081 & local pid=$!
  wait_up_tcp 127.0.0.1 18081
  BODIES="$work/bare-bodies.txt" RUN_ID=bare wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" \
    -s scripts/loadtest/deliveries.lua http://127.0.0.1:18081 >"$work/bare.txt"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  result "$work/bare.txt"
}
wait_up_tcp() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0; sleep 0.05; done; echo "nothing listens on $1:$2" >&2; return 1; }
bare_first=$(bare_run)

# 2. The bot, then the lean receiver: durable intake on PostgreSQL, at full
# speed and paced at 500 deliveries/s (20 connections).
export GITHUB_APP_ID=1 GITHUB_PRIVATE_KEY_PATH="$work/key.pem" GITHUB_WEBHOOK_SECRET="$secret"
export LOG_FORMAT=json LOG_LEVEL=warn
go build -o "$work/linux-builder-webhook" ./cmd/webhook
declare -A out
recorded=0
for target in bot webhook; do
  # Each receiver starts on a fresh database.
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
  "$work/bot" migrate up >/dev/null
  if [ "$target" = bot ]; then
    "$work/bot" serve --workers 0 --migrate=false --addr 127.0.0.1:18082 ${DEBUG_ADDR:+--debug-addr $DEBUG_ADDR} >"$work/$target.log" 2>&1 & pids+=($!)
  else
    HOST=127.0.0.1 PORT=18082 "$work/linux-builder-webhook" >"$work/$target.log" 2>&1 & pids+=($!)
  fi
  pid=${pids[-1]}
  wait_up http://127.0.0.1:18082/readyz
  # Warm-up (connections, caches), not measured.
  BODIES="$work/warm.txt" THREADS=1 RATE=500 RUN_ID="$target-warm" wrk -t1 -c20 -d3s \
    -s scripts/loadtest/deliveries.lua http://127.0.0.1:18082 >/dev/null
  # Steady load first (the latency target), then saturation (throughput).
  BODIES="$work/paced.txt" THREADS=1 RATE=500 RUN_ID="$target-paced" wrk -t1 -c20 -d"${DURATION}s" \
    -s scripts/loadtest/deliveries.lua http://127.0.0.1:18082 >"$work/$target-paced.txt"
  out[$target-rss-paced]=$("$work/loadtest" rss "$pid")
  BODIES="$work/max.txt" RUN_ID="$target-max" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" \
    -s scripts/loadtest/deliveries.lua http://127.0.0.1:18082 >"$work/$target-max.txt"
  out[$target-max]=$(result "$work/$target-max.txt")
  out[$target-paced]=$(result "$work/$target-paced.txt")
  out[$target-rss]=$("$work/loadtest" rss "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  out[$target-recorded]=$(psql -tA -h 127.0.0.1 -U postgres -d "$db" -c "SELECT count(*) FROM deliveries WHERE delivery_id NOT LIKE '%-warm-%'")
  recorded=$(( recorded + ${out[$target-recorded]} ))
done

bare_last=$(bare_run)

sent=0
for k in bot-max bot-paced webhook-max webhook-paced; do
  sent=$(( sent + $(field "${out[$k]}" requests) ))
  if [ "$(field "${out[$k]}" errors_status)" != 0 ] || [ "$(field "${out[$k]}" errors_io)" != 0 ]; then
    echo "FAIL: $k: some deliveries were not acknowledged: ${out[$k]}" >&2; exit 1
  fi
done
runs=$(psql -tA -h 127.0.0.1 -U postgres -d "$db" -c "SELECT count(*) FROM runs")
jobs=$(psql -tA -h 127.0.0.1 -U postgres -d "$db" -c "SELECT count(*) FROM river_job WHERE kind = 'build'")
bare_rps=$(awk -v a="$(field "$bare_first" rps)" -v b="$(field "$bare_last" rps)" 'BEGIN { printf "%.1f", (a + b) / 2 }')
echo "bare fiber (first):    $bare_first"
echo "bare fiber (last):     $bare_last"
echo "bare fiber: mean $bare_rps req/s"
for target in bot webhook; do
  rps=$(field "${out[$target-max]}" rps)
  echo "$target (max):           ${out[$target-max]}"
  echo "$target (500/s paced):   ${out[$target-paced]}"
  echo "$target: ratio to bare (mean) $(awk -v a="$rps" -v b="$bare_rps" 'BEGIN { printf "%.3f", a / b }') (target >= 0.13); p99 at 500/s $(field "${out[$target-paced]}" p99_ms) ms (target <= 10); peak RSS ${out[$target-rss-paced]} MiB after the paced run, ${out[$target-rss]} MiB after the saturating one (target <= 32)"
done
echo "deliveries: acknowledged $sent (wrk counts answers), recorded $recorded; on the last database: runs $runs, build jobs $jobs"
if [ "$recorded" -lt "$sent" ]; then
  echo "FAIL: $sent deliveries acknowledged but only $recorded recorded" >&2; exit 1
fi
