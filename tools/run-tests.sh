#!/usr/bin/env bash
# The whole test suite: installs dependencies, configures and builds with CMake
# (warnings are errors), runs every unit, integration and end-to-end test, then
# builds again with AddressSanitizer + UndefinedBehaviorSanitizer and runs the
# unit and integration tests there too (the relay and its workers included).
#   tools/run-tests.sh              everything
#   tools/run-tests.sh -L unit      one label (unit, integration, e2e), no sanitizer pass
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${PG_BUILD_DIR:-$top/build}

bash "$top/tools/install-deps.sh"
# Code style is the checked-in .clang-format; a difference fails before building.
(cd "$top" && git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror)
cmake -S "$top" -B "$build" -G Ninja -DPG_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build"
(cd "$build" && ctest --output-on-failure --timeout 900 "$@")
[ $# -eq 0 ] || exit 0

san="$build-asan"
cmake -S "$top" -B "$san" -G Ninja -DPG_WERROR=ON -DPG_ASAN=ON -DPG_UBSAN=ON \
	-DCMAKE_BUILD_TYPE=Debug
cmake --build "$san"
reports="$san/sanitizer-reports"
rm -rf "$reports" && mkdir -p "$reports"
# Every process writes its report to a file, so a finding in the relay or a worker
# (which the tests start) fails the run even when the test itself passed.
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0"
export LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
(cd "$san" && ctest --output-on-failure --timeout 900 -L 'unit|integration')
if compgen -G "$reports/*" >/dev/null; then
	echo "run-tests: sanitizer reports:" >&2
	head -n 60 "$reports"/* >&2
	exit 1
fi
echo "run-tests: sanitizer pass clean"
