#!/usr/bin/env bash
# End to end with real programs: the browser host's screen follows the viewer's
# window. A browser host (Xtigervnc with Chromium showing tools/demo-page),
# pixelgate in between, and TigerVNC's vncviewer with RemoteResize on its own Xvfb
# display, whose window is then resized with xdotool.
#
#   bash tests/e2e/test_remote_resize.sh BUILD_DIR
#
# (a) the host's X screen becomes the viewer window's size (vncviewer's
#     SetDesktopSize, through pixelgate's worker, to Xtigervnc), pixelgate's log
#     says it asked, and the viewer's picture matches the host's screen at the new
#     size (PSNR >= 30 dB, the check test_vncviewer.sh makes);
# (b) Chromium in kiosk mode fills the new screen (pg-browser-host's watcher);
# (d) with [upstream] resize = off the host keeps its size, and pixelgate says why.
#
# Artifacts go to BUILD_DIR/e2e-artifacts/. Everything listens on loopback; every
# wait is bounded; every process is stopped on any exit.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
# The size the host and the viewer start with, then the size the window is given.
WIDTH=1024
HEIGHT=768
readonly NEW_W=800 NEW_H=600
readonly PSNR_MIN=30

BUILD_DIR=""
BACKEND=tigervnc
PASSED=0
FAILED=0
WORK=""
HOST_STATE=""
HOST_STARTED=0
ART_DIR=""
ART_NAME=remote-resize
VIEWER_PID=""
RELAY_PID=""
XVFB_PID=""
T0=$SECONDS

# shellcheck source=tests/e2e/e2e_lib.sh
source "$HERE/e2e_lib.sh"

# start_relay ARG...: pixelgate in front of the host, with more options.
start_relay() {
	RELAY_PORT=$(free_port "$HOST_PORT") || abort "no free port"
	log "pixelgate: 127.0.0.1:$RELAY_PORT -> 127.0.0.1:$HOST_PORT $*"
	run_relay "$RELAY_PORT" --listen "127.0.0.1:$RELAY_PORT" \
		--upstream "127.0.0.1:$HOST_PORT" --security none \
		--upstream-password-file "$WORK/password" --log-level debug "$@"
}

start_viewer() {
	run_viewer "$WORK/vncviewer.log" -AutoSelect=0 -FullColor=1 -NoJPEG=1 \
		-PreferredEncoding=Tight -RemoteResize=1 -Shared=1 -ReconnectOnError=0 \
		-AlertOnFatalError=0 -geometry "${WIDTH}x${HEIGHT}+0+0" -SecurityTypes None \
		"127.0.0.1::$RELAY_PORT"
	wait_viewer_window "$WORK/vncviewer.log"
	log "viewer window $VIEWER_WIN"
}

stop_viewer_and_relay() {
	stop_child "$VIEWER_PID" vncviewer
	VIEWER_PID=""
	stop_child "$RELAY_PID" pixelgate
	RELAY_PID=""
}

# The host's X screen size, as WxH.
host_screen() {
	# awk reads to the end: xdpyinfo must not die of SIGPIPE under pipefail.
	on_host xdpyinfo 2>/dev/null | awk '$1 == "dimensions:" && !d { d = $2 } END { print d }'
}

# wait_host_screen WxH SECONDS: true once the host's screen is that size.
wait_host_screen() {
	local end=$((SECONDS + $2))
	while ((SECONDS < end)); do
		[[ "$(host_screen)" == "$1" ]] && return 0
		sleep 0.25
	done
	return 1
}

resize_viewer_window() {
	log "viewer window to ${NEW_W}x${NEW_H}"
	on_viewer xdotool windowsize --sync "$VIEWER_WIN" "$NEW_W" "$NEW_H" 2>/dev/null ||
		on_viewer xdotool windowsize "$VIEWER_WIN" "$NEW_W" "$NEW_H"
}

test_follow() {
	resize_viewer_window
	if wait_host_screen "${NEW_W}x${NEW_H}" 20; then
		pass "(a) the host's screen became ${NEW_W}x${NEW_H} at $((SECONDS - T0)) s"
	else
		fail "(a) the host's screen is $(host_screen), not ${NEW_W}x${NEW_H}"
		return 0
	fi
	local end=$((SECONDS + 20)) geo=""
	host_window
	while ((SECONDS < end)); do
		geo=$(on_host xwininfo -id "$HOST_WIN" 2>/dev/null |
			awk '$1 == "Width:" { w = $2 } $1 == "Height:" { h = $2 } END { print w "x" h }')
		[[ "$geo" == "${NEW_W}x${NEW_H}" ]] && break
		sleep 0.5
	done
	if [[ "$geo" == "${NEW_W}x${NEW_H}" ]]; then
		pass "(b) Chromium fills the new screen (${geo})"
	else
		fail "(b) Chromium's window is $geo on the ${NEW_W}x${NEW_H} screen"
	fi
	# test_screenshots compares WIDTH x HEIGHT of the viewer's window with the host.
	WIDTH=$NEW_W
	HEIGHT=$NEW_H
	test_screenshots
	if grep -q "asking the browser host for ${NEW_W}x${NEW_H}" "$WORK/pixelgate.log"; then
		pass "(a) pixelgate asked the host for ${NEW_W}x${NEW_H}"
	else
		fail "(a) no 'asking the browser host for ${NEW_W}x${NEW_H}' in pixelgate's log"
	fi
}

test_off() {
	local before
	stop_viewer_and_relay
	WIDTH=$NEW_W
	HEIGHT=$NEW_H
	printf '[upstream]\nresize = off\n' >"$WORK/off.conf"
	start_relay -c "$WORK/off.conf"
	before=$(host_screen)
	start_viewer
	on_viewer xdotool windowsize "$VIEWER_WIN" 700 500 2>/dev/null || true
	local end=$((SECONDS + 20))
	while ((SECONDS < end)); do
		grep -q "SetDesktopSize refused: \[upstream\] resize = off" "$WORK/pixelgate.log" && break
		sleep 0.25
	done
	sleep 1
	if [[ "$(host_screen)" == "$before" ]] &&
		grep -q "SetDesktopSize refused: \[upstream\] resize = off" "$WORK/pixelgate.log"; then
		pass "(d) resize = off: the host kept $before, pixelgate logged why"
	else
		fail "(d) resize = off: host screen $(host_screen) (was $before); log: $(grep -c SetDesktopSize "$WORK/pixelgate.log") SetDesktopSize lines"
	fi
}

main() {
	build_dir_arg "$@"
	trap_exit cleanup
	need Xvfb vncviewer chromium xdotool xwininfo xdpyinfo xauth mcookie import compare \
		convert setsid awk Xtigervnc
	[[ -x "$BUILD_DIR/pixelgate" ]] || abort "$BUILD_DIR/pixelgate not found; build pixelgate"
	make_work pg-e2e-resize .log

	start_browser_host
	if [[ "$(host_screen)" != "${WIDTH}x${HEIGHT}" ]]; then
		abort "the host's screen is $(host_screen), not ${WIDTH}x${HEIGHT}"
	fi
	start_relay
	start_viewer_display
	start_viewer
	test_follow
	test_off
}

main "$@"
