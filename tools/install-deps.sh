#!/usr/bin/env bash
# Installs what pixelgate needs to build, test and run its demo, from Debian 12's
# packages only. Safe to run again: it does nothing when everything is present.
set -euo pipefail

packages=(
	# build
	build-essential cmake ninja-build pkg-config clang-format git openssl
	libuv1-dev libturbojpeg0-dev zlib1g-dev libssl-dev libinih-dev libjansson-dev libqrencode-dev libhttp-parser-dev libwslay-dev libseccomp-dev
	# pixelgatectl, the admin listener's client
	libcurl4-openssl-dev
	libfreetype-dev
	# pixelgate-mark and pixelgate-replay read and write PNG; pg-watermark-demo too
	libpng-dev
	# the browser viewer page: noVNC and esbuild from the npm registry, pinned
	nodejs
	# the policy: deny patterns (PCRE2) and NFKC normalisation
	libpcre2-dev libunistring-dev
	# tests: Criterion, and libvncserver/libvncclient as independent RFB peers
	libcriterion-dev libvncserver-dev
	# pixelgate-replay: PNG pictures (libpng), videos (ffmpeg), its VNC server
	# (libvncserver, above)
	libpng-dev ffmpeg
	# the fuzz drivers (libFuzzer, ASan and UBSan runtimes of clang 14) and
	# llvm-symbolizer for their stack traces
	clang libclang-rt-14-dev llvm
	# LDAP users: libldap to build, a real slapd and its tools for the tests
	libldap-dev slapd ldap-utils
	# real programs: browser hosts, viewers, screenshots
	tigervnc-standalone-server tigervnc-viewer tigervnc-tools x11vnc xvfb xauth x11-utils
	chromium fonts-noto-cjk imagemagick xdotool xclip
	# the benchmark (tools/bench/pg-bench): its JSON, and ss for free ports
	jq iproute2
	# Japanese input on the browser host: fcitx5 with Mozc, a Japanese keyboard
	fcitx5 fcitx5-mozc fcitx5-frontend-gtk3 dbus-daemon locales x11-xkb-utils
	# the browser viewer's end-to-end test trusts its test CA through NSS
	libnss3-tools
	# several relays behind a load balancer (tests/e2e/test_haproxy.sh)
	haproxy
	# the Debian package: cpack's Depends (dpkg-shlibdeps), and its test's clean
	# root (debootstrap, with the archive's keys) booted with systemd-nspawn
	dpkg-dev debootstrap debian-archive-keyring systemd-container
)

# npm comes with some nodejs packages (NodeSource) and separately with Debian's.
npm_missing=0
command -v npm >/dev/null 2>&1 || npm_missing=1

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ] && [ "$npm_missing" = 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root (or with sudo) to install them" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${packages[@]}"
if ! command -v npm >/dev/null 2>&1; then
	apt-get install -y -q --no-install-recommends npm
fi
