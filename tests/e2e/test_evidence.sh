#!/usr/bin/env bash
# Evidence with real programs (docs/policy.md): a browser host (Xtigervnc running
# Chromium on tools/demo-page), pixelgate with VeNCrypt logins, TigerVNC's vncviewer
# on its own Xvfb, pixelgate-replay and ffmpeg.
#
#   bash tests/e2e/test_evidence.sh BUILD_DIR
#
# (1) alice (group staff: a tiled watermark "{user} {addr} {date} {time}") and then
#     carol (group koho: "委託 {user}" in the bottom-right corner) log in; each
#     screenshot differs from the browser host's screen (the mark is in the pixels),
#     still shows the page (PSNR >= 18 dB), and the two differ from each other. Both
#     screenshots are kept for humans (and the docs) in BUILD_DIR/e2e-artifacts.
# (2) alice's session is recorded ([policy staff] record = yes): the audit names the
#     file in recording-start and its SHA-256 in recording-end; pixelgate-replay info
#     agrees; a PNG exported at the end of the recording matches the host's screen
#     (PSNR >= 30 dB: the recording is the session's picture, without marks); the
#     recording played by pixelgate-replay serve to vncviewer matches that PNG
#     (PSNR >= 40 dB); and
#     pixelgate-replay video makes an MP4 that ffprobe reads, as long as the
#     recording.
# (3) A full disk: the recording folder is a 160 KiB tmpfs in a mount namespace of
#     the relay's own (needs root; skipped otherwise). The recording stops with
#     "No space left on device" in recording-stopped, the session goes on (typing
#     still reaches the page), and what was recorded stays a valid file
#     (pixelgate-replay info, inside the relay's mount namespace).
# (4) pixelgate-audit verify accepts the audit trail.
# Loopback only; every wait is bounded; every process is stopped on any exit.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
readonly WIDTH=1024 HEIGHT=768
readonly BACKEND=tigervnc
# 委託
readonly ITAKU=$'\xe5\xa7\x94\xe8\xa8\x97'

