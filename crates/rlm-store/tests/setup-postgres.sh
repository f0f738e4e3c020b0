#!/usr/bin/env bash
# Installs the PostgreSQL server binaries that rlm-store's tests start
# themselves (initdb, postgres). Does nothing when they are already there.
#
#   bash crates/rlm-store/tests/setup-postgres.sh
#
# The tests look under /usr/lib/postgresql/<version>/bin/ (Debian's layout)
# and run this script themselves when it is empty; if the binaries are still
# missing they fail with a pointer to it, unless RLM_SKIP_POSTGRES_TESTS=1.
set -euo pipefail

if compgen -G '/usr/lib/postgresql/*/bin/initdb' > /dev/null; then
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
# Only the server binaries are needed: the tests run their own cluster in a
# temporary directory, so the packaged cluster that Debian creates is unused.
"${sudo[@]}" apt-get install -y --no-install-recommends postgresql
