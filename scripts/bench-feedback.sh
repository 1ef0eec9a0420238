#!/usr/bin/env bash
# First feedback (issue 15): time from a push's 202 to its check run on the
# fake GitHub, on PostgreSQL, over BENCH_PUSHES (default 100) pushes through
# the real receiver and a running worker (cmd/bot/feedback_bench_test.go).
# Prints p50/p90/p99/max in ms.
#
#   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/db?sslmode=disable scripts/bench-feedback.sh [git-ref]
#
# With a git ref (e.g. the commit before a change), the same benchmark runs
# against that commit's code, in a temporary worktree.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$HOME/go/bin:$PATH
: "${TEST_DATABASE_URL:?set TEST_DATABASE_URL to a PostgreSQL URL (each run uses a fresh schema in it)}"
export TEST_DATABASE_URL
src=$PWD
if [ $# -gt 0 ]; then
	tmp=$(mktemp -d)
	trap 'git worktree remove --force "$tmp/src" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
	git worktree add --detach -q "$tmp/src" "$1"
	cp cmd/bot/feedback_bench_test.go "$tmp/src/cmd/bot/"
	src=$tmp/src
	echo "code of $1 ($(git rev-parse --short "$1"))"
fi
cd "$src"
go test -run '^$' -bench '^BenchmarkPushToCheckRun$' -benchtime "${BENCH_PUSHES:-100}x" -count "${BENCH_COUNT:-1}" ./cmd/bot |
	awk '/^BenchmarkPushToCheckRun/ {
		for (i = 3; i < NF; i += 2) m[$(i+1)] = $i
		printf "push → check run over %d pushes: p50 %s ms, p90 %s ms, p99 %s ms, max %s ms\n", $2, m["p50-ms"], m["p90-ms"], m["p99-ms"], m["max-ms"]
		next
	} /^(ok|PASS|FAIL|---)/ || /FAIL/ { print }'
