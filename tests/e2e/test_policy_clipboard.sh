#!/usr/bin/env bash
# The clipboard policy (docs/policy.md), proven with real programs: a browser host
# (Xtigervnc running Chromium, started by tools/pg-browser-host), pixelgate in
# between, and TigerVNC's vncviewer on its own Xvfb display; xclip sets and reads the
# CLIPBOARD selection on each display.
#
#   bash tests/e2e/test_policy_clipboard.sh BUILD_DIR
#
# (1) clipboard_to_viewer = text: text copied on the browser host (two lines of
#     Japanese) reaches the viewer's clipboard, LF intact; the audit has an allowed
#     to-viewer record, and (audit_clipboard_text = 0) never the text itself.
# (2) After a live reload (pixelgate -c CONF --reload, through [relay]
#     control_socket) to clipboard_to_viewer = deny: new host text is refused
#     (audit rule "clipboard_to_viewer = deny") and the viewer's clipboard does not
#     get it.
# (3) clipboard_to_browser = text, clipboard_min_interval_ms = 0: text copied in the
#     viewer reaches the browser host's clipboard. "住民票の写し" crosses; a valid My
#     Number in full-width digits does not (rule "detector mynumber"); the same
#     digits with a wrong check digit do. Then, reloaded with a long
#     clipboard_min_interval_ms, the next transfer is refused by that rule.
# (4) pixelgate-audit verify passes on the audit file.
#
# Everything listens on loopback (security = none); every wait is bounded; every
# process this script starts is stopped by its pid on any exit. On failure the
# logs, the audit file and screenshots of both displays go to
# BUILD_DIR/e2e-artifacts/policy-clipboard-*.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
readonly WIDTH=800 HEIGHT=600
readonly BACKEND=tigervnc

# The texts, as UTF-8 bytes (so the script does not depend on the locale).
# 住民票の写し / 2行目
readonly HOST_TEXT=$'\xe4\xbd\x8f\xe6\xb0\x91\xe7\xa5\xa8\xe3\x81\xae\xe5\x86\x99\xe3\x81\x97\n2\xe8\xa1\x8c\xe7\x9b\xae'
# 転送禁止 / 2行目 (offered while clipboard_to_viewer = deny)
readonly HOST_TEXT_DENIED=$'\xe8\xbb\xa2\xe9\x80\x81\xe7\xa6\x81\xe6\xad\xa2\n2\xe8\xa1\x8c\xe7\x9b\xae'
# 住民票の写し
readonly VIEWER_TEXT=$'\xe4\xbd\x8f\xe6\xb0\x91\xe7\xa5\xa8\xe3\x81\xae\xe5\x86\x99\xe3\x81\x97'
# １２３４ ５６７８ ９０１８: a valid My Number in full-width digits
readonly MYNUMBER=$'\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94 \xef\xbc\x95\xef\xbc\x96\xef\xbc\x97\xef\xbc\x98 \xef\xbc\x99\xef\xbc\x90\xef\xbc\x91\xef\xbc\x98'
# １２３４ ５６７８ ９０１２: the same with a wrong check digit
readonly NOT_MYNUMBER=$'\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94 \xef\xbc\x95\xef\xbc\x96\xef\xbc\x97\xef\xbc\x98 \xef\xbc\x99\xef\xbc\x90\xef\xbc\x91\xef\xbc\x92'
# 間隔テスト (offered too soon after the previous transfer)
readonly TOO_SOON=$'\xe9\x96\x93\xe9\x9a\x94\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88'

PASSED=0
FAILED=0
WORK=""
HOST_STATE=""
HOST_DISPLAY=""
HOST_STARTED=0
ART_DIR=""
ART_NAME=policy-clipboard
VIEWER_PID=""
VIEWER_WIN=""
VIEWER_DISPLAY=""
RELAY_PID=""
XVFB_PID=""
XCLIP_PIDS=()
CONF=""
AUDIT=""
T0=$SECONDS

