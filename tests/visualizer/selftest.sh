#!/usr/bin/env bash
# Self-test of the visualizer harness: the good fixtures pass, the broken ones fail with the real
# visualizer's error, the list quirk shows the 2nd element. Exit 0 only if all of that holds.
#   tests/visualizer/selftest.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
exec node "$here/selftest.mjs"
