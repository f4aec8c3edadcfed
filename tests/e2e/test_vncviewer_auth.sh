#!/usr/bin/env bash
# End to end with a login: TigerVNC's vncviewer logs in through pixelgate with
# VeNCrypt X509Plain (a self-signed certificate for 127.0.0.1 and localhost,
# given to the viewer with -X509CA) and Plain credentials from VNC_USERNAME and
# VNC_PASSWORD; the browser host is Xtigervnc with Chromium on
# tools/demo-page (tools/pg-browser-host), the viewer runs on its own Xvfb.
#
#   bash tests/e2e/test_vncviewer_auth.sh BUILD_DIR
#
# (a) the viewer's picture matches the browser host's screen (PSNR >= 30 dB);
# (b) a word typed into the viewer reaches the page title;
# (c) the relay's audit trail has auth-success and viewer-join for the user;
# (d) a wrong password, an unknown user, a locked user and an expired TOTP
#     code are refused: vncviewer says so, nobody joins, the relay logs the
#     precise reason and the audit trail has auth-failure with it;
# (e) pixelgate-audit verify accepts the audit trail;
# (f) a TOTP user types password and code in the one password box and gets in
#     (needs python3 to compute the code).
# Screenshots go to BUILD_DIR/e2e-artifacts/auth-*.png. Loopback only; every
# wait is bounded; every process is stopped on any exit.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
readonly WIDTH=1024 HEIGHT=768
readonly PSNR_MIN=30
readonly USER_NAME=alice
readonly TOTP_SECRET=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
readonly BACKEND=tigervnc

BUILD_DIR=""
ENCODING=${PG_E2E_ENCODING:-Tight}
PASSED=0
FAILED=0
WORK=""
HOST_STATE=""
HOST_STARTED=0
ART_DIR=""
ART_NAME=auth
VIEWER_PID=""
RELAY_PID=""
XVFB_PID=""
USER_PASSWORD=""
T0=$SECONDS

# Processes --------------------------------------------------------------

# Steps ------------------------------------------------------------------

# A self-signed certificate (its own CA) for 127.0.0.1 and localhost, a users
# file with one user, and the relay's config.

# shellcheck source=tests/e2e/e2e_lib.sh
source "$HERE/e2e_lib.sh"

make_login_files() {
	(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -days 2 -subj /CN=127.0.0.1 \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		-keyout "$WORK/key.pem" -out "$WORK/cert.pem" >"$WORK/openssl.log" 2>&1) ||
		abort "openssl could not make the certificate (see openssl.log)"
	chmod 600 "$WORK/key.pem"
	chmod 644 "$WORK/cert.pem"
	USER_PASSWORD="pg-e2e-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
	local u
	for u in "$USER_NAME" carol dave; do
		printf '%s\n' "$USER_PASSWORD" |
			PIXELGATE_SCRYPT_LN=10 "$BUILD_DIR/pixelgate-passwd" -f "$WORK/users" \
				add "$u" --groups staff >/dev/null ||
			abort "pixelgate-passwd add $u failed"
	done
	"$BUILD_DIR/pixelgate-passwd" -f "$WORK/users" lock carol >/dev/null ||
		abort "pixelgate-passwd lock failed"
	# dave gets a known TOTP secret (enrolment itself is test_passwd.sh's job).
	sed -i "s/^dave:\([^:]*\):\([^:]*\):[^:]*:/dave:\1:\2:$TOTP_SECRET:/" "$WORK/users"
	grep -q "^dave:.*:$TOTP_SECRET:" "$WORK/users" || abort "could not give dave a TOTP secret"
	RELAY_PORT=$(free_port "$HOST_PORT") || abort "no free port"
	cat >"$WORK/pixelgate.conf" <<CONF
[relay]
listen = 127.0.0.1:$RELAY_PORT
security = vencrypt
tls_cert = $WORK/cert.pem
tls_key = $WORK/key.pem
users_file = $WORK/users
audit_file = $WORK/audit.jsonl

[upstream]
address = 127.0.0.1:$HOST_PORT
password_file = $WORK/password
CONF
}

start_relay() {
	local bin="$BUILD_DIR/pixelgate"
	[[ -x "$bin" ]] || abort "$bin not found; build pixelgate"
	log "pixelgate: 127.0.0.1:$RELAY_PORT (VeNCrypt X509Plain) -> 127.0.0.1:$HOST_PORT"
	"$bin" -c "$WORK/pixelgate.conf" --check >"$WORK/check.log" 2>&1 ||
		abort "pixelgate --check refused the config: $(tr '\n' ' ' <"$WORK/check.log")"
	run_relay "$RELAY_PORT" -c "$WORK/pixelgate.conf"
}

