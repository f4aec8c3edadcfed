#!/usr/bin/env bash
# pixelgate-replay with real programs: a known recording (pg-rec-gen, built with the
# writer the relay uses) played to TigerVNC's vncviewer on its own Xvfb display,
# pictures compared pixel for pixel, a video counted with ffprobe.
#
#   bash tests/e2e/test_replay.sh BUILD_DIR
#
# (a) info reports the generator's counts, a clean end and the generator's SHA-256;
#     events prints every event with its time;
# (b) png --at gives exactly the generator's picture at that time, before and after
#     the resize; png --every writes one picture a second;
# (c) video makes an mp4 whose frame count and duration ffprobe confirms;
# (d) serve plays to vncviewer in real time: red, then green, then yellow in the
#     resized picture, at the screen points where the generator drew them; and it
#     exits by itself at the end; with --loop it starts over until SIGTERM;
# (e) a file cut short still reads (info says where it stops), gives pictures and
#     plays; a damaged file and bad arguments get clear errors and exit 1 and 2.
#
# Artifacts (screenshots, the recording) go to BUILD_DIR/e2e-artifacts/ on failure.
# Everything listens on loopback; every wait is bounded; every process is stopped.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
# The largest picture of the recording: the viewer's display is made for it.
WIDTH=400
HEIGHT=300

BUILD_DIR=""
PASSED=0
FAILED=0
WORK=""
HOST_STATE=""
HOST_DISPLAY=""
HOST_STARTED=0
ART_DIR=""
ART_NAME=replay
VIEWER_PID=""
RELAY_PID=""
XVFB_PID=""
T0=$SECONDS

# shellcheck source=tests/e2e/e2e_lib.sh
source "$HERE/e2e_lib.sh"

build_dir_arg "$@"
PR="$BUILD_DIR/pixelgate-replay"
GEN="$BUILD_DIR/pg-rec-gen"
[[ -x "$PR" && -x "$GEN" ]] || abort "build pixelgate-replay and pg-rec-gen first"
for p in Xvfb vncviewer xdotool xauth xdpyinfo mcookie import convert ffmpeg ffprobe; do
	command -v "$p" >/dev/null 2>&1 || {
		echo "$PROG: '$p' not found; skipping (tools/install-deps.sh installs it)" >&2
		exit 77
	}
done
trap_exit cleanup
make_work pg-replay

# on_fail: keep what a human needs to see why.
keep() {
	cp -f -- "$@" "$ART_DIR/" 2>/dev/null || true
}

# indent TEXT: TEXT, indented, for a failure's details.
indent() {
	while IFS= read -r line; do
		printf '    %s\n' "$line"
	done <<<"$1"
}

# check NAME WANT_RC WANT_TEXT COMMAND...: the command's exit status and output.
check() {
	local name=$1 want_rc=$2 want=$3 out rc
	shift 3
	out=$("$@" 2>&1) && rc=0 || rc=$?
	if [[ "$rc" == "$want_rc" ]] && grep -qF -- "$want" <<<"$out"; then
		pass "$name"
	else
		fail "$name: exit $rc (want $want_rc), wanted '$want' in:"
		indent "$out"
	fi
}

# same_pixels A B: the two pictures hold the same RGB pixels.
same_pixels() {
	[[ "$(convert "$1" -depth 8 rgb:- | sha256sum)" == "$(convert "$2" -depth 8 rgb:- | sha256sum)" ]] &&
		[[ "$(identify -format '%wx%h' "$1")" == "$(identify -format '%wx%h' "$2")" ]]
}

# ---- the recording ----
REC="$WORK/session.pgrec"
"$GEN" "$REC" "$WORK" >"$WORK/gen.txt" || abort "pg-rec-gen failed"
read -r _ frames _ keys _ events _ duration _ sha <"$WORK/gen.txt"
log "recording: $frames frames, $keys key, $events events, ${duration} us, sha256 $sha"

# ---- (a) info and events ----
info=$("$PR" info "$REC" 2>&1) || fail "(a) info exited $?"
if grep -qF "frames:        $frames ($keys key frames)" <<<"$info" &&
	grep -qF "events:        $events" <<<"$info" &&
	grep -qF "duration:      0:00:06.000" <<<"$info" &&
	grep -qF "sha256:        $sha" <<<"$info" &&
	grep -qF "ended:         cleanly" <<<"$info" &&
	grep -qF "user:          e2e-user" <<<"$info"; then
	pass "(a) info: $frames frames, $keys key frames, $events events, clean end, sha256 matches"
else
	fail "(a) info does not report the generator's recording:"
	indent "$info"
fi
n=$("$PR" events "$REC" | wc -l)
if ((n == events)) &&
	"$PR" events "$REC" --from 2.5 --to 0:02.6 | grep -qx '0:00:02.502  {"event":"clipboard".*'; then
	pass "(a) events: $n lines, --from/--to select the clipboard event at 2.502 s"
else
	fail "(a) events printed $n lines (want $events) or missed the clipboard event"
fi

