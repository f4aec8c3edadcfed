#!/usr/bin/env bash
# Several relays behind HAProxy: two pixelgate relays with the same configuration
# (the same users file and the same [routes]) on two loopback ports, and Debian's
# haproxy in TCP mode in front of them, as docs/deployment.md describes. Two
# synthetic browser hosts (pg-synth-host) show pictures that cannot be mistaken
# for each other: alice's host a 640x480 test pattern, bob's an 800x600 still
# page. The viewers are pg-bench-viewer (VeNCrypt X509Plain, lossless encodings),
# which can dump the picture it received.
#
#   bash tests/e2e/test_haproxy.sh BUILD_DIR
#
# HAProxy checks each relay's /healthz on its admin listener and sends the
# viewer's address in a PROXY v2 header. With PG_HAPROXY_BROKER=pool
# (test_haproxy_pool.sh) the relays choose hosts by the pool broker's hashing
# instead of [routes], and the hosts' ports are picked so that it gives alice
# host_a and bob host_b.
#
# (a) through HAProxy, alice and bob each get exactly their own host's picture,
#     and each relay's /metrics (read with pixelgatectl) agrees with its log;
# (b) with both sessions open, the relay that carries alice's is killed (SIGKILL);
#     HAProxy marks it down, alice's viewer reconnects through HAProxy, lands on
#     the other relay and gets her own host again (the same picture, and that
#     relay's log names her host's address); bob is unaffected or, when he was on
#     the same relay, gets his own host back too;
# (c) the killed relay starts again and HAProxy marks it up;
# (d) the same with SIGTERM (the relay drains: its listeners close, its viewers
#     see a banner, and after drain_timeout it closes them and exits cleanly),
#     this time with both sessions on that relay (the other was drained through
#     HAProxy's stats socket while they started, as for an upgrade): both
#     viewers reconnect, each to their own host;
# (e) pixelgate-audit verify accepts each relay's audit trail, whose logins name
#     the viewer's address from HAProxy's PROXY v2 header, not HAProxy's, and
#     (pool) whose host-assign records all follow the hashing.
# The time HAProxy took to notice a relay was gone and the time a viewer took to
# get its picture back are printed (they are reported, never asserted). A viewer
# that lands on the other user's host fails the test.
#
# Loopback only; every wait is bounded; every process started here is stopped on
# any exit.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
readonly HERE

# What each user's browser host shows.
readonly ALICE_SIZE=640x480 ALICE_MODE=pattern
readonly BOB_SIZE=800x600 BOB_MODE=static
# HAProxy's health checks: every CHECK_INTER_MS, down after CHECK_FALL failures,
# up again after CHECK_RISE successes.
readonly CHECK_INTER_MS=300 CHECK_FALL=2 CHECK_RISE=2
# [relay] drain_timeout of both relays, in seconds: SIGTERM keeps viewers this long.
readonly DRAIN_S=2
# How the relays choose each user's host: static ([routes], the same on both) or
# pool ([broker] mode = pool: rendezvous hashing, computed alike by both relays;
# tests/e2e/test_haproxy_pool.sh).
readonly BROKER_MODE=${PG_HAPROXY_BROKER:-static}

BUILD_DIR=""
PASSED=0
FAILED=0
WORK=""
ART_DIR=""
ART_NAME=haproxy-$BROKER_MODE
T0=$SECONDS
HOST_A_PID="" HOST_B_PID="" R1_PID="" R2_PID="" HAPROXY_PID=""
ALICE_PID="" BOB_PID="" WATCH_PID=""
HOST_A_PORT="" HOST_B_PORT="" R1_PORT="" R2_PORT="" FRONT_PORT="" STATS_PORT=""

# shellcheck source=tests/e2e/e2e_lib.sh
source "$HERE/e2e_lib.sh"