# start_viewer_process PASSWORD LOGNAME: vncviewer with X509Plain; the user
# name and password come from the environment, as the issue asks.
# start_viewer_process USER PASSWORD LOGNAME: vncviewer with X509Plain; the
# user name and password come from the environment, as the issue asks.
start_viewer_process() {
	local args=(-AutoSelect=0 -FullColor=1 -NoJPEG=1
		"-PreferredEncoding=$ENCODING" -RemoteResize=0 -Shared=1
		-ReconnectOnError=0 -AlertOnFatalError=0
		-SecurityTypes X509Plain -X509CA "$WORK/cert.pem"
		-geometry "${WIDTH}x${HEIGHT}+0+0")
	log "vncviewer -> 127.0.0.1::$RELAY_PORT as $1"
	HOME="$WORK/home" VNC_USERNAME="$1" VNC_PASSWORD="$2" \
		run_viewer "$WORK/$3" "${args[@]}" "127.0.0.1::$RELAY_PORT"
}

# start_viewer USER PASSWORD LOGNAME: wait for the connected viewer's window;
# false when it does not come within 30 s.
start_viewer() {
	start_viewer_process "$1" "$2" "$3"
	wait_viewer_window "$WORK/$3" log || return 1
	log "viewer window $VIEWER_WIN"
}

audit_has() {
	local line
	while IFS= read -r line; do
		local ok=1 n
		for n in "$@"; do
			[[ "$line" == *"$n"* ]] || { ok=0; break; }
		done
		((ok)) && return 0
	done <"$WORK/audit.jsonl"
	return 1
}

audit_count() {
	local c=0 line n ok
	while IFS= read -r line; do
		ok=1
		for n in "$@"; do
			[[ "$line" == *"$n"* ]] || { ok=0; break; }
		done
		((ok)) && c=$((c + 1))
	done <"$WORK/audit.jsonl"
	echo "$c"
}

# (c) What the audit trail says about the login that worked.
test_audit_login() {
	if audit_has '"event":"auth-success"' "\"user\":\"$USER_NAME\"" '"source":"127.0.0.1"' &&
		audit_has '"event":"viewer-join"' "\"user\":\"$USER_NAME\""; then
		pass "(c) audit: auth-success and viewer-join for $USER_NAME from 127.0.0.1"
	else
		fail "(c) audit lacks auth-success or viewer-join for $USER_NAME"
	fi
	if grep -q "'$USER_NAME' logged in" "$WORK/pixelgate.log" &&
		grep -q "TLSv1\.[23]" "$WORK/pixelgate.log"; then
		pass "(c) relay log: '$USER_NAME' logged in over $(grep -o 'TLSv1\.[23]' "$WORK/pixelgate.log" | head -n 1)"
	else
		fail "(c) the relay log does not show the TLS login"
	fi
}

# (d) The same viewer with a wrong password: refused, audited, never joined.
# refused_login LABEL USER PASSWORD REASON: vncviewer is refused, the relay
# logs the precise reason, the audit trail has it, and nobody joins.
refused_login() {
	local label=$1 user=$2 password=$3 reason=$4 end i joins_before joins
	local logname="vncviewer-$user.log"
	local needle="login of '$user' refused: $reason"
	joins_before=$(audit_count '"event":"viewer-join"')
	start_viewer_process "$user" "$password" "$logname"
	end=$((SECONDS + 20))
	while ((SECONDS < end)); do
		grep -qF "$needle" "$WORK/pixelgate.log" && break
		sleep 0.2
	done
	# vncviewer reports the failure and exits (-AlertOnFatalError=0).
	for ((i = 0; i < 50; i++)); do
		kill -0 "$VIEWER_PID" 2>/dev/null || break
		sleep 0.1
	done
	if grep -qF "$needle" "$WORK/pixelgate.log"; then
		pass "$label relay log: $needle"
	else
		fail "$label the relay did not log \"$needle\""
	fi
	if audit_has '"event":"auth-failure"' "\"user\":\"$user\"" \
		"\"reason\":\"$reason" '"source":"127.0.0.1"'; then
		pass "$label audit: auth-failure of $user with reason '$reason'"
	else
		fail "$label no auth-failure record of $user with reason '$reason'"
	fi
	joins=$(audit_count '"event":"viewer-join"')
	if ((joins == joins_before)) && grep -q "Authentication failure" "$WORK/$logname"; then
		pass "$label vncviewer refused ($(grep -o 'Authentication failure.*' "$WORK/$logname" | head -n 1)), no viewer-join"
	else
		fail "$label viewer-join records $joins_before -> $joins; vncviewer said: $(tail -n 2 "$WORK/$logname" | tr '\n' ' ')"
	fi
	stop_child "$VIEWER_PID" vncviewer
	VIEWER_PID=""
}

