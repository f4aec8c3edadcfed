#!/usr/bin/env bash
# pixelgate-passwd as IT staff use it, passwords on stdin: add, list, lock, unlock,
# passwd, groups, del, TOTP enrolment (a code computed from the printed secret) and
# totp-off; the file stays mode 0600 and parseable; bad input gets exit 1 or 2 with a
# clear message and leaves the file unchanged.
#   bash tests/e2e/test_passwd.sh BUILD_DIR
set -uo pipefail
build=${1:?usage: test_passwd.sh BUILD_DIR}
pw="$build/pixelgate-passwd"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
users="$tmp/users"
# Cheap hashes: honoured only by add and passwd, stored in each hash.
export PIXELGATE_SCRYPT_LN=10
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

ok() { # name, shell condition
	if eval "$2"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAIL $1: $2" >&2
	fi
}

with_stdin() { # text, command...: run command with text as stdin
	local text=$1
	shift
	"$@" <<<"$text"
}

check "add creates the file" 0 "added alice" with_stdin "correct horse" "$pw" -f "$users" add alice --groups staff,it
check "add second user" 0 "added bob" with_stdin "battery staple" "$pw" -f "$users" add bob
ok "file mode is 0600" '[ "$(stat -c %a "$users")" = 600 ]'
ok "hash stored with its parameters" 'grep -qF "alice:staff,it:\$scrypt\$ln=10,r=8,p=1\$" "$users"'
ok "password not stored" '! grep -q "correct horse" "$users"'
check "list" 0 "alice                    staff,it" "$pw" -f "$users" list
check "list shows no hash" 0 "bob" "$pw" -f "$users" list
ok "list prints no hash" '! "$pw" -f "$users" list | grep -q scrypt'

check "lock" 0 "locked bob" "$pw" -f "$users" lock bob
ok "locked flag written" 'grep -q "^bob::.*::locked$" "$users"'
check "list shows locked" 0 "yes" "$pw" -f "$users" list
check "unlock" 0 "unlocked bob" "$pw" -f "$users" unlock bob
ok "locked flag removed" 'grep -q "^bob::.*::$" "$users"'
check "groups" 0 "groups of bob: admins" "$pw" -f "$users" groups bob admins
ok "groups written" 'grep -q "^bob:admins:" "$users"'
check "groups cleared" 0 "groups of bob: (none)" "$pw" -f "$users" groups bob ""

old=$(grep '^alice:' "$users")
check "passwd" 0 "password changed for alice" with_stdin "new password 1" "$pw" -f "$users" passwd alice
ok "passwd changes the hash" '[ "$(grep "^alice:" "$users")" != "$old" ]'
ok "mode still 0600 after edits" '[ "$(stat -c %a "$users")" = 600 ]'

# Comments written by hand survive the tool.
sed -i '1i # managed by pixelgate-passwd' "$users"
check "lock keeps comments" 0 "locked alice" "$pw" -f "$users" lock alice
ok "comment kept" 'head -1 "$users" | grep -qx "# managed by pixelgate-passwd"'
"$pw" -f "$users" unlock alice >/dev/null

# Bad input: exit 2 for usage, 1 for refusals, file unchanged.
before=$(cat "$users")
check "no command" 2 "usage:" "$pw" -f "$users"
check "unknown command" 2 "unknown command 'frob'" "$pw" -f "$users" frob
check "missing user" 2 "add: expected a user name" "$pw" -f "$users" add
check "extra argument" 2 "unexpected argument 'x'" "$pw" -f "$users" lock bob x
check "bad user name" 2 "bad user name 'bad:name'" with_stdin "correct horse" "$pw" -f "$users" add bad:name
check "bad groups" 2 "bad group list 'a,,b'" with_stdin "correct horse" "$pw" -f "$users" add carol --groups a,,b
check "password not on argv" 2 "unexpected argument" "$pw" -f "$users" passwd bob hunter22
check "duplicate user" 1 "user 'alice' already exists" with_stdin "correct horse" "$pw" -f "$users" add alice
check "unknown user" 1 "no user 'nobody'" "$pw" -f "$users" lock nobody
check "short password" 1 "password too short" with_stdin "short" "$pw" -f "$users" add carol
check "empty stdin" 1 "no password given" "$pw" -f "$users" add carol </dev/null
check "bad cost" 1 "PIXELGATE_SCRYPT_LN=30" env PIXELGATE_SCRYPT_LN=30 "$pw" -f "$users" passwd bob
check "cost over the memory cap" 1 "over the limits" \
	with_stdin "correct horse" env PIXELGATE_SCRYPT_LN=17 "$pw" -f "$users" passwd bob
ok "refusals leave the file unchanged" '[ "$(cat "$users")" = "$before" ]'
check "missing file" 1 "cannot open" "$pw" -f "$tmp/none" list

printf 'x:y\n' >"$tmp/broken"
chmod 600 "$tmp/broken"
check "broken file names file:line" 1 "$tmp/broken:1: expected 5 fields" "$pw" -f "$tmp/broken" list
chmod 644 "$users"
check "world-readable file refused" 1 "mode 0644" "$pw" -f "$users" list
chmod 600 "$users"

# TOTP: a wrong code enables nothing; a code computed from the printed secret does.
check "totp wrong code" 1 "TOTP not enabled" with_stdin "000000" "$pw" -f "$users" totp alice
check "totp missing code" 1 "no code given" "$pw" -f "$users" totp alice </dev/null
ok "no secret stored" 'grep -q "^alice:[^:]*:[^:]*::" "$users"'
if command -v python3 >/dev/null; then
	coproc ENROL { "$pw" -f "$users" totp alice 2>&1; }
	secret=
	while IFS= read -r line <&"${ENROL[0]}"; do
		case $line in
		secret:*)
			secret=${line#secret: }
			break
			;;
		esac
	done
	code=$(python3 -c '
import base64, hmac, struct, sys, time
key = base64.b32decode(sys.argv[1])
mac = hmac.new(key, struct.pack(">Q", int(time.time()) // 30), "sha1").digest()
o = mac[-1] & 15
print("%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7fffffff) % 1000000))
' "$secret")
	echo "$code" >&"${ENROL[1]}"
	rest=$(cat <&"${ENROL[0]}")
	wait "$ENROL_PID"
	rc=$?
	ok "totp enrolment accepted the app's code" '[ "$rc" -eq 0 ] && grep -q "TOTP enabled for alice" <<<"$rest"'
	ok "secret stored" 'grep -q "^alice:[^:]*:[^:]*:$secret:" "$users"'
	ok "printed an otpauth URI" '[ ${#secret} -eq 32 ]'
	check "list shows totp" 0 "yes" "$pw" -f "$users" list
fi
check "totp shows the URI" 1 "otpauth://totp/pixelgate:alice?secret=" with_stdin "000000" "$pw" -f "$users" totp alice
check "totp-off" 0 "TOTP off for alice" "$pw" -f "$users" totp-off alice
ok "secret removed" 'grep -q "^alice:[^:]*:[^:]*::" "$users"'

check "del" 0 "deleted bob" "$pw" -f "$users" del bob
ok "bob gone" '! grep -q "^bob:" "$users"'
check "list after del" 0 "alice" "$pw" -f "$users" list
ok "no temporary files left" '[ "$(ls -A "$tmp" | grep -c "^users\.")" -eq 0 ]'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
