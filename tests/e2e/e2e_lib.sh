# Shared by the end-to-end scripts that drive a browser host, pixelgate and TigerVNC's
# viewer (sourced, not run). The functions use the calling script's globals: WORK,
# HOST_STATE, HOST_DISPLAY, VIEWER_DISPLAY, the *_PID variables, PASSED and FAILED.

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
