#!/usr/bin/env bash
# The linter CI runs: golangci-lint (errcheck, govet, staticcheck, unused,
# revive's exported-comment rules, gocyclo ≤ 30, ineffassign, gofmt; see
# .golangci.yml), installed at a pinned version from the Go module proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$(go env GOPATH)/bin:$PATH"
version=v2.15.0
if ! golangci-lint version 2>/dev/null | grep -q "version ${version#v} "; then
  echo "lint: installing golangci-lint $version"
  GOFLAGS= go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$version"
fi
golangci-lint run ./...