# shellcheck source=tests/e2e/e2e_lib.sh
source "$HERE/e2e_lib.sh"

# Processes ---------------------------------------------------------------

finish() {
	local rc=$? pid
	set +e
	((rc == 0 && FAILED == 0)) || save_artifacts host
	for pid in "${XCLIP_PIDS[@]}"; do
		stop_child "$pid" xclip
	done
	(exit "$rc")
	cleanup
}

# write_config TO_VIEWER TO_BROWSER MIN_INTERVAL_MS: the whole configuration,
# written to a new file and renamed over CONF so a reload never reads half a file.
write_config() {
	cat >"$CONF.new" <<EOF
[relay]
listen = 127.0.0.1:$RELAY_PORT
security = none
audit_file = $AUDIT
audit_clipboard_text = 0
control_socket = $WORK/control.sock
log_level = debug

[upstream]
address = 127.0.0.1:$HOST_PORT
password_file = $WORK/password

[policy]
clipboard_to_viewer = $1
clipboard_to_browser = $2
clipboard_min_interval_ms = $3
EOF
	mv -f -- "$CONF.new" "$CONF"
}

start_relay() {
	RELAY_PORT=$(free_port "$HOST_PORT") || abort "no free port"
	write_config text deny 0
	check_config
	log "pixelgate: 127.0.0.1:$RELAY_PORT -> 127.0.0.1:$HOST_PORT"
	run_relay "$RELAY_PORT" -c "$CONF"
}

# reload TO_VIEWER TO_BROWSER MIN_INTERVAL_MS: rewrite the configuration and have the
# running relay apply it through its control socket.
reload() {
	local before out
	before=$(audit_lines)
	write_config "$@"
	out=$("$BUILD_DIR/pixelgate" -c "$CONF" --reload 2>&1) ||
		abort "pixelgate --reload failed: $out"
	# The reload is audited, and the viewer took the new policy.
	wait_audit "$before" 5 '"event":"config-reload"' '"result":"applied"' ||
		abort "no config-reload record (result applied) after --reload: $out"
	wait_audit "$before" 5 '"event":"policy-applied"' '"reason":"reload"' ||
		abort "the viewer did not get a policy-applied record after --reload"
	log "reloaded: clipboard_to_viewer = $1, clipboard_to_browser = $2, clipboard_min_interval_ms = $3 ($out)"
	# docs/policy.md: policy-applied names the resolved clipboard rules, on a reload too.
	if audit_new "$before" '"event":"policy-applied"' '"reason":"reload"' \
		"\"clipboard_to_browser\":\"$2\",\"clipboard_to_viewer\":\"$1\"" >/dev/null; then
		pass "reload: policy-applied shows clipboard_to_viewer $1, clipboard_to_browser $2"
	else
		fail "reload: the policy-applied record does not show the new clipboard_to_viewer/clipboard_to_browser:" \
			"$(audit_new "$before" '"event":"policy-applied"' | head -n 1 | sed 's/,"prev":.*//')"
	fi
}

start_viewer() {
	log "vncviewer -> 127.0.0.1::$RELAY_PORT"
	run_viewer "$WORK/vncviewer.log" -SecurityTypes None -Shared=1 -RemoteResize=0 \
		-ReconnectOnError=0 -AlertOnFatalError=0 \
		-AcceptClipboard=1 -SendClipboard=1 -SetPrimary=0 -SendPrimary=0 \
		-geometry "${WIDTH}x${HEIGHT}+0+0" -Log='*:stderr:100' \
		"127.0.0.1::$RELAY_PORT"
	wait_viewer_window "$WORK/vncviewer.log"
	# TigerVNC announces its clipboard, and asks for the server's, only while its
	# window has the focus.
	focus_viewer 100 100 || abort "cannot focus the viewer window"
	log "viewer window $VIEWER_WIN focused"
}

# Clipboards --------------------------------------------------------------

