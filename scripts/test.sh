#!/usr/bin/env bash
# The test command: prepares the machine (scripts/setup.sh), makes a
# throw-away PostgreSQL database, and runs every test against the real
# tools and services. Packages run one at a time (-p 1) because one store
# test restarts the PostgreSQL cluster under the others' feet.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh

db="linux_builder_test_$$"
psql_admin() { psql -q -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
psql_admin -c "CREATE DATABASE $db"
cleanup() { psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; }
trap cleanup EXIT
export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"

go test -p 1 -count=1 -timeout 60m "$@" ./...
