#!/usr/bin/env bash
# The command line and config checking as IT staff use them: `pixelgate -n` exits 0
# for a valid config and 1 with file:line and a hint for a bad one; flags override
# the file; non-loopback listening is refused while viewers are unauthenticated.
#   bash tests/e2e/test_cli.sh BUILD_DIR
set -uo pipefail
build=${1:?usage: test_cli.sh BUILD_DIR}
pg="$build/pixelgate"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

check() { # name, expected exit code, expected output (grep -F), command...
	local name=$1 want_rc=$2 want_out=$3
	shift 3
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq "$want_rc" ] && grep -qF -- "$want_out" <<<"$out"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAIL $name: exit $rc (want $want_rc), output:" >&2
		sed 's/^/    /' <<<"$out" >&2
		echo "    (wanted: $want_out)" >&2
	fi
}

cat >"$tmp/good.conf" <<CONF
; a valid config
[relay]
listen = 127.0.0.1:5999
security = none
max_fps = 25

[upstream]
address = 127.0.0.1:5901
CONF
cat >"$tmp/bad.conf" <<CONF
[relay]
listen = 127.0.0.1:5999
max_fps = lots
colour = blue
[upstream]
address = nowhere
CONF
printf 'secret\n' >"$tmp/pass"

check "valid config" 0 "configuration is valid" "$pg" -c "$tmp/good.conf" -n
# -n tries a worker's lockdown for real, in a child, and says what this host allows.
check "sandbox tried" 0 "upstream workers: sandbox tried here" "$pg" -c "$tmp/good.conf" -n
check "worker caps shown" 0 "framebuffer up to 3840x2160" "$pg" -c "$tmp/good.conf" -n
cat >"$tmp/rootworker.conf" <<CONF
[relay]
listen = 127.0.0.1:5999
security = none
[upstream]
address = 127.0.0.1:5901
[sandbox]
user = root
CONF
check "sandbox user root refused" 1 "[sandbox] user 'root'" "$pg" -c "$tmp/rootworker.conf" -n
check "bad value" 1 "$tmp/bad.conf:3: [relay] max_fps = 'lots' is not a whole number" \
	"$pg" -c "$tmp/bad.conf" -n
check "unknown key" 1 "$tmp/bad.conf:4: unknown key 'colour' in [relay]" "$pg" -c "$tmp/bad.conf" -n
check "missing file" 1 "cannot open" "$pg" -c "$tmp/none.conf" -n
check "no upstream" 1 "[upstream] address is not set" "$pg" -n
check "bad upstream" 1 "expected host:port" "$pg" --upstream nowhere -n
check "no login off loopback refused" 1 "security = none (no login) is allowed only on loopback" \
	"$pg" --listen 0.0.0.0:5900 --upstream 127.0.0.1:5901 --security none -n
check "vencrypt needs users" 1 "security = vencrypt needs users_file" \
	"$pg" --upstream 127.0.0.1:5901 -n
check "vencrypt needs a certificate" 1 "security = vencrypt needs tls_cert and tls_key" \
	"$pg" --upstream 127.0.0.1:5901 -n
check "unknown security" 1 "expected vencrypt or none" \
	"$pg" --upstream 127.0.0.1:5901 --security tls -n

# A working VeNCrypt config, then the same with a key others can read.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=test" -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
chmod 600 "$tmp/key.pem"
printf 'long enough password\n' |
	PIXELGATE_SCRYPT_LN=10 "$build/pixelgate-passwd" -f "$tmp/users" add alice >/dev/null
cat >"$tmp/vencrypt.conf" <<CONF
[relay]
listen = 0.0.0.0:5999
tls_cert = $tmp/cert.pem
tls_key = $tmp/key.pem
users_file = $tmp/users
[routes]
user.alice = 127.0.0.1:5901
group.staff = 127.0.0.1:5902
CONF
check "vencrypt config valid" 0 "configuration is valid" "$pg" -c "$tmp/vencrypt.conf" -n
check "routes printed" 0 "group.staff = 127.0.0.1:5902" "$pg" -c "$tmp/vencrypt.conf" --print-config
chmod 644 "$tmp/key.pem"
check "readable key refused" 1 "accessible by group or others (mode 0644)" \
	"$pg" -c "$tmp/vencrypt.conf" -n