cleanup() {
	local rc=$? f
	trap - EXIT INT TERM
	set +e
	if ((rc != 0 && FAILED == 0)); then
		log "error: stopped early (exit status $rc)"
		FAILED=1
	fi
	[[ -z "$WATCH_PID" ]] || { kill "$WATCH_PID" 2>/dev/null; wait "$WATCH_PID" 2>/dev/null; }
	stop_child "$ALICE_PID" alice-viewer
	stop_child "$BOB_PID" bob-viewer
	stop_child "$HAPROXY_PID" haproxy
	stop_child "$R1_PID" r1
	stop_child "$R2_PID" r2
	stop_child "$HOST_A_PID" host-a
	stop_child "$HOST_B_PID" host-b
	if ((FAILED)) && [[ -n "$WORK" && -d "$ART_DIR" ]]; then
		for f in "$WORK"/*.log "$WORK"/*.cfg "$WORK"/*.conf "$WORK"/*.jsonl "$WORK"/*.json; do
			[[ -f "$f" ]] && cp -f "$f" "$ART_DIR/$ART_NAME-${f##*/}"
		done
		log "artifacts in $ART_DIR/$ART_NAME-*"
	fi
	[[ -z "$WORK" ]] || rm -rf -- "$WORK"
	log "finished in $((SECONDS - T0)) s"
	echo "$PASSED passed, $FAILED failed"
	if ((rc == 0 && (FAILED > 0 || PASSED == 0))); then
		rc=1
	fi
	exit "$rc"
}

# Milliseconds since the epoch.
now_ms() {
	local t=${EPOCHREALTIME/[.,]/}
	echo $((t / 1000))
}

# Setup ------------------------------------------------------------------

# start_host NAME SIZE MODE: a pg-synth-host on a free loopback port, with the
# browser hosts' VNC password; its port in NAME_PORT, its pid in NAME_PID, and
# its first frame (what a viewer must see) in NAME.ppm.
start_host() {
	local name=$1 size=$2 mode=$3 port=${4:-} i
	[[ -n $port ]] || port=$(free_port "$HOST_A_PORT") || abort "no free port"
	"$BUILD_DIR/pg-synth-host" --render-frame 0 --output "$WORK/$name.ppm" \
		--size "$size" --mode "$mode" || abort "pg-synth-host could not render $name's frame"
	setsid "$BUILD_DIR/pg-synth-host" --listen 127.0.0.1 --port "$port" --size "$size" \
		--mode "$mode" --name "$name" --password-file "$WORK/password" \
		</dev/null >"$WORK/$name.log" 2>&1 &
	printf -v "${name^^}_PID" %s $!
	printf -v "${name^^}_PORT" %s "$port"
	for ((i = 0; i < 100; i++)); do
		grep -qs "listening on" "$WORK/$name.log" && break
		sleep 0.1
	done
	grep -q "listening on 127.0.0.1:$port" "$WORK/$name.log" ||
		abort "$name did not start: $(tail -n 3 "$WORK/$name.log" | tr '\n' ' ')"
	log "$name: pg-synth-host $mode $size on 127.0.0.1:$port"
}

# A self-signed certificate for 127.0.0.1, and a users file with alice and bob
# (pixelgate-passwd), each with a password file for the viewer.
make_login_files() {
	(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -days 2 -subj /CN=127.0.0.1 \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		-keyout "$WORK/key.pem" -out "$WORK/cert.pem" >"$WORK/openssl.log" 2>&1) ||
		abort "openssl could not make the certificate (see openssl.log)"
	chmod 600 "$WORK/key.pem"
	local u
	for u in alice bob; do
		(umask 077 && echo "pg-e2e-$u-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')" \
			>"$WORK/$u.password")
		PIXELGATE_SCRYPT_LN=10 "$BUILD_DIR/pixelgate-passwd" -f "$WORK/users" \
			add "$u" --groups staff <"$WORK/$u.password" >/dev/null ||
			abort "pixelgate-passwd add $u failed"
	done
}

# write_relay_conf NAME PORT: the relay's configuration. Both relays get the
# same one but for where they listen and where their audit trail goes: the same
# users and the same routes, so every relay sends a user to the same host.
write_relay_conf() { # NAME PORT ADMIN_PORT
	cat >"$WORK/$1.conf" <<CONF
[relay]
listen = 127.0.0.1:$2
security = vencrypt
tls_cert = $WORK/cert.pem
tls_key = $WORK/key.pem
users_file = $WORK/users
audit_file = $WORK/$1-audit.jsonl
; HAProxy connects from 127.0.0.2 and names the viewer (127.0.0.1) in a PROXY
; v2 header first
proxy_protocol_from = 127.0.0.2/32
log_level = debug
; SIGTERM drains this long: short, so (d) stays quick
drain_timeout = $DRAIN_S

; /healthz for HAProxy's checks, /metrics for the test
[admin]
listen = 127.0.0.1:$3
token_file = $WORK/admin.token

[upstream]
password_file = $WORK/password

$(routes_conf)
CONF
	"$BUILD_DIR/pixelgate" -c "$WORK/$1.conf" -n >"$WORK/$1-check.log" 2>&1 ||
		abort "pixelgate -n refused $1's configuration: $(head -n 5 "$WORK/$1-check.log")"
}

