#!/usr/bin/env bash
# The Debian package as IT staff get it: built with cpack from the build folder,
# its control data and contents checked, its systemd units verified by Debian's
# own systemd, then installed with apt into a clean Debian root made with
# debootstrap, where the relay runs from the installed files as user pixelgate
# and answers an RFB banner on loopback; then removed and purged.
#
#   bash tests/e2e/test_package.sh BUILD_DIR
#
# Needs root (debootstrap, chroot, mounts) and the machine's apt mirror: the
# mirror is read from /etc/apt/sources.list and sources.list.d at run time
# (PG_PKG_MIRROR overrides it). Exits 77 (skipped) when not root. The clean root
# is cached in BUILD_DIR/package-test-cache (a tarball of the debootstrap result
# and the .debs apt fetched), so a rerun only unpacks it; delete the folder to
# start from the mirror again.
set -uo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/e2e_lib.sh
. "$HERE/e2e_lib.sh"

T0=$SECONDS
PASSED=0
FAILED=0
WORK=""
ROOT=""
RELAY_PID=""
NSPAWN_PID=""
SYNTH_PID=""
# The script's own output, for finish: a signal that arrives during a command
# whose output goes to /dev/null runs the exit handler with that redirection.
exec {OUT_FD}>&1 {ERR_FD}>&2

build_dir_arg "$@"
if ((EUID != 0)); then
	echo "$PROG: skipped: needs root (debootstrap, chroot); CI runs it as root" >&2
	exit 77
fi

CACHE="$BUILD_DIR/package-test-cache"
ART_DIR="$BUILD_DIR/e2e-artifacts"
ART_NAME=package

# Unmounts everything under ROOT; true when nothing is left mounted there.
unmount_root() {
	local m
	[[ -n "$ROOT" ]] || return 0
	for m in $(awk -v r="$ROOT" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts |
		sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	! awk -v r="$ROOT" '$2 == r || index($2, r "/") == 1 { f = 1 } END { exit !f }' /proc/mounts
}

# Stops the booted container (section 5): SIGTERM asks its systemd to shut down.
stop_box() {
	local i
	[[ -n "$NSPAWN_PID" ]] || return 0
	kill -TERM "$NSPAWN_PID" 2>/dev/null
	for ((i = 0; i < 150; i++)); do
		kill -0 "$NSPAWN_PID" 2>/dev/null || break
		sleep 0.2
	done
	kill -KILL "$NSPAWN_PID" 2>/dev/null
	wait "$NSPAWN_PID" 2>/dev/null
	NSPAWN_PID=""
}

finish() {
	local rc=$? f
	trap - EXIT INT TERM
	set +e
	exec 1>&"$OUT_FD" 2>&"$ERR_FD"
	if ((rc != 0 && FAILED == 0)); then
		log "error: stopped early (exit status $rc)"
		FAILED=1
	fi
	stop_child "$RELAY_PID" pixelgate
	stop_box
	stop_child "$SYNTH_PID" pg-synth-host
	if ((FAILED)) && [[ -n "$WORK" ]]; then
		mkdir -p -- "$ART_DIR"
		for f in "$WORK"/*.log "$ROOT"/tmp/pg-test/*.log "$ROOT"/var/log/pixelgate/audit.jsonl; do
			[[ -f "$f" ]] && cp -f -- "$f" "$ART_DIR/$ART_NAME-${f##*/}"
		done
		log "logs in $ART_DIR/$ART_NAME-*"
	fi
	if [[ -n "$WORK" ]]; then
		# Never remove a folder with /proc or /dev still mounted inside.
		if unmount_root; then
			rm -rf -- "$WORK"
		else
			log "error: mounts left under $ROOT; not removing $WORK"
		fi
	fi
	log "finished in $((SECONDS - T0)) s"
	echo "$PASSED passed, $FAILED failed"
	if ((rc == 0 && (FAILED > 0 || PASSED == 0))); then
		rc=1
	fi
	exit "$rc"
}
trap_exit finish

need cpack dpkg-deb debootstrap chroot tar awk openssl
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pg-package.XXXXXX")
mkdir -p -- "$CACHE" "$ART_DIR"
rm -f -- "$ART_DIR/$ART_NAME"-*

# in_root CMD...: CMD in the installed root, with a clean environment, for at
# most 60 s.
in_root() {
	timeout 60 chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive "$@"
}

# (1) The package ------------------------------------------------------------

