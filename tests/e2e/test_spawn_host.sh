#!/usr/bin/env bash
# End to end with a browser host on demand: pixelgate runs with [broker] mode =
# spawn and tools/pg-spawn-host as its hook, which starts Xtigervnc + Chromium
# on tools/demo-page (through tools/pg-browser-host) for the user at login.
# TigerVNC's vncviewer logs in with VeNCrypt X509Plain and runs on its own Xvfb.
#
#   bash tests/e2e/test_spawn_host.sh BUILD_DIR
#
# (a) the hook started a host for the user (Japanese layout and input, the
#     launcher's default), with its own random password, and the audit trail
#     says host-spawned; the viewer's picture matches the spawned host's screen
#     (PSNR >= 30 dB);
# (c) after the viewer leaves and [broker] linger passes, the hook stopped the
#     host: host-stopped in the audit, its X server gone, and the user's folder
#     (state, Chromium profile, password) removed entirely;
# (d) pixelgate-audit verify accepts the audit trail.
# Loopback only; every wait is bounded; every process is stopped on any exit.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
readonly WIDTH=1024 HEIGHT=768
readonly PSNR_MIN=30
readonly USER_NAME=hanako

BUILD_DIR=""
PASSED=0
FAILED=0
WORK=""
HOST_STATE=""
HOST_DISPLAY=""
HOST_STARTED=0
ART_DIR=""
ART_NAME=spawn
VIEWER_PID=""
RELAY_PID=""
XVFB_PID=""
AUDIT=""
CONF=""
USER_PASSWORD=""
RELAY_PORT=""
T0=$SECONDS

# shellcheck source=tests/e2e/e2e_lib.sh
source "$HERE/e2e_lib.sh"

# The relay first (its session's end stops the host), then whatever the hook left.
spawn_cleanup() {
	local rc=$?
	set +e
	((rc != 0 || FAILED)) && save_artifacts host
	stop_child "$VIEWER_PID" vncviewer
	VIEWER_PID=""
	stop_child "$RELAY_PID" pixelgate
	RELAY_PID=""
	if [[ -n "$WORK" && -d "$WORK/hosts/$USER_NAME/host" ]]; then
		"$SRC/tools/pg-browser-host" stop --state "$WORK/hosts/$USER_NAME/host" >&2
	fi
	(exit "$rc")
	cleanup
}

make_files() {
	(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -days 2 -subj /CN=127.0.0.1 \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		-keyout "$WORK/key.pem" -out "$WORK/cert.pem" >"$WORK/openssl.log" 2>&1) ||
		abort "openssl could not make the certificate (see openssl.log)"
	chmod 600 "$WORK/key.pem"
	USER_PASSWORD="pg-e2e-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
	printf '%s\n' "$USER_PASSWORD" |
		PIXELGATE_SCRYPT_LN=10 "$BUILD_DIR/pixelgate-passwd" -f "$WORK/users" \
			add "$USER_NAME" --groups staff >/dev/null ||
		abort "pixelgate-passwd add failed"
	RELAY_PORT=$(free_port "") || abort "no free port"
	CONF="$WORK/pixelgate.conf"
	AUDIT="$WORK/audit.jsonl"
	cat >"$CONF" <<CONF
[relay]
listen = 127.0.0.1:$RELAY_PORT
security = vencrypt
tls_cert = $WORK/cert.pem
tls_key = $WORK/key.pem
users_file = $WORK/users
audit_file = $AUDIT

[broker]
mode = spawn
spawn_command = $SRC/tools/pg-spawn-host
spawn_timeout = 90
linger = 2
CONF
}

audit_has() {
	local n line ok
	[[ -f "$AUDIT" ]] || return 1
	while IFS= read -r line; do
		ok=1
		for n in "$@"; do
			[[ "$line" == *"$n"* ]] || {
				ok=0
				break
			}
		done
		((ok)) && return 0
	done <"$AUDIT"
	return 1
}

# wait_audit SECONDS NEEDLE...: true once a record holds every NEEDLE.
wait_audit() {
	local end=$((SECONDS + $1))
	shift
	while ((SECONDS < end)); do
		audit_has "$@" && return 0
		sleep 0.25
	done
	return 1
}