# The 6-digit TOTP code of the test secret at step now/30 + $1.
totp_code() {
	python3 -c '
import base64, hmac, struct, sys, time
key = base64.b32decode(sys.argv[1])
step = int(time.time()) // 30 + int(sys.argv[2])
mac = hmac.new(key, struct.pack(">Q", step), "sha1").digest()
o = mac[-1] & 15
print("%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7fffffff) % 1000000))
' "$TOTP_SECRET" "$1"
}

# (d) Refusals: wrong password, unknown user, locked user, expired TOTP code
# (four failures from 127.0.0.1: one short of the lockout). (f) The TOTP user
# types password and code in vncviewer's one password box and gets in.
test_refusals() {
	stop_child "$VIEWER_PID" vncviewer
	VIEWER_PID=""
	refused_login "(d) wrong password:" "$USER_NAME" "wrong-$USER_PASSWORD" "wrong password"
	refused_login "(d) unknown user:" mallory "$USER_PASSWORD" "unknown user"
	refused_login "(d) locked user:" carol "$USER_PASSWORD" "user is locked"
	if ! command -v python3 >/dev/null 2>&1; then
		log "python3 not found: TOTP logins not tried"
		return 0
	fi
	refused_login "(d) expired TOTP code:" dave "$USER_PASSWORD$(totp_code -4)" \
		"wrong or reused TOTP code"
	if start_viewer dave "$USER_PASSWORD$(totp_code 0)" vncviewer-dave.log &&
		audit_has '"event":"auth-success"' '"user":"dave"' '"second_factor":true'; then
		pass "(f) dave logged in with password and TOTP code in one box"
	else
		fail "(f) dave could not log in with password and TOTP code"
	fi
	stop_child "$VIEWER_PID" vncviewer
	VIEWER_PID=""
	if grep -qF "$USER_PASSWORD" "$WORK/pixelgate.log" "$WORK/audit.jsonl"; then
		fail "(d) a password appears in the relay log or the audit trail"
	fi
}

# (e) The chain, after the relay wrote its last records.
test_audit_verify() {
	stop_child "$RELAY_PID" pixelgate INT
	RELAY_PID=""
	if "$BUILD_DIR/pixelgate-audit" verify "$WORK/audit.jsonl" >"$WORK/verify.log" 2>&1; then
		pass "(e) pixelgate-audit verify: $(tail -n 1 "$WORK/verify.log")"
	else
		fail "(e) pixelgate-audit verify failed: $(tr '\n' ' ' <"$WORK/verify.log")"
	fi
	cp -f "$WORK/audit.jsonl" "$ART_DIR/$ART_NAME-audit.jsonl"
}

main() {
	(($# >= 1)) || {
		echo "usage: $PROG BUILD_DIR" >&2
		exit 2
	}
	BUILD_DIR=$(cd -- "$1" && pwd) || exit 2

	trap_exit cleanup

	need Xvfb vncviewer chromium xdotool xwininfo xdpyinfo xauth \
		mcookie import compare convert setsid awk openssl Xtigervnc
	local b
	for b in pixelgate pixelgate-passwd pixelgate-audit; do
		[[ -x "$BUILD_DIR/$b" ]] || abort "$BUILD_DIR/$b not found; build pixelgate"
	done

	# The browser host's VNC password is in WORK (the relay reads it from the config).
	make_work pg-e2e-auth .log
	mkdir -m 700 "$WORK/home"

	start_browser_host
	make_login_files
	start_relay
	start_viewer_display
	start_viewer "$USER_NAME" "$USER_PASSWORD" vncviewer.log ||
		abort "vncviewer did not connect"
	test_screenshots
	test_typing
	test_audit_login
	test_refusals
	test_audit_verify
}

main "$@"
