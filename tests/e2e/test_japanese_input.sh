#!/usr/bin/env bash
# Japanese input end to end: a browser host with a Japanese keyboard and Mozc
# (pg-browser-host --keyboard jp) showing a page with a focused text input,
# pixelgate in between, and TigerVNC's vncviewer on its own Xvfb display, also
# with the jp layout, as a staff member's PC would have.
#
#   bash tests/e2e/test_japanese_input.sh BUILD_DIR
#
# With xdotool on the viewer's display:
# (a) "hello" typed in ASCII reaches the page;
# (b) 半角/全角 (Zenkaku_Hankaku), "nihongo", space (conversion) and Return leave
#     "hello日本語" in the input (にほんご alone, unconverted, is reported as a
#     partial failure);
# (c) the keys went as QEMU extended key events all the way: the viewer sent
#     them to pixelgate, the upstream worker sent them on with their keycodes,
#     and the browser host's VNC server received Zenkaku_Hankaku with its XT
#     keycode 0x29 (from pixelgate's debug log and Xtigervnc's own).
#
# The page shows what the input holds in its title, read from the Chromium
# window's name on the host display. Screenshots go to
# BUILD_DIR/e2e-artifacts/japanese-*.png. Everything listens on loopback; every
# wait is bounded; every process is stopped on any exit.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
readonly WIDTH=1024 HEIGHT=768
readonly BACKEND=tigervnc

BUILD_DIR=""
PASSED=0
FAILED=0
WORK=""
HOST_STATE=""
HOST_STARTED=0
HOST_WIN=""
ART_DIR=""
ART_NAME=japanese
VIEWER_PID=""
VIEWER_WIN=""
RELAY_PID=""
XVFB_PID=""
T0=$SECONDS

# shellcheck source=tests/e2e/e2e_lib.sh
source "$HERE/e2e_lib.sh"

# The page: an input that keeps the focus, its value (and whether a composition
# is open) in the title, "ime:<value>:<composing|done>".
write_page() {
	cat >"$WORK/page.html" <<'EOF'
<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>ime-ready</title>
<style>
body { font: 32px "Noto Sans CJK JP", sans-serif; margin: 40px; }
input { font: 40px "Noto Sans CJK JP", sans-serif; width: 80%; }
</style></head>
<body><p>日本語入力テスト</p><input id="t" autofocus autocomplete="off" spellcheck="false">
<script>
const t = document.getElementById('t');
let composing = false;
function show() {
	document.title = 'ime:' + t.value + ':' + (composing ? 'composing' : 'done');
}
t.addEventListener('compositionstart', () => { composing = true; show(); });
t.addEventListener('compositionend', () => { composing = false; show(); });
t.addEventListener('input', show);
t.addEventListener('blur', () => setTimeout(() => t.focus(), 0));
window.addEventListener('load', () => t.focus());
</script></body></html>
EOF
}

start_host() {
	# VNCSConnST at level 100 logs each key event with its keysym and keycode:
	# test keys only.
	launch_browser_host "file://$WORK/page.html" ime-ready "Xtigervnc, jp keyboard and Mozc" \
		--keyboard jp --vnc-log 'VNCSConnST:stderr:100'
	host_window
	grep -q '^ready input-method mozc' "$WORK/host-ready.txt" ||
		abort "the browser host did not start its input method"
	log "browser host ready: $(grep -h 'input-method\|keyboard' "$WORK/host-ready.txt" | tr '\n' ' ')"
}

start_relay() {
	RELAY_PORT=$(free_port "$HOST_PORT") || abort "no free port"
	log "pixelgate: 127.0.0.1:$RELAY_PORT -> 127.0.0.1:$HOST_PORT"
	run_relay "$RELAY_PORT" --listen "127.0.0.1:$RELAY_PORT" \
		--upstream "127.0.0.1:$HOST_PORT" --security none \
		--upstream-password-file "$WORK/password" --log-level debug
}

start_viewer() {
	# A Japanese keyboard on the viewer's side too: 半角/全角 is then a real key
	# (keycode 49, XT 0x29), as on a staff member's PC.
	on_viewer setxkbmap -layout jp || abort "setxkbmap -layout jp on the viewer's display failed"
	log "vncviewer -> 127.0.0.1::$RELAY_PORT"
	run_viewer "$WORK/vncviewer.log" -AutoSelect=0 -FullColor=1 -NoJPEG=1 \
		-PreferredEncoding=Tight -RemoteResize=0 -Shared=1 \
		-ReconnectOnError=0 -AlertOnFatalError=0 -SecurityTypes None \
		-geometry "${WIDTH}x${HEIGHT}+0+0" -Log '*:stderr:30' "127.0.0.1::$RELAY_PORT"
	wait_viewer_window "$WORK/vncviewer.log"
	log "viewer window $VIEWER_WIN"
	# The keyboard goes to the viewer's window; the pointer rests over the input.
	focus_viewer 300 150 || true
	sleep 0.5
}

