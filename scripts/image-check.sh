#!/usr/bin/env bash
# Builds the bot's image (Dockerfile) and proves it runs: `bot --version`,
# the worker's tools, the migrations, and the lean receiver answering
# /healthz and /readyz on a loopback port. Then verifies the systemd units
# (systemd-analyze verify). Removes its container, tag and database at the
# end; the build's layers stay as the next build's cache.
#
# Usage: bash scripts/image-check.sh        (called by .ci/run; needs the
# Docker engine, PostgreSQL on 127.0.0.1:5432 and debian:bookworm, as
# scripts/setup.sh leaves them)
#
# Environment: IMAGE (default linux-builder-bot:ci), DOCKER_BUILD_ARGS (more
# `docker build` arguments, e.g. "--build-arg BUILD_IMAGE=golang:1.26-bookworm").
set -euo pipefail
cd "$(dirname "$0")/.."

image=${IMAGE:-linux-builder-bot:ci}
name="linux-builder-image-check-$$"
db="linux_builder_image_check_$$"
psql_admin() { psql -q -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "image-check: $*" >&2; exit 1; }

cleanup() {
  docker rm -f "$name" >/dev/null 2>&1 || true
  # --no-prune: the tag and its top layer go, the layers below stay as
  # the build cache (a warm build then takes seconds when nothing changed).
  docker rmi --no-prune "$image" >/dev/null 2>&1 || true
  psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Certificate authorities this machine trusts besides Debian's (a
# TLS-inspecting proxy between us and the Go module proxy): the build stage
# must trust them too to fetch the toolchain and the modules.
extra_ca=""
for f in /usr/local/share/ca-certificates/*.crt; do
  [ -f "$f" ] && extra_ca+="$(cat "$f")"$'\n'
done

commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
start=$(date +%s)
# shellcheck disable=SC2086 # DOCKER_BUILD_ARGS is a list of arguments
docker build -q -t "$image" \
  --build-arg "EXTRA_CA_CERTS=$extra_ca" \
  --build-arg "COMMIT=$commit" \
  --build-arg "BUILD_DATE=$(date -u +%FT%TZ)" \
  ${DOCKER_BUILD_ARGS:-} . >/dev/null
echo "image-check: built $image in $(($(date +%s) - start)) s ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"

version=$(docker run --rm "$image" --version)
printf '%s\n' "$version"
grep -q "^bot " <<<"$version" || fail "bot --version printed no 'bot <version>' line"
grep -q "^commit: $commit" <<<"$version" || fail "bot --version does not name the commit $commit"
docker run --rm --entrypoint linux-builder-webhook "$image" --version | grep -q '^linux-builder-webhook ' ||
  fail "linux-builder-webhook --version failed"

# The worker's host tools (internal/proc's callers) and the UEFI firmware.
docker run --rm --entrypoint bash "$image" -c '
  set -e
  for t in tar2sqfs grub-mkrescue grub-mkstandalone grub-mkimage xorriso mformat mcopy qemu-system-x86_64 qemu-img \
    e2fsck resize2fs tune2fs mkswap iptables; do
    command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }
  done
  test -f /usr/share/OVMF/OVMF_CODE_4M.fd && test -f /usr/share/OVMF/OVMF_VARS_4M.fd
  test -f /usr/share/OVMF/OVMF_CODE_4M.secboot.fd && test -f /usr/share/OVMF/OVMF_VARS_4M.ms.fd
  test -d /usr/lib/grub/i386-pc && test -d /usr/lib/grub/x86_64-efi
  test "$(id -u)" != 0' || fail "the runtime stage lacks a worker tool, or runs as root"

# The receiver, in the image, on a throw-away database migrated by the
# image's own `bot migrate up`. The container shares the host's network:
# PostgreSQL listens on the host's loopback only, and so does the receiver.
psql_admin -c "CREATE DATABASE $db"
db_url="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
docker run --rm --network host -e DATABASE_URL="$db_url" "$image" migrate up >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
  echo 18089)
secret=$(openssl rand -hex 32)
docker run -d --name "$name" --network host --read-only --cap-drop ALL --security-opt no-new-privileges:true \
  -e GITHUB_WEBHOOK_SECRET="$secret" -e GITHUB_APP_ID=1 -e DATABASE_URL="$db_url" \
  -e HOST=127.0.0.1 -e PORT="$port" \
  --entrypoint linux-builder-webhook "$image" >/dev/null
ok=""
for _ in $(seq 1 30); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/healthz")" = 200 ]; then
    ok=1
    break
  fi
  sleep 0.5
done
if [ -z "$ok" ]; then
  docker logs "$name" >&2 || true
  fail "the receiver in $image did not answer 200 on /healthz within 15 s"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/readyz")
[ "$code" = 200 ] || { docker logs "$name" >&2; fail "/readyz answered $code, want 200"; }
# An unsigned delivery is refused: the receiver is the real one.
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST -H 'X-GitHub-Event: ping' \
  -H 'X-GitHub-Delivery: image-check' -H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$port/webhook")
[ "$code" = 401 ] || { docker logs "$name" >&2; fail "an unsigned delivery answered $code, want 401"; }
echo "image-check: the receiver in $image answered /healthz 200, /readyz 200, an unsigned delivery 401"

# compose.yaml, where a Compose is installed (deploy/deploy_test.go checks
# its shape everywhere).
compose=""
if docker compose version >/dev/null 2>&1; then compose="docker compose"
elif command -v docker-compose >/dev/null 2>&1; then compose="docker-compose"; fi
if [ -n "$compose" ]; then
  env_file=$(mktemp)
  sed 's/^\([A-Z0-9_]*\)=$/\1=image-check/' deploy/compose.env.example >"$env_file"
  $compose --env-file "$env_file" -f compose.yaml config -q || { rm -f "$env_file"; fail "$compose config: compose.yaml is invalid"; }
  rm -f "$env_file"
  echo "image-check: compose.yaml is valid ($compose config)"
else
  echo "image-check: no Compose installed; compose.yaml checked by go test ./deploy only"
fi

# The systemd units, as systemd reads them (ExecStart pointed at an
# existing program: the binaries are not installed on this host).
command -v systemd-analyze >/dev/null || fail "systemd-analyze is not installed (Debian's systemd package)"
units=$(mktemp -d)
for f in deploy/systemd/*.service; do
  sed 's|^ExecStart=/usr/local/bin/[A-Za-z0-9_-]*|ExecStart=/bin/true|' "$f" >"$units/$(basename "$f")"
done
systemd-analyze verify "$units"/*.service || { rm -rf "$units"; fail "systemd-analyze verify failed"; }
for f in "$units"/*.service; do
  systemd-analyze security --offline=true "$f" 2>/dev/null | tail -n 1
done
rm -rf "$units"
echo "image-check: passed"
