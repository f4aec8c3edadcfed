#!/usr/bin/env bash
# The browser viewer (docs/web-viewer.md) proven in headless Chromium: Debian's
# /usr/bin/chromium driven by playwright-core (tests/e2e/web/drive.js, pinned in
# tests/e2e/web/package-lock.json, installed into BUILD_DIR/e2e-node), the real relay
# serving BUILD_DIR/web over HTTPS, and a real browser host (Xtigervnc + Chromium,
# tools/pg-browser-host) showing a test page this script writes.
#
#   bash tests/e2e/test_web_viewer.sh BUILD_DIR
#
# (1) https://127.0.0.1:PORT/ loads with a test CA that Chromium trusts through an NSS
#     database in a temporary HOME (no certificate error is ignored): the login page
#     renders in Japanese (and in English with ?lang=en), with the relay's CSP, no
#     console error and no CSP violation.
# (2) security = vencrypt, a users file from pixelgate-passwd: a wrong password shows
#     the page's authentication-failed message; the right one connects, and the noVNC
#     canvas matches the browser host's own screen (import -window root).
# (3) A click through noVNC on the host page's link navigates the host; ASCII typed
#     (playwright keyboard.type) and 日本語テスト (keydowns without a key code: noVNC
#     sends Unicode keysyms) reach the host page's input, read back from its title.
# (4) Clipboard through the page's panel: host -> panel and panel -> host under
#     clipboard_to_viewer / clipboard_to_browser = text; a My Number from the panel is
#     refused; after a live reload to deny both ways nothing crosses; each refusal
#     draws the grey banner into the top of the canvas within 4 s.
# (5) The audit has a clipboard record for each case, never the text, and
#     pixelgate-audit verify passes.
#
# Everything listens on loopback; every wait is bounded; every process this script
# starts is stopped by its pid on any exit. Screenshots go to
# BUILD_DIR/e2e-artifacts/web-*.png; on failure the logs and the audit too.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
readonly WIDTH=800 HEIGHT=600
readonly BACKEND=tigervnc
readonly WEB_USER=webuser

BUILD_DIR=""
PASSED=0
FAILED=0
WORK=""
HOST_STATE=""
HOST_DISPLAY=""
HOST_PORT=""
HOST_WIN=""
HOST_STARTED=0
ART_DIR=""
ART_NAME=web
RELAY_PID=""
RELAY_PORT=""
WEB_PORT=""
DRIVER_PID=""
TAIL_PID=""
XVFB_PID=""
VIEWER_PID=""
NODE_DIR=""
CONF=""
AUDIT=""
USER_PASSWORD=""
T0=$SECONDS

# shellcheck source=tests/e2e/e2e_lib.sh
source "$HERE/e2e_lib.sh"

# Processes ---------------------------------------------------------------

finish() {
	local rc=$? pid
	set +e
	stop_child "$DRIVER_PID" node
	[[ -z "$TAIL_PID" ]] || kill "$TAIL_PID" 2>/dev/null
	# playwright starts Chromium in a process group of its own and stops it when the
	# driver ends; a driver killed on the way cannot, so stop it here by its pid.
	if [[ -n "$WORK" && -f "$WORK/browser.pid" ]]; then
		pid=$(<"$WORK/browser.pid")
		[[ "$pid" =~ ^[0-9]+$ ]] && stop_child "$pid" chromium
	fi
	((rc == 0 && FAILED == 0)) || save_artifacts host-final
	(exit "$rc")
	cleanup
}

# Setup -------------------------------------------------------------------