page_title() {
	local name
	name=$(on_host xdotool getwindowname "$HOST_WIN" 2>/dev/null) || return 0
	echo "${name% - Chromium}"
}

# wait_title WANT SECONDS: until the page's title is WANT; sets TITLE to the last seen.
wait_title() {
	local want=$1 end=$((SECONDS + $2))
	while :; do
		TITLE=$(page_title)
		[[ "$TITLE" == "$want" ]] && return 0
		((SECONDS < end)) || return 1
		sleep 0.2
	done
}

key() {
	on_viewer xdotool key --delay 120 "$@"
}

screenshots() {
	local tag=$1
	on_host import -window root "$ART_DIR/$ART_NAME-$tag-host.png" 2>/dev/null || true
	on_viewer import -window "$VIEWER_WIN" -crop "${WIDTH}x${HEIGHT}+0+0" +repage \
		"$ART_DIR/$ART_NAME-$tag-viewer.png" 2>/dev/null || true
}

test_ascii() {
	local start=$SECONDS
	log "typing 'hello'"
	on_viewer xdotool type --delay 100 hello || abort "xdotool type failed"
	if wait_title "ime:hello:done" 15; then
		pass "(a) ASCII 'hello' reached the page in $((SECONDS - start)) s"
	else
		fail "(a) the page did not receive 'hello' within 15 s (title: '$TITLE')"
	fi
}

test_japanese() {
	local start=$SECONDS composed=0
	log "半角/全角, 'nihongo', space, Return"
	key Zenkaku_Hankaku
	sleep 0.5
	on_viewer xdotool type --delay 120 nihongo || abort "xdotool type failed"
	if wait_title "ime:helloにほんご:composing" 10; then
		composed=1
		log "composing: にほんご"
	else
		log "no にほんご in composition (title: '$TITLE')"
	fi
	key space
	if wait_title "ime:hello日本語:composing" 10; then
		log "converted: 日本語"
	else
		log "no 日本語 after the conversion key (title: '$TITLE')"
	fi
	screenshots converting
	key Return
	if wait_title "ime:hello日本語:done" 10; then
		pass "(b) 半角/全角 + nihongo + space + Return gave 'hello日本語' in $((SECONDS - start)) s"
	elif [[ "$TITLE" == "ime:helloにほんご:done" ]]; then
		fail "(b) partial: the input holds 'helloにほんご' (kana, not converted to 日本語)"
	elif ((composed)); then
		fail "(b) the input method composed にほんご, but the input holds '${TITLE#ime:}'"
	else
		fail "(b) no Japanese input: the input holds '${TITLE#ime:}'"
	fi
	screenshots final
	log "screenshots: $ART_DIR/$ART_NAME-*.png"
}

test_qemu_keys() {
	local relay_log="$WORK/pixelgate.log" host_log="$HOST_STATE/xserver.log" missing=""
	grep -q 'keys come as QEMU extended key events' "$relay_log" ||
		missing+=" viewer->pixelgate"
	grep -q 'browser host acknowledged QEMU extended key events' "$relay_log" ||
		missing+=" host-ack"
	grep -q 'keys go to the browser host as QEMU extended key events' "$relay_log" ||
		missing+=" worker->host"
	# Zenkaku_Hankaku (0xff2a) arriving with its XT keycode (0x29)
	grep -q 'Key pressed: 0xff2a / 0x29' "$host_log" || missing+=" host-keycode"
	if [[ -z "$missing" ]]; then
		pass "(c) QEMU extended key events end to end (relay log and the host's: Zenkaku_Hankaku with keycode 0x29)"
	else
		fail "(c) QEMU extended key events missing at:$missing"
	fi
	grep -h 'QEMU extended key' "$relay_log" | sed "s/^/$PROG: relay: /" >&2 || true
	grep -h 'Key pressed: 0xff2a' "$host_log" | head -n 1 | sed "s/^/$PROG: host: /" >&2 || true
}

main() {
	build_dir_arg "$@"
	trap_exit cleanup

	need Xvfb vncviewer vncpasswd chromium xdotool xwininfo xdpyinfo xauth mcookie \
		import setsid awk Xtigervnc setxkbmap fcitx5 dbus-daemon
	[[ -x "$BUILD_DIR/pixelgate" ]] || abort "$BUILD_DIR/pixelgate not found; build pixelgate"
	[[ -e /usr/share/fcitx5/inputmethod/mozc.conf ]] ||
		abort "fcitx5-mozc not installed (see tools/install-deps.sh)"

	make_work pg-e2e-ja
	write_page

	start_host
	start_relay
	start_viewer_display
	start_viewer
	test_ascii
	test_japanese
	test_qemu_keys
}

main "$@"
