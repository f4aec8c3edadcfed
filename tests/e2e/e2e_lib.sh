# Shared by the end-to-end scripts that drive a browser host, pixelgate and TigerVNC's
# viewer (sourced, not run). The functions use the calling script's globals: BUILD_DIR,
# WORK, ART_DIR, ART_NAME, CONF, AUDIT, HOST_STATE, HOST_DISPLAY, HOST_PORT,
# VIEWER_DISPLAY, VIEWER_WIN, the *_PID variables, PASSED and FAILED.

# The calling script's name, for its messages, and the source tree.
PROG=${0##*/}
SRC=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
readonly PROG SRC

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

# build_dir_arg ARG...: BUILD_DIR from the one argument a script takes; else its
# usage, and exit 2.
build_dir_arg() {
	(($# == 1)) || {
		echo "usage: $PROG BUILD_DIR" >&2
		exit 2
	}
	BUILD_DIR=$(cd -- "$1" && pwd) || exit 2
}

# trap_exit HANDLER: HANDLER runs on any exit; INT and TERM exit with 130 and 143.
trap_exit() {
	trap -- "$1" EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

need() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null 2>&1 || abort "'$p' not found; install it (see the README)"
	done
}

# Stops a child started with setsid (its own process group): SIGNAL (default TERM),
# wait up to 5 s, then KILL. The relay gets INT, which stops it at once; TERM would
# drain for [relay] drain_timeout.
stop_child() {
	local pid=$1 name=$2 sig=${3:-TERM} i
	[[ -n "$pid" ]] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -"$sig" -- "-$pid" 2>/dev/null || kill -"$sig" "$pid" 2>/dev/null || true
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
			log "$name (pid $pid) ignored $sig; killing"
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
	stop_child "$RELAY_PID" pixelgate INT
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

# make_work PREFIX [SUFFIX]: ART_DIR (BUILD_DIR/e2e-artifacts) without the previous
# run's ART_NAME-*SUFFIX files, and WORK, a new temporary folder PREFIX.XXXXXX with
# the browser host's random VNC password (VNC auth uses the first 8 characters).
make_work() {
	ART_DIR="$BUILD_DIR/e2e-artifacts"
	mkdir -p -- "$ART_DIR"
	rm -f -- "$ART_DIR/$ART_NAME"-*"${2:-}"

	WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	(umask 077 && od -An -N6 -tx1 /dev/urandom | tr -d ' \n' >"$WORK/password" &&
		echo >>"$WORK/password")
}

# save_artifacts HOST_PNG: what a failed run leaves for humans in ART_DIR: the audit
# file, the configuration, the host display as ART_NAME-HOST_PNG.png and, when it
# runs, the viewer's display.
save_artifacts() {
	[[ -n "$WORK" && -d "$ART_DIR" ]] || return 0
	[[ -f "$AUDIT" ]] && cp -f "$AUDIT" "$ART_DIR/$ART_NAME-audit.jsonl"
	[[ -f "$CONF" ]] && cp -f "$CONF" "$ART_DIR/$ART_NAME-pixelgate.conf"
	if [[ -n "$HOST_DISPLAY" && -f "$HOST_STATE/Xauthority" ]]; then
		on_host timeout 10 import -window root "$ART_DIR/$ART_NAME-$1.png" 2>/dev/null
	fi
	if [[ -n "$XVFB_PID" ]]; then
		on_viewer timeout 10 import -window root "$ART_DIR/$ART_NAME-viewer.png" 2>/dev/null
	fi
	log "artifacts in $ART_DIR/$ART_NAME-*"
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

# run_viewer LOG ARG...: vncviewer ARG... on the viewer's display, its output in LOG;
# setsid itself is the child, so VIEWER_PID is vncviewer's pid and process group.
run_viewer() {
	local out=$1
	shift
	DISPLAY=":$VIEWER_DISPLAY" XAUTHORITY="$WORK/viewer.Xauthority" \
		setsid vncviewer "$@" </dev/null >"$out" 2>&1 &
	VIEWER_PID=$!
}

# wait_viewer_window LOG [log]: until vncviewer (VIEWER_PID, writing LOG) shows its
# connected window, which is VIEWER_WIN. When it exits or no window comes within
# 30 s: abort, or with "log" say so and return 1.
wait_viewer_window() {
	local out=$1 report=${2:-abort} end=$((SECONDS + 30)) id
	VIEWER_WIN=""
	while ((SECONDS < end)); do
		if ! kill -0 "$VIEWER_PID" 2>/dev/null; then
			"$report" "vncviewer exited: $(tail -n 3 "$out" | tr '\n' ' ')"
			return 1
		fi
		for id in $(on_viewer xdotool search --onlyvisible --pid "$VIEWER_PID" 2>/dev/null); do
			# The connected window is the one as big as the desktop.
			if on_viewer xwininfo -id "$id" 2>/dev/null | grep -q "Width: $WIDTH\$"; then
				VIEWER_WIN=$id
				return 0
			fi
		done
		sleep 0.25
	done
	"$report" "vncviewer's window did not appear within 30 s"
	return 1
}

# focus_viewer X Y: the pointer to X,Y on the viewer's display and the keyboard focus
# to the viewer's window (no window manager runs there); false when it cannot.
focus_viewer() {
	on_viewer xdotool mousemove --sync "$1" "$2" >/dev/null 2>&1 || true
	on_viewer xdotool windowfocus --sync "$VIEWER_WIN" >/dev/null 2>&1 ||
		on_viewer xdotool windowfocus "$VIEWER_WIN" >/dev/null 2>&1
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
	focus_viewer 200 600 || true
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

# launch_browser_host URL READY_TITLE WHAT [OPTION...]: pg-browser-host start with
# BACKEND showing URL, ready once the page's title is READY_TITLE; WHAT names the
# host in the log, OPTIONs go to pg-browser-host. Its report is in host-ready.txt.
launch_browser_host() {
	local url=$1 title=$2 what=$3
	shift 3
	HOST_STATE="$WORK/host"
	HOST_DISPLAY=$(free_display) || abort "no free X display"
	HOST_PORT=$(free_port) || abort "no free port"
	log "browser host: $what on :$HOST_DISPLAY, VNC 127.0.0.1:$HOST_PORT"
	HOST_STARTED=1
	"$SRC/tools/pg-browser-host" start --state "$HOST_STATE" \
		--display ":$HOST_DISPLAY" --port "$HOST_PORT" \
		--size "${WIDTH}x${HEIGHT}" --url "$url" \
		--password-file "$WORK/password" --backend "$BACKEND" \
		"$@" --ready-title "$title" --timeout 60 >"$WORK/host-ready.txt" ||
		abort "pg-browser-host start failed"
}

# The browser host on tools/demo-page.
start_browser_host() {
	launch_browser_host "file://$SRC/tools/demo-page/index.html" pixelgate-demo "$BACKEND"
	log "browser host ready"
}

# HOST_WIN: the host's Chromium window, as pg-browser-host start reported it.
host_window() {
	HOST_WIN=$(awk '$2 == "chromium" && $3 == "window" { print $4 }' "$WORK/host-ready.txt")
	[[ -n "$HOST_WIN" ]] || abort "no Chromium window in: $(cat "$WORK/host-ready.txt")"
}

# check_config: pixelgate -n must accept CONF.
check_config() {
	"$BUILD_DIR/pixelgate" -c "$CONF" -n >"$WORK/check.log" 2>&1 ||
		abort "pixelgate -n refused the configuration: $(head -n 5 "$WORK/check.log")"
}

# run_relay PORT ARG...: pixelgate ARG... in a process group of its own, its output in
# pixelgate.log, until it listens on PORT.
run_relay() {
	local port=$1
	shift
	setsid "$BUILD_DIR/pixelgate" "$@" </dev/null >"$WORK/pixelgate.log" 2>&1 &
	RELAY_PID=$!
	wait_port "$port" "$RELAY_PID" pixelgate 20
}

# audit_verify STEP: pixelgate-audit verify on AUDIT, once the relay has stopped
# writing it.
audit_verify() {
	local out
	stop_child "$RELAY_PID" pixelgate INT
	RELAY_PID=""
	if out=$("$BUILD_DIR/pixelgate-audit" verify "$AUDIT" 2>&1); then
		pass "$1 pixelgate-audit verify: $out"
	else
		fail "$1 pixelgate-audit verify failed: $out"
	fi
}

# audit_line NEEDLE...: print the first line of AUDIT holding every NEEDLE; false when
# there is none.
audit_line() {
	local line n ok
	while IFS= read -r line; do
		ok=1
		for n in "$@"; do
			[[ "$line" == *"$n"* ]] || {
				ok=0
				break
			}
		done
		if ((ok)); then
			printf '%s\n' "$line"
			return 0
		fi
	done <"$AUDIT"
	return 1
}

# audit_wait_line SECONDS NEEDLE...: audit_line, waiting up to SECONDS for it.
audit_wait_line() {
	local end=$((SECONDS + $1))
	shift
	while ((SECONDS < end)); do
		audit_line "$@" && return 0
		sleep 0.25
	done
	return 1
}

# audit_field KEY LINE: the string value of KEY in the audit record LINE.
audit_field() {
	sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" <<<"$2"
}
