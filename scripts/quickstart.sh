#!/usr/bin/env bash
# First command of the README: install what is missing, build, and run the agent with the sample
# configuration (no Dataway; profiles under ./profiles/<service>/). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build -DPROFKIT_BUILD_TESTS=OFF
exec build/profkit run --config conf/profkit.toml
