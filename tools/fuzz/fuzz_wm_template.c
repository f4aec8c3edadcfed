/* Watermark templates from the config file and values from users and directories:
 * the input up to its first NUL byte is a template, the rest the user name. A template
 * pg_wm_template_check accepts must expand into PG_WM_TEXT_MAX bytes, and the text
 * must be what the renderer accepts: valid UTF-8, no control character but '\n',
 * within PG_OVERLAY_MAX_CHARS and PG_OVERLAY_MAX_LINES, and no more lines than the
 * template has. A refused template must be refused by pg_wm_expand too. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "render/text.h"
#include "render/watermark.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_lines(const char *s)
{
	int n = 1;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char tmpl[PG_WM_TEMPLATE_MAX_BYTES + 8], user[512], out[PG_WM_TEXT_MAX], err[256];
	const uint8_t *nul = memchr(data, 0, size);
	size_t tlen = nul ? (size_t)(nul - data) : size, ulen = nul ? size - tlen - 1 : 0;
	struct pg_wm_vars v = {user, "10.1.2.3", "s1", "relay01", 1700000000};
	int chars = 0, lines = 1, tmpl_lines = 1;

	if (tlen >= sizeof(tmpl))
		tlen = sizeof(tmpl) - 1;
	if (ulen >= sizeof(user))
		ulen = sizeof(user) - 1;
	memcpy(tmpl, data, tlen);
	tmpl[tlen] = 0;
	if (nul)
		memcpy(user, nul + 1, ulen);
	user[ulen] = 0;
	int ok = pg_wm_template_check(tmpl, err, sizeof(err));
	int rc = pg_wm_expand(tmpl, &v, out, sizeof(out), err, sizeof(err));

	(void)pg_wm_template_uses_clock(tmpl);
	if (ok != 0) {
		if (rc != -EINVAL || out[0])
			abort();
		return 0;
	}
	if (rc != 0)
		abort();
	for (const char *p = strstr(tmpl, "\\n"); p; p = strstr(p + 2, "\\n"))
		tmpl_lines++;
	for (size_t i = 0, n = strlen(out); i < n;) {
		uint32_t cp;
		size_t step = pg_utf8_decode((const unsigned char *)out + i, n - i, &cp);

		if (!step || (cp != '\n' && (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))))
			abort();
		lines += cp == '\n';
		chars++;
		i += step;
	}
	if (chars > PG_OVERLAY_MAX_CHARS || lines > PG_OVERLAY_MAX_LINES || lines > tmpl_lines ||
	    count_lines(out) != lines)
		abort();
	return 0;
}
