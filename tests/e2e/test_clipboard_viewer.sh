#!/usr/bin/env bash
# Extended Clipboard interop with TigerVNC's vncviewer, both directions, through
# pixelgate's codec/clipboard.c (no relay yet):
#
#   bash tests/e2e/test_clipboard_viewer.sh BUILD_DIR
#
# A small RFB server (tests/e2e/clip_viewer_host.c, built here against
# BUILD_DIR/libpg_codec.a) sends caps, notify and, on the viewer's request, a
# provide of Japanese text; (a) the viewer's clipboard, read with xclip on its own
# Xvfb display, must then hold exactly that text (CRLF on the wire, LF in X).
# (b) Text put on the viewer's clipboard with xclip must come back in the viewer's
# provide, parsed by pg_xclip_parse, byte for byte (LF in X, CRLF on the wire).
# Everything listens on loopback; every wait is bounded; every process this script
# starts is stopped by its pid on any exit.
set -euo pipefail

readonly PROG=${0##*/}
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd -- "$HERE/../.." && pwd)
readonly HERE SRC
BUILD_DIR=${1:?usage: $PROG BUILD_DIR}
BUILD_DIR=$(cd -- "$BUILD_DIR" && pwd)

# 住民票の写し / 2行目 and マイナンバー / line2, as UTF-8 bytes.
readonly TO_VIEWER=$'\xe4\xbd\x8f\xe6\xb0\x91\xe7\xa5\xa8\xe3\x81\xae\xe5\x86\x99\xe3\x81\x97\r\n2\xe8\xa1\x8c\xe7\x9b\xae'
readonly IN_VIEWER=$'\xe4\xbd\x8f\xe6\xb0\x91\xe7\xa5\xa8\xe3\x81\xae\xe5\x86\x99\xe3\x81\x97\n2\xe8\xa1\x8c\xe7\x9b\xae'
readonly FROM_VIEWER_X=$'\xe3\x83\x9e\xe3\x82\xa4\xe3\x83\x8a\xe3\x83\xb3\xe3\x83\x90\xe3\x83\xbc\nline2'
readonly FROM_VIEWER_WIRE=$'\xe3\x83\x9e\xe3\x82\xa4\xe3\x83\x8a\xe3\x83\xb3\xe3\x83\x90\xe3\x83\xbc\r\nline2'

PASSED=0
FAILED=0
WORK=""
PIDS=()
T0=$SECONDS

log() { echo "$PROG: [$((SECONDS - T0))s] $*" >&2; }
pass() { echo "PASS: $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL: $*"; FAILED=$((FAILED + 1)); }
abort() { log "error: $*"; FAILED=$((FAILED + 1)); exit 1; }

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if ((FAILED > 0)) && [[ -n "$WORK" ]]; then
		for f in host.log viewer.log; do
			[[ -f "$WORK/$f" ]] && { echo "--- $f"; tail -n 40 "$WORK/$f"; }
		done
	fi
	[[ -n "$WORK" ]] && rm -rf -- "$WORK"
	echo "$PROG: $PASSED passed, $FAILED failed"
	((FAILED == 0))
}
trap cleanup EXIT

for p in vncviewer Xvfb xclip xdotool cc pkg-config; do
	command -v "$p" >/dev/null 2>&1 || abort "'$p' not found; install it (see the README)"
done
[[ -f "$BUILD_DIR/libpg_codec.a" ]] || abort "no libpg_codec.a in $BUILD_DIR: build first"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pg-clip-e2e.XXXXXX")
cc -std=c11 -D_GNU_SOURCE -I"$SRC" "$HERE/clip_viewer_host.c" "$BUILD_DIR/libpg_codec.a" \
	$(pkg-config --libs zlib) -o "$WORK/clip_viewer_host" || abort "cannot build the helper"

# A free X display number: no socket and no lock file.
DPY=""
for n in $(seq 150 250); do
	if [[ ! -e /tmp/.X11-unix/X$n && ! -e /tmp/.X$n-lock ]]; then
		DPY=$n
		break
	fi
done
[[ -n "$DPY" ]] || abort "no free X display"
Xvfb ":$DPY" -nolisten tcp -screen 0 640x480x24 >"$WORK/xvfb.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
	[[ -e /tmp/.X11-unix/X$DPY ]] && break
	sleep 0.1
done
[[ -e /tmp/.X11-unix/X$DPY ]] || abort "Xvfb :$DPY did not start"
export DISPLAY=":$DPY"
unset XAUTHORITY

"$WORK/clip_viewer_host" "$WORK/port" "$TO_VIEWER" "$WORK/received" 2>"$WORK/host.log" &
PIDS+=($!)
for _ in $(seq 100); do
	[[ -s "$WORK/port" ]] && break
	sleep 0.1
done
[[ -s "$WORK/port" ]] || abort "the helper did not listen"
PORT=$(<"$WORK/port")
log "helper on 127.0.0.1:$PORT, viewer on :$DPY"

vncviewer -SecurityTypes=None -AcceptClipboard=1 -SendClipboard=1 -SetPrimary=0 \
	-Log='*:stderr:100' "127.0.0.1::$PORT" >"$WORK/viewer.log" 2>&1 &
PIDS+=($!)

# TigerVNC asks for the server's text only while its window has focus.
WID=$(timeout 20 xdotool search --sync --name 'pixelgate clipboard test' | head -n 1) ||
	abort "no viewer window within 20 s"
xdotool windowfocus --sync "$WID" || abort "cannot focus the viewer window"
log "viewer window $WID focused"

# (a) host -> viewer
got=""
for _ in $(seq 100); do
	got=$(timeout 2 xclip -selection clipboard -o 2>/dev/null) || got=""
	[[ "$got" == "$IN_VIEWER" ]] && break
	sleep 0.2
done
if [[ "$got" == "$IN_VIEWER" ]]; then
	pass "the viewer's clipboard holds the provided Japanese text"
else
	fail "viewer clipboard: got '$(printf '%s' "$got" | od -An -tx1 | tr -d '\n')'"
fi

# (b) viewer -> host: xclip owns the clipboard in the foreground (-quiet) until
# stopped by its pid.
printf '%s' "$FROM_VIEWER_X" | xclip -selection clipboard -i -quiet >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
	[[ -s "$WORK/received" ]] && break
	sleep 0.2
done
if [[ -s "$WORK/received" ]] && cmp -s "$WORK/received" <(printf '%s' "$FROM_VIEWER_WIRE"); then
	pass "the viewer's provide carried the Japanese text, CRLF, parsed by pg_xclip_parse"
else
	fail "from the viewer: got '$(od -An -tx1 "$WORK/received" 2>/dev/null | tr -d '\n')'"
fi