log "building the package with cpack"
t=$SECONDS
(cd -- "$BUILD_DIR" && timeout 180 cpack -G DEB -B "$WORK/cpack") >"$WORK/cpack.log" 2>&1 ||
	abort "cpack failed: $(tail -n 5 "$WORK/cpack.log")"
DEB=$(ls "$WORK"/cpack/pixelgate_*_amd64.deb 2>/dev/null | head -n 1)
[[ -f "$DEB" ]] || abort "cpack made no pixelgate_<version>_amd64.deb: $(ls "$WORK/cpack")"
version=$(dpkg-deb --field "$DEB" Version)
pass "(1) cpack built ${DEB##*/} (version $version) in $((SECONDS - t)) s"

# (2) Control data and contents -----------------------------------------------

info=$(dpkg-deb --info "$DEB")
contents=$(dpkg-deb --contents "$DEB")
conffiles=$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles 2>/dev/null)
depends=$(dpkg-deb --field "$DEB" Depends)

check_info() { # what, pattern (grep -E) in dpkg-deb --info
	if grep -qE -- "$2" <<<"$info"; then pass "(2) $1"; else fail "(2) $1: no /$2/ in dpkg-deb --info"; fi
}
check_info "package name pixelgate, amd64" "^ Package: pixelgate$"
check_info "architecture amd64" "^ Architecture: amd64$"
for s in postinst prerm postrm; do
	check_info "$s maintainer script, executable" "^ +[0-9]+ bytes, +[0-9]+ lines +\* +$s "
done
if [[ "$conffiles" == "/etc/pixelgate/pixelgate.conf" ]]; then
	pass "(2) conffiles lists /etc/pixelgate/pixelgate.conf"
else
	fail "(2) conffiles is '$conffiles'"
fi
# dpkg-shlibdeps found the libraries, and adduser for postinst is there.
missing=""
for d in adduser procps libc6 libuv1 libssl3 libturbojpeg0 libseccomp2 libjansson4; do
	[[ ", $depends," == *", $d "* || ", $depends," == *", $d,"* ]] || missing+=" $d"
done
if [[ -z "$missing" ]]; then
	pass "(2) Depends has adduser, procps and the shared libraries"
else
	fail "(2) Depends lacks$missing: $depends"
fi

# check_entry MODE PATH: a file or folder in the package, owned by root, with MODE
# as dpkg-deb --contents prints it.
check_entry() {
	local line
	line=$(awk -v p="./$2" '$6 == p || $6 == p "/"' <<<"$contents")
	if [[ -z "$line" ]]; then
		fail "(2) /$2 is not in the package"
	elif [[ "$(awk '{ print $1, $2 }' <<<"$line")" != "$1 root/root" ]]; then
		fail "(2) /$2: $(awk '{ print $1, $2 }' <<<"$line") (want $1 root/root)"
	else
		pass "(2) /$2 $1 root/root"
	fi
}
check_entry -rwxr-xr-x usr/bin/pixelgate
check_entry -rwxr-xr-x usr/bin/pixelgate-passwd
check_entry -rwxr-xr-x usr/bin/pixelgate-audit
check_entry -rwxr-xr-x usr/bin/pg-browser-host
check_entry -rwxr-xr-x usr/lib/pixelgate/pixelgate-worker
check_entry -rw-r----- etc/pixelgate/pixelgate.conf
check_entry drwx------ etc/pixelgate/hosts
check_entry -rw-r--r-- lib/systemd/system/pixelgate.service
check_entry -rw-r--r-- lib/systemd/system/pixelgate-browser-host@.service
check_entry -rw-r--r-- usr/share/doc/pixelgate/deployment.md
check_entry -rw-r--r-- usr/share/doc/pixelgate/examples/browser-host.conf
WEB=0
if [[ -f "$BUILD_DIR/web/index.html" ]]; then
	WEB=1
	check_entry -rw-r--r-- usr/share/pixelgate/web/index.html
	check_entry -rw-r--r-- usr/share/pixelgate/web/app.js
fi
others=$(awk '$2 != "root/root"' <<<"$contents")
if [[ -z "$others" ]]; then
	pass "(2) every file in the package is owned by root"
else
	fail "(2) files not owned by root: $others"
fi

# (3) A clean Debian root ------------------------------------------------------