# ---- (b) pictures ----
for f in 10 35 45 59; do
	at=$(awk -v i="$f" 'BEGIN { printf "%.2f", i / 10 + 0.05 }')
	if "$PR" png "$REC" --at "$at" -o "$WORK/at_$f.png" >/dev/null &&
		same_pixels "$WORK/at_$f.png" "$WORK/frame_$f.ppm"; then
		pass "(b) png --at $at equals the generator's frame $f ($(identify -format '%wx%h' "$WORK/at_$f.png"))"
	else
		fail "(b) png --at $at differs from the generator's frame $f"
		keep "$WORK/at_$f.png" "$WORK/frame_$f.ppm"
	fi
done
"$PR" png "$REC" --every 1 -o "$WORK/every" >/dev/null || fail "(b) png --every failed"
n=$(find "$WORK/every" -name 'frame_*.png' | wc -l)
if ((n == 7)) && same_pixels "$WORK/every/frame_00001.png" "$WORK/frame_10.ppm"; then
	pass "(b) png --every 1 wrote 7 pictures, the second one frame 10"
else
	fail "(b) png --every 1 wrote $n pictures (want 7) or the wrong ones"
fi
check "(b) png refuses to replace a file" 1 "File exists" \
	"$PR" png "$REC" --at 1 -o "$WORK/at_10.png"

# ---- (c) video ----
"$PR" video "$REC" -o "$WORK/session.mp4" >"$WORK/video.log" 2>&1 ||
	fail "(c) video failed: $(cat "$WORK/video.log")"
probe=$(ffprobe -v error -count_frames -select_streams v:0 \
	-show_entries stream=nb_read_frames,width,height,codec_name:format=duration \
	-of default=nw=1 "$WORK/session.mp4" 2>&1) || true
if grep -qx "nb_read_frames=60" <<<"$probe" && grep -qx "duration=6.000000" <<<"$probe" &&
	grep -qx "codec_name=h264" <<<"$probe" && grep -qx "width=320" <<<"$probe"; then
	pass "(c) video: h264 mp4, 320x240, 60 frames, 6.0 s (ffprobe)"
else
	fail "(c) ffprobe does not see 60 frames over 6 s of 320x240 h264:"
	indent "$probe"
fi

# ---- (d) serve to vncviewer ----
start_viewer_display

# serve FILE ARG...: pixelgate-replay serve in its own process group until it listens.
serve() {
	local file=$1 port
	shift
	port=$(free_port "") || abort "no free port"
	SERVE_PORT=$port
	setsid "$PR" serve "$file" --listen "127.0.0.1:$port" "$@" </dev/null \
		>"$WORK/serve.log" 2>&1 &
	RELAY_PID=$!
	wait_port "$port" "$RELAY_PID" pixelgate-replay 10
	grep -qF "listening on 127.0.0.1:$port" "$WORK/serve.log" ||
		fail "serve did not print its address: $(head -n 2 "$WORK/serve.log")"
}

viewer() {
	run_viewer "$WORK/vncviewer.log" -AutoSelect=0 -FullColor=1 -NoJPEG=1 \
		-PreferredEncoding=Tight -Shared=1 -ReconnectOnError=0 -AlertOnFatalError=0 \
		-geometry +0+0 -SecurityTypes None "127.0.0.1::$SERVE_PORT"
}

# colour_at X Y: the viewer display's pixel as "R,G,B".
colour_at() {
	on_viewer import -window root -crop "1x1+$1+$2" +repage -depth 8 rgb:- 2>/dev/null |
		od -An -tu1 | awk '{ printf "%s,%s,%s", $1, $2, $3 }'
}

# wait_colour X Y R,G,B SECONDS: until the viewer shows that colour at X,Y.
wait_colour() {
	local end=$((SECONDS + $4)) c=""
	while ((SECONDS < end)); do
		c=$(colour_at "$1" "$2")
		[[ "$c" == "$3" ]] && return 0
		sleep 0.2
	done
	LAST_COLOUR=$c
	return 1
}

# wait_exit PID SECONDS: true when PID exits with status 0 in time.
wait_exit() {
	local end=$((SECONDS + $2)) rc
	while ((SECONDS < end)); do
		if ! kill -0 "$1" 2>/dev/null || [[ "$(ps -o stat= -p "$1" 2>/dev/null)" == Z* ]]; then
			wait "$1" && rc=0 || rc=$?
			return "$rc"
		fi
		sleep 0.2
	done
	return 124
}

# At half speed each colour shows for 4 s (2 s in the recording).
serve "$REC" --speed 0.5
viewer
shot() {
	on_viewer import -window root "$ART_DIR/$ART_NAME-$1.png" 2>/dev/null || true
}
if wait_colour 150 150 255,0,0 20; then
	t_red=$EPOCHREALTIME
	pass "(d) the viewer shows the red start (at 150,150)"
else
	fail "(d) no red at 150,150 within 20 s (last seen ${LAST_COLOUR:-nothing})"
	shot red
fi
if [[ "$(colour_at 40 40)" == 0,0,255 ]]; then
	pass "(d) the blue square is at 40,40"
else
	fail "(d) 40,40 is $(colour_at 40 40), not blue"
