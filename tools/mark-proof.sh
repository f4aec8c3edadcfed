#!/usr/bin/env bash
# The invisible watermark on a real page, by hand: Chromium renders a Japanese page
# (tools/demo-page and a denser one written below), pixelgate-mark embeds a code, the
# picture is cut as a window screenshot would be (title bar and border: +CROP_X+CROP_Y)
# and saved as JPEG at falling qualities with ImageMagick, then read back. Prints a table
# for docs/watermark-invisible.md.
#
#   tools/mark-proof.sh BUILD_DIR [WIDTHxHEIGHT]
set -euo pipefail

build=${1:?usage: tools/mark-proof.sh BUILD_DIR [WIDTHxHEIGHT]}
size=${2:-1280x800}
here=$(cd "$(dirname "$0")" && pwd)
mark=$build/pixelgate-mark
code=0x5eed1234
crop_x=5
crop_y=37
qualities=(95 90 80 70 60 50 40 30)

for p in chromium convert; do
	command -v "$p" >/dev/null || { echo "mark-proof: $p missing (tools/install-deps.sh)" >&2; exit 1; }
done
[ -x "$mark" ] || { echo "mark-proof: no $mark: build first" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A dense municipal notice: long paragraphs, a table, small print.
cat >"$work/notice.html" <<'EOF'
<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><style>
body { font-family: "Noto Sans CJK JP", sans-serif; font-size: 15px; margin: 16px 24px;
       line-height: 1.45; color: #222; background: #fff; }
h1 { font-size: 24px; border-bottom: 3px solid #1b3bd8; }
table { border-collapse: collapse; } td, th { border: 1px solid #888; padding: 3px 8px; }
th { background: #e8eef8; } small { font-size: 12px; color: #555; }
</style></head><body>
<h1>令和6年度 住民税の申告について（お知らせ）</h1>
<p>市民税・県民税の申告期間は、2月16日（金曜日）から3月15日（金曜日）までです。申告が必要な方は、
期間内に市役所本庁舎2階の市民税課窓口、または各支所の申告会場で申告してください。郵送による申告も
受け付けています。申告書は市のホームページからダウンロードできるほか、窓口でもお渡ししています。</p>
<p>次のいずれかに該当する方は、申告の必要はありません。(1) 所得税の確定申告をした方 (2) 給与所得のみで、
勤務先から給与支払報告書が提出されている方 (3) 公的年金等の収入のみで、その金額が400万円以下の方。
ただし、医療費控除や社会保険料控除などを受ける場合は、申告が必要です。</p>
<table><tr><th>会場</th><th>日程</th><th>受付時間</th></tr>
<tr><td>本庁舎 2階 市民税課</td><td>2月16日～3月15日（土日祝を除く）</td><td>8時30分～16時30分</td></tr>
<tr><td>北部支所 会議室</td><td>2月20日～2月22日</td><td>9時00分～15時00分</td></tr>
<tr><td>南部支所 多目的室</td><td>2月27日～2月29日</td><td>9時00分～15時00分</td></tr></table>
<p>持ち物：申告書、マイナンバーカード（または通知カードと本人確認書類）、源泉徴収票、
各種控除の証明書、印鑑、本人名義の預金通帳。代理人が申告する場合は委任状が必要です。</p>
<p>Residents whose only income is a salary reported by their employer need not file. Others
should file between February 16 and March 15 at City Hall (2nd floor) or a branch office.</p>
<p><small>問い合わせ先：市民税課 市民税係 電話 000-000-0000（直通） 受付番号 R06-0123456 ／
このお知らせの内容は令和6年1月15日現在のものです。</small></p>
</body></html>
EOF

shoot() { # html png
	chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$work/profile" --hide-scrollbars --window-size="${size/x/,}" \
		--screenshot="$2" "file://$1" >/dev/null 2>&1
}

shoot "$here/demo-page/index.html" "$work/demo.png"
shoot "$work/notice.html" "$work/notice.png"

printf '%-8s %-10s %s\n' page unmarked "quality: result (confidence)"
for page in demo notice; do
	"$mark" embed "$work/$page.png" "$work/$page-marked.png" "$code" >/dev/null
	plain=$("$mark" read "$work/$page.png" || true)
	line=""
	for q in "${qualities[@]}"; do
		convert "$work/$page-marked.png" -crop "+${crop_x}+${crop_y}" +repage \
			-quality "$q" "$work/$page-q$q.jpg"
		out=$("$mark" read "$work/$page-q$q.jpg" || true)
		case $out in
		"code $code "*) line+=" q$q:ok(${out##* })" ;;
		"no mark found") line+=" q$q:--" ;;
		*) line+=" q$q:WRONG($out)" ;;
		esac
	done
	printf '%-8s %-10s%s\n' "$page" "${plain:0:9}" "$line"
done
