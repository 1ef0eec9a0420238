# The bot's image: `bot` (worker, serve, CLI) and the lean receiver
# `linux-builder-webhook`, on Debian with the ISO and boot-test tools.
#
#   docker build -t linux-builder-bot .
#   docker run --rm linux-builder-bot --version
#
# Base images. Our machines reach no container registry, so both stages
# default to the `debian:bookworm` that `bot base import debian:bookworm`
# makes from Debian's packages (scripts/setup.sh imports it). With a
# registry, use the official images:
#
#   docker build --build-arg BUILD_IMAGE=golang:1.26-bookworm \
#                --build-arg RUNTIME_IMAGE=debian:bookworm-slim -t linux-builder-bot .
#
# The Go toolchain. A build image with Go in it (golang:*) is used as it
# is (the go command switches itself to go.mod's version when older). A
# build image without Go gets the toolchain go.mod names as the Go module
# proxy serves it (the module golang.org/toolchain, the zip GOTOOLCHAIN
# fetches), checked against GO_TOOLCHAIN_SHA256 (linux-amd64's; pass the
# zip's sha256 for another architecture, or use a golang image).
#
# The Dockerfile keeps to what the legacy builder understands (no cache
# mounts): the module downloads are a layer of their own, made before the
# sources are copied, so a change of code reuses them.

ARG BUILD_IMAGE=debian:bookworm
ARG RUNTIME_IMAGE=debian:bookworm

FROM ${BUILD_IMAGE} AS build
ARG GO_VERSION=1.26.8
ARG GO_TOOLCHAIN_SHA256=30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7
ARG GOPROXY=https://proxy.golang.org
# PEM of certificate authorities the build stage trusts besides Debian's,
# for a TLS-inspecting proxy between the build and the Go module proxy
# (scripts/image-check.sh passes the host's /usr/local/share/ca-certificates).
# Certificates are public: a build argument shows in the image's history,
# of the build stage only.
ARG EXTRA_CA_CERTS=
ENV PATH=/usr/local/go/bin:/root/go/bin:$PATH \
    GOPROXY=${GOPROXY} \
    GOTOOLCHAIN=auto \
    CGO_ENABLED=0 \
    GOFLAGS=-buildvcs=false
RUN set -eu; \
    export DEBIAN_FRONTEND=noninteractive; \
    pkgs=""; \
    command -v go >/dev/null 2>&1 || pkgs="ca-certificates curl unzip"; \
    if [ -n "$EXTRA_CA_CERTS" ]; then pkgs="$pkgs ca-certificates"; fi; \
    if [ -n "$pkgs" ]; then \
      apt-get update -qq; \
      apt-get install -y -qq --no-install-recommends $pkgs >/dev/null; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    if [ -n "$EXTRA_CA_CERTS" ]; then \
      printf '%s\n' "$EXTRA_CA_CERTS" >/usr/local/share/ca-certificates/build-extra.crt; \
      update-ca-certificates >/dev/null; \
    fi; \
    if command -v go >/dev/null 2>&1; then go version; exit 0; fi; \
    arch=$(dpkg --print-architecture); \
    mod="golang.org/toolchain@v0.0.1-go${GO_VERSION}.linux-${arch}"; \
    proxy=${GOPROXY%%,*}; \
    curl -fsSL --retry 3 -o /tmp/go.zip "${proxy}/golang.org/toolchain/@v/v0.0.1-go${GO_VERSION}.linux-${arch}.zip"; \
    echo "${GO_TOOLCHAIN_SHA256}  /tmp/go.zip" | sha256sum -c -; \
    unzip -q /tmp/go.zip -d /tmp/toolchain; \
    mv "/tmp/toolchain/${mod}" /usr/local/go; \
    rm -rf /tmp/go.zip /tmp/toolchain; \
    chmod 0755 /usr/local/go/bin/* /usr/local/go/pkg/tool/*/*; \
    go version

WORKDIR /src
COPY go.mod go.sum deploy/go-deps.txt ./
# The dependencies, downloaded and compiled (deploy/go-deps.txt lists the
# packages; a test keeps it current), so a change of our code compiles
# only our code.
RUN go mod download && go mod verify && \
    go build -trimpath $(grep -v '^#' go-deps.txt)

COPY . .
# Set where the build has no VCS information to stamp (the context
# holds no .git): scripts/image-check.sh passes both.
ARG COMMIT=
ARG BUILD_DATE=
RUN set -eu; \
    pkg=github.com/linux-builder/linux-builder/internal/buildinfo; \
    ldflags="-s -w -X ${pkg}.Commit=${COMMIT} -X ${pkg}.BuildDate=${BUILD_DATE}"; \
    go build -trimpath -ldflags "$ldflags" -o /out/bot ./cmd/bot; \
    go build -trimpath -ldflags "$ldflags" -o /out/linux-builder-webhook ./cmd/webhook; \
    go clean -cache

FROM ${RUNTIME_IMAGE} AS runtime
# What the worker runs besides the Docker Engine API (reached through the
# socket; no docker CLI): tar2sqfs (squashfs-tools-ng), grub-mkrescue
# with xorriso and mtools (BIOS and UEFI GRUB), QEMU and OVMF for the boot
# test, e2fsprogs, util-linux (mkswap) and qemu-utils (qemu-img) for disk
# images, iptables for the builds' network policy, CA certificates for
# GitHub, the artifact store and the registry. No loop devices or mounts:
# the ISO step streams the image's export.
RUN set -eu; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update -qq; \
    apt-get install -y -qq --no-install-recommends \
      ca-certificates tar squashfs-tools-ng xorriso mtools \
      grub-common grub-pc-bin grub-efi-amd64-bin \
      qemu-system-x86 ovmf iptables e2fsprogs util-linux qemu-utils >/dev/null; \
    rm -rf /var/lib/apt/lists/*; \
    useradd --uid 10001 --no-create-home --user-group --home-dir /var/lib/linux-builder --shell /usr/sbin/nologin linux-builder; \
    install -d -o linux-builder -g linux-builder -m 0750 /var/lib/linux-builder

COPY --from=build /out/bot /out/linux-builder-webhook /usr/local/bin/

# The default is the receiver's least: a non-root user. The worker needs
# root in its container for the Docker socket and iptables (compose.yaml:
# user 0, NET_ADMIN); see README, "Running on several machines".
USER linux-builder
WORKDIR /var/lib/linux-builder
ENV DATA_DIR=/var/lib/linux-builder \
    LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["bot"]
CMD ["--help"]
