#!/usr/bin/env bash
# Installs and starts what the tests and builds need, idempotently:
# Debian packages for the real tools, and a running PostgreSQL.
# Sourced by scripts/test.sh and .ci/run; safe to run again and again.
set -euo pipefail

export PATH="/usr/local/go/bin:$PATH"

# Linters for everything the renderer writes, PostgreSQL for the store, the
# Docker engine and debootstrap for builds and offline base images, and the
# ISO, disk-image (e2fsprogs, mtools, qemu-img) and boot-test tools (ovmf: OVMF_CODE_4M.secboot.fd and
# OVMF_VARS_4M.ms.fd for the Secure Boot boots too; grub-pc-bin: the ISO's BIOS El Torito image and hybrid
# MBR); fdisk (sfdisk), dosfstools, btrfs-progs, cryptsetup-bin and grub2-common (grub-install): the tools
# linux-builder-install checks for before its refusal tests run; wrk, curl and openssl for the webhook load
# benchmark; chromium for the run pages' browser test.
APT_PACKAGES=(shellcheck zsh fish nftables iptables fail2ban postgresql postgresql-client
  docker.io debootstrap tar e2fsprogs squashfs-tools-ng xorriso mtools grub-common grub-pc-bin grub-efi-amd64-bin
  qemu-system-x86 qemu-utils ovmf fdisk dosfstools btrfs-progs cryptsetup-bin grub2-common wrk curl openssl chromium)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# fail2ban's package starts its daemon; the tests only need its config checker.
if fail2ban-client ping >/dev/null 2>&1; then
  fail2ban-client stop >/dev/null 2>&1 || true
fi

# PostgreSQL: start the local cluster when it is not answering.
pg_version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pg_version" ]; then
  echo "setup: no PostgreSQL cluster under /etc/postgresql" >&2
  exit 1
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "setup: starting PostgreSQL $pg_version"
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start || true
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 1
done
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "setup: PostgreSQL does not answer on 127.0.0.1:5432" >&2
  exit 1
fi

# Docker engine: start dockerd in the background when it is not answering.
if ! docker info >/dev/null 2>&1; then
  echo "setup: starting dockerd"
  mkdir -p /var/log
  nohup dockerd >/var/log/linux-builder-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
fi
if ! docker info >/dev/null 2>&1; then
  echo "setup: the Docker engine does not answer (see /var/log/linux-builder-dockerd.log)" >&2
  exit 1
fi
# The engine's default bridge: dockerd makes docker0 only when it starts,
# and containers on the default network fail ("could not find bridge
# docker0") once the link is gone (seen here on 2026-12-01 with the engine
# running). Put it back as the engine describes it rather than restarting
# an engine that others may be using.
bridge_name=$(docker network inspect bridge --format '{{index .Options "com.docker.network.bridge.name"}}' 2>/dev/null || true)
if [ -n "$bridge_name" ] && ! ip link show "$bridge_name" >/dev/null 2>&1; then
  subnet=$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Subnet}}{{end}}')
  gateway=$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}')
  if [ -z "$gateway" ]; then
    gateway=$(python3 -c 'import ipaddress,sys; print(next(ipaddress.ip_network(sys.argv[1]).hosts()))' "$subnet")
  fi
  echo "setup: the engine's bridge $bridge_name is missing: recreating it as $gateway/${subnet#*/}"
  ip link add "$bridge_name" type bridge
  ip addr add "$gateway/${subnet#*/}" dev "$bridge_name"
  ip link set "$bridge_name" up
fi

# The offline base image the examples build FROM (no registry here).
if ! docker image inspect debian:bookworm >/dev/null 2>&1; then
  echo "setup: importing debian:bookworm from Debian's packages"
  go run ./cmd/bot base import debian:bookworm
fi