# The relays' [routes] (static) or [broker] (pool) section.
routes_conf() {
	if [[ $BROKER_MODE == pool ]]; then
		printf '[broker]\nmode = pool\nhosts = 127.0.0.1:%s, 127.0.0.1:%s\ncheck_interval = 1\ncheck_timeout = 500\n' \
			"$HOST_A_PORT" "$HOST_B_PORT"
	else
		printf '[routes]\nuser.alice = 127.0.0.1:%s\nuser.bob = 127.0.0.1:%s\n' \
			"$HOST_A_PORT" "$HOST_B_PORT"
	fi
}

# score USER HOST:PORT: the pool's rendezvous score of the pair, as
# docs/operations.md tells operators to compute it (the highest wins).
score() {
	printf '%s\0%s' "$1" "$2" | sha256sum | cut -c1-16
}

# first_choice USER: the pool host the user's hashing puts first.
first_choice() {
	local a="127.0.0.1:$HOST_A_PORT" b="127.0.0.1:$HOST_B_PORT"
	[[ "$(score "$1" "$a")" > "$(score "$1" "$b")" ]] && echo "$a" || echo "$b"
}

# start_hosts: host_a and host_b, on ports where, in pool mode, the hashing
# gives alice host_a and bob host_b, as the static routes do.
start_hosts() {
	local pa pb i tried=()
	for ((i = 0; i < 200; i++)); do
		# free_port runs in a subshell, whose $RANDOM does not move ours on:
		# name the ports already tried.
		pa=$(free_port "${tried[@]}") || abort "no free port"
		pb=$(free_port "$pa" "${tried[@]}") || abort "no free port"
		tried+=("$pa" "$pb")
		[[ $BROKER_MODE == pool ]] || break
		HOST_A_PORT=$pa HOST_B_PORT=$pb
		[[ "$(first_choice alice)" == "127.0.0.1:$pa" &&
			"$(first_choice bob)" == "127.0.0.1:$pb" ]] && break
	done
	((i < 200)) || abort "no ports found where the pool gives alice host_a and bob host_b"
	start_host host_a "$ALICE_SIZE" "$ALICE_MODE" "$pa"
	start_host host_b "$BOB_SIZE" "$BOB_MODE" "$pb"
	[[ $BROKER_MODE != pool ]] ||
		log "pool: alice's first choice is host_a, bob's host_b (try $((i + 1)))"
}

# start_relay NAME: pixelgate with NAME.conf, its output appended to NAME.log
# (a restarted relay keeps its earlier lines), until it listens.
start_relay() {
	local name=$1 port
	[[ $name == r1 ]] && port=$R1_PORT || port=$R2_PORT
	setsid "$BUILD_DIR/pixelgate" -c "$WORK/$name.conf" </dev/null >>"$WORK/$name.log" 2>&1 &
	printf -v "${name^^}_PID" %s $!
	wait_port "$port" "$!" "$name" 20
	log "$name: pixelgate on 127.0.0.1:$port (pid $!)"
}

# HAProxy in TCP mode: RFB passes through untouched (the relay terminates TLS
# inside VeNCrypt). The health check opens a TCP connection and waits for the
# relay's RFB greeting.
write_haproxy_cfg() {
	cat >"$WORK/haproxy.cfg" <<CFG
global
    maxconn 1000
    stats socket ipv4@127.0.0.1:$STATS_PORT level admin

defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    # A connect that fails (a relay just died, not yet marked down) is retried
    # on another relay rather than on the dead one.
    retries 2
    option redispatch

frontend rfb
    bind 127.0.0.1:$FRONT_PORT
    default_backend relays

backend relays
    # Sessions are long and few: send a new one to the relay with the fewest.
    balance leastconn
    # The relay's admin listener says whether it takes viewers: 503 from the
    # first moment of a drain, so HAProxy sends nobody new to a stopping relay.
    option httpchk GET /healthz
    http-check expect status 200
    # From 127.0.0.2, with the viewer's address in a PROXY v2 header (not on
    # the checks, which go to the admin port).
    source 127.0.0.2
    default-server inter ${CHECK_INTER_MS}ms fall $CHECK_FALL rise $CHECK_RISE send-proxy-v2
    server r1 127.0.0.1:$R1_PORT check port $R1_ADMIN
    server r2 127.0.0.1:$R2_PORT check port $R2_ADMIN
CFG
	haproxy -c -q -f "$WORK/haproxy.cfg" >"$WORK/haproxy-check.log" 2>&1 ||
		abort "haproxy -c refused the configuration: $(head -n 5 "$WORK/haproxy-check.log")"
}