# set_clipboard host|viewer TEXT: xclip owns CLIPBOARD on that display, in the
# foreground (-quiet) of its own process group, until another owner takes it or it
# is stopped by its pid.
set_clipboard() {
	local where=$1 text=$2 pid
	for pid in "${XCLIP_PIDS[@]}"; do
		stop_child "$pid" xclip
	done
	XCLIP_PIDS=()
	printf '%s' "$text" >"$WORK/clip-in"
	# setsid itself, not a shell function, so $! is xclip's pid and process group.
	if [[ $where == host ]]; then
		DISPLAY=":$HOST_DISPLAY" XAUTHORITY="$HOST_STATE/Xauthority" \
			setsid xclip -selection clipboard -i -quiet "$WORK/clip-in" \
			</dev/null >/dev/null 2>>"$WORK/xclip.log" &
	else
		DISPLAY=":$VIEWER_DISPLAY" XAUTHORITY="$WORK/viewer.Xauthority" \
			setsid xclip -selection clipboard -i -quiet "$WORK/clip-in" \
			</dev/null >/dev/null 2>>"$WORK/xclip.log" &
	fi
	XCLIP_PIDS+=($!)
}

# read_clipboard host|viewer FILE: the display's CLIPBOARD, bytes as they are.
# Bounded: the owner may have to ask the other side of the relay first.
read_clipboard() {
	local where=$1 out=$2
	if [[ $where == host ]]; then
		on_host timeout 3 xclip -selection clipboard -o >"$out" 2>/dev/null || : >"$out"
	else
		on_viewer timeout 3 xclip -selection clipboard -o >"$out" 2>/dev/null || : >"$out"
	fi
}

# wait_clipboard host|viewer TEXT SECONDS: until the display's clipboard holds
# exactly TEXT.
wait_clipboard() {
	local where=$1 text=$2 end=$((SECONDS + $3))
	printf '%s' "$text" >"$WORK/want"
	while ((SECONDS < end)); do
		read_clipboard "$where" "$WORK/got"
		cmp -s "$WORK/got" "$WORK/want" && return 0
		sleep 0.25
	done
	return 1
}

hex() {
	od -An -tx1 "$1" | tr -d '\n' | sed 's/^ //' | cut -c1-200
}

# Audit -------------------------------------------------------------------

audit_lines() {
	if [[ -f "$AUDIT" ]]; then wc -l <"$AUDIT"; else echo 0; fi
}

# audit_new AFTER STRING...: records after line AFTER that contain every STRING
# (records are compact JSON with a fixed key order).
audit_new() {
	local after=$1 s
	shift
	local lines
	lines=$(tail -n "+$((after + 1))" "$AUDIT" 2>/dev/null) || return 1
	for s in "$@"; do
		lines=$(grep -F -- "$s" <<<"$lines") || return 1
	done
	printf '%s\n' "$lines"
}

# wait_audit AFTER SECONDS STRING...: until such a record exists.
wait_audit() {
	local after=$1 end=$((SECONDS + $2))
	shift 2
	while ((SECONDS < end)); do
		audit_new "$after" "$@" >/dev/null && return 0
		sleep 0.2
	done
	return 1
}

clip_record() {
	printf '%s' "\"event\":\"clipboard\",\"user\":\"-\","
}

# Steps -------------------------------------------------------------------

# check_record NAME RECORD RULE TEXT: an allowed or denied clipboard record names
# the rule that decided and counts the text (docs/policy.md, "Audit events"): bytes
# as received (LF, or CRLF on the wire), chars as characters.
check_record() {
	local name=$1 rec=$2 rule=$3 text=$4 got_rule got_bytes got_chars bytes chars nl
	got_rule=$(sed -n 's/.*"rule":"\([^"]*\)".*/\1/p' <<<"$rec")
	got_bytes=$(sed -n 's/.*"bytes":\([0-9]*\).*/\1/p' <<<"$rec")
	got_chars=$(sed -n 's/.*"chars":\([0-9]*\).*/\1/p' <<<"$rec")
	bytes=$(printf '%s' "$text" | wc -c)
	nl=$(printf '%s' "$text" | tr -cd '\n' | wc -c)
	chars=$(printf '%s' "$text" | iconv -f UTF-8 -t UTF-32LE | wc -c)
	chars=$((chars / 4))
	if [[ "$got_rule" == "$rule"* &&
		("$got_bytes" == "$bytes" || "$got_bytes" == "$((bytes + nl))") &&
		("$got_chars" == "$chars" || "$got_chars" == "$((chars + nl))") ]]; then
		pass "$name the record names rule \"$got_rule\", $got_bytes bytes, $got_chars characters"
	else
		fail "$name the record should name rule \"$rule\", $bytes bytes and $chars characters; it has rule \"$got_rule\", bytes $got_bytes, chars $got_chars"
	fi
}