BUILD_DIR=""
PASSED=0
FAILED=0
WORK=""
HOST_STATE=""
HOST_DISPLAY=""
HOST_STARTED=0
HOST_PORT=""
ART_DIR=""
ART_NAME=evidence
VIEWER_PID=""
VIEWER_WIN=""
VIEWER_DISPLAY=""
RELAY_PID=""
RELAY_PORT=""
REPLAY_PID=""
XVFB_PID=""
AUDIT=""
CONF=""
USER_PASSWORD=""
PROG=${0##*/}
SRC=$(cd -- "$HERE/../.." && pwd)
T0=$SECONDS

# shellcheck source=tests/e2e/e2e_lib.sh
source "$HERE/e2e_lib.sh"

evidence_cleanup() {
	stop_child "$REPLAY_PID" pixelgate-replay
	cleanup
}

make_files() {
	(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -days 2 -subj /CN=127.0.0.1 \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		-keyout "$WORK/key.pem" -out "$WORK/cert.pem" >"$WORK/openssl.log" 2>&1) ||
		abort "openssl could not make the certificate (see openssl.log)"
	chmod 644 "$WORK/cert.pem"
	USER_PASSWORD="pg-e2e-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
	printf '%s\n' "$USER_PASSWORD" | PIXELGATE_SCRYPT_LN=10 \
		"$BUILD_DIR/pixelgate-passwd" -f "$WORK/users" add alice --groups staff >/dev/null ||
		abort "pixelgate-passwd add alice failed"
	printf '%s\n' "$USER_PASSWORD" | PIXELGATE_SCRYPT_LN=10 \
		"$BUILD_DIR/pixelgate-passwd" -f "$WORK/users" add carol --groups koho >/dev/null ||
		abort "pixelgate-passwd add carol failed"
	RELAY_PORT=$(free_port "$HOST_PORT") || abort "no free port"
	AUDIT="$WORK/audit.jsonl"
	CONF="$WORK/pixelgate.conf"
	mkdir -m 750 "$WORK/rec"
	cat >"$CONF" <<CONF
[relay]
listen = 127.0.0.1:$RELAY_PORT
security = vencrypt
tls_cert = $WORK/cert.pem
tls_key = $WORK/key.pem
users_file = $WORK/users
audit_file = $AUDIT

[upstream]
address = 127.0.0.1:$HOST_PORT
password_file = $WORK/password

[recording]
directory = $WORK/rec
fps = 5
keyframe_interval = 5

[policy staff]
watermark = {user} {addr} {date} {time}
record = yes

[policy koho]
watermark = $ITAKU {user}\\n{addr}
watermark_layout = bottom-right
watermark_angle = 0
watermark_opacity = 35
watermark_size = 28
CONF
	check_config
}

start_viewer() {
	log "vncviewer -> 127.0.0.1::$RELAY_PORT as $1"
	HOME="$WORK/home" VNC_USERNAME="$1" VNC_PASSWORD="$USER_PASSWORD" \
		run_viewer "$WORK/vncviewer-$1.log" -AutoSelect=0 -FullColor=1 -NoJPEG=1 \
		-PreferredEncoding=Tight -RemoteResize=0 -Shared=1 -ReconnectOnError=0 \
		-AlertOnFatalError=0 -SecurityTypes X509Plain -X509CA "$WORK/cert.pem" \
		-geometry "${WIDTH}x${HEIGHT}+0+0" "127.0.0.1::$RELAY_PORT"
	wait_viewer_window "$WORK/vncviewer-$1.log"
}

stop_viewer() {
	stop_child "$VIEWER_PID" vncviewer
	VIEWER_PID=""
}

# shot NAME: the viewer's picture, after it settles (two equal looks in a row).
shot() {
	local i
	for ((i = 0; i < 20; i++)); do
		sleep 1
		on_viewer import -window "$VIEWER_WIN" -crop "${WIDTH}x${HEIGHT}+0+0" +repage \
			"$WORK/$1.png" 2>/dev/null || continue
		if [[ -f "$WORK/$1.prev.png" ]] &&
			[[ "$(psnr "$WORK/$1.png" "$WORK/$1.prev.png" null:)" == inf ]]; then
			break
		fi
		cp -f "$WORK/$1.png" "$WORK/$1.prev.png"
	done
	cp -f "$WORK/$1.png" "$ART_DIR/$ART_NAME-$1.png"
}

test_watermarks() {
	on_host import -window root "$WORK/host.png" || abort "import on the host display failed"
	start_viewer alice
	shot alice
	# Some input for the recording's events, and a few seconds of it.
	focus_viewer 200 600 || true
	on_viewer xdotool type --delay 80 "recorded" >/dev/null 2>&1 || true
	sleep 3
	on_host import -window root "$WORK/host-end.png" || abort "import on the host display failed"
	stop_viewer
	start_viewer carol
	shot carol
	stop_viewer
	local pa pc pac
	pa=$(psnr "$WORK/host.png" "$WORK/alice.png" null:)
	pc=$(psnr "$WORK/host.png" "$WORK/carol.png" null:)
	pac=$(psnr "$WORK/alice.png" "$WORK/carol.png" null:)
	log "PSNR host/alice $pa dB, host/carol $pc dB, alice/carol $pac dB"
	if [[ "$pa" != inf && "$pc" != inf && "$pac" != inf ]] &&
		psnr_at_least "$pa" 18 && psnr_at_least "$pc" 18; then
		pass "(1) each viewer's picture carries its own mark over the page (PSNR $pa and $pc dB to the host, $pac dB between them)"
	else
		fail "(1) marks missing or the page hidden: PSNR host/alice $pa, host/carol $pc, alice/carol $pac"
	fi
	local ac
	ac=$(compare -metric AE -fuzz 1% "$WORK/alice.png" "$WORK/carol.png" null: 2>&1) || true
	log "alice/carol: ${ac%% *} pixels differ"
	if audit_wait_line 5 '"event":"viewer-join"' '"user":"carol"' '"session":"'; then
		pass "(1) viewer-join names the session"
	else
		fail "(1) viewer-join does not name the session"
	fi
}

test_recording() {
	local start end file sha info seconds at p
	start=$(audit_line '"event":"recording-start"' '"user":"alice"') || {
		fail "(2) no recording-start for alice"
		return 0
	}
	file=$(audit_field file "$start")
	end=$(audit_wait_line 15 '"event":"recording-end"' "\"file\":\"$file\"") || {
		fail "(2) no recording-end for $file"
		return 0
	}
	sha=$(audit_field sha256 "$end")
	if [[ -n "$sha" && "$(sha256sum "$file" | cut -d' ' -f1)" == "$sha" ]]; then
		pass "(2) the recording's SHA-256 is the one recording-end audited"
	else
		fail "(2) sha256sum of $file is not '$sha'"
	fi
	info=$("$BUILD_DIR/pixelgate-replay" info "$file" 2>&1) || {
		fail "(2) pixelgate-replay info failed: $info"
		return 0
	}
	log "pixelgate-replay info: $(tr '\n' ' ' <<<"$info")"
	grep -q "$sha" <<<"$info" && pass "(2) pixelgate-replay info agrees on the SHA-256" ||
		fail "(2) pixelgate-replay info shows another SHA-256"
	seconds=$(sed -n 's/^duration:.*(\([0-9.]*\) s).*/\1/p' <<<"$info" | head -n 1)
	[[ -n "$seconds" ]] || seconds=1
	at=$(awk -v s="$seconds" 'BEGIN { printf "%.1f", (s > 0.5 ? s - 0.3 : 0) }')
	if "$BUILD_DIR/pixelgate-replay" png "$file" --at "$at" -o "$WORK/replay.png" \
		>"$WORK/replay-png.log" 2>&1; then
		p=$(psnr "$WORK/host-end.png" "$WORK/replay.png" null:)
		cp -f "$WORK/replay.png" "$ART_DIR/$ART_NAME-replay.png"
		if psnr_at_least "$p" 30; then
			pass "(2) the picture recorded at ${at} s matches the host's screen (PSNR $p dB)"
		else
			fail "(2) the recorded picture differs from the host's screen (PSNR $p dB)"
		fi
	else
		fail "(2) pixelgate-replay png failed: $(tail -n 3 "$WORK/replay-png.log")"
	fi
	test_replay_serve "$file"
	if "$BUILD_DIR/pixelgate-replay" video "$file" -o "$WORK/replay.mp4" --fps 5 \
		>"$WORK/replay-video.log" 2>&1; then
		local d
		d=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$WORK/replay.mp4" 2>&1) || d=0
		if awk -v d="$d" -v s="$seconds" 'BEGIN { exit !(d > 0 && d >= s - 1.5 && d <= s + 1.5) }'; then
			pass "(2) pixelgate-replay video: an MP4 of $d s for a recording of $seconds s"
		else
			fail "(2) the MP4 lasts '$d' s, the recording $seconds s"
		fi
	else
		fail "(2) pixelgate-replay video failed: $(tail -n 3 "$WORK/replay-video.log")"
	fi
}

test_replay_serve() {
	local port p
	port=$(free_port "$HOST_PORT" "$RELAY_PORT") || abort "no free port"
	setsid "$BUILD_DIR/pixelgate-replay" serve "$1" --listen "127.0.0.1:$port" --loop \
		</dev/null >"$WORK/replay-serve.log" 2>&1 &
	REPLAY_PID=$!
	wait_port "$port" "$REPLAY_PID" pixelgate-replay 20
	run_viewer "$WORK/vncviewer-replay.log" -AutoSelect=0 -FullColor=1 -NoJPEG=1 \
		-PreferredEncoding=ZRLE -RemoteResize=0 -Shared=1 -ReconnectOnError=0 \
		-AlertOnFatalError=0 -SecurityTypes None -geometry "${WIDTH}x${HEIGHT}+0+0" \
		"127.0.0.1::$port"
	wait_viewer_window "$WORK/vncviewer-replay.log"
	# The viewer's own "Press F8" hint goes after a few seconds; the replay loops.
	local end=$((SECONDS + 20)) best=0
	while ((SECONDS < end)); do
		sleep 0.5
		on_viewer import -window "$VIEWER_WIN" -crop "${WIDTH}x${HEIGHT}+0+0" +repage \
			"$WORK/replay-viewer.png" 2>/dev/null || continue
		p=$(psnr "$WORK/replay.png" "$WORK/replay-viewer.png" null:)
		if psnr_at_least "$p" "$best"; then
			best=$p
			cp -f "$WORK/replay-viewer.png" "$ART_DIR/$ART_NAME-replay-viewer.png"
		fi
		psnr_at_least "$best" 40 && break
	done
	stop_viewer
	stop_child "$REPLAY_PID" pixelgate-replay
	REPLAY_PID=""
	if psnr_at_least "$best" 40; then
		pass "(2) the recording played to TigerVNC's viewer shows the exported picture (PSNR $best dB)"
	else
		fail "(2) the recording played to vncviewer differs from the export (best PSNR $best dB)"
	fi
}

test_full_disk() {
	if ((EUID != 0)) || ! command -v unshare >/dev/null; then
		log "(3) skipped: a tmpfs of our own needs root and unshare"
		return 0
	fi
	stop_child "$RELAY_PID" pixelgate INT
	RELAY_PID=""
	mkdir -p "$WORK/small"
	sed -i "s|^directory = .*|directory = $WORK/small|" "$CONF"
	log "relay again, recording to a 160 KiB tmpfs"
	setsid unshare -m --propagation private sh -c \
		'mount -t tmpfs -o size=160k,mode=0750 pg-e2e-small "$1" && shift && exec "$@"' \
		sh "$WORK/small" "$BUILD_DIR/pixelgate" -c "$CONF" \
		</dev/null >"$WORK/pixelgate-full.log" 2>&1 &
	RELAY_PID=$!
	wait_port "$RELAY_PORT" "$RELAY_PID" pixelgate 20
	start_viewer alice
	local i line
	for ((i = 0; i < 60; i++)); do
		audit_line '"event":"recording-stopped"' >/dev/null && break
		focus_viewer 200 600 || true
		on_viewer xdotool type --delay 40 "fill$i " >/dev/null 2>&1 || true
	done
	if line=$(audit_wait_line 20 '"event":"recording-stopped"'); then
		if [[ "$line" == *"No space left on device"* ]]; then
			pass "(3) a full disk stops the recording: $(audit_field error "$line")"
		else
			fail "(3) recording-stopped without ENOSPC: $line"
		fi
	else
		fail "(3) the recording did not stop on a full disk"
		return 0
	fi
	# Typing after the recording stopped still reaches the page.
	local word="after$((1000 + RANDOM % 9000))" end
	focus_viewer 200 600 || true
	on_viewer xdotool type --delay 60 "$word" >/dev/null 2>&1 || true
	end=$((SECONDS + 20))
	while ((SECONDS < end)); do
		on_host xdotool search --name "$word" >/dev/null 2>&1 && break
		sleep 0.25
	done
	if on_host xdotool search --name "$word" >/dev/null 2>&1 && kill -0 "$VIEWER_PID" 2>/dev/null; then
		pass "(3) the session went on after the recording stopped: '$word' reached the page"
	else
		fail "(3) '$word' did not reach the page after the recording stopped"
	fi
	# The file is in the relay's own mount namespace.
	local start file info
	start=$(audit_line '"event":"recording-start"' "$WORK/small/") || true
	file=$(audit_field file "$start")
	if info=$(nsenter -t "$RELAY_PID" -m "$BUILD_DIR/pixelgate-replay" info "$file" 2>&1); then
		pass "(3) what was recorded before the disk filled is a valid file: $(grep -i -m1 'end' <<<"$info")"
	else
		fail "(3) pixelgate-replay info on the cut recording failed: $info"
	fi
}

main() {
	(($# >= 1)) || {
		echo "usage: $PROG BUILD_DIR" >&2
		exit 2
	}
	BUILD_DIR=$(cd -- "$1" && pwd) || exit 2
	trap_exit evidence_cleanup
	need Xvfb vncviewer chromium xdotool xwininfo xdpyinfo xauth mcookie import compare \
		convert setsid awk openssl Xtigervnc ffprobe sha256sum
	local b
	for b in pixelgate pixelgate-passwd pixelgate-audit pixelgate-replay; do
		[[ -x "$BUILD_DIR/$b" ]] || abort "$BUILD_DIR/$b not found; build pixelgate"
	done
	make_work pg-e2e-evidence .png
	mkdir -m 700 "$WORK/home"
	start_browser_host
	make_files
	run_relay "$RELAY_PORT" -c "$CONF"
	start_viewer_display
	test_watermarks
	test_recording
	test_full_disk
	audit_verify "(4)"
}

main "$@"