start_relay() {
	check_config
	# The hook's settings travel in the relay's environment.
	PG_SPAWN_BASE="$WORK/hosts" PG_SPAWN_SIZE="${WIDTH}x${HEIGHT}" \
		PG_SPAWN_URL="file://$SRC/tools/demo-page/index.html" PG_SPAWN_TIMEOUT=80 \
		run_relay "$RELAY_PORT" -c "$CONF"
	log "pixelgate on 127.0.0.1:$RELAY_PORT, mode spawn"
}

start_viewer() {
	local args=(-AutoSelect=0 -FullColor=1 -NoJPEG=1 -PreferredEncoding=Tight
		-RemoteResize=0 -Shared=1 -ReconnectOnError=0 -AlertOnFatalError=0
		-SecurityTypes X509Plain -X509CA "$WORK/cert.pem"
		-geometry "${WIDTH}x${HEIGHT}+0+0")
	log "vncviewer -> 127.0.0.1::$RELAY_PORT as $USER_NAME (the host starts meanwhile)"
	HOME="$WORK/home" VNC_USERNAME="$USER_NAME" VNC_PASSWORD="$USER_PASSWORD" \
		run_viewer "$WORK/vncviewer.log" "${args[@]}" "127.0.0.1::$RELAY_PORT"
}

test_spawned() {
	local dir="$WORK/hosts/$USER_NAME" end=$((SECONDS + 90))
	while ((SECONDS < end)) && ! audit_has '"event":"host-spawned"'; do
		kill -0 "$RELAY_PID" 2>/dev/null || abort "pixelgate exited"
		sleep 0.5
	done
	if audit_has '"event":"host-spawned"' "\"user\":\"$USER_NAME\"" '"browser_host":"127.0.0.1:'; then
		pass "(a) host-spawned for $USER_NAME at $((SECONDS - T0)) s"
	else
		abort "(a) no host-spawned record within 90 s: $(tail -n 5 "$WORK/pixelgate.log" | tr '\n' ' ')"
	fi
	[[ -f "$dir/password" && "$(stat -c %a "$dir/password")" == 600 ]] ||
		fail "(a) the host's password file is missing or not 0600"
	HOST_STATE="$dir/host"
	HOST_DISPLAY=$(<"$dir/display")
	HOST_DISPLAY=${HOST_DISPLAY#:}
}

test_stopped() {
	local dir="$WORK/hosts/$USER_NAME" xpid
	xpid=$(cat "$dir/host/xserver.pid" 2>/dev/null || true)
	stop_child "$VIEWER_PID" vncviewer
	VIEWER_PID=""
	if wait_audit 30 '"event":"host-stopped"' "\"user\":\"$USER_NAME\""; then
		pass "(c) host-stopped after the viewer left (linger 2 s)"
	else
		fail "(c) no host-stopped record within 30 s"
	fi
	if [[ -e "$dir" ]]; then
		fail "(c) $dir still exists: $(find "$dir" -maxdepth 1 | tr '\n' ' ')"
	else
		pass "(c) the user's folder, profile and password are gone"
	fi
	if [[ -n "$xpid" ]] && kill -0 "$xpid" 2>/dev/null &&
		[[ "$(ps -o stat= -p "$xpid" 2>/dev/null)" != Z* ]]; then
		fail "(c) the host's X server (pid $xpid) still runs"
	else
		pass "(c) the host's X server is gone"
	fi
	HOST_DISPLAY=""
}

main() {
	build_dir_arg "$@"
	trap_exit spawn_cleanup
	need Xvfb vncviewer chromium xdotool xwininfo xdpyinfo xauth flock \
		mcookie import compare convert setsid awk openssl Xtigervnc vncpasswd
	local b
	for b in pixelgate pixelgate-passwd pixelgate-audit; do
		[[ -x "$BUILD_DIR/$b" ]] || abort "$BUILD_DIR/$b not found; build pixelgate"
	done
	make_work pg-e2e-spawn .log
	mkdir -m 700 "$WORK/home"
	make_files
	start_relay
	start_viewer_display
	start_viewer
	test_spawned
	wait_viewer_window "$WORK/vncviewer.log" || abort "vncviewer did not connect"
	test_screenshots
	test_stopped
	audit_verify "(d)"
}

main "$@"
