#!/usr/bin/env bash
# ok's conditions are eval'ed, so single quotes and "unused" variables are meant.
# shellcheck disable=SC2016,SC2034
# tools/pg-spawn-host's bookkeeping, with a stand-in for pg-browser-host that
# serves pg-synth-host instead of Xtigervnc + Chromium (so it needs no X): start
# is idempotent per user (a second session, as from a second relay, gets the
# same address and password file), users get different ports and displays,
# stop keeps the host while another session holds it and removes the user's
# folder with the last; a failing launcher leaves nothing behind; names that
# could leave the base folder are refused.
#   bash tests/e2e/test_spawn_launcher.sh BUILD_DIR
set -uo pipefail
build=${1:?usage: test_spawn_launcher.sh BUILD_DIR}
src=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
hook="$src/tools/pg-spawn-host"
synth="$build/pg-synth-host"
[[ -x $synth ]] || {
	echo "$synth not found; build it" >&2
	exit 1
}
tmp=$(mktemp -d)
passed=0
failed=0

# The stand-in launcher: pg-browser-host's start and stop options.
cat >"$tmp/fake-launcher" <<EOF
#!/usr/bin/env bash
set -euo pipefail
cmd=\$1; shift
state="" port="" pwfile=""
while ((\$#)); do
	case \$1 in
	--state) state=\$2 ;;
	--port) port=\$2 ;;
	--password-file) pwfile=\$2 ;;
	esac
	shift 2
done
case \$cmd in
start)
	[[ -e "$tmp/fail" ]] && { echo "fake-launcher: told to fail" >&2; exit 1; }
	mkdir -p "\$state"
	setsid "$synth" --port "\$port" --password-file "\$pwfile" --exit-after 120 \\
		</dev/null >"\$state/synth.log" 2>&1 &
	echo \$! >"\$state/xserver.pid"
	for _ in \$(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/\$port") 2>/dev/null && exit 0
		sleep 0.05
	done
	exit 1
	;;
stop)
	kill "\$(cat "\$state/xserver.pid")" 2>/dev/null || true
	rm -rf "\$state"
	;;
esac
EOF
chmod +x "$tmp/fake-launcher"

export PG_SPAWN_BASE="$tmp/hosts" PG_SPAWN_LAUNCHER="$tmp/fake-launcher"
export PG_SPAWN_PORTS="$((20000 + RANDOM % 10000))-$((30100 + RANDOM % 100))"

cleanup() {
	local f
	for f in "$tmp"/hosts/*/host/xserver.pid; do
		[[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() { # name, shell condition
	if eval "$2"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAIL $1: $2" >&2
	fi
}

port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

a1=$("$hook" start alice s1)
ok "start prints address and password file" '[[ $a1 =~ ^127\.0\.0\.1:[0-9]+\ $tmp/hosts/alice/password$ ]]'
port=${a1%% *}
port=${port##*:}
ok "the host answers" 'port_open "$port"'
ok "the password file is 0600" '[[ $(stat -c %a "$tmp/hosts/alice/password") == 600 ]]'
ok "the user's folder is 0700" '[[ $(stat -c %a "$tmp/hosts/alice") == 700 ]]'
a2=$("$hook" start alice s2)
ok "a second session gets the same host" '[[ $a2 == "$a1" ]]'
b1=$("$hook" start bob s3)
ok "another user gets another port" '[[ ${b1%% *} != "${a1%% *}" ]]'
ok "and another display" '[[ $(cat "$tmp/hosts/bob/display") != $(cat "$tmp/hosts/alice/display") ]]'

"$hook" stop alice s1 "${a1%% *}"
ok "stop of one session keeps the host for the other" 'port_open "$port" && [[ -d $tmp/hosts/alice ]]'
"$hook" stop alice s2 "${a1%% *}"
ok "stop of the last session removes the user's folder" '[[ ! -e $tmp/hosts/alice ]]'
sleep 0.3
ok "and stops the host" '! port_open "$port"'
"$hook" stop alice s9 "${a1%% *}"
ok "a stop for a host already gone succeeds" '[[ $? == 0 ]]'
a3=$("$hook" start alice s4)
ok "a later login gets a fresh host" '[[ -n $a3 && -f $tmp/hosts/alice/password ]]'
"$hook" stop alice s4 "${a3%% *}"

touch "$tmp/fail"
out=$("$hook" start carol s5 2>&1)
rc=$?
ok "a failing launcher fails the start" '[[ $rc == 1 && $out == *"start failed for '"'"'carol'"'"'"* ]]'
ok "and leaves nothing of the user's" '[[ ! -e $tmp/hosts/carol ]]'
rm -f "$tmp/fail"

for bad in ../x .hidden -rf "a b" ""; do
	"$hook" start "$bad" s6 >/dev/null 2>&1
	ok "user name '$bad' is refused" '[[ $? == 1 ]]'
done
"$hook" start dave "s/7" >/dev/null 2>&1
ok "a session id with a slash is refused" '[[ $? == 1 ]]'
"$hook" start dave >/dev/null 2>&1
ok "a missing argument is a usage error" '[[ $? == 2 ]]'
ok "nothing was made for refused names" '[[ $(find "$tmp/hosts" -mindepth 1 -maxdepth 1 -type d | wc -l) == 1 ]]'
"$hook" stop bob s3 "${b1%% *}"

echo "$passed passed, $failed failed"
((failed == 0 && passed > 0))