fi
if wait_colour 150 150 0,192,0 10; then
	# Green starts 2 s into the recording, 4 s at half speed: seen 2 to 5.5 s after
	# the first look at red (which came up to 1.5 s after playback began).
	gap=$(awk -v a="${t_red:-0}" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	if awk -v g="$gap" 'BEGIN { exit !(g >= 2.0 && g <= 5.5) }'; then
		pass "(d) then green, ${gap} s after red: played in real time at half speed"
	else
		fail "(d) green came ${gap} s after red, not 2 to 5.5 s: not real time"
	fi
else
	fail "(d) no green at 150,150 within 10 s (last seen ${LAST_COLOUR:-nothing})"
	shot green
fi
# 370,280 lies outside the first 320x240 picture: yellow there means the viewer
# followed the resize to 400x300.
if wait_colour 370 280 255,255,0 10; then
	pass "(d) then yellow at 370,280: the viewer followed the resize to 400x300"
else
	fail "(d) no yellow at 370,280 within 10 s (last seen ${LAST_COLOUR:-nothing})"
	shot yellow
fi
if wait_exit "$RELAY_PID" 15; then
	pass "(d) serve exited by itself (status 0) at the recording's end"
else
	fail "(d) serve did not exit cleanly at the end: $(tail -n 3 "$WORK/serve.log")"
fi
RELAY_PID=""
if grep -qF "viewer-join" "$WORK/serve.log"; then
	pass "(d) serve printed the events as they passed"
else
	fail "(d) serve did not print the events"
fi
stop_child "$VIEWER_PID" vncviewer
VIEWER_PID=""

# --loop at 4x: 1.5 s of pictures and a second's pause, over and over: red again
# after yellow means it started over (and went back to 320x240); SIGTERM stops it.
serve "$REC" --speed 4 --loop
viewer
if wait_colour 150 150 255,0,0 20 && wait_colour 370 280 255,255,0 10 &&
	wait_colour 150 150 255,0,0 10; then
	pass "(d) --loop starts over: red, yellow, red again"
else
	fail "(d) --loop did not start over (last seen ${LAST_COLOUR:-nothing})"
fi
kill -TERM "$RELAY_PID" 2>/dev/null || true
if wait_exit "$RELAY_PID" 10 && grep -qF "stopped by signal 15" "$WORK/serve.log"; then
	pass "(d) SIGTERM stops serve --loop (status 0)"
else
	fail "(d) serve --loop did not stop cleanly on SIGTERM: $(tail -n 2 "$WORK/serve.log")"
fi
RELAY_PID=""
stop_child "$VIEWER_PID" vncviewer
VIEWER_PID=""

# ---- (e) cut short, damaged, bad arguments ----
size=$(stat -c %s "$REC")
CUT="$WORK/cut.pgrec"
head -c $((size * 2 / 3)) "$REC" >"$CUT"
check "(e) info on a cut file says where it stops (exit 0)" 0 "cut short: offset" "$PR" info "$CUT"
rm -f "$WORK/cut.png"
if "$PR" png "$CUT" --at 99 -o "$WORK/cut.png" >/dev/null 2>&1 && [[ -s "$WORK/cut.png" ]]; then
	pass "(e) png of a cut file gives its last picture"
else
	fail "(e) png of a cut file failed"
fi
serve "$CUT" --speed 4
viewer
if wait_colour 150 150 255,0,0 20; then
	pass "(e) a cut file plays to vncviewer"
else
	fail "(e) the cut file did not play (last seen ${LAST_COLOUR:-nothing})"
fi
if wait_exit "$RELAY_PID" 15; then
	pass "(e) serve of the cut file exited by itself at its end"
else
	fail "(e) serve of the cut file did not exit cleanly"
fi
RELAY_PID=""
stop_child "$VIEWER_PID" vncviewer
VIEWER_PID=""

BAD="$WORK/bad.pgrec"
cp "$REC" "$BAD"
# The first record after META: its reserved bytes made non-zero.
meta_len=$(od -An -tu1 -j 20 -N 4 "$REC" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
off=$((32 + meta_len))
printf '\x55' | dd of="$BAD" bs=1 seek=$((off + 2)) conv=notrunc status=none
check "(e) info on a damaged file names the offset (exit 1)" 1 \
	"DAMAGED: offset $off: record type" "$PR" info "$BAD"
printf 'not a recording at all' >"$WORK/junk"
check "(e) not a recording (exit 1)" 1 "offset 0: not a pixelgate recording" "$PR" info "$WORK/junk"
check "(e) bad time (exit 2)" 2 "bad value '1:75'" "$PR" png "$REC" --at 1:75 -o "$WORK/x.png"
check "(e) non-loopback listen refused (exit 2)" 2 "not loopback" \
	"$PR" serve "$REC" --listen 0.0.0.0:0
check "(e) unknown command (exit 2)" 2 "unknown command" "$PR" frobnicate "$REC"
check "(e) video wants a known container (exit 2)" 2 "mp4" "$PR" video "$REC" -o "$WORK/x.avi"

if ((FAILED)); then
	keep "$REC" "$WORK/serve.log" "$WORK/vncviewer.log"
fi