# The first URI of an enabled "deb" source of SUITE, deb822 or one-line style.
mirror_for() {
	local suite=$1 f
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f "$f" ]] || continue
		awk -v c="$suite" 'BEGIN { RS = ""; FS = "\n" }
		{
			uris = ""; suites = ""; types = ""; enabled = "yes"
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^[ \t]*#/ || index($i, ":") == 0) continue
				k = tolower(substr($i, 1, index($i, ":") - 1))
				v = substr($i, index($i, ":") + 1)
				gsub(/^[ \t]+|[ \t]+$/, "", v)
				if (k == "uris") uris = v
				else if (k == "suites") suites = v
				else if (k == "types") types = v
				else if (k == "enabled") enabled = tolower(v)
			}
			if (enabled == "no" || (" " types " ") !~ /[ \t]deb[ \t]/) next
			n = split(suites, s, /[ \t]+/)
			for (j = 1; j <= n; j++)
				if (s[j] == c) { split(uris, u, /[ \t]+/); print u[1]; exit }
		}' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f "$f" ]] || continue
		awk -v c="$suite" '$1 == "deb" {
			i = 2
			if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) == c) { print $i; exit }
		}' "$f"
	done
}

SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[[ -n "$SUITE" ]] || abort "no VERSION_CODENAME in /etc/os-release: not Debian?"
MIRROR=${PG_PKG_MIRROR:-$(mirror_for "$SUITE" | head -n 1)}
[[ -n "$MIRROR" ]] || abort "no apt source for $SUITE in /etc/apt/sources.list*; set PG_PKG_MIRROR"
INCLUDE=systemd,systemd-sysv
[[ "$MIRROR" != https:* ]] || INCLUDE+=,ca-certificates
key=$(printf '%s %s %s minbase' "$SUITE" "$MIRROR" "$INCLUDE" | sha256sum | cut -c1-16)
TARBALL="$CACHE/root-$SUITE-$key.tar"
ROOT="$WORK/root"
mkdir -m 755 -- "$ROOT"

t=$SECONDS
if [[ -f "$TARBALL" ]]; then
	tar -xpf "$TARBALL" -C "$ROOT" || abort "cannot unpack $TARBALL"
	pass "(3) clean $SUITE root unpacked from the cache in $((SECONDS - t)) s"
else
	log "debootstrap --variant=minbase $SUITE from $MIRROR (cached afterwards)"
	timeout 480 debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$ROOT" "$MIRROR" \
		>"$WORK/debootstrap.log" 2>&1 ||
		abort "debootstrap failed: $(tail -n 5 "$WORK/debootstrap.log")"
	cp -f /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
	timeout 180 chroot "$ROOT" apt-get update -q >"$WORK/apt-update.log" 2>&1 ||
		abort "apt-get update in the new root failed: $(tail -n 5 "$WORK/apt-update.log")"
	in_root apt-get clean
	if ! tar -cpf "$TARBALL.tmp" -C "$ROOT" . || ! mv -f -- "$TARBALL.tmp" "$TARBALL"; then
		rm -f -- "$TARBALL.tmp"
		abort "cannot write $TARBALL"
	fi
	pass "(3) clean $SUITE root made with debootstrap in $((SECONDS - t)) s"
fi
cp -f /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$ROOT/proc" || abort "cannot mount /proc in the root"
mount --bind /dev "$ROOT/dev" || abort "cannot bind /dev into the root"

# (3) systemd-analyze verify, by the root's own systemd, where the programs the
# units name exist: done after the install below.

# (4) Install with apt ---------------------------------------------------------

cp -f -- "$DEB" "$ROOT/tmp/${DEB##*/}"
mkdir -p -- "$CACHE/debs"
cp -f -- "$CACHE"/debs/*.deb "$ROOT/var/cache/apt/archives/" 2>/dev/null || true
t=$SECONDS
timeout 300 chroot "$ROOT" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -q --no-install-recommends "/tmp/${DEB##*/}" >"$WORK/apt-install.log" 2>&1 ||
	abort "apt-get install of the package failed: $(tail -n 8 "$WORK/apt-install.log")"
cp -f -- "$ROOT"/var/cache/apt/archives/*.deb "$CACHE/debs/" 2>/dev/null || true
pass "(4) apt-get install ${DEB##*/} with its Depends from $MIRROR in $((SECONDS - t)) s"

