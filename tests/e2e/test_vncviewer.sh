#!/usr/bin/env bash
# End to end with real programs: a browser host (Xtigervnc or Xvfb + x11vnc,
# with Chromium showing tools/demo-page), pixelgate in between, and TigerVNC's
# vncviewer on its own Xvfb display.
#
#   bash tests/e2e/test_vncviewer.sh BUILD_DIR [--backend tigervnc|x11vnc] [--no-input]
#
# (a) the viewer's picture matches the browser host's screen (PSNR >= 30 dB);
# (b) a word typed into the viewer reaches the page (its title becomes
#     "typed:<word>", read from the Chromium window's name on the host display).
#
# PG_E2E_DIRECT=1 connects the viewer straight to the browser host (VNC auth),
# without pixelgate, to check the harness itself. PG_E2E_ENCODING picks the
# viewer's preferred encoding (default Tight; JPEG is always off).
# Screenshots and the diff go to BUILD_DIR/e2e-artifacts/. Everything listens on
# loopback; every wait is bounded; every process is stopped on any exit.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
readonly WIDTH=1024 HEIGHT=768
readonly PSNR_MIN=30

BUILD_DIR=""
BACKEND=tigervnc
CHECK_INPUT=1
DIRECT=${PG_E2E_DIRECT:-0}
ENCODING=${PG_E2E_ENCODING:-Tight}

PASSED=0
FAILED=0
WORK=""
HOST_STATE=""
HOST_STARTED=0
ART_DIR=""
ART_NAME=""
VIEWER_PID=""
RELAY_PID=""
XVFB_PID=""
T0=$SECONDS

# Processes --------------------------------------------------------------

# Steps ------------------------------------------------------------------

# shellcheck source=tests/e2e/e2e_lib.sh
source "$HERE/e2e_lib.sh"

start_relay() {
	local bin="$BUILD_DIR/pixelgate"
	[[ -x "$bin" ]] || abort "$bin not found; build pixelgate, or set PG_E2E_DIRECT=1 to test without it"
	RELAY_PORT=$(free_port "$HOST_PORT") || abort "no free port"
	log "pixelgate: 127.0.0.1:$RELAY_PORT -> 127.0.0.1:$HOST_PORT"
	run_relay "$RELAY_PORT" --listen "127.0.0.1:$RELAY_PORT" \
		--upstream "127.0.0.1:$HOST_PORT" --security none \
		--upstream-password-file "$WORK/password"
}

start_viewer() {
	local target args=(-AutoSelect=0 -FullColor=1 -NoJPEG=1
		"-PreferredEncoding=$ENCODING" -RemoteResize=0 -Shared=1
		-ReconnectOnError=0 -AlertOnFatalError=0
		-geometry "${WIDTH}x${HEIGHT}+0+0")
	if ((DIRECT)); then
		vncpasswd -f <"$WORK/password" >"$WORK/vncpasswd"
		args+=(-SecurityTypes VncAuth -passwd "$WORK/vncpasswd")
		target="127.0.0.1::$HOST_PORT"
	else
		args+=(-SecurityTypes None)
		target="127.0.0.1::$RELAY_PORT"
	fi
	log "vncviewer -> $target"
	run_viewer "$WORK/vncviewer.log" "${args[@]}" "$target"
	wait_viewer_window "$WORK/vncviewer.log"
	log "viewer window $VIEWER_WIN"
}

main() {
	(($# >= 1)) || {
		echo "usage: $PROG BUILD_DIR [--backend tigervnc|x11vnc] [--no-input]" >&2
		exit 2
	}
	BUILD_DIR=$(cd -- "$1" && pwd) || exit 2
	shift
	while (($#)); do
		case $1 in
		--backend)
			(($# >= 2)) || {
				echo "$PROG: --backend needs a value" >&2
				exit 2
			}
			BACKEND=$2
			shift 2
			;;
		--no-input)
			CHECK_INPUT=0
			shift
			;;
		*)
			echo "$PROG: unknown option '$1'" >&2
			exit 2
			;;
		esac
	done

	trap_exit cleanup

	need Xvfb vncviewer vncpasswd chromium xdotool xwininfo xdpyinfo xauth \
		mcookie import compare convert setsid awk
	if [[ $BACKEND == x11vnc ]]; then need x11vnc; else need Xtigervnc; fi

	if ((!DIRECT)) && [[ ! -x "$BUILD_DIR/pixelgate" ]]; then
		abort "$BUILD_DIR/pixelgate not found; build pixelgate, or set PG_E2E_DIRECT=1 to test without it"
	fi

	ART_NAME=$BACKEND
	((DIRECT)) && ART_NAME+="-direct"
	make_work pg-e2e .log

	start_browser_host
	if ((DIRECT)); then
		log "PG_E2E_DIRECT=1: viewer connects straight to the browser host"
	else
		start_relay
	fi
	start_viewer_display
	start_viewer
	test_screenshots
	if ((CHECK_INPUT)); then
		test_typing
	fi
}

main "$@"
