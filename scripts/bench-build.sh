#!/usr/bin/env bash
# Issue 15's build benchmarks: runs the rows of its Targets table on this
# machine and prints the table as markdown on stdout (progress on stderr).
#
#   1  cold build to a bootable ISO (the bot's images and the build cache
#      removed), validation start to ISO done, as a ratio to live-build (7)
#   2  first build of a new spec whose system image exists (examples/
#      minimal-debian.yaml with one other package), to the ISO
#   3  postInstall-only edit (row 2's spec plus one script), to the ISO
#   4  boot proof BIOS + UEFI, wall time of BOOT_TESTING
#   5  push → check run p99 (scripts/bench-feedback.sh; a throw-away database unless TEST_DATABASE_URL is set)
#   6  unchanged spec (the last spec built, again)
#   7  Debian's live-build: a minimal bookworm live ISO, same packages
#
# Usage: bash scripts/bench-build.sh [--rows 1,2,3,4,5,6,7] [--skip-live-build] [--keep]
#   --skip-live-build   do not run live-build; the ratio uses LIVE_BUILD_SECONDS (if set)
#   --keep              keep the work directory and the bench's images (debugging)
# Environment: LIVE_BUILD_SECONDS, BENCH_IMAGE_REPO (linux-builder-bench),
#   BENCH_LOG_DIR (default: a new directory from mktemp -d under /var/tmp, printed;
#   a given one must be a directory owned by root, writable by root alone, not a
#   symlink), BENCH_BUILD_TIMEOUT (1800 s per build), BENCH_LB_TIMEOUT (2400 s),
#   BENCH_FEEDBACK_TIMEOUT (900 s).
#
# NEVER RUN THIS ON A PRODUCTION WORKER: row 1 removes the bot's images and
# prunes the engine's whole builder cache. Row 1 refuses to run while the
# engine has containers of the bot's runs (label io.linux-builder.run-id) or a
# bot serve/worker process is running.
#
# Needs root: scripts/setup.sh (packages, services), row 1 removes images from
# the shared engine, row 7 runs live-build (debootstrap, chroot, mounts).
# What it removes in row 1: the bot's run images (<BENCH_IMAGE_REPO>:* and the
# bot's default repository linux-builder:*), the shared system images
# linux-builder-system:* and the builder cache — never debian:bookworm or any
# other image. Builds use a throw-away SQLite store and DATA_DIR; logs stay in
# the log directory (printed; a given BENCH_LOG_DIR is overwritten). Bounded: every build, the feedback
# benchmark and live-build run under a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS="1,2,3,4,5,6,7"
SKIP_LB=false
KEEP=false
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) ROWS="${2:?--rows needs a list such as 1,2,3}"; shift 2 ;;
    --rows=*) ROWS="${1#--rows=}"; shift ;;
    --skip-live-build) SKIP_LB=true; shift ;;
    --keep) KEEP=true; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-build: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if ! [[ "$ROWS" =~ ^[1-7](,[1-7])*$ ]]; then
  echo "bench-build: --rows takes numbers 1-7 separated by commas, not $ROWS" >&2
  exit 2
