#!/usr/bin/env bash
# The whole test suite: installs dependencies, configures and builds with CMake
# (warnings are errors), runs every unit, integration, hostile and end-to-end test,
# then builds again with AddressSanitizer + UndefinedBehaviorSanitizer and runs the
# unit, integration and hostile tests there too (the relay and its workers included);
# then builds the libFuzzer drivers (clang), replays their corpora and fuzzes each
# briefly; then runs the integration tests against a ThreadSanitizer build of the
# relay and its worker.
#   tools/run-tests.sh              everything
#   tools/run-tests.sh -L unit      one label (unit, integration, hostile, e2e), no
#                                   sanitizer, fuzz or TSan pass
# PG_FUZZ_SECONDS (default 6) is how long each fuzz driver runs.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${PG_BUILD_DIR:-$top/build}

bash "$top/tools/install-deps.sh"
# Code style is the checked-in .clang-format; a difference fails before building.
(cd "$top" && git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror)
cmake -S "$top" -B "$build" -G Ninja -DPG_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build"
# Two tests at a time on two cores (Criterion runs each test's cases one by one);
# the end-to-end tests and those that measure rates run alone (RUN_SERIAL).
(cd "$build" && ctest --output-on-failure --timeout 900 -j2 "$@")
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
(cd "$san" && ctest --output-on-failure --timeout 900 -j2 -L 'unit|integration|hostile')
if compgen -G "$reports/*" >/dev/null; then
	echo "run-tests: sanitizer reports:" >&2
	head -n 60 "$reports"/* >&2
	exit 1
fi
echo "run-tests: sanitizer pass clean"
unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS

# Fuzz drivers (tools/fuzz): each replays its checked-in corpus (regressions
# included), then fuzzes a copy of it for a few seconds. Any crash, leak, timeout or
# sanitizer finding fails the run; the input is kept in $fuzz/findings.
step_start=$SECONDS
fuzz="$build-fuzz"
CC=clang cmake -S "$top" -B "$fuzz" -G Ninja -DPG_WERROR=ON -DPG_FUZZ=ON -DPG_ASAN=ON \
	-DPG_UBSAN=ON -DPG_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$fuzz" --target pg-fuzz
findings="$fuzz/findings"
rm -rf "$findings" "$fuzz/logs" && mkdir -p "$findings" "$fuzz/logs"
fuzz_failed=()
while read -r exe corpus; do
	seeds="$top/tools/fuzz/corpus/$corpus"
	work=$(mktemp -d "${TMPDIR:-/tmp}/pg-fuzz-$corpus.XXXXXX")
	cp -- "$seeds"/* "$work"/
	log="$fuzz/logs/$corpus.log"
	if ! (ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$fuzz/$exe" -rss_limit_mb=2048 -timeout=30 -artifact_prefix="$findings/$corpus-" \
		"$seeds"/* && ASAN_OPTIONS=detect_leaks=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$fuzz/$exe" \
		-max_total_time="${PG_FUZZ_SECONDS:-6}" -rss_limit_mb=2048 -timeout=30 \
		-print_final_stats=1 -artifact_prefix="$findings/$corpus-" "$work") >"$log" 2>&1; then
		fuzz_failed+=("$corpus")
		echo "run-tests: fuzz $exe FAILED:" >&2
		grep -E -A 30 'ERROR|==ABORTING|deadly signal|Test unit written' "$log" |
			head -n 60 >&2 || true
	else
		echo "run-tests: fuzz $exe: $(grep -E '^stat::number_of_executed_units' "$log" |
			awk '{print $2}') execs, $(grep -oE 'cov: [0-9]+' "$log" | tail -n 1)"
	fi
	rm -rf "$work"
done <"$fuzz/fuzz-drivers.txt"
if [ ${#fuzz_failed[@]} -gt 0 ]; then
	echo "run-tests: fuzz findings in: ${fuzz_failed[*]} (inputs in $findings)" >&2
	exit 1
fi
echo "run-tests: fuzz pass clean ($((SECONDS - step_start)) s)"

# ThreadSanitizer: the relay and its worker alone (Criterion does not run under
# TSan), driven by the integration tests of the plain build through PG_IT_BIN_DIR;
# the relay finds the TSan worker next to itself. Reports go to files, which fail
# the run, whatever the tests said.
step_start=$SECONDS
tsan="$build-tsan"
cmake -S "$top" -B "$tsan" -G Ninja -DPG_WERROR=ON -DPG_TSAN=ON -DPG_TESTS=OFF \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$tsan" --target pixelgate pixelgate-worker
treports="$tsan/tsan-reports"
rm -rf "$treports" && mkdir -p "$treports"
export TSAN_OPTIONS="log_path=$treports/tsan:halt_on_error=0:exitcode=0:second_deadlock_stack=1:suppressions=$top/tests/tsan.supp"
(cd "$build" && PG_IT_BIN_DIR="$tsan" ctest --output-on-failure --timeout 900 -L integration)
unset TSAN_OPTIONS
if compgen -G "$treports/*" >/dev/null; then
	echo "run-tests: ThreadSanitizer reports:" >&2
	head -n 80 "$treports"/* >&2
	exit 1
fi
echo "run-tests: ThreadSanitizer pass clean ($((SECONDS - step_start)) s)"
