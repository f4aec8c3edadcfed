#!/usr/bin/env bash
# The whole test suite: installs dependencies, configures and builds with CMake
# (warnings are errors), then runs every unit, integration and end-to-end test.
#   tools/run-tests.sh            everything
#   tools/run-tests.sh -L unit    only one label (unit, integration, e2e)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${PG_BUILD_DIR:-$top/build}

bash "$top/tools/install-deps.sh"
cmake -S "$top" -B "$build" -G Ninja -DPG_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build"
cd "$build"
ctest --output-on-failure --timeout 900 "$@"