start_haproxy() {
	setsid haproxy -db -f "$WORK/haproxy.cfg" </dev/null >"$WORK/haproxy.log" 2>&1 &
	HAPROXY_PID=$!
	wait_port "$FRONT_PORT" "$HAPROXY_PID" haproxy 20
	wait_status r1 UP 10 >/dev/null || abort "haproxy did not see r1 up"
	wait_status r2 UP 10 >/dev/null || abort "haproxy did not see r2 up"
	log "haproxy: 127.0.0.1:$FRONT_PORT -> r1 127.0.0.1:$R1_PORT, r2 127.0.0.1:$R2_PORT (leastconn)"
}

# HAProxy's view -----------------------------------------------------------

# haproxy_cmd COMMAND: COMMAND on HAProxy's stats socket (a loopback TCP port
# here; a Unix socket in production), its answer on stdout.
haproxy_cmd() {
	# shellcheck disable=SC2016
	timeout 2 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		echo "$2" >&3
		cat <&3' _ "$STATS_PORT" "$1" 2>/dev/null
}

# server_status NAME: UP, DOWN, DRAIN, ... as HAProxy's stats socket says.
server_status() {
	haproxy_cmd "show stat" |
		awk -F, -v s="$1" '$1 == "relays" && $2 == s { print $18 }' | head -n 1
}