fi
if [ -n "${LIVE_BUILD_SECONDS:-}" ] && ! [[ "$LIVE_BUILD_SECONDS" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
  echo "bench-build: LIVE_BUILD_SECONDS must be a number of seconds" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "bench-build: run as root (setup, removing the bot's images, live-build)" >&2
  exit 1
fi

IMAGE_REPO="${BENCH_IMAGE_REPO:-linux-builder-bench}"
LOG_DIR="${BENCH_LOG_DIR:-}"
BUILD_TIMEOUT="${BENCH_BUILD_TIMEOUT:-1800}"
LB_TIMEOUT="${BENCH_LB_TIMEOUT:-2400}"
FEEDBACK_TIMEOUT="${BENCH_FEEDBACK_TIMEOUT:-900}"
MINIMAL=examples/minimal-debian.yaml

want() { [[ ",$ROWS," == *",$1,"* ]]; }
say() { echo "bench-build: $*" >&2; }

# One bench at a time: the rows share the engine's images. The lock lives
# in /run, which only root can write: in /var/tmp another user could plant
# a symlink there that root's redirection would follow and truncate.
LOCK=/run/linux-builder-bench.lock
exec 9>"$LOCK"
if ! flock -n 9; then
  say "another bench-build is running (lock $LOCK)"
  exit 1
fi

# safe_log_dir DIR: DIR is a real directory (not a symlink) owned by root
# and writable by nobody else, so no other user can redirect root's logs.
safe_log_dir() {
  local dir="$1" owner mode
  if [ -L "$dir" ] || ! [ -d "$dir" ]; then
    say "BENCH_LOG_DIR $dir is a symlink or not a directory; refusing"
    return 1
  fi
  read -r owner mode < <(stat -c '%u %a' "$dir")
  if [ "$owner" -ne 0 ] || (( (8#$mode & 8#022) != 0 )); then
    say "BENCH_LOG_DIR $dir must be owned by root and writable by root alone (owner uid $owner, mode $mode); refusing"
    return 1
  fi
}
if [ -z "$LOG_DIR" ]; then
  LOG_DIR=$(mktemp -d /var/tmp/linux-builder-bench.XXXXXX)
  chmod 755 "$LOG_DIR"
elif ! [ -e "$LOG_DIR" ] && ! [ -L "$LOG_DIR" ]; then
  # Without -p: fails if someone creates it meanwhile.
  mkdir -m 755 "$LOG_DIR"
fi
safe_log_dir "$LOG_DIR" || exit 1
say "logs in $LOG_DIR"

# bot_busy: lists the engine's containers of the bot's runs and the bot's
# serve/worker processes; true when there is any. Row 1 must not prune the
# builder cache under a working bot.
bot_busy() {
  local containers procs
  containers=$(docker ps --filter label=io.linux-builder.run-id --format '{{.ID}} {{.Names}} run {{.Label "io.linux-builder.run-id"}}')
  procs=$(ps -eo pid=,args= | awk -v me=$$ '$1 != me {
    n = split($2, p, "/"); cmd = p[n]
    if ((cmd == "bot" || cmd == "linux-builder") && ($3 == "serve" || $3 == "worker")) print }')
  [ -z "$containers$procs" ] && return 1
  [ -n "$containers" ] && say "containers of the bot's runs are running:" && echo "$containers" >&2
  [ -n "$procs" ] && say "bot processes are running:" && echo "$procs" >&2
  return 0
}

# shellcheck source=scripts/setup.sh
source scripts/setup.sh
export PATH="/usr/local/go/bin:$PATH"

if want 1 && bot_busy; then
  say "row 1 removes the bot's images and prunes the builder cache: refusing while the bot works (this must not run on a production worker)"
  exit 1
fi
WORK=$(mktemp -d /var/tmp/bench-build.XXXXXX)
LB_DIR=""

# unmount_under DIR: lazily unmount whatever is mounted at or below DIR,
# deepest first (live-build's chroot has /proc, /sys, /dev/pts mounted).
unmount_under() {
  local dir mounts
  dir=$(realpath -m "$1")
  mounts=$(awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts | sort -r)
  [ -z "$mounts" ] && return 0
  while IFS= read -r m; do
    umount -l "$m" || say "could not unmount $m"
  done <<<"$mounts"
}

# remove_tree DIR: remove DIR once nothing is mounted under it.
remove_tree() {
  local dir="$1"
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  unmount_under "$dir"
  if awk -v d="$(realpath -m "$dir")" 'index($2, d "/") == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    say "left $dir in place: something is still mounted under it"
    return 1
  fi
  rm -rf --one-file-system "$dir"
}

# remove_repo_images REPO: remove the tagged images of REPO and the stopped
# containers made from them; images a running container uses are kept.
remove_repo_images() {
  local repo="$1" ref id
  while IFS= read -r ref; do
    [ -n "$ref" ] || continue
    id=$(docker image inspect -f '{{.Id}}' "$ref" 2>/dev/null) || continue
    docker ps -aq --filter "ancestor=$id" --filter status=exited --filter status=created |
      xargs -r docker rm >/dev/null 2>&1 || true
    docker rmi "$ref" >/dev/null 2>&1 || say "kept $ref (in use)"
  done < <(docker images --format '{{.Repository}}:{{.Tag}}' "$repo" | grep -v ':<none>$' || true)
}

cleanup() {
  local rc=$?
  set +e
  [ -n "$LB_DIR" ] && remove_tree "$LB_DIR"
  if [ "$KEEP" = true ]; then
    say "kept $WORK and the $IMAGE_REPO images"
  else
    remove_tree "$WORK"
    remove_repo_images "$IMAGE_REPO"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
say "building the bot (logs in $LOG_DIR)"
go build -o "$WORK/bot" ./cmd/bot
DATA="$WORK/data"
# The bench's own store and artifacts: SQLite in DATA, no registry pushes.
unset DATABASE_URL DOCKER_IMAGE_REPO DOCKER_REGISTRY DOCKER_USERNAME DOCKER_PASSWORD
export LOG_FORMAT=json

# The specs: row 2's differs from minimal-debian in one package (less → nano)
# and its name; row 3's is row 2's plus one postInstall script.
NEW_SPEC="$WORK/new-spec.yaml"
POST_SPEC="$WORK/post-spec.yaml"
sed -e 's/^name: minimal-debian$/name: bench-new-spec/' -e 's/^  - less$/  - nano/' "$MINIMAL" >"$NEW_SPEC"
if cmp -s "$MINIMAL" "$NEW_SPEC" || grep -q '^  - less$' "$NEW_SPEC"; then
  say "$MINIMAL changed: cannot derive row 2's spec (expects a '  - less' package line)"
  exit 1
fi
cp "$NEW_SPEC" "$POST_SPEC"
printf 'postInstall:\n  scripts:\n    - echo "built by bench-build" > /etc/motd\n' >>"$POST_SPEC"

RUN_ID=""
RUN_JSON=""
# bot_build NAME SPEC [FLAGS...]: one `bot build` under the timeout, output in
# LOG_DIR/NAME.log; sets RUN_ID and RUN_JSON (bot runs show --json). Fails
# unless the run succeeded.
bot_build() {
  local name="$1" spec="$2" log rc=0
  shift 2
  log="$LOG_DIR/$name.log"
  say "$name: bot build $spec $*"
  timeout --kill-after=60 "$BUILD_TIMEOUT" "$WORK/bot" build "$spec" --data-dir "$DATA" \
    --image-repo "$IMAGE_REPO" "$@" >"$log" 2>&1 || rc=$?
  RUN_ID=$(sed -n 's/^run \([0-9][0-9]*\): building .*/\1/p' "$log" | head -n 1)
  if [ "$rc" -ne 0 ] || [ -z "$RUN_ID" ]; then
    [ "$rc" -eq 124 ] && say "$name: timed out after ${BUILD_TIMEOUT}s"
    say "$name: bot build failed (exit $rc); the end of $log:"
    grep -v '^  \[' "$log" | tail -n 25 >&2 || true
    return 1
  fi
  RUN_JSON=$("$WORK/bot" runs show "$RUN_ID" --json --data-dir "$DATA" 2>/dev/null)
}

# to_iso_ms: validation start to ISO done — every step but the boot proof
# and the upload. boot_ms: BOOT_TESTING. run_ms: the run's created → updated.
to_iso_ms() { jq '[.steps[] | select(.step != "BOOT_TESTING" and .step != "UPLOADING") | .duration_ms] | add // 0' <<<"$RUN_JSON"; }
boot_ms() { jq '[.steps[] | select(.step == "BOOT_TESTING") | .duration_ms] | add // 0' <<<"$RUN_JSON"; }
has_iso() { jq -e 'any(.artifacts[]?; .type == "iso")' <<<"$RUN_JSON" >/dev/null; }
run_ms() {
  local c u
  c=$(jq -r .created_at <<<"$RUN_JSON")
  u=$(jq -r .updated_at <<<"$RUN_JSON")
  echo $(($(date -d "$u" +%s%3N) - $(date -d "$c" +%s%3N)))
}
# cache_counts NAME: "CACHED RUN_CACHED STEPS" over the Docker builds of a
# row's log (classic builder: "Step i/n : INSTR" then "---> Using cache").
cache_counts() {
  awk '/\] Step [0-9]+\/[0-9]+ : / { steps++; instr = $0; sub(/.*\] Step [0-9]+\/[0-9]+ : /, "", instr); split(instr, w, " ") }
    /---> Using cache/ { cached++; if (w[1] == "RUN") run++ }
    END { printf "%d %d %d\n", cached, run, steps }' "$LOG_DIR/$1.log"
}
# system_note NAME: whether the row's build reused the shared system image
# (the spec's Dockerfile starts FROM it, so its reuse shows in the run's
# log, not as a cached RUN step).
system_note() {
  local log="$LOG_DIR/$1.log"
  if grep -q 'building the shared system image' "$log"; then
    echo "; the system image was NOT reused (built again)"
  elif grep -q 'reusing the shared system image' "$log"; then
    echo "; the system image reused"
  else
    echo "; the log says nothing of the system image"
  fi
}
cache_note() {
  local c r n
  read -r c r n < <(cache_counts "$1")
  echo "$c of $n Docker steps of the spec's image from cache ($r RUN)"
  system_note "$1"
}
secs() { awk -v ms="$1" -v p="${2:-1}" 'BEGIN { printf "%.*f", p, ms / 1000 }'; }
# verdict VALUE LIMIT: pass when VALUE <= LIMIT.
verdict() { awk -v v="$1" -v l="$2" 'BEGIN { print (v <= l ? "pass" : "miss") }'; }

declare -A FIG RES NOTE
for r in 1 2 3 4 5 6 7; do FIG[$r]="—"; RES[$r]="not run"; NOTE[$r]=""; done
BUILT_MINIMAL=false BUILT_NEW=false LAST_SPEC=""
ROW1_MS="" ROW1_BOOT_MS=""

# ensure_minimal / ensure_new NAME: build the spec untimed unless this bench
# already did (the layers a later row starts from).
ensure_minimal() {
  [ "$BUILT_MINIMAL" = true ] && return 0
  bot_build "$1" "$MINIMAL" --no-boot-test || return 1
  BUILT_MINIMAL=true LAST_SPEC="$MINIMAL"
}
ensure_new() {
  [ "$BUILT_NEW" = true ] && return 0
  ensure_minimal "$1-system" && bot_build "$1" "$NEW_SPEC" --no-boot-test || return 1
  BUILT_NEW=true LAST_SPEC="$NEW_SPEC"
}

# Row 1: cold build, boot proof included (row 4 takes it; row 1 excludes it).
if want 1; then
  if bot_busy; then # again: the bot may have started since
    say "row 1: refusing while the bot works (this must not run on a production worker)"
    exit 1
  fi
  say "row 1: removing the bot's images ($IMAGE_REPO, linux-builder, linux-builder-system) and the builder cache"
  for repo in "$IMAGE_REPO" linux-builder linux-builder-system; do remove_repo_images "$repo"; done
  docker builder prune -f >/dev/null 2>&1 || say "docker builder prune failed"
  docker image inspect debian:bookworm >/dev/null # the base image stays
  # Row 4's boot proof is BIOS + UEFI, as issue 15 set it: the default
  # set's Secure Boot boot is left out of the figure.
  if bot_build row1-cold "$MINIMAL" --firmware bios,uefi && has_iso; then
    BUILT_MINIMAL=true LAST_SPEC="$MINIMAL"
    ROW1_MS=$(to_iso_ms) ROW1_BOOT_MS=$(boot_ms)
    FIG[1]="$(secs "$ROW1_MS") s"
    NOTE[1]="run steps: $(jq -r '[.steps[] | select(.step != "BOOT_TESTING") | "\(.step) \(.duration_ms / 100 | round / 10) s"] | join(", ")' <<<"$RUN_JSON")"
    read -r _ n _ < <(cache_counts row1-cold)
    [ "$n" -gt 0 ] && NOTE[1]+="; NOT cold: $(cache_note row1-cold | head -n 1) (another image shares the layers)"
  else
    RES[1]="failed"
    NOTE[1]="see $LOG_DIR/row1-cold.log"
  fi
fi

# Row 2: a new spec on an existing system image.
if want 2; then
  if ensure_minimal row2-prepare && bot_build row2-new-spec "$NEW_SPEC" --no-boot-test && has_iso; then
    BUILT_NEW=true LAST_SPEC="$NEW_SPEC"
    ms=$(to_iso_ms)
    FIG[2]="$(secs "$ms") s" RES[2]=$(verdict "$ms" 25000)
    NOTE[2]="$(cache_note row2-new-spec | tr -d '\n')"
  else
    RES[2]="failed" NOTE[2]="see $LOG_DIR/row2-*.log"
  fi
fi

# Row 3: the same spec with one postInstall script added.
if want 3; then
  if ensure_new row3-prepare && bot_build row3-postinstall "$POST_SPEC" --no-boot-test && has_iso; then
    LAST_SPEC="$POST_SPEC"
    ms=$(to_iso_ms)
    FIG[3]="$(secs "$ms") s" RES[3]=$(verdict "$ms" 15000)
    NOTE[3]="$(cache_note row3-postinstall | tr -d '\n')"
  else
    RES[3]="failed" NOTE[3]="see $LOG_DIR/row3-*.log"
  fi
fi

# Row 4: the boot proof; row 1's when it ran, else a build of its own (a
# fresh store, so no earlier run's artifacts stand in for it).
if want 4; then
  if [ -n "$ROW1_BOOT_MS" ]; then
    ms="$ROW1_BOOT_MS" NOTE[4]="row 1's run"
  elif DATA="$WORK/data-row4" bot_build row4-boot "$MINIMAL" --firmware bios,uefi; then
    ms=$(boot_ms) NOTE[4]="its own run"
  else
    ms=""
  fi
  if [ -n "$ms" ] && [ "$ms" -gt 0 ]; then
    FIG[4]="$(secs "$ms") s" RES[4]=$(verdict "$ms" 60000)
  else
    RES[4]="failed" NOTE[4]="see $LOG_DIR/row1-cold.log or row4-boot.log"
  fi
fi

# Row 6: the last spec built, again (content-addressed reuse).
if want 6; then
  if [ -z "$LAST_SPEC" ]; then
    ensure_minimal row6-prepare || true
  fi
  start=$(date +%s%3N)
  if [ -n "$LAST_SPEC" ] && bot_build row6-unchanged "$LAST_SPEC" --no-boot-test; then
    wall=$(($(date +%s%3N) - start))
    ms=$(run_ms)
    FIG[6]="$(secs "$ms" 3) s" RES[6]=$(verdict "$ms" 1000)
    NOTE[6]="the run, created → done; $(secs "$wall" 2) s for the whole bot build process"
    if jq -e 'any(.steps[]; .step == "BUILDING")' <<<"$RUN_JSON" >/dev/null; then
      RES[6]="miss" NOTE[6]+="; rebuilt instead of reusing the previous run"
    fi
  else
    RES[6]="failed" NOTE[6]="see $LOG_DIR/row6-*.log"
  fi
fi

# Row 5: push → check run, measured by the feedback benchmark when present.
# It is expected to print its p99 as "p99_ms=N", "p99: N ms" or Go's "N p99-ms".
if want 5; then
  if [ -f scripts/bench-feedback.sh ]; then
    say "row 5: scripts/bench-feedback.sh"
    log="$LOG_DIR/row5-feedback.log" rc=0
    # A throw-away database unless one is given (scripts/setup.sh leaves
    # PostgreSQL trusting loopback, as scripts/test.sh relies on).
    fdb=""
    if [ -z "${TEST_DATABASE_URL:-}" ]; then
      fdb="lb_bench_feedback_$$"
      psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $fdb" >/dev/null
    fi
    TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/$fdb?sslmode=disable}" \
      timeout --kill-after=30 "$FEEDBACK_TIMEOUT" bash scripts/bench-feedback.sh >"$log" 2>&1 || rc=$?
    if [ -n "$fdb" ]; then
      psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $fdb WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    p99=$(grep -oiE '[0-9]+(\.[0-9]+)? *p99-ms|p99(_ms)?[^0-9]{0,12}[0-9]+(\.[0-9]+)?' "$log" | tail -n 1 | grep -oE '[0-9]+(\.[0-9]+)?' | tail -n 1 || true)
    if [ "$rc" -eq 0 ] && [ -n "$p99" ]; then
      FIG[5]="$p99 ms" RES[5]=$(verdict "$p99" 250) NOTE[5]="scripts/bench-feedback.sh"
    else
      RES[5]="failed" NOTE[5]="exit $rc; see $log"
      tail -n 15 "$log" >&2 || true
    fi
  else
    FIG[5]="not measured" RES[5]="—" NOTE[5]="scripts/bench-feedback.sh does not exist yet"
  fi
fi

# Row 7: Debian's live-build, a minimal bookworm live ISO with the packages
# of the bot's minimal-debian build, matched to what the bot does: minbase
# bootstrap, no recommends, no firmware, updates and security from
# deb.debian.org, squashfs zstd level 3, BIOS (syslinux) + UEFI (grub-efi).
LB_SECONDS=""
if want 7 && [ "$SKIP_LB" = false ]; then
  if ! command -v lb >/dev/null; then
    say "row 7: installing live-build"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends live-build >/dev/null
  fi
  "$WORK/bot" render "$MINIMAL" -o "$WORK/render" >/dev/null 2>&1
  # Every quoted name in the rendered Dockerfiles' apt-get install lists.
  mapfile -t pkgs < <(find "$WORK/render" -name 'Dockerfile*' -type f -exec awk '
      /apt-get install/ { inst = 1 }
      inst { s = $0; while (match(s, /\047[^\047]+\047/)) { print substr(s, RSTART + 1, RLENGTH - 2); s = substr(s, RSTART + RLENGTH) } }
      inst && /&&/ && !/apt-get install/ { inst = 0 }' {} + | sort -u)
  if [ "${#pkgs[@]}" -eq 0 ]; then
    say "row 7: no packages found in the rendered context"
    RES[7]="failed" NOTE[7]="no package list"
  else
    printf '%s\n' "${pkgs[@]}" | grep -qx linux-image-amd64 ||
      say "row 7: the render lists no kernel (system layer elsewhere?); live-build adds its own"
    LB_DIR=$(mktemp -d /var/tmp/bench-live-build.XXXXXX)
    log="$LOG_DIR/row7-live-build.log"
    mirror=http://deb.debian.org/debian/
    security=http://deb.debian.org/debian-security/
    say "row 7: lb config + lb build in $LB_DIR (${#pkgs[@]} packages: ${pkgs[*]})"
    start=$(date +%s%3N) rc=0
    (
      cd "$LB_DIR"
      lb config --mode debian --distribution bookworm --architecture amd64 --archive-areas main \
        --binary-images iso-hybrid --bootloaders "syslinux,grub-efi" \
        --mirror-bootstrap "$mirror" --mirror-chroot "$mirror" --mirror-binary "$mirror" \
        --mirror-chroot-security "$security" --mirror-binary-security "$security" \
        --security true --updates true --debootstrap-options "--variant=minbase" \
        --apt-recommends false --apt-source-archives false --firmware-chroot false --firmware-binary false \
        --debian-installer none --memtest none --initsystem systemd --linux-flavours amd64 \
        --chroot-squashfs-compression-type zstd --chroot-squashfs-compression-level 3 --zsync false
      printf '%s\n' "${pkgs[@]}" >config/package-lists/bench.list.chroot
      # timeout signals its whole process group: lb's debootstrap, apt, mksquashfs.
      timeout --kill-after=60 "$LB_TIMEOUT" lb build
    ) >"$log" 2>&1 || rc=$?
    [ "$rc" -eq 124 ] && say "row 7: live-build timed out after ${LB_TIMEOUT}s"
    ms=$(($(date +%s%3N) - start))
    iso=$(find "$LB_DIR" -maxdepth 1 -name '*.iso' -type f | head -n 1)
    if [ "$rc" -eq 0 ] && [ -n "$iso" ]; then
      LB_SECONDS=$(secs "$ms")
      FIG[7]="$LB_SECONDS s" RES[7]="measured"
      NOTE[7]="$(basename "$iso") $(du -m "$iso" | cut -f1) MiB; log $log"
    else
      RES[7]="failed" NOTE[7]="exit $rc; see $log"
      say "row 7: live-build failed (exit $rc); the end of $log:"
      tail -n 30 "$log" >&2 || true
    fi
    remove_tree "$LB_DIR" && LB_DIR=""
  fi
elif want 7 || [ "$SKIP_LB" = true ]; then
  if [ -n "${LIVE_BUILD_SECONDS:-}" ]; then
    LB_SECONDS="$LIVE_BUILD_SECONDS" FIG[7]="$LIVE_BUILD_SECONDS s" RES[7]="given" NOTE[7]="LIVE_BUILD_SECONDS"
  else
    NOTE[7]="skipped; set LIVE_BUILD_SECONDS for the ratio"
  fi
fi

# Row 1's ratio needs live-build's figure.
if [ -n "$ROW1_MS" ]; then
  if [ -n "$LB_SECONDS" ]; then
    ratio=$(awk -v a="$ROW1_MS" -v b="$LB_SECONDS" 'BEGIN { printf "%.2f", a / 1000 / b }')
    FIG[1]+=" = ${ratio}× live-build"
    RES[1]=$(verdict "$ratio" 0.33)
  else
    RES[1]="no ratio"
  fi
fi

TARGET=(
  [1]="≤ 0.33× live-build"
  [2]="≤ 25 s"
  [3]="≤ 15 s"
  [4]="≤ 60 s"
  [5]="p99 ≤ 250 ms"
  [6]="≤ 1 s"
  [7]="reference"
)
NAME=(
  [1]="cold build to a bootable ISO (empty cache), excluding the boot proof"
  [2]="first build of a new spec whose system image exists"
  [3]="postInstall-only edit"
  [4]="boot proof, BIOS + UEFI (wall)"
  [5]="push → check run (100 pushes, fake GitHub)"
  [6]="unchanged spec"
  [7]="Debian live-build, minimal bookworm live ISO, same packages"
)

echo "### Build benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), load average $LOAD_START at the start, $(cut -d' ' -f1 /proc/loadavg) at the end)"
echo
echo "| # | figure | measured | target | result | note |"
echo "|---|---|---|---|---|---|"
for r in 1 2 3 4 5 6 7; do
  want "$r" || continue
  printf '| %s | %s | %s | %s | %s | %s |\n' "$r" "${NAME[$r]}" "${FIG[$r]}" "${TARGET[$r]}" "${RES[$r]}" "${NOTE[$r]//|/\\|}"
done