# (1) browser host -> viewer, clipboard_to_viewer = text.
test_to_viewer_allowed() {
	local before start=$SECONDS rec
	before=$(audit_lines)
	log "(1) copying two lines of Japanese on the browser host"
	set_clipboard host "$HOST_TEXT"
	if wait_clipboard viewer "$HOST_TEXT" 15; then
		pass "(1) host text reached the viewer's clipboard byte for byte, LF intact, in $((SECONDS - start)) s"
	else
		fail "(1) the viewer's clipboard did not get the host text within 15 s (got $(hex "$WORK/got"))"
	fi
	if wait_audit "$before" 5 "$(clip_record)" '"direction":"to-viewer","verdict":"allowed"'; then
		rec=$(audit_new "$before" "$(clip_record)" '"direction":"to-viewer","verdict":"allowed"' |
			head -n 1)
		pass "(1) audit: clipboard to-viewer allowed, user \"-\""
		check_record "(1)" "$rec" "clipboard_to_viewer = text" "$HOST_TEXT"
	else
		fail "(1) no clipboard record {direction to-viewer, verdict allowed} within 5 s"
	fi
}

# (2) browser host -> viewer after a live reload to clipboard_to_viewer = deny.
test_to_viewer_denied() {
	local before end
	reload deny deny 0
	before=$(audit_lines)
	log "(2) copying new text on the browser host"
	set_clipboard host "$HOST_TEXT_DENIED"
	if wait_audit "$before" 15 "$(clip_record)" '"direction":"to-viewer","verdict":"denied"' \
		'"rule":"clipboard_to_viewer = deny"'; then
		pass "(2) audit: clipboard to-viewer denied, user \"-\", rule \"clipboard_to_viewer = deny\""
	else
		fail "(2) no clipboard record {direction to-viewer, verdict denied, rule clipboard_to_viewer = deny} within 15 s"
	fi
	# Give a leak time to arrive: the viewer's clipboard must never hold the text.
	printf '%s' "$HOST_TEXT_DENIED" >"$WORK/want"
	end=$((SECONDS + 4))
	while ((SECONDS < end)); do
		read_clipboard viewer "$WORK/got"
		if cmp -s "$WORK/got" "$WORK/want"; then
			fail "(2) the denied text reached the viewer's clipboard"
			return 0
		fi
		sleep 0.25
	done
	if audit_new "$before" "$(clip_record)" '"direction":"to-viewer","verdict":"allowed"' >/dev/null; then
		fail "(2) an allowed to-viewer record after the reload to deny"
	else
		pass "(2) the viewer's clipboard did not get the denied text within 4 s (it holds $(hex "$WORK/got" | cut -c1-35)...)"
	fi
}

