#!/usr/bin/env bash
# The main job: prepare the machine (scripts/setup.sh: packages, PostgreSQL,
# the Docker engine, the offline base image) and build a spec end to end —
# image, ISO, boot test — with bot build. Default: examples/minimal-debian.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
go build -o bin/bot ./cmd/bot
exec ./bin/bot build "${1:-examples/minimal-debian.yaml}" "${@:2}"