if in_root systemd-analyze verify /lib/systemd/system/pixelgate.service \
	/lib/systemd/system/pixelgate-browser-host@.service >"$WORK/verify.log" 2>&1 &&
	[[ ! -s "$WORK/verify.log" ]]; then
	pass "(3) systemd-analyze verify: both units clean ($(in_root systemd --version | head -n 1))"
else
	fail "(3) systemd-analyze verify: $(head -n 10 "$WORK/verify.log")"
fi

pw=$(in_root getent passwd pixelgate)
IFS=: read -r _ _ uid _ _ home shell <<<"$pw"
if [[ -n "$pw" && "$home" == /var/lib/pixelgate && "$shell" == */nologin ]] && ((uid < 1000)) &&
	in_root getent group pixelgate >/dev/null; then
	pass "(4) system user and group pixelgate (uid $uid, home $home, shell $shell)"
else
	fail "(4) user pixelgate: '$pw'"
fi

check_stat() { # owner:group mode path, in the root
	local got
	got=$(in_root stat -c '%U:%G %a' "$3" 2>&1)
	if [[ "$got" == "$1 $2" ]]; then
		pass "(4) $3 $1 $2"
	else
		fail "(4) $3: $got (want $1 $2)"
	fi
}
check_stat root:pixelgate 750 /etc/pixelgate
check_stat root:pixelgate 640 /etc/pixelgate/pixelgate.conf
check_stat root:pixelgate 750 /etc/pixelgate/tls
check_stat root:root 700 /etc/pixelgate/hosts
check_stat pixelgate:pixelgate 750 /var/lib/pixelgate
check_stat pixelgate:pixelgate 750 /var/log/pixelgate
check_stat root:root 755 /usr/bin/pixelgate
check_stat root:root 755 /usr/lib/pixelgate/pixelgate-worker
if in_root dpkg-query -W -f='${Conffiles}\n' pixelgate | grep -q '^ /etc/pixelgate/pixelgate.conf '; then
	pass "(4) dpkg knows /etc/pixelgate/pixelgate.conf as a conffile"
else
	fail "(4) /etc/pixelgate/pixelgate.conf is not a conffile"