# wait_status NAME STATUS SECONDS: until HAProxy shows NAME as STATUS (a prefix:
# "UP" also matches "UP 1/2"); prints the milliseconds it took.
wait_status() {
	local start end st
	start=$(now_ms)
	end=$((SECONDS + $3))
	while ((SECONDS < end)); do
		st=$(server_status "$1") || st=""
		if [[ "$st" == "$2"* && "$st" != "$2 "* ]]; then
			echo $(($(now_ms) - start))
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# Viewers ------------------------------------------------------------------

# viewer_args USER SECONDS DUMP [SETTLE]: pg-bench-viewer's arguments to view
# through HAProxy as USER for SECONDS after the first picture, then dump the
# picture it has SETTLE seconds later (default 0.3) as DUMP (PPM). Lossless
# encodings, so a complete picture equals the host's frame byte for byte.
viewer_args() {
	echo --connect "127.0.0.1:$FRONT_PORT" --user "$1" --user-password-file "$WORK/$1.password" \
		--encodings zrle,raw --quality -1 --warmup 0 --duration "$2" --first-timeout 10 \
		--dump "$3" --settle "${4:-0.3}"
}

# logins NAME USER: how many times USER logged in on relay NAME so far.
logins() {
	grep -c "'$2' logged in" "$WORK/$1.log" 2>/dev/null || true
}

# check_picture LABEL USER DUMP: 0 when DUMP is exactly USER's host's first
# frame; 1 (and a failure) when it is the other user's host or has its size;
# 2 when it is neither yet (no picture, or the picture still incomplete).
check_picture() {
	local label=$1 user=$2 dump=$3 other
	[[ $user == alice ]] && other=bob || other=alice
	[[ -s "$dump" ]] || return 2
	# Each user's host shows a picture of its own, in a size of its own.
	if cmp -s "$dump" "$WORK/host_${other:0:1}.ppm" ||
		[[ "$(head -c 20 "$dump" | sed -n 2p)" == "$(head -c 20 "$WORK/host_${other:0:1}.ppm" | sed -n 2p)" ]]; then
		fail "$label $user got $other's browser host"
		cp -f "$dump" "$ART_DIR/$ART_NAME-$user-wrong-host.ppm"
		return 1
	fi
	cmp -s "$dump" "$WORK/host_${user:0:1}.ppm" && return 0
	return 2
}

# see_own_host USER LABEL SECONDS NAME: short sessions through HAProxy as USER
# (a 0.05 s window, then the picture 0.3 s later), one after another for at most
# SECONDS, until one gets exactly USER's host's picture. A viewer that cannot
# connect yet, or whose picture is not complete, is followed by another; one that
# shows the other user's host fails at once. NAME.json is the last report;
# NAME-looks gets how many sessions it took.
see_own_host() {
	local user=$1 label=$2 end=$((SECONDS + $3)) name=$4 n=0 rc=2 dump="$WORK/$4.ppm"
	while ((SECONDS < end)); do
		n=$((n + 1))
		rm -f -- "$dump"
		# shellcheck disable=SC2046
		if timeout 20 "$BUILD_DIR/pg-bench-viewer" $(viewer_args "$user" 0.05 "$dump" 0.3) \
			>"$WORK/$name.json" 2>"$WORK/$name.log"; then
			rc=0
			check_picture "$label" "$user" "$dump" || rc=$?
			((rc == 1)) && return 1
			if ((rc == 0)); then
				echo "$n" >"$WORK/$name-looks"
				return 0
			fi
			log "$label $user's picture is not their host's yet (session $n); looking again"
		fi
		sleep 0.2
	done
	if [[ -s "$dump" ]]; then
		cp -f "$dump" "$ART_DIR/$ART_NAME-$user-picture.ppm"
		fail "$label $user's picture is not their host's after $3 s ($(head -c 20 "$dump" | sed -n 2p)); see $ART_DIR/$ART_NAME-$user-picture.ppm"
	else
		fail "$label $user could not view through haproxy within $3 s: $(tail -n 2 "$WORK/$name.log" | tr '\n' ' ')"
	fi
	return 1
}

# look USER LABEL: USER's own host's picture through HAProxy?
look() {
	local user=$1 label=$2
	see_own_host "$user" "$label" 15 "$user-look" || return 1
	pass "$label $user sees their own host through haproxy ($(jq -r '"\(.width)x\(.height)"' "$WORK/$user-look.json" 2>/dev/null || echo picture), identical to its frame; session $(cat "$WORK/$user-look-looks") of the look)"
}

# open_session USER: a long session through HAProxy in the background; waits
# until a relay logs USER's login and that relay's session has its browser host.
# Sets USER_PID and echoes nothing; RELAY_OF_USER gets r1 or r2.
declare -A RELAY_OF=()
open_session() {
	local user=$1 before1 before2 end r
	before1=$(logins r1 "$user")
	before2=$(logins r2 "$user")
	# shellcheck disable=SC2046
	setsid "$BUILD_DIR/pg-bench-viewer" $(viewer_args "$user" 120 "$WORK/$user-long.ppm") \
		</dev/null >"$WORK/$user-long.json" 2>"$WORK/$user-long.log" &
	printf -v "${user^^}_PID" %s $!
	end=$((SECONDS + 20))
	r=""
	while ((SECONDS < end)) && [[ -z $r ]]; do
		(($(logins r1 "$user") > before1)) && r=r1
		(($(logins r2 "$user") > before2)) && r=r2
		sleep 0.05
	done
	[[ -n $r ]] || abort "$user's session did not reach a relay within 20 s"
	RELAY_OF[$user]=$r
	# The session has its browser host once the relay has that host's picture.
	sleep 1
	log "$user's session is on $r"
}

# reconnect USER DEAD T_KILL LABEL: USER's viewer lost its relay: it reconnects
# through HAProxy at once and again every 0.2 s (see_own_host, for at most 30 s),
# as a viewer's reconnect would, and must land on the other relay with its own
# host. USER-t-reconnect gets the milliseconds from T_KILL until a viewer had
# exactly that host's picture, which includes the 0.35 s each short session
# waits before it takes its picture.
reconnect() {
	local user=$1 dead=$2 t_kill=$3 label=$4 alive host_port t_pic
	[[ $dead == r1 ]] && alive=r2 || alive=r1
	[[ $user == alice ]] && host_port=$HOST_A_PORT || host_port=$HOST_B_PORT
	see_own_host "$user" "$label" 30 "$user-re" || return 1
	t_pic=$(($(now_ms) - t_kill))
	# The surviving relay logged the login and opened a session to the host.
	if ! grep -q "'$user' logged in" "$WORK/$alive.log" ||
		! grep -q "session 127.0.0.1:$host_port: connected to browser host" "$WORK/$alive.log"; then
		fail "$label $alive's log does not show $user's session with 127.0.0.1:$host_port"
		return 1
	fi
	pass "$label $user reconnected through haproxy to $alive and got their host 127.0.0.1:$host_port back by ${t_pic} ms after the kill (the same picture, in session $(cat "$WORK/$user-re-looks") after the kill; $alive's log: $(grep -o "session 127.0.0.1:$host_port: connected to browser host[^)]*)" "$WORK/$alive.log" | tail -n 1))"
	echo "$t_pic" >"$WORK/$user-t-reconnect"
}

