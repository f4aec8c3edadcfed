#!/usr/bin/env bash
# The demo: a real browser host (Xtigervnc running Chromium on a local page) and
# pixelgate in front of it, on loopback. Prints how to connect a web browser
# and TigerVNC's viewer.
# Falls back to the synthetic host when no X server or Chromium can be used.
#   tools/demo.sh [--port 5900] [--web-port 8443] [--synthetic]
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${PG_BUILD_DIR:-$top/build}
port=5900
web_port=8443
synthetic=0
while [ $# -gt 0 ]; do
	case "$1" in
	--port) port=$2; shift 2 ;;
	--web-port) web_port=$2; shift 2 ;;
	--synthetic) synthetic=1; shift ;;
	-h|--help) sed -n '2,7p' "$0"; exit 0 ;;
	*) echo "demo: unknown option $1" >&2; exit 2 ;;
	esac
done

bash "$top/tools/install-deps.sh"
cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build"

state=$(mktemp -d /tmp/pixelgate-demo.XXXXXX)
pids=()
cleanup() {
	trap - EXIT INT TERM
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -d "$state/host" ] && "$top/tools/pg-browser-host" stop --state "$state/host" >/dev/null 2>&1 || true
	rm -rf "$state"
}
trap cleanup EXIT INT TERM

free_port() {
	local p
	for p in $(seq "$1" $(($1 + 200))); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
	done
	echo "demo: no free port near $1" >&2; exit 1
}
free_display() {
	local d
	for d in $(seq 20 99); do
		[ -e "/tmp/.X11-unix/X$d" ] || [ -e "/tmp/.X$d-lock" ] || { echo "$d"; return; }
	done
	echo "demo: no free X display" >&2; exit 1
}

host_port=$(free_port 5910)
head -c 12 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 8 > "$state/host-password"
echo >> "$state/host-password"
chmod 600 "$state/host-password"

kind="real browser host (Xtigervnc + Chromium)"
if [ "$synthetic" = 0 ] && command -v Xtigervnc >/dev/null && command -v chromium >/dev/null &&
	"$top/tools/pg-browser-host" start --state "$state/host" --display ":$(free_display)" \
		--port "$host_port" --size 1280x800 --password-file "$state/host-password" \
		--url "file://$top/tools/demo-page/index.html"; then
	:
else
	kind="synthetic host (pg-synth-host)"
	"$build/pg-synth-host" --port "$host_port" --size 1280x800 --mode scroll \
		--password-file "$state/host-password" > "$state/synth.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do grep -q listening "$state/synth.log" && break; sleep 0.1; done
fi

# Viewers log in over TLS: a self-signed certificate for this machine and a demo
# user with a random password (cheap scrypt parameters: this is a demo).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-subj "/CN=pixelgate demo" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
	-keyout "$state/key.pem" -out "$state/cert.pem" 2>/dev/null
chmod 600 "$state/key.pem"
demo_password=$(head -c 12 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 12)
printf '%s\n' "$demo_password" |
	PIXELGATE_SCRYPT_LN=12 "$build/pixelgate-passwd" -f "$state/users" add demo --groups staff \
		>/dev/null
cat >"$state/pixelgate.conf" <<CONF
[relay]
listen = 127.0.0.1:$port
security = vencrypt
tls_cert = $state/cert.pem
tls_key = $state/key.pem
users_file = $state/users
audit_file = $state/audit.jsonl
control_socket = $state/control

[web]
listen = 127.0.0.1:$web_port

[upstream]
address = 127.0.0.1:$host_port
password_file = $state/host-password
CONF

"$build/pixelgate" -c "$state/pixelgate.conf" &
pids+=($!)
sleep 0.5
kill -0 "${pids[-1]}" 2>/dev/null || { echo "demo: pixelgate did not start" >&2; exit 1; }

cat <<MSG

pixelgate demo is running: $kind behind pixelgate.
User "demo", password $demo_password.

In a web browser on this machine (the certificate is self-signed: accept it):

    https://127.0.0.1:$web_port/

Or with TigerVNC's viewer (VeNCrypt X509Plain):

    VNC_USERNAME=demo VNC_PASSWORD=$demo_password \\
        vncviewer -SecurityTypes X509Plain -X509CA $state/cert.pem 127.0.0.1::$port

(or run vncviewer without the variables and type them into its login box).
The audit trail is $state/audit.jsonl; check it with:

    $build/pixelgate-audit verify $state/audit.jsonl

Press Ctrl-C to stop.
MSG
wait "${pids[-1]}"
