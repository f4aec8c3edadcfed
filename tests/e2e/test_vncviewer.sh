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

log() {
	echo "$PROG: [$((SECONDS - T0))s] $*" >&2
}

pass() {
	echo "PASS: $*"
	PASSED=$((PASSED + 1))
}

fail() {
	echo "FAIL: $*"
	FAILED=$((FAILED + 1))
}

# A setup step failed: nothing more can be tested.
abort() {
	log "error: $*"
	FAILED=$((FAILED + 1))
	exit 1
}

need() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null 2>&1 || abort "'$p' not found; install it (see the README)"
	done
}

# Processes --------------------------------------------------------------

# Stops a child started with setsid (its own process group): TERM, wait up to
# 5 s, then KILL.
stop_child() {
	local pid=$1 name=$2 i
	[[ -n "$pid" ]] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			# A zombie child still answers kill -0; reap it.
			if [[ "$(ps -o stat= -p "$pid" 2>/dev/null)" == Z* ]]; then
				break
			fi
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null &&
			[[ "$(ps -o stat= -p "$pid" 2>/dev/null)" != Z* ]]; then
			log "$name (pid $pid) ignored TERM; killing"
			kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	kill -KILL -- "-$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$? f
	trap - EXIT INT TERM
	set +e
	if ((rc != 0 && FAILED == 0)); then
		log "error: stopped early (exit status $rc)"
		FAILED=1
	fi
	stop_child "$VIEWER_PID" vncviewer
	stop_child "$RELAY_PID" pixelgate
	stop_child "$XVFB_PID" Xvfb
	# Keep the logs of a failed run for humans, before the host's are removed.
	if ((FAILED)) && [[ -n "$WORK" && -d "$ART_DIR" ]]; then
		for f in "$WORK"/*.log "$WORK"/host/*.log; do
			[[ -f "$f" ]] && cp -f "$f" "$ART_DIR/$ART_NAME-${f##*/}"
		done
	fi
	if ((HOST_STARTED)); then
		"$SRC/tools/pg-browser-host" stop --state "$HOST_STATE" >&2
	fi
	[[ -z "$WORK" ]] || rm -rf -- "$WORK"
	log "finished in $((SECONDS - T0)) s"
	echo "$PASSED passed, $FAILED failed"
	if ((rc == 0 && (FAILED > 0 || PASSED == 0))); then
		rc=1
	fi
	exit "$rc"
}

port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A port no socket uses, not in the list "$@". Below the kernel's ephemeral
# range (32768 and up), so an outgoing connection cannot be holding it.
free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 12000))
		[[ " $* " == *" $p "* ]] && continue
		port_open "$p" && continue
		if command -v ss >/dev/null 2>&1 &&
			[[ -n "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]]; then
			continue
		fi
		echo "$p"
		return 0
	done
	return 1
}

free_display() {
	local n i
	for ((i = 0; i < 200; i++)); do
		n=$((100 + RANDOM % 800))
		[[ -e "/tmp/.X$n-lock" || -e "/tmp/.X11-unix/X$n" ]] && continue
		echo "$n"
		return 0
	done
	return 1
}

wait_port() {
	local port=$1 pid=$2 name=$3 timeout=$4 end=$((SECONDS + $4))
	while ((SECONDS < end)); do
		kill -0 "$pid" 2>/dev/null || abort "$name exited during startup (see $ART_DIR/$ART_NAME-$name.log)"
		port_open "$port" && return 0
		sleep 0.2
	done
	abort "$name did not listen on 127.0.0.1:$port within $timeout s"
}

on_host() {
	DISPLAY=":$HOST_DISPLAY" XAUTHORITY="$HOST_STATE/Xauthority" "$@"
}

on_viewer() {
	DISPLAY=":$VIEWER_DISPLAY" XAUTHORITY="$WORK/viewer.Xauthority" "$@"
}

# Steps ------------------------------------------------------------------

start_browser_host() {
	local url="file://$SRC/tools/demo-page/index.html"
	HOST_STATE="$WORK/host"
	HOST_DISPLAY=$(free_display) || abort "no free X display"
	HOST_PORT=$(free_port) || abort "no free port"
	log "browser host: $BACKEND on :$HOST_DISPLAY, VNC 127.0.0.1:$HOST_PORT"
	HOST_STARTED=1
	"$SRC/tools/pg-browser-host" start --state "$HOST_STATE" \
		--display ":$HOST_DISPLAY" --port "$HOST_PORT" \
		--size "${WIDTH}x${HEIGHT}" --url "$url" \
		--password-file "$WORK/password" --backend "$BACKEND" \
		--ready-title pixelgate-demo --timeout 60 >"$WORK/host-ready.txt" ||
		abort "pg-browser-host start failed"
	log "browser host ready"
}

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

start_viewer_display() {
	local cookie try i
	# Room around the viewer's window, so no scrollbars appear.
	local sw=$((WIDTH + 64)) sh=$((HEIGHT + 64))
	# A display number of our own (not -displayfd, which hands everyone :0)
	# and its cookie written before the server reads the file.
	for ((try = 0; try < 3; try++)); do
		VIEWER_DISPLAY=$(free_display) || abort "no free X display"
		[[ "$VIEWER_DISPLAY" != "$HOST_DISPLAY" ]] || continue
		cookie=$(mcookie)
		(umask 077 && : >"$WORK/viewer.Xauthority")
		xauth -q -f "$WORK/viewer.Xauthority" add ":$VIEWER_DISPLAY" \
			MIT-MAGIC-COOKIE-1 "$cookie"
		setsid Xvfb ":$VIEWER_DISPLAY" -screen 0 "${sw}x${sh}x24" -nolisten tcp -noreset \
			-auth "$WORK/viewer.Xauthority" </dev/null >"$WORK/xvfb.log" 2>&1 &
		XVFB_PID=$!
		for ((i = 0; i < 100; i++)); do
			kill -0 "$XVFB_PID" 2>/dev/null || break
			if on_viewer xdpyinfo >/dev/null 2>&1; then
				log "viewer display :$VIEWER_DISPLAY"
				return 0
			fi
			sleep 0.1
		done
		# Lost a race for the display number, or too slow: try another.
		stop_child "$XVFB_PID" Xvfb
		XVFB_PID=""
	done
	abort "could not start Xvfb for the viewer (see xvfb.log)"
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

# PSNR in dB of two images of the same size; "inf" when identical, 0 when
# they cannot be compared.
psnr() {
	local out
	out=$(compare -metric PSNR "$1" "$2" "$3" 2>&1 >/dev/null) || true
	case $out in
	inf* | 1.#INF*) echo inf ;;
	[0-9]*) echo "${out%% *}" ;;
	*) echo 0 ;;
	esac
}