fi
if [[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/pixelgate.service" ]]; then
	pass "(4) pixelgate.service enabled (multi-user.target.wants), not started"
else
	fail "(4) pixelgate.service is not enabled"
fi

# The example configuration, checked as the relay's user would: refused, with
# the reasons, until the administrator has put a certificate and users in place.
in_root runuser -u pixelgate -- pixelgate --config /etc/pixelgate/pixelgate.conf --check \
	>"$WORK/check-example.log" 2>&1
rc=$?
if ((rc == 1)) && grep -q "tls_cert = '/etc/pixelgate/tls/cert.pem': cannot read" "$WORK/check-example.log" &&
	grep -q "configuration is not valid" "$WORK/check-example.log"; then
	pass "(4) --check refuses the unedited example and says why (no certificate yet)"
else
	fail "(4) --check on the example: exit $rc: $(head -n 5 "$WORK/check-example.log")"
fi

# (4) The relay from the installed files --------------------------------------

PORT=$(free_port) || abort "no free port"
WEB_PORT=$(free_port "$PORT") || abort "no free port"
mkdir -p -- "$ROOT/tmp/pg-test"
cat >"$ROOT/tmp/pg-test/relay.conf" <<CONF
[relay]
listen = 127.0.0.1:$PORT
security = none
audit_file = /var/log/pixelgate/audit.jsonl
[upstream]
address = 127.0.0.1:1
CONF
if ((WEB)); then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=localhost" -keyout "$ROOT/tmp/pg-test/key.pem" \
		-out "$ROOT/tmp/pg-test/cert.pem" 2>/dev/null || abort "openssl req failed"
	cat >>"$ROOT/tmp/pg-test/relay.conf" <<CONF
[web]
listen = 127.0.0.1:$WEB_PORT
CONF
	sed -i "/^security = none/a tls_cert = /tmp/pg-test/cert.pem\ntls_key = /tmp/pg-test/key.pem" \
		"$ROOT/tmp/pg-test/relay.conf"
fi
chmod 700 "$ROOT/tmp/pg-test"
chmod 600 "$ROOT"/tmp/pg-test/*
in_root chown -R pixelgate:pixelgate /tmp/pg-test

if in_root runuser -u pixelgate -- pixelgate -c /tmp/pg-test/relay.conf --check \
	>"$WORK/check.log" 2>&1; then
	pass "(4) --check passes a minimal loopback configuration: $(grep 'sandbox tried' "$WORK/check.log")"
else
	fail "(4) --check refused the minimal configuration: $(head -n 5 "$WORK/check.log")"
fi

setsid chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
	runuser -u pixelgate -- /usr/bin/pixelgate -c /tmp/pg-test/relay.conf \
	</dev/null >"$WORK/relay.log" 2>&1 &
RELAY_PID=$!
end=$((SECONDS + 20))
while ((SECONDS < end)) && ! port_open "$PORT"; do
	kill -0 "$RELAY_PID" 2>/dev/null || abort "the relay exited: $(tail -n 5 "$WORK/relay.log")"
	sleep 0.2
done
port_open "$PORT" || abort "the relay did not listen on 127.0.0.1:$PORT within 20 s"
banner=$(
	exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 1
	IFS= read -r -t 5 -N 12 b <&3 || exit 1
	printf '%s' "$b" | od -An -c | tr -s ' ' | sed 's/^ //'
)
if [[ "$banner" == 'R F B 0 0 3 . 0 0 8 \n' ]]; then
	pass "(4) the installed relay, as user pixelgate, answers RFB 003.008 on 127.0.0.1:$PORT"
else
	fail "(4) banner from 127.0.0.1:$PORT: '$banner'"
fi
if ((WEB)); then
	if grep -q "files of the viewer page from /usr/bin/../share/pixelgate/web" "$WORK/relay.log"; then
		pass "(4) the relay serves the installed viewer page ($(grep -o 'web: [0-9]* files' "$WORK/relay.log"))"
	else
		fail "(4) the relay did not load /usr/share/pixelgate/web: $(grep 'web' "$WORK/relay.log" | head -n 3)"
	fi
fi
stop_child "$RELAY_PID" pixelgate
RELAY_PID=""
if grep -q '"relay-stop"' "$ROOT/var/log/pixelgate/audit.jsonl" 2>/dev/null &&
	in_root pixelgate-audit verify /var/log/pixelgate/audit.jsonl >"$WORK/audit.log" 2>&1; then
	pass "(4) stopped on SIGTERM; its audit trail in /var/log/pixelgate verifies"
else
	fail "(4) audit trail after the stop: $(head -n 3 "$WORK/audit.log" 2>/dev/null)"
fi
audit_mode=$(in_root stat -c '%U %a' /var/log/pixelgate/audit.jsonl 2>&1)
if [[ "$audit_mode" == "pixelgate 600" ]]; then
	pass "(4) audit.jsonl is pixelgate's, mode 600"
else
	fail "(4) audit.jsonl: $audit_mode"
fi

# (5) Under systemd: the units' hardening for real -----------------------------
#
# The root boots in systemd-nspawn (sharing the host's network), and its systemd
# starts pixelgate.service, enabled by postinst, with every restriction of the
# unit: the relay must run, its workers must still lock themselves down (user
# namespace, seccomp) and decode a real RFB server's pixels (pg-synth-host on
# the host, libvncserver), reload must refuse a bad file, and stop must be clean.

LEADER=""
# in_box CMD...: CMD inside the booted container, for at most 60 s.
in_box() {
	timeout 60 nsenter -t "$LEADER" -a /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

need systemd-nspawn nsenter
unmount_root || abort "cannot unmount /proc and /dev from the root before booting it"
BOX_PORT=$(free_port "$PORT" "$WEB_PORT") || abort "no free port"
SYNTH_PORT=$(free_port "$PORT" "$WEB_PORT" "$BOX_PORT") || abort "no free port"
if [[ -x "$BUILD_DIR/pg-synth-host" ]]; then
	setsid "$BUILD_DIR/pg-synth-host" --port "$SYNTH_PORT" --mode static --name package-test \
		</dev/null >"$WORK/synth.log" 2>&1 &
	SYNTH_PID=$!
fi
cat >"$ROOT/etc/pixelgate/pixelgate.conf" <<CONF
[relay]
listen = 127.0.0.1:$BOX_PORT
security = none
audit_file = /var/log/pixelgate/audit-box.jsonl
control_socket = /run/pixelgate/control.sock
[upstream]
address = 127.0.0.1:$SYNTH_PORT
CONF
t=$SECONDS
nspawn=(systemd-nspawn -D "$ROOT" --boot --register=no --keep-unit --console=passive)
if [[ -d /run/systemd/system ]]; then
	# A host that runs systemd: a scope of its own for the container.
	nspawn=(systemd-run --scope --quiet -p Delegate=yes "${nspawn[@]}")
fi
setsid "${nspawn[@]}" </dev/null >"$WORK/nspawn.log" 2>&1 &
NSPAWN_PID=$!
end=$((SECONDS + 60))
state=""
while ((SECONDS < end)); do
	kill -0 "$NSPAWN_PID" 2>/dev/null || abort "systemd-nspawn exited: $(tail -n 5 "$WORK/nspawn.log")"
	# The container's systemd, nspawn's child.
	[[ -n "$LEADER" ]] || LEADER=$(pgrep -P "$NSPAWN_PID" -x systemd | head -n 1)
	if [[ -n "$LEADER" ]]; then
		state=$(in_box systemctl is-system-running 2>/dev/null)
		[[ "$state" == running || "$state" == degraded ]] && break
	fi
	sleep 0.5
done
[[ "$state" == running || "$state" == degraded ]] ||
	abort "the root did not boot in systemd-nspawn within 60 s ($state): $(tail -n 5 "$WORK/nspawn.log")"
pass "(5) the root booted in systemd-nspawn in $((SECONDS - t)) s ($state)"
end=$((SECONDS + 30))
while ((SECONDS < end)) && ! port_open "$BOX_PORT"; do
	sleep 0.2
done
in_box journalctl -u pixelgate --no-pager >"$WORK/journal.log" 2>&1
if [[ "$(in_box systemctl is-active pixelgate.service)" == active ]] && port_open "$BOX_PORT"; then
	pass "(5) pixelgate.service started at boot with all its hardening, on 127.0.0.1:$BOX_PORT"
else
	in_box systemctl status pixelgate.service --no-pager >"$WORK/status.log" 2>&1
	abort "pixelgate.service is not running: $(tail -n 8 "$WORK/journal.log")"
fi
if grep -q "sandbox tried here: namespaces yes" "$WORK/journal.log"; then
	pass "(5) ExecStartPre --check: workers get their namespaces under the unit"
else
	fail "(5) workers lack namespaces under the unit: $(grep -m1 'sandbox' "$WORK/journal.log")"
fi
# The relay's pid on this side: the pixelgate process in the container's PID
# namespace.
relay_pid=$(pgrep -f '^/usr/bin/pixelgate --config /etc/pixelgate/pixelgate.conf$' |
	while read -r p; do
		[[ "$(readlink "/proc/$p/ns/pid")" == "$(readlink "/proc/$LEADER/ns/pid")" ]] && echo "$p"
	done | head -n 1)

# A viewer with security type None: the session starts a worker, which connects
# to pg-synth-host and decodes its pixels for the relay.
if [[ -n "$SYNTH_PID" && -n "$relay_pid" ]]; then
	# Every read bounded: a relay that stops answering fails the step.
	exec 4<>"/dev/tcp/127.0.0.1/$BOX_PORT"
	timeout 10 head -c 12 <&4 >/dev/null
	printf 'RFB 003.008\n' >&4
	n=$(timeout 10 head -c 1 <&4 | od -An -tu1 | tr -d ' ')
	timeout 10 head -c "${n:-0}" <&4 >/dev/null
	printf '\001' >&4
	result=$(timeout 10 head -c 4 <&4 | od -An -tu1 | tr -d ' ')
	printf '\001' >&4
	read -r w h nlen < <(timeout 10 head -c 24 <&4 | od -An -tu1 -v | tr -s ' \n' ' ' |
		awk 'NF >= 24 { print $1 * 256 + $2, $3 * 256 + $4, $21 * 16777216 + $22 * 65536 + $23 * 256 + $24 }')
	got=0
	if [[ "${w:-0}" -gt 0 && "${h:-0}" -gt 0 ]]; then
		timeout 10 head -c "${nlen:-0}" <&4 >/dev/null
		# FramebufferUpdateRequest for the whole screen.
		printf "\\003\\000\\000\\000\\000\\000\\$(printf %03o $((w >> 8)))\\$(printf %03o $((w & 255)))\\$(printf %03o $((h >> 8)))\\$(printf %03o $((h & 255)))" >&4
		got=$(timeout 10 head -c 65536 <&4 | wc -c)
	fi
	worker=$(pgrep -P "$relay_pid" -f pixelgate-worker | head -n 1)
	if [[ "$result" == 0000 && "$w" -gt 0 && "$got" -ge 65536 ]]; then
		pass "(5) a viewer got ${w}x$h and $got bytes of the host's pixels through the sandboxed worker"
	else
		fail "(5) session through the unit: result '$result', ${w}x$h, $got bytes"
	fi
	if [[ -n "$worker" ]] && grep -q '^Seccomp:[[:space:]]*2' "/proc/$worker/status" &&
		grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$worker/status" &&
		[[ "$(readlink "/proc/$worker/ns/user")" != "$(readlink "/proc/$relay_pid/ns/user")" ]] &&
		[[ "$(readlink "/proc/$worker/ns/net")" != "$(readlink "/proc/$relay_pid/ns/net")" ]]; then
		pass "(5) its worker: seccomp filter, no_new_privs, own user and network namespaces, root $(readlink "/proc/$worker/root")"
	else
		fail "(5) worker '${worker}': $(grep -E 'Seccomp:|NoNewPrivs' "/proc/$worker/status" 2>&1 | tr '\n' ' ')"
	fi
	exec 4>&-
fi

# Reload: a bad file fails the reload, visibly, and the relay keeps running.
echo "max_fps = lots" >>"$ROOT/etc/pixelgate/pixelgate.conf"
if ! in_box systemctl reload pixelgate.service >/dev/null 2>&1 &&
	[[ "$(in_box systemctl is-active pixelgate.service)" == active ]]; then
	pass "(5) systemctl reload refuses a bad configuration; the relay keeps running"
else
	fail "(5) reload with a bad configuration did not fail, or stopped the relay"
fi
sed -i '$d' "$ROOT/etc/pixelgate/pixelgate.conf"
if in_box systemctl reload pixelgate.service >/dev/null 2>&1; then
	pass "(5) systemctl reload applies a good one"
else
	fail "(5) systemctl reload of a good configuration failed"
fi
t=$SECONDS
in_box systemctl stop pixelgate.service
if [[ "$(in_box systemctl is-active pixelgate.service)" == inactive ]] &&
	grep -q '"relay-stop"' "$ROOT/var/log/pixelgate/audit-box.jsonl" 2>/dev/null; then
	pass "(5) systemctl stop: stopped in $((SECONDS - t)) s, relay-stop audited"
else
	fail "(5) systemctl stop: $(in_box systemctl is-active pixelgate.service)"
fi
in_box journalctl -u pixelgate --no-pager >"$WORK/journal.log" 2>&1
stop_box
stop_child "$SYNTH_PID" pg-synth-host
SYNTH_PID=""
mount -t proc proc "$ROOT/proc" || abort "cannot mount /proc in the root"
mount --bind /dev "$ROOT/dev" || abort "cannot bind /dev into the root"

# (6) Remove, then purge -------------------------------------------------------

timeout 120 chroot "$ROOT" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
	apt-get remove -y -q pixelgate >"$WORK/apt-remove.log" 2>&1 ||
	fail "(6) apt-get remove failed: $(tail -n 5 "$WORK/apt-remove.log")"
if [[ ! -e "$ROOT/usr/bin/pixelgate" && -f "$ROOT/etc/pixelgate/pixelgate.conf" &&
	-d "$ROOT/var/log/pixelgate" ]]; then
	pass "(6) remove: programs gone; configuration and audit trail kept"
else
	fail "(6) after remove: $(ls -d "$ROOT"/usr/bin/pixelgate "$ROOT"/etc/pixelgate/* "$ROOT"/var/log/pixelgate 2>&1 | tr '\n' ' ')"
fi
timeout 120 chroot "$ROOT" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
	apt-get purge -y -q pixelgate >"$WORK/apt-purge.log" 2>&1 ||
	fail "(6) apt-get purge failed: $(tail -n 5 "$WORK/apt-purge.log")"
if [[ ! -e "$ROOT/etc/pixelgate/pixelgate.conf" && ! -e "$ROOT/var/lib/pixelgate" &&
	! -e "$ROOT/var/log/pixelgate" ]] && ! in_root dpkg-statoverride --list | grep -q pixelgate; then
	pass "(6) purge: configuration, state, audit trail and mode overrides gone"
else
	fail "(6) after purge: $(ls -d "$ROOT"/etc/pixelgate/* "$ROOT"/var/lib/pixelgate "$ROOT"/var/log/pixelgate 2>&1 | tr '\n' ' ')"
fi
log "total $((SECONDS - T0)) s"
