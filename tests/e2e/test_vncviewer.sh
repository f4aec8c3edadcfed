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

readonly PROG=${0##*/}
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd -- "$HERE/../.." && pwd)
readonly HERE SRC
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
	setsid "$bin" --listen "127.0.0.1:$RELAY_PORT" \
		--upstream "127.0.0.1:$HOST_PORT" --security none \
		--upstream-password-file "$WORK/password" \
		</dev/null >"$WORK/pixelgate.log" 2>&1 &
	RELAY_PID=$!
	wait_port "$RELAY_PORT" "$RELAY_PID" pixelgate 20
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
	DISPLAY=":$VIEWER_DISPLAY" XAUTHORITY="$WORK/viewer.Xauthority" \
		setsid vncviewer "${args[@]}" "$target" \
		</dev/null >"$WORK/vncviewer.log" 2>&1 &
	VIEWER_PID=$!

	local end=$((SECONDS + 30)) id
	VIEWER_WIN=""
	while ((SECONDS < end)); do
		kill -0 "$VIEWER_PID" 2>/dev/null ||
			abort "vncviewer exited: $(tail -n 3 "$WORK/vncviewer.log" | tr '\n' ' ')"
		for id in $(on_viewer xdotool search --onlyvisible --pid "$VIEWER_PID" 2>/dev/null); do
			# The connected window is the one as big as the desktop.
			if on_viewer xwininfo -id "$id" 2>/dev/null |
				grep -q "Width: $WIDTH\$"; then
				VIEWER_WIN=$id
				break 2
			fi
		done
		sleep 0.25
	done
	[[ -n "$VIEWER_WIN" ]] || abort "vncviewer's window did not appear within 30 s"
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

	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	need Xvfb vncviewer vncpasswd chromium xdotool xwininfo xdpyinfo xauth \
		mcookie import compare convert setsid awk
	if [[ $BACKEND == x11vnc ]]; then need x11vnc; else need Xtigervnc; fi

	if ((!DIRECT)) && [[ ! -x "$BUILD_DIR/pixelgate" ]]; then
		abort "$BUILD_DIR/pixelgate not found; build pixelgate, or set PG_E2E_DIRECT=1 to test without it"
	fi

	ART_DIR="$BUILD_DIR/e2e-artifacts"
	ART_NAME=$BACKEND
	((DIRECT)) && ART_NAME+="-direct"
	mkdir -p -- "$ART_DIR"
	rm -f -- "$ART_DIR/$ART_NAME"-*.log

	WORK=$(mktemp -d "${TMPDIR:-/tmp}/pg-e2e.XXXXXX")
	# A random VNC password (VNC auth uses the first 8 characters).
	(umask 077 && od -An -N6 -tx1 /dev/urandom | tr -d ' \n' >"$WORK/password" &&
		echo >>"$WORK/password")

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
