#!/usr/bin/env bash
# End to end with Xvfb + x11vnc as the browser host instead of Xtigervnc:
# the screenshot comparison of test_vncviewer.sh, without the typing check.
#
#   bash tests/e2e/test_x11vnc.sh BUILD_DIR
#
# PG_E2E_DIRECT=1 and PG_E2E_ENCODING work as in test_vncviewer.sh.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
(($# >= 1)) || {
	echo "usage: ${0##*/} BUILD_DIR" >&2
	exit 2
}
exec bash "$HERE/test_vncviewer.sh" "$1" --backend x11vnc --no-input
