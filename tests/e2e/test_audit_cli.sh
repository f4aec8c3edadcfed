#!/usr/bin/env bash
# pixelgate-audit as auditors and operators use it: `append` writes records,
# `verify` exits 0 for an intact chain (one file or a rotated set, oldest first) and 1
# with FILE:LINE and the kind of break for each way of tampering; `show` prints.
#   bash tests/e2e/test_audit_cli.sh BUILD_DIR
set -uo pipefail
build=${1:?usage: test_audit_cli.sh BUILD_DIR}
pa="$build/pixelgate-audit"
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

# A log of 1 chain-start and 10 events.
make_log() { # file
	rm -f "$1"
	for i in $(seq 1 10); do
		"$pa" append "$1" auth-success user="user$i" source=192.0.2.$i n:=$i || return 1
	done
}

log="$tmp/audit.log"
make_log "$log"
check "append writes records" 0 "" test "$(wc -l <"$log")" -eq 11
check "intact log verifies" 0 "verified 11 records in 1 file, chain intact, last seq 11" \
	"$pa" verify "$log"
check "show prints records" 0 '    11 ' "$pa" show "$log"
check "show prints fields" 0 'user="user10" source="192.0.2.10" n=10' "$pa" show "$log"

cp "$log" "$tmp/t.log"
sed -i '6s/user5/user6/' "$tmp/t.log"
check "altered record" 1 "t.log:7: record seq 7: prev hash does not match the previous record (line 6, seq 6)" \
	"$pa" verify "$tmp/t.log"

cp "$log" "$tmp/t.log"
sed -i '6d' "$tmp/t.log"
check "deleted record" 1 "t.log:6: seq jumps from 5 to 7 (records missing" "$pa" verify "$tmp/t.log"

cp "$log" "$tmp/t.log"
awk 'NR == 6 { held = $0; next } NR == 7 { print; print held; next } { print }' "$log" >"$tmp/t.log"
check "swapped records" 1 "t.log:6: seq jumps from 5 to 7 (records missing or reordered)" \
	"$pa" verify "$tmp/t.log"

cp "$log" "$tmp/t.log"
truncate -s -20 "$tmp/t.log"
check "cut last record" 1 "t.log:11: last line is cut off (no newline at its end)" \
	"$pa" verify "$tmp/t.log"

cp "$log" "$tmp/t.log"
sed -i '4s/.*/not json at all/' "$tmp/t.log"
check "garbage line" 1 "t.log:4: not valid JSON" "$pa" verify "$tmp/t.log"

cp "$log" "$tmp/t.log"
sed -i '1,3d' "$tmp/t.log"
check "missing beginning" 1 "t.log:1: record seq 4 (auth-success) does not start a chain" \
	"$pa" verify "$tmp/t.log"

check "missing file" 1 "none.log: cannot open" "$pa" verify "$tmp/none.log"
check "usage" 2 "usage: pixelgate-audit verify" "$pa" verify

# Damage at the end is flagged, not hidden, by the next writer.
cp "$log" "$tmp/d.log"
truncate -s -20 "$tmp/d.log"
check "append after damage" 0 "" "$pa" append "$tmp/d.log" note text=after-crash
check "damage recorded" 0 '"event":"chain-broken-at-start","reason":"the last line has no newline (cut off)","last_good_seq":10' \
	cat "$tmp/d.log"
check "damage reported" 1 "d.log:11: not valid JSON" "$pa" verify "$tmp/d.log"

# Rotated files: `rotate` renames the file and starts the new one with a
# chain-continued record, as the relay does on SIGHUP after logrotate.
rot="$tmp/rot.log"
make_log "$rot"
check "rotate" 0 "" "$pa" rotate "$rot" "$rot.2"
"$pa" append "$rot" session-start user=alice
check "rotate again" 0 "" "$pa" rotate "$rot" "$rot.1"
"$pa" append "$rot" session-end user=alice
check "chain-continued written" 0 '"seq":14,"event":"chain-continued","prev_seq":13,' head -n 1 "$rot"
check "rotated set verifies" 0 "verified 15 records in 3 files, chain intact, last seq 15" \
	"$pa" verify "$rot.2" "$rot.1" "$rot"
check "newest files alone" 0 "starts mid-chain at seq 12" "$pa" verify "$rot.1" "$rot"
check "missing middle file" 1 "rot.log:1: first record of $rot does not continue the chain of the previous file $rot.2" \
	"$pa" verify "$rot.2" "$rot"
check "wrong order" 1 "does not continue the chain of the previous file" \
	"$pa" verify "$rot" "$rot.1" "$rot.2"
check "new chain after rotation" 1 "does not continue the chain of the previous file" \
	"$pa" verify "$rot.1" "$log"

# Hostile values stay on one line; secrets cannot be logged.
check "hostile value" 0 "" "$pa" append "$tmp/h.log" auth-failure "user=$(printf 'a\nb"c\033[2J')" \
	reason=bad
check "hostile value is one line" 0 "2" wc -l "$tmp/h.log"
check "hostile value verifies" 0 "chain intact" "$pa" verify "$tmp/h.log"
check "password refused" 1 "refused" "$pa" append "$tmp/h.log" auth-failure password=hunter2
check "chain event refused" 1 "refused" "$pa" append "$tmp/h.log" chain-start
check "bad field" 2 "is not key=value" "$pa" append "$tmp/h.log" note justtext
check "nothing refused was written" 0 "2" wc -l "$tmp/h.log"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
