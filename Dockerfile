# syntax=docker/dockerfile:1
#
# The `rlm-sandbox serve` service as a container image (see docs/deploy.md).
#
#   docker build -t rlm-sandbox .
#   docker run --rm -p 8080:8080 -e OPENAI_API_KEY rlm-sandbox --listen 0.0.0.0:8080 --model gpt-4o-mini
#
# Arguments after the image name replace CMD and go to `rlm-sandbox serve`.

# ---------------------------------------------------------------- build ----
FROM rust:1.95-bookworm AS build

# The sandbox guest is built by crates/rlm-sandbox/build.rs: it makes a
# Python venv and pip-installs the pinned componentize-py from PyPI, so the
# build needs python3 with venv (and network access to PyPI). Debian's
# versions are not pinned: bookworm's point releases replace them.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# Cache mounts keep crates.io downloads, the target directory and the guest
# build (target/guest-build) between builds; the binary is copied out of the
# cached target directory in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p rlm-cli \
    && install -D -m 0755 target/release/rlm-sandbox /out/rlm-sandbox

# -------------------------------------------------------------- runtime ----
FROM debian:bookworm-slim

# ca-certificates for TLS to a model API or a database that names a CA file;
# the binary itself links only glibc and libgcc_s (SQLite is built in).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# A fixed non-root uid/gid, so a Kubernetes securityContext can name it.
RUN groupadd --system --gid 10001 rlm \
    && useradd --system --uid 10001 --gid rlm --home-dir /home/rlm --create-home \
        --shell /usr/sbin/nologin rlm \
    && install -d -o rlm -g rlm /var/cache/rlm /var/lib/rlm

# XDG_CACHE_HOME: the compiled sandbox guest (rlm-sandbox/guest-*.cwasm).
# XDG_DATA_HOME: the default SQLite store (rlm-sandbox/serve.db), used only
# when no --database-url / RLM_DATABASE_URL is given; mount a volume there
# to keep it. NO_COLOR: plain log lines (logs go to stderr).
ENV HOME=/home/rlm \
    XDG_CACHE_HOME=/var/cache/rlm \
    XDG_DATA_HOME=/var/lib/rlm \
    NO_COLOR=1

COPY --from=build /out/rlm-sandbox /usr/local/bin/rlm-sandbox

USER 10001:10001

# Pre-warm: the first start compiles the sandbox guest (about ten seconds)
# and caches it under $XDG_CACHE_HOME/rlm-sandbox. Doing it here writes the
# cache into the image, so a container starts serving at once. The cache
# file is keyed by the CPU features of the machine that compiled it: on a
# node whose CPU differs from the build machine's, the service compiles
# again at start (and caches it in the container's writable layer).
RUN rlm-sandbox exec -c 'print(1)'

EXPOSE 8080

# No HEALTHCHECK: the image has no curl or wget. Use the orchestrator's
# HTTP probes instead: GET /healthz (liveness) and GET /readyz (readiness).
# SIGTERM (the default stop signal) shuts the service down gracefully.
ENTRYPOINT ["rlm-sandbox", "serve"]
CMD ["--listen", "0.0.0.0:8080"]
