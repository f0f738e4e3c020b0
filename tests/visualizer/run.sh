#!/usr/bin/env bash
# Checks that trajectory logs load and render in the official rlms visualizer, headless.
#
#   tests/visualizer/run.sh LOG.jsonl...
#
# Installs the pinned npm packages (npm ci) if node_modules is missing or older than the lock file,
# bundles the visualizer's own source (build.mjs), then loads and renders each log (harness.mjs).
# stdout: one JSON line per log (what the visualizer computed and showed, and any errors);
# stderr: "OK <file> ..." or "FAIL <file>: <error>" per log, then "N passed, N failed".
# Exit status: 0 if every log passed, 1 if any failed, 2 on a usage or setup error.
#
# Environment: RLMS_VISUALIZER_DIR (default: ../shared/rlms-visualizer beside the repository),
# VISUALIZER_TIMEOUT_S (per log, default 60). Runs can go in parallel: each builds in its own folder.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"

if [ "$#" -eq 0 ]; then
    echo "usage: $0 LOG.jsonl..." >&2
    exit 2
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "visualizer harness: node and npm are needed on PATH (Node 20 or newer)" >&2
    exit 2
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
    echo "visualizer harness: Node 20 or newer is needed, this is $(node --version)" >&2
    exit 2
fi

# npm ci, once, under a lock (parallel runs wait for the first one's install).
install() {
    if [ ! -f "$here/node_modules/.package-lock.json" ] \
        || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
        echo "visualizer harness: npm ci in $here" >&2
        (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >&2
    fi
}
if command -v flock >/dev/null 2>&1; then
    exec 9>"$here/.npm-ci.lock"
    flock 9
    install
    flock -u 9
    exec 9>&-
else
    install
fi

mkdir -p "$here/.build"
build="$(mktemp -d "$here/.build/run.XXXXXX")"
trap 'rm -rf "$build"' EXIT
export VISUALIZER_BUILD="$build"
node "$here/build.mjs" >&2
node "$here/harness.mjs" "$@"