# viewer_to_host NAME TEXT allowed|denied RULE
viewer_to_host() {
	local name=$1 text=$2 want=$3 rule=$4 before start=$SECONDS end rec
	before=$(audit_lines)
	log "$name: copying in the viewer ($(printf '%s' "$text" | wc -c) bytes)"
	set_clipboard viewer "$text"
	if wait_audit "$before" 15 "$(clip_record)" \
		"\"direction\":\"to-browser\",\"verdict\":\"$want\""; then
		rec=$(audit_new "$before" "$(clip_record)" \
			"\"direction\":\"to-browser\",\"verdict\":\"$want\"" | head -n 1)
		pass "$name: audit: clipboard to-browser $want, user \"-\""
		check_record "$name:" "$rec" "$rule" "$text"
	else
		fail "$name: no clipboard record {direction to-browser, verdict $want} within 15 s" \
			"(got: $(audit_new "$before" '"event":"clipboard"' | head -n 2 | cut -c1-300))"
	fi
	if [[ $want == allowed ]]; then
		if wait_clipboard host "$text" 15; then
			pass "$name: crossed to the browser host's clipboard, byte for byte, in $((SECONDS - start)) s"
		else
			fail "$name: the browser host's clipboard did not get it within 15 s (got $(hex "$WORK/got"))"
		fi
		return 0
	fi
	# Give a leak time to arrive: the host's clipboard must never hold the text.
	printf '%s' "$text" >"$WORK/want"
	end=$((SECONDS + 3))
	while ((SECONDS < end)); do
		read_clipboard host "$WORK/got"
		if cmp -s "$WORK/got" "$WORK/want"; then
			fail "$name: denied, but it reached the browser host's clipboard"
			return 0
		fi
		sleep 0.25
	done
	pass "$name: did not reach the browser host's clipboard within 3 s"
}

# (3) viewer -> browser host.
test_to_browser() {
	reload deny text 0
	viewer_to_host "(3a) 住民票の写し" "$VIEWER_TEXT" allowed "clipboard_to_browser = text"
	viewer_to_host "(3b) My Number １２３４ ５６７８ ９０１８" "$MYNUMBER" denied "detector mynumber"
	viewer_to_host "(3c) wrong check digit １２３４ ５６７８ ９０１２" "$NOT_MYNUMBER" allowed \
		"clipboard_to_browser = text"
	reload deny text 600000
	viewer_to_host "(3d) too soon after the last transfer" "$TOO_SOON" denied \
		"clipboard_min_interval_ms"
}

# The texts never appear in the audit file, raw or as JSON escapes.
test_audit_has_no_text() {
	local t found=""
	for t in $'\xe4\xbd\x8f\xe6\xb0\x91\xe7\xa5\xa8' $'\xe8\xa1\x8c\xe7\x9b\xae' \
		$'\xe8\xbb\xa2\xe9\x80\x81' $'\xef\xbc\x91\xef\xbc\x92' $'\xe9\x96\x93\xe9\x9a\x94' \
		'\u4f4f' '\u884c' '\u8ee2' '\uff11' '\u9593' '123456789018' '123456789012'; do
		grep -qiF -- "$t" "$AUDIT" && found+=" '$t'"
	done
	if [[ -z "$found" ]]; then
		pass "(1)-(3) with audit_clipboard_text = 0 none of the clipboard texts appears in the audit file"
	else
		fail "(1)-(3) clipboard text in the audit file:$found"
	fi
}

main() {
	build_dir_arg "$@"
	trap_exit finish

	need Xvfb Xtigervnc vncviewer vncpasswd chromium xclip xdotool xwininfo xdpyinfo \
		xauth mcookie import setsid timeout od cmp iconv
	local f
	for f in pixelgate pixelgate-audit; do
		[[ -x "$BUILD_DIR/$f" ]] || abort "$BUILD_DIR/$f not found; build first"
	done

	make_work pg-policy-clip
	CONF="$WORK/pixelgate.conf"
	AUDIT="$WORK/audit.jsonl"

	start_browser_host
	start_relay
	start_viewer_display
	start_viewer
	# The viewer has joined: its policy was resolved.
	wait_audit 0 10 '"event":"policy-applied"' '"clipboard_to_viewer":"text"' ||
		abort "no policy-applied record for the viewer"

	test_to_viewer_allowed
	test_to_viewer_denied
	test_to_browser
	test_audit_has_no_text
	# (4) the chain of the whole audit file.
	audit_verify "(4)"
}

main "$@"