# failover SIGNAL LABEL [together]: both users in a session; the relay carrying
# alice's is stopped with SIGNAL; HAProxy marks it down; alice (and bob if he was
# there) reconnect; then the relay starts again and HAProxy marks it up. With
# "together", r2 is drained first (as for an upgrade) so that both sessions go
# to r1, and put back in service before r1 is stopped.
failover() {
	local sig=$1 label=$2 together=${3:-} dead pid t_kill t_down t_exit user t_up i
	if [[ -n $together ]]; then
		haproxy_cmd "set server relays/r2 state drain" >/dev/null
		[[ "$(server_status r2)" == DRAIN* ]] ||
			abort "haproxy did not drain r2: $(server_status r2)"
		log "$label r2 drained: new sessions go to r1 only"
	fi
	open_session alice
	open_session bob
	if [[ -n $together ]]; then
		haproxy_cmd "set server relays/r2 state ready" >/dev/null
		wait_status r2 UP 5 >/dev/null || abort "haproxy did not put r2 back: $(server_status r2)"
		if [[ ${RELAY_OF[alice]} == r1 && ${RELAY_OF[bob]} == r1 ]]; then
			pass "$label with r2 drained, both sessions went to r1"
		else
			fail "$label r2 was drained, yet alice is on ${RELAY_OF[alice]} and bob on ${RELAY_OF[bob]}"
		fi
	fi
	dead=${RELAY_OF[alice]}
	rm -f -- "$WORK/alice-t-reconnect" "$WORK/bob-t-reconnect"
	[[ $dead == r1 ]] && pid=$R1_PID || pid=$R2_PID
	log "$label stopping $dead (pid $pid, alice's relay) with SIG$sig"
	t_kill=$(now_ms)
	kill "-$sig" -- "-$pid" 2>/dev/null || kill "-$sig" "$pid"
	# HAProxy's view, watched while the viewers reconnect.
	rm -f -- "$WORK/t-down"
	(wait_status "$dead" DOWN 10 >"$WORK/t-down.tmp" &&
		echo $(($(now_ms) - t_kill)) >"$WORK/t-down") &
	WATCH_PID=$!
	# SIGTERM: the relay drains for DRAIN_S, closes every viewer and exits 0 by
	# itself.
	for ((i = 0; i < 100 + DRAIN_S * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	t_exit=$(($(now_ms) - t_kill))
	if { wait "$pid"; } 2>/dev/null; then
		[[ $sig == TERM ]] && pass "$label $dead exited 0 on SIGTERM after ${t_exit} ms"
	else
		[[ $sig == TERM ]] && fail "$label $dead did not exit 0 on SIGTERM (status $?)"
	fi
	if [[ $sig == TERM ]] && ! grep -q '"event":"relay-stop"' "$WORK/$dead-audit.jsonl"; then
		fail "$label $dead's audit trail has no relay-stop after SIGTERM"
	fi
	if [[ $sig == TERM ]] && ! grep -q '"event":"relay-drain"' "$WORK/$dead-audit.jsonl"; then
		fail "$label $dead's audit trail has no relay-drain after SIGTERM"
	fi
	# Reconnect at once, as a viewer does: HAProxy's redispatch covers the
	# moments before its checks have noticed.
	for user in alice bob; do
		local vpid
		[[ $user == alice ]] && vpid=$ALICE_PID || vpid=$BOB_PID
		if [[ ${RELAY_OF[$user]} == "$dead" ]]; then
			# Its viewer notices the relay went away (after the drain) and exits.
			for ((i = 0; i < 100 + DRAIN_S * 20; i++)); do
				kill -0 "$vpid" 2>/dev/null || break
				sleep 0.05
			done
			kill -0 "$vpid" 2>/dev/null &&
				fail "$label $user's viewer did not notice $dead went away within $((5 + DRAIN_S)) s"
			reconnect "$user" "$dead" "$t_kill" "$label" || true
		fi
	done
	wait "$WATCH_PID" || true
	WATCH_PID=""
	if [[ -s "$WORK/t-down" ]]; then
		t_down=$(cat "$WORK/t-down")
		pass "$label haproxy marked $dead DOWN ${t_down} ms after SIG$sig (checks every ${CHECK_INTER_MS} ms, fall $CHECK_FALL)"
	else
		fail "$label haproxy did not mark $dead DOWN within 10 s (status: $(server_status "$dead"))"
		t_down="?"
	fi
	# bob's session, when it was elsewhere, went on.
	if [[ ${RELAY_OF[bob]} != "$dead" ]]; then
		if kill -0 "$BOB_PID" 2>/dev/null; then
			pass "$label bob's session on ${RELAY_OF[bob]} went on, unaffected"
		else
			fail "$label bob's session on ${RELAY_OF[bob]} ended: $(tail -n 2 "$WORK/bob-long.log" | tr '\n' ' ')"
		fi
	fi
	look bob "$label" || true
	stop_child "$ALICE_PID" alice-viewer
	stop_child "$BOB_PID" bob-viewer
	ALICE_PID="" BOB_PID=""
	local times
	times="alice's picture back after $(cat "$WORK/alice-t-reconnect" 2>/dev/null || echo '?') ms"
	[[ -f "$WORK/bob-t-reconnect" ]] && times+=", bob's after $(cat "$WORK/bob-t-reconnect") ms"
	echo "TIMING $label SIG$sig of $dead: it exited after ${t_exit} ms; haproxy marked it DOWN after ${t_down} ms; $times (each includes the viewer's 350 ms dwell; bob reconnects after alice)"
	# Back in service.
	start_relay "$dead"
	if t_up=$(wait_status "$dead" UP 10); then
		pass "(c) haproxy marked $dead UP again ${t_up} ms after it listened (rise $CHECK_RISE)"
	else
		fail "(c) haproxy did not mark $dead UP within 10 s"
	fi
}

# metric NAME FILE: the sum of NAME's samples (all label sets) in a scrape.
metric() {
	awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $NF } END { printf "%d", s }' "$2"
}

# What each relay's /metrics says (read with pixelgatectl, as IT staff would)
# against what the test did and what the relay logged.
test_metrics() {
	local label=$1 r admin n logged frames closed sessions live
	for r in r1 r2; do
		[[ $r == r1 ]] && admin=$R1_ADMIN || admin=$R2_ADMIN
		if ! "$BUILD_DIR/pixelgatectl" --url "http://127.0.0.1:$admin" \
			--token-file "$WORK/admin.token" metrics >"$WORK/$r-metrics.txt" 2>&1; then
			fail "$label $r: pixelgatectl metrics failed: $(head -n 2 "$WORK/$r-metrics.txt")"
			continue
		fi
		n=$(metric pixelgate_viewer_connections_total "$WORK/$r-metrics.txt")
		logged=$(grep -c ': new connection' "$WORK/$r.log" || true)
		frames=$(metric pixelgate_viewer_frames_total "$WORK/$r-metrics.txt")
		closed=$(grep -o '(\([0-9]*\) updates,' "$WORK/$r.log" | tr -dc '0-9\n' | awk '{ s += $1 } END { printf "%d", s }')
		if [[ $n == "$logged" && $frames == "$closed" &&
			$(metric pixelgate_auth_failures_total "$WORK/$r-metrics.txt") == 0 ]]; then
			pass "$label $r: /metrics: $n viewer connections and $frames updates, as its log says; no failed login"
		else
			fail "$label $r: /metrics says $n connections and $frames updates, its log $logged and $closed"
		fi
		# A user whose look took two tries may have a session, lingering, on
		# each relay: count what the log says started and has not ended.
		sessions=$(metric pixelgate_sessions "$WORK/$r-metrics.txt")
		live=$(awk '/: session [0-9a-f]* starts/ { n++ } /: session [0-9a-f]* ends/ { n-- }
			END { printf "%d", n }' "$WORK/$r.log")
		if ((sessions == live && sessions >= 1)); then
			pass "$label $r: /metrics: $sessions sessions, as its log says"
		else
			fail "$label $r: /metrics: $sessions sessions, its log $live"
		fi
	done
}

test_audit_verify() {
	local r out
	stop_child "$HAPROXY_PID" haproxy
	HAPROXY_PID=""
	stop_child "$R1_PID" r1
	stop_child "$R2_PID" r2
	R1_PID="" R2_PID=""
	for r in r1 r2; do
		# The relay took the viewer's address from HAProxy's header: every
		# login record names 127.0.0.1, none HAProxy's 127.0.0.2.
		if grep '"event":"auth-success"' "$WORK/$r-audit.jsonl" | grep -q '"source":"127.0.0.1"' &&
			! grep -q '"source":"127.0.0.2"' "$WORK/$r-audit.jsonl" &&
			grep -q "through the load balancer at 127.0.0.2:" "$WORK/$r.log"; then
			pass "(e) $r: logins audited with the viewer's address from the PROXY header, not HAProxy's"
		else
			fail "(e) $r: the audit trail does not name the viewer's address from the PROXY header"
		fi
		if [[ $BROKER_MODE == pool ]]; then
			# Each relay computed the same host per user, with no shared state.
			if jq -e -s --arg a "127.0.0.1:$HOST_A_PORT" --arg b "127.0.0.1:$HOST_B_PORT" '
				[.[] | select(.event == "host-assign")] as $h |
				($h | length) > 0 and
				all($h[]; (.user == "alice" and .browser_host == $a) or
					(.user == "bob" and .browser_host == $b))' \
				"$WORK/$r-audit.jsonl" >/dev/null; then
				pass "(e) $r: every host-assign record gives alice host_a and bob host_b, as the hashing says"
			else
				fail "(e) $r: a host-assign record differs from the hashing's first choice"
			fi
		fi
		if out=$("$BUILD_DIR/pixelgate-audit" verify "$WORK/$r-audit.jsonl" 2>&1); then
			pass "(e) $r: pixelgate-audit verify: $out"
		else
			fail "(e) $r: pixelgate-audit verify failed: $out"
		fi
	done
}

main() {
	build_dir_arg "$@"
	trap_exit cleanup
	need haproxy openssl setsid awk cmp jq timeout
	local b
	for b in pixelgate pixelgate-worker pixelgate-passwd pixelgate-audit pixelgatectl pg-synth-host pg-bench-viewer; do
		[[ -x "$BUILD_DIR/$b" ]] || abort "$BUILD_DIR/$b not found; build pixelgate"
	done
	make_work "pg-e2e-haproxy-$BROKER_MODE"
	log "haproxy: $(haproxy -v | head -n 1)"

	start_hosts
	make_login_files
	R1_PORT=$(free_port "$HOST_A_PORT" "$HOST_B_PORT") || abort "no free port"
	R2_PORT=$(free_port "$HOST_A_PORT" "$HOST_B_PORT" "$R1_PORT") || abort "no free port"
	FRONT_PORT=$(free_port "$HOST_A_PORT" "$HOST_B_PORT" "$R1_PORT" "$R2_PORT") ||
		abort "no free port"
	STATS_PORT=$(free_port "$HOST_A_PORT" "$HOST_B_PORT" "$R1_PORT" "$R2_PORT" "$FRONT_PORT") ||
		abort "no free port"
	R1_ADMIN=$(free_port "$HOST_A_PORT" "$HOST_B_PORT" "$R1_PORT" "$R2_PORT" "$FRONT_PORT" "$STATS_PORT") ||
		abort "no free port"
	R2_ADMIN=$(free_port "$HOST_A_PORT" "$HOST_B_PORT" "$R1_PORT" "$R2_PORT" "$FRONT_PORT" "$STATS_PORT" "$R1_ADMIN") ||
		abort "no free port"
	(umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$WORK/admin.token" && echo >>"$WORK/admin.token")
	write_relay_conf r1 "$R1_PORT" "$R1_ADMIN"
	write_relay_conf r2 "$R2_PORT" "$R2_ADMIN"
	start_relay r1
	start_relay r2
	write_haproxy_cfg
	start_haproxy

	look alice "(a)" || true
	look bob "(a)" || true
	test_metrics "(a)"
	failover KILL "(b)"
	failover TERM "(d)" together
	test_audit_verify
}

main "$@"