# psnr_at_least P MIN
psnr_at_least() {
	[[ "$1" == inf ]] || { [[ "$2" != inf ]] && awk -v p="$1" -v m="$2" 'BEGIN { exit !(p >= m) }'; }
}

psnr_ok() {
	psnr_at_least "$1" "$PSNR_MIN"
}

# (a) Compare the viewer's picture with the host's screen until they match
# or 30 s pass (the viewer may still be drawing the first frames). After a
# match, a few more looks may find one without transient differences (the
# caret's blink, the viewer's "Press F8" hint); the best one is kept.
test_screenshots() {
	local art="$ART_DIR" name="$ART_NAME" p=0 best=-1 extra=0 sd end ae
	local host_png="$art/$name-host.png" viewer_png="$art/$name-viewer.png"
	local diff_png="$art/$name-diff.png"
	rm -f -- "$host_png" "$viewer_png" "$diff_png"
	end=$((SECONDS + 30))
	while ((SECONDS < end)); do
		on_host import -window root "$WORK/host.png" ||
			abort "import on the host display failed"
		on_viewer import -window "$VIEWER_WIN" -crop "${WIDTH}x${HEIGHT}+0+0" +repage \
			"$WORK/viewer.png" 2>/dev/null || {
			sleep 0.5
			continue
		}
		p=$(psnr "$WORK/host.png" "$WORK/viewer.png" "$WORK/diff.png")
		if [[ "$p" != "$best" ]] && psnr_at_least "$p" "$best"; then
			best=$p
			cp -f "$WORK/host.png" "$host_png"
			cp -f "$WORK/viewer.png" "$viewer_png"
			cp -f "$WORK/diff.png" "$diff_png" 2>/dev/null || true
		fi
		if psnr_ok "$best"; then
			psnr_at_least "$best" 50 && break
			((++extra >= 2)) && break
		fi
		sleep 1
	done
	p=$best
	[[ -f "$host_png" ]] || cp -f "$WORK/host.png" "$host_png"
	# A blank host screen would match a blank viewer: make sure there is a page.
	sd=$(convert "$host_png" -colorspace Gray -format '%[fx:standard_deviation]' info:)
	if ! awk -v s="$sd" 'BEGIN { exit !(s > 0.05) }'; then
		fail "(a) the host's screen looks blank (stddev $sd); see $host_png"
	elif psnr_ok "$p"; then
		ae=$(compare -metric AE "$host_png" "$viewer_png" null: 2>&1) || true
		pass "(a) viewer matches the browser host: PSNR $p dB (>= $PSNR_MIN), ${ae%% *} pixels differ, at $((SECONDS - T0)) s"
	else
		fail "(a) viewer differs from the browser host: PSNR $p dB (< $PSNR_MIN); see $art/$name-*.png"
	fi
	log "screenshots: $host_png $viewer_png $diff_png"
}

# (b) Type into the viewer; the page's title (the host window's name) must
# become "typed:<word>".
test_typing() {
	local word="pixelgate$((1000 + RANDOM % 9000))" end start=$SECONDS name=""
	on_viewer xdotool mousemove --sync 200 600 >/dev/null 2>&1 || true
	on_viewer xdotool windowfocus --sync "$VIEWER_WIN" >/dev/null 2>&1 ||
		on_viewer xdotool windowfocus "$VIEWER_WIN" >/dev/null 2>&1 || true
	sleep 0.3
	log "typing '$word' into the viewer"
	on_viewer xdotool type --delay 80 "$word" ||
		{ fail "(b) xdotool type failed"; return 0; }
	end=$((SECONDS + 20))
	while ((SECONDS < end)); do
		if on_host xdotool search --name "^typed:$word( - |\$)" >/dev/null 2>&1; then
			pass "(b) typed '$word' reached the page in $((SECONDS - start)) s"
			return 0
		fi
		sleep 0.25
	done
	name=$(on_host xdotool search --onlyvisible --class chromium getwindowname 2>/dev/null |
		head -n 1) || true
	fail "(b) the page did not receive '$word' within 20 s (window name: '$name')"
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
