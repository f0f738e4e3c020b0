#!/usr/bin/env bash
# Installs what rlm-view's browser tests need: Debian's headless-capable
# Chromium. CI calls this before `cargo test`; the tests call it themselves
# when no Chromium is found. Safe to run again.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "rlm-view browser tests: chromium is missing and installing it needs root (apt-get install chromium)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
command -v chromium
