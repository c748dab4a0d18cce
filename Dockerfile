# Dawn: one image with both binaries, dawn-node and dawn-exporter (docs/deploy.md).
#
#   deploy/docker/build-image.sh                 (or: docker build -t dawn:latest .)
#   docker run --rm dawn:latest dawn-node --help
#
# Base images are build arguments; their defaults are the usual public images. On a machine
# that cannot pull, deploy/docker/local-base-images.sh makes them locally under these names.
# Without access to crates.io inside the build, the crates come from vendor/ in the context:
# build-image.sh checks and vendors when needed (by hand: `cargo vendor --locked vendor`;
# vendor/ is not committed).
#
# Written for the classic builder as well as BuildKit (no RUN --mount): dependencies are
# compiled in their own layer, which is reused as long as Cargo.toml/Cargo.lock (and
# vendor/) do not change.
ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# --- planner: the workspace's skeleton (manifests, lock file, empty sources) -------------
FROM ${RUST_IMAGE} AS planner
LABEL io.dawn.stage=planner
WORKDIR /src
COPY . .
# Every package of the workspace needs its manifest and a target for cargo to load the
# workspace, even those that are not built here (cluster, tests, benchmarks). The
# skeleton's content depends only on the manifests, so the next stage's COPY of it, and the
# dependency build after it, stay cached while only sources change. (The classic builder's
# COPY cache compares file contents, not modification times.)
RUN set -eu; \
    mkdir -p /skeleton/deploy/docker vendor; \
    cp Cargo.toml Cargo.lock /skeleton/; \
    cp deploy/docker/cargo-vendored.toml /skeleton/deploy/docker/; \
    find . -name Cargo.toml -not -path ./Cargo.toml -not -path './vendor/*' \
        -not -path './target/*' -not -path '*/fuzz/*' | sort > /skeleton/.members; \
    while read -r manifest; do \
        dir="/skeleton/$(dirname "$manifest")"; \
        mkdir -p "$dir/src"; \
        cp "$manifest" "$dir/Cargo.toml"; \
        printf '//! Skeleton.\n' > "$dir/src/lib.rs"; \
        printf '//! Skeleton.\nfn main() {}\n' > "$dir/src/main.rs"; \
    done < /skeleton/.members

# --- build: dependencies first, then Dawn -------------------------------------------------
FROM ${RUST_IMAGE} AS build
LABEL io.dawn.stage=build
ENV CARGO_TERM_COLOR=never
WORKDIR /build
COPY --from=planner /skeleton/ /build/
# vendor/ is empty unless the context has one (see the top of this file); with crates in it,
# cargo takes every dependency from there (deploy/docker/cargo-vendored.toml) and never
# touches the network (--frozen).
COPY --from=planner /src/vendor/ /build/vendor/
RUN set -eu; \
    if [ -n "$(ls -A vendor)" ]; then \
        echo "dependencies from vendor/, offline"; \
        cp deploy/docker/cargo-vendored.toml "$CARGO_HOME/config.toml"; \
        frozen=--frozen; \
    else \
        frozen=--locked; \
    fi; \
    cargo build --release $frozen -p dawn-node -p dawn-exporter; \
    while read -r manifest; do rm -rf "$(dirname "$manifest")/src"; done < .members
COPY . .
# COPY keeps the files' modification times, which can be older than the skeleton's build:
# touch every source so cargo rebuilds Dawn's own crates from them.
RUN set -eu; \
    if [ -f "$CARGO_HOME/config.toml" ]; then frozen=--frozen; else frozen=--locked; fi; \
    while read -r manifest; do find "$(dirname "$manifest")" -name '*.rs' -exec touch {} +; done < .members; \
    cargo build --release $frozen -p dawn-node -p dawn-exporter; \
    mkdir -p /out; \
    cp target/release/dawn-node target/release/dawn-exporter /out/; \
    /out/dawn-node --version; \
    /out/dawn-exporter --version

# --- runtime -------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="dawn" \
      org.opencontainers.image.description="Dawn: the dawn-node P2P node and its dawn-exporter sidecar (Prometheus metrics, health endpoints)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://example.invalid/dawn" \
      org.opencontainers.image.documentation="https://example.invalid/dawn/blob/main/docs/deploy.md"
# An unprivileged user with a fixed id (10001), its data root and the socket's directory.
# A named volume mounted on /data or /run/dawn starts with this owner and mode.
RUN set -eu; \
    groupadd --gid 10001 dawn; \
    useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin --no-log-init dawn; \
    install -d -o 10001 -g 10001 -m 0700 /data; \
    install -d -o 10001 -g 10001 -m 0750 /run/dawn
COPY --from=build /out/dawn-node /out/dawn-exporter /usr/local/bin/
ENV PROJECT_DAWN_DATA_ROOT=/data \
    PROJECT_DAWN_TELEMETRY_SOCKET=/run/dawn/telemetry.sock
USER 10001:10001
WORKDIR /data
# 8000/udp: the node's QUIC port (PROJECT_DAWN_P2P_PORT). 9090/tcp: the exporter's HTTP
# port (/metrics, /health, /health/ready, /health/live; PROJECT_DAWN_METRICS_PORT).
EXPOSE 8000/udp 9090/tcp
# The exporter's readiness (/health/ready on 127.0.0.1:PORT): the node behind it connected
# and ready. This describes an exporter container, or a node and its exporter sharing a
# network namespace (a pod); a node container on its own network overrides it (see
# docker-compose.yml).
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s --retries=3 \
    CMD ["dawn-exporter", "healthcheck"]
CMD ["dawn-node", "run"]
