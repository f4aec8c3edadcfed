#!/usr/bin/env bash
# A [broker] spawn_command for the broker tests: "start USER SESSION" starts
# pg-synth-host on a free loopback port and prints it; "stop USER SESSION
# HOST:PORT" stops it. Every call is appended to $PG_TEST_HOOK_DIR/calls, one
# line each. $PG_TEST_HOOK_MODE: ok (default), slow (ok after 1.5 s), password
# (the host asks for a VNC password, whose file is printed after the address),
# fail (exit 3), hang (never answers), outside (prints an address outside
# spawn_networks).
set -euo pipefail
dir=${PG_TEST_HOOK_DIR:?}
mode=${PG_TEST_HOOK_MODE:-ok}
synth=${PG_TEST_SYNTH_HOST:?}

echo "$* user=${PG_USER:-} session=${PG_SESSION:-} source=${PG_SOURCE:-}" >>"$dir/calls"
case ${1:-} in
start)
	[[ $# -eq 3 && $2 == "${PG_USER:-}" && $3 == "${PG_SESSION:-}" ]] || exit 2
	case $mode in
	fail)
		echo "spawn_hook: no capacity" >&2
		exit 3
		;;
	hang) exec sleep 1000 ;;
	outside)
		echo "192.0.2.1:5900"
		exit 0
		;;
	esac
	[[ $mode == slow ]] && sleep 1.5
	out="$dir/synth-$2.out"
	: >"$out"
	pw=()
	suffix=""
	if [[ $mode == password ]]; then
		(umask 077 && echo "pw-$3" | cut -c1-8 >"$dir/pass-$2")
		pw=(--password-file "$dir/pass-$2")
		suffix=" $dir/pass-$2"
	fi
	# Its own session, away from the hook's process group and its stdout.
	setsid "$synth" --port 0 --mode pattern --size 320x240 --exit-after 300 "${pw[@]}" \
		>"$out" 2>/dev/null </dev/null &
	echo $! >"$dir/synth-$2.pid"
	for _ in $(seq 100); do
		line=$(grep -m1 -o 'listening on 127.0.0.1:[0-9]*' "$out" || true)
		if [[ -n $line ]]; then
			echo "${line#listening on }$suffix"
			exit 0
		fi
		sleep 0.05
	done
	exit 4
	;;
stop)
	[[ $# -eq 4 ]] || exit 2
	pid=$(cat "$dir/synth-$2.pid" 2>/dev/null || true)
	[[ -n $pid ]] && kill "$pid" 2>/dev/null || true
	rm -f "$dir/synth-$2.pid"
	exit 0
	;;
esac
exit 2