# playwright-core from the pinned lockfile into BUILD_DIR/e2e-node (never the source
# tree), with no install script run; skipped when the same lockfile is installed.
install_driver() {
	local want have=""
	NODE_DIR="$BUILD_DIR/e2e-node"
	want=$(cd "$HERE/web" && sha256sum package.json package-lock.json)
	if [[ -f "$NODE_DIR/installed.sha256" && -f "$NODE_DIR/node_modules/playwright-core/package.json" ]]; then
		have=$(<"$NODE_DIR/installed.sha256")
	fi
	if [[ "$have" == "$want" ]]; then
		log "playwright-core already installed in $NODE_DIR"
		return 0
	fi
	log "npm ci (playwright-core) in $NODE_DIR"
	rm -f -- "$NODE_DIR/installed.sha256"
	mkdir -p -- "$NODE_DIR"
	cp -f -- "$HERE/web/package.json" "$HERE/web/package-lock.json" "$NODE_DIR/"
	(cd "$NODE_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 180 \
		npm ci --no-audit --no-fund --ignore-scripts >"$WORK/npm.log" 2>&1) ||
		abort "npm ci in $NODE_DIR failed: $(tail -n 5 "$WORK/npm.log" | tr '\n' ' ')"
	printf '%s\n' "$want" >"$NODE_DIR/installed.sha256"
}

# A test CA and a leaf for 127.0.0.1 signed by it (the relay's certificate), and an
# NSS database in a HOME of the test's own that trusts the CA for TLS servers: what
# an organisation's own CA on a staff PC looks like to Chromium.
make_certs() {
	local ssl="$WORK/openssl.log"
	(
		umask 077
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-days 2 -subj "/CN=pixelgate e2e test CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" \
			-keyout "$WORK/ca.key" -out "$WORK/ca.pem" &&
			openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
				-subj "/CN=127.0.0.1" -keyout "$WORK/leaf.key" -out "$WORK/leaf.csr" &&
			printf '%s\n' "basicConstraints=critical,CA:FALSE" \
				"keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
				"subjectAltName=IP:127.0.0.1" >"$WORK/leaf.ext" &&
			openssl x509 -req -in "$WORK/leaf.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
				-CAcreateserial -days 2 -extfile "$WORK/leaf.ext" -out "$WORK/leaf.pem"
	) >"$ssl" 2>&1 || abort "openssl could not make the test CA and leaf: $(tail -n 3 "$ssl")"
	chmod 644 "$WORK/ca.pem" "$WORK/leaf.pem"
	mkdir -p -- "$WORK/home/.pki/nssdb"
	{
		certutil -N -d "sql:$WORK/home/.pki/nssdb" --empty-password &&
			certutil -d "sql:$WORK/home/.pki/nssdb" -A -t C,, -n pgtest -i "$WORK/ca.pem"
	} >"$WORK/certutil.log" 2>&1 ||
		abort "certutil could not make the NSS database: $(tail -n 3 "$WORK/certutil.log")"
	log "test CA trusted in $WORK/home/.pki/nssdb; relay leaf for IP:127.0.0.1"
}

make_users() {
	USER_PASSWORD="pg-web-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
	printf '%s\n' "$USER_PASSWORD" |
		PIXELGATE_SCRYPT_LN=10 "$BUILD_DIR/pixelgate-passwd" -f "$WORK/users" \
			add "$WEB_USER" --groups staff >"$WORK/passwd.log" 2>&1 ||
		abort "pixelgate-passwd add $WEB_USER failed: $(cat "$WORK/passwd.log")"
}

# The browser host's pages. Fixed positions (kiosk mode: page pixels are screen
# pixels), a white strip at the top where the relay's banner goes, and the input's
# value mirrored into the title, which is the host window's name. "notranslate": the
# host's Chromium would otherwise put its translate bubble over the top right.
write_pages() {
	cat >"$WORK/page1.html" <<'EOF'
<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><meta name="google" content="notranslate">
<title>pg-web-ready</title>
<style>
html, body { margin: 0; background: #fff; font: 20px "Noto Sans CJK JP", sans-serif; }
#intro { position: absolute; left: 40px; top: 100px; margin: 0; }
#next { position: absolute; left: 40px; top: 150px; width: 320px; height: 60px;
	line-height: 60px; text-align: center; background: #1d5fbf; color: #fff;
	text-decoration: none; }
#box { position: absolute; left: 40px; top: 250px; width: 500px; height: 44px;
	font-size: 24px; }
.sw { position: absolute; top: 340px; width: 120px; height: 120px; }
</style></head>
<body>
<p id="intro">pixelgate web viewer test / 画面転送テスト</p>
<a id="next" href="page2.html">次のページへ / next page</a>
<input id="box" autocomplete="off" spellcheck="false">
<div class="sw" style="left:40px;background:#d62728"></div>
<div class="sw" style="left:200px;background:#2ca02c"></div>
<div class="sw" style="left:360px;background:#f5b82e"></div>
<div class="sw" style="left:520px;background:linear-gradient(90deg,#000,#fff)"></div>
<script>
const box = document.getElementById('box');
box.addEventListener('input', () => { document.title = 'typed:' + box.value; });
</script>
</body></html>
EOF
	cat >"$WORK/page2.html" <<'EOF'
<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><meta name="google" content="notranslate">
<title>pg-web-page2</title>
<style>
html, body { margin: 0; background: #fff; font: 20px "Noto Sans CJK JP", sans-serif; }
#block { position: absolute; left: 100px; top: 150px; width: 600px; height: 300px;
	background: #2ca02c; color: #fff; font-size: 32px; text-align: center; line-height: 300px; }
</style></head>
<body><div id="block">2 ページ目 / page 2</div></body></html>
EOF
}

start_host() {
	launch_browser_host "file://$WORK/page1.html" pg-web-ready "$BACKEND"
	host_window
	log "browser host ready (window $HOST_WIN)"
}

# The configuration, with @TO_VIEWER@ and @TO_BROWSER@ left for render_config here
# and for the driver's live reloads.
write_config_template() {
	cat >"$CONF.in" <<EOF
[relay]
listen = 127.0.0.1:$RELAY_PORT
security = vencrypt
tls_cert = $WORK/leaf.pem
tls_key = $WORK/leaf.key
users_file = $WORK/users
audit_file = $AUDIT
audit_clipboard_text = 0
control_socket = $WORK/control.sock
log_level = debug

[web]
listen = 127.0.0.1:$WEB_PORT
root = $BUILD_DIR/web

[upstream]
address = 127.0.0.1:$HOST_PORT
password_file = $WORK/password

[policy]
clipboard_to_viewer = @TO_VIEWER@
clipboard_to_browser = @TO_BROWSER@
clipboard_min_interval_ms = 0
EOF
}

render_config() {
	sed -e "s/@TO_VIEWER@/$1/" -e "s/@TO_BROWSER@/$2/" "$CONF.in" >"$CONF.new"
	mv -f -- "$CONF.new" "$CONF"
}

start_relay() {
	RELAY_PORT=$(free_port "$HOST_PORT") || abort "no free port"
	WEB_PORT=$(free_port "$HOST_PORT" "$RELAY_PORT") || abort "no free port"
	write_config_template
	render_config text text
	check_config
	log "pixelgate: https://127.0.0.1:$WEB_PORT/ (and RFB 127.0.0.1:$RELAY_PORT) -> 127.0.0.1:$HOST_PORT"
	run_relay "$WEB_PORT" -c "$CONF"
}

# Steps -------------------------------------------------------------------

# (1)-(4): the driver prints PASS:/FAIL: lines, counted here.
run_driver() {
	local rc=0 n
	log "driver: node tests/e2e/web/drive.js"
	: >"$WORK/drive.out"
	# setsid: its own process group, so an interrupted run stops it and its xclips.
	env -u DISPLAY -u XAUTHORITY NODE_PATH="$NODE_DIR/node_modules" TMPDIR="$WORK" \
		PG_SRC="$SRC" PG_BUILD="$BUILD_DIR" PG_WORK="$WORK" PG_ART="$ART_DIR" \
		PG_URL="https://127.0.0.1:$WEB_PORT/" PG_CONF="$CONF" PG_AUDIT="$AUDIT" \
		PG_USER="$WEB_USER" PG_PASSWORD="$USER_PASSWORD" \
		PG_HOST_DISPLAY=":$HOST_DISPLAY" PG_HOST_XAUTH="$HOST_STATE/Xauthority" \
		PG_HOST_WIN="$HOST_WIN" PG_HOST_LOG="$HOST_STATE/xserver.log" \
		PG_WIDTH="$WIDTH" PG_HEIGHT="$HEIGHT" PG_T0_OFFSET="$((SECONDS - T0))" \
		setsid timeout 180 node "$HERE/web/drive.js" \
		</dev/null >"$WORK/drive.out" 2>"$WORK/drive.log" &
	DRIVER_PID=$!
	# Show the driver's lines as they come. In the background: a signal's trap runs
	# during wait, not only after a foreground command ends.
	tail -n +1 --pid="$DRIVER_PID" -f "$WORK/drive.out" 2>/dev/null &
	TAIL_PID=$!
	wait "$DRIVER_PID" || rc=$?
	DRIVER_PID=""
	wait "$TAIL_PID" || true
	TAIL_PID=""
	sed 's/^/  driver: /' "$WORK/drive.log" >&2
	n=$(grep -c '^PASS: ' "$WORK/drive.out" || true)
	PASSED=$((PASSED + n))
	n=$(grep -c '^FAIL: ' "$WORK/drive.out" || true)
	FAILED=$((FAILED + n))
	if ((rc != 0 && n == 0)); then
		fail "the driver stopped with exit status $rc and no failure reported (see drive.log above)"
	fi
}

main() {
	build_dir_arg "$@"
	trap_exit finish

	need node npm chromium Xtigervnc vncpasswd xclip xdotool xdpyinfo xauth mcookie \
		import identify compare convert openssl certutil setsid timeout sha256sum od
	local f
	for f in pixelgate pixelgate-passwd pixelgate-audit web/index.html web/app.js; do
		[[ -e "$BUILD_DIR/$f" ]] || abort "$BUILD_DIR/$f not found; build first"
	done

	make_work pg-web
	CONF="$WORK/pixelgate.conf"
	AUDIT="$WORK/audit.jsonl"

	install_driver
	make_certs
	make_users
	write_pages
	start_host
	start_relay
	run_driver
	# (5) the audit's chain.
	audit_verify "(5)"
}

main "$@"