chmod 600 "$tmp/key.pem"
printf '[routes]\nuser.bad name = 127.0.0.1:1\ngroup.staff = nowhere\n' >"$tmp/routes.conf"
check "bad route name" 1 "$tmp/routes.conf:2: [routes] 'user.bad name'" "$pg" -c "$tmp/routes.conf" -n
check "bad route address" 1 "$tmp/routes.conf:3: [routes] group.staff = 'nowhere'" \
	"$pg" -c "$tmp/routes.conf" -n
check "flag overrides file" 0 "max_fps = 7" "$pg" -c "$tmp/good.conf" --max-fps 7 --print-config
check "password file unreadable" 1 "cannot read" \
	"$pg" --upstream 127.0.0.1:5901 --upstream-password-file "$tmp/none" -n
check "password file ok" 0 "configuration is valid" \
	"$pg" --upstream 127.0.0.1:5901 --upstream-password-file "$tmp/pass" --security none -n
check "stray argument" 2 "unexpected argument" "$pg" --upstream 127.0.0.1:5901 extra
printf '[host nowhere]\ntls = x509\n[host 127.0.0.1:5901]\ncolour = blue\ntls = maybe\n' >"$tmp/hosts.conf"
check "bad host section" 1 "$tmp/hosts.conf:2: [host nowhere]: expected host:port" \
	"$pg" -c "$tmp/hosts.conf" --security none --upstream 127.0.0.1:5901 -n
check "unknown host key" 1 "$tmp/hosts.conf:4: unknown key 'colour' in [host 127.0.0.1:5901]" \
	"$pg" -c "$tmp/hosts.conf" --security none --upstream 127.0.0.1:5901 -n
printf '[host 127.0.0.1:5901]\ntls = maybe\n' >"$tmp/hosts2.conf"
check "host tls value" 1 "[host 127.0.0.1:5901] tls = 'maybe': expected none or x509" \
	"$pg" -c "$tmp/hosts2.conf" --security none --upstream 127.0.0.1:5901 -n
printf '[policy]\nview_only = yes\n[policy koho]\nclipboard_to_browser = text\n' >"$tmp/policy.conf"
check "-n prints each group's effective policy" 0 "; members of group koho (from policy koho)" \
	"$pg" -c "$tmp/policy.conf" --security none --upstream 127.0.0.1:5901 -n
printf '[policy]\nclipboard_max_bytes = 70000\n' >"$tmp/policy-bad.conf"
check "a policy value out of range names file:line" 1 "policy-bad.conf:2: [policy] clipboard_max_bytes" \
	"$pg" -c "$tmp/policy-bad.conf" --security none --upstream 127.0.0.1:5901 -n
check "--reload without a control socket says what is missing" 1 "needs [relay] control_socket" \
	"$pg" -c "$tmp/policy.conf" --security none --upstream 127.0.0.1:5901 --reload
printf '[relay]\nlog_format = xml\n' >"$tmp/logfmt.conf"
check "bad log format" 1 "log_format = 'xml': expected text or json" \
	"$pg" -c "$tmp/logfmt.conf" --security none --upstream 127.0.0.1:5901 -n

# The log as journald and log shippers read it: run the relay for a second (it
# listens, then stops on SIGINT) and look at its first line.
port=$(shuf -i 20000-60000 -n 1)
printf '[relay]\nlisten = 127.0.0.1:%s\nsecurity = none\nlog_format = json\n[upstream]\naddress = 127.0.0.1:5901\n' \
	"$port" >"$tmp/json.conf"
sed 's/log_format = json/log_format = text/' "$tmp/json.conf" >"$tmp/text.conf"
check "json log lines parse" 0 '"listening for viewers' \
	sh -c "timeout -s INT 1 '$pg' -c '$tmp/json.conf' 2>&1 >/dev/null | head -n 1 | jq -e -c '{level, msg}'"
# Under systemd, stderr is the journal's stream, named in JOURNAL_STREAM.
: >"$tmp/journal"
stream=$(stat -c '%d:%i' "$tmp/journal")
check "journald gets each line's priority" 0 "<6>info listening for viewers" \
	sh -c "JOURNAL_STREAM=$stream timeout -s INT 1 '$pg' -c '$tmp/text.conf' 2>>'$tmp/journal' >/dev/null; head -n 1 '$tmp/journal'"
check "no priority when stderr is not the journal" 0 "Z info listening for viewers" \
	sh -c "JOURNAL_STREAM=1:1 timeout -s INT 1 '$pg' -c '$tmp/text.conf' 2>&1 >/dev/null | head -n 1"
check "version" 0 "pixelgate " "$pg" --version
check "help" 0 "--upstream-password-file" "$pg" --help

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
