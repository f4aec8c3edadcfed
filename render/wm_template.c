/* Watermark templates: checking, expanding, sanitizing the values put in. */
#include "watermark.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum var { VAR_USER, VAR_ADDR, VAR_SESSION, VAR_HOST, VAR_DATE, VAR_TIME, NVARS };
static const char *const var_names[NVARS] = {"user", "addr", "session", "host", "date", "time"};

enum tok_kind { TOK_END, TOK_TEXT, TOK_NEWLINE, TOK_VAR };

/* TOK_TEXT is one character: tmpl[at .. at + len), or a brace of "{{" or "}}". */
struct tok {
	enum tok_kind kind;
	size_t at, len;
	enum var var;
};

static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0);
}

/* The token at t[*i] (len bytes in all); advances *i. -EINVAL with err on a bad one. */
static int next_token(const char *t, size_t len, size_t *i, struct tok *tok, char *err,
		      size_t err_size)
{
	size_t at = *i;
	unsigned char c;

	tok->at = at;
	tok->len = 1;
	if (at >= len) {
		tok->kind = TOK_END;
		return 0;
	}
	c = (unsigned char)t[at];
	if (c == '{' && at + 1 < len && t[at + 1] == '{') {
		tok->kind = TOK_TEXT;
		*i = at + 2;
		return 0;
	}
	if (c == '{') {
		size_t j = at + 1;

		while (j < len && t[j] != '}' && t[j] != '{')
			j++;
		if (j >= len || t[j] != '}') {
			pg_render_err(err, err_size,
				      "unclosed '{' at byte %zu (write {{ for a literal brace)",
				      at);
			return -EINVAL;
		}
		for (int v = 0; v < NVARS; v++) {
			if (strlen(var_names[v]) == j - at - 1 &&
			    memcmp(var_names[v], t + at + 1, j - at - 1) == 0) {
				tok->kind = TOK_VAR;
				tok->var = (enum var)v;
				*i = j + 1;
				return 0;
			}
		}
		/* Quote the name only when it is short and plain ASCII: err goes to logs. */
		bool quote = j - at <= 32;
		for (size_t k = at + 1; k < j; k++)
			quote = quote && (unsigned char)t[k] >= 0x20 && (unsigned char)t[k] < 0x7f;
		if (!quote) {
			pg_render_err(err, err_size, "unknown placeholder at byte %zu", at);
			return -EINVAL;
		}
		pg_render_err(
		    err, err_size,
		    "unknown placeholder \"%.*s\" at byte %zu (known: {user} {addr} {session} "
		    "{host} {date} {time})",
		    (int)(j - at + 1), t + at, at);
		return -EINVAL;
	}
	if (c == '}') {
		if (at + 1 < len && t[at + 1] == '}') {
			tok->kind = TOK_TEXT;
			*i = at + 2;
			return 0;
		}
		pg_render_err(err, err_size, "lone '}' at byte %zu (write }} for a literal brace)",
			      at);
		return -EINVAL;
	}
	if (c == '\\' && at + 1 < len && t[at + 1] == 'n') {
		tok->kind = TOK_NEWLINE;
		*i = at + 2;
		return 0;
	}
	uint32_t cp;
	size_t step = pg_utf8_decode((const unsigned char *)t + at, len - at, &cp);

	if (!step) {
		pg_render_err(err, err_size, "invalid UTF-8 at byte %zu", at);
		return -EINVAL;
	}
	if (is_control(cp)) {
		pg_render_err(err, err_size, "control character U+%04X at byte %zu%s", (unsigned)cp,
			      at, cp == '\n' ? " (write \\n for a line break)" : "");
		return -EINVAL;
	}
	tok->kind = TOK_TEXT;
	tok->len = step;
	*i = at + step;
	return 0;
}

/* Checks tmpl; on success *len is its length and *fixed the characters of its literal
 * text, newlines included. */
static int check(const char *tmpl, size_t *len, int *fixed, char *err, size_t err_size)
{
	size_t n, i = 0;
	int chars = 0, lines = 1, rc;
	struct tok tok;

	if (!tmpl) {
		pg_render_err(err, err_size, "no template");
		return -EINVAL;
	}
	n = strnlen(tmpl, PG_WM_TEMPLATE_MAX_BYTES + 1);
	if (n == 0) {
		pg_render_err(err, err_size, "empty template");
		return -EINVAL;
	}
	if (n > PG_WM_TEMPLATE_MAX_BYTES) {
		pg_render_err(err, err_size, "template longer than %d bytes",
			      PG_WM_TEMPLATE_MAX_BYTES);
		return -EINVAL;
	}
	for (;;) {
		rc = next_token(tmpl, n, &i, &tok, err, err_size);
		if (rc)
			return rc;
		if (tok.kind == TOK_END)
			break;
		if (tok.kind == TOK_VAR)
			continue;
		if (tok.kind == TOK_NEWLINE && ++lines > PG_OVERLAY_MAX_LINES) {
			pg_render_err(err, err_size, "more than %d lines at byte %zu",
				      PG_OVERLAY_MAX_LINES, tok.at);
			return -EINVAL;
		}
		if (++chars > PG_OVERLAY_MAX_CHARS) {
			pg_render_err(err, err_size, "more than %d characters at byte %zu",
				      PG_OVERLAY_MAX_CHARS, tok.at);
			return -EINVAL;
		}
	}
	*len = n;
	*fixed = chars;
	return 0;
}

int pg_wm_template_check(const char *tmpl, char *err, size_t err_size)
{
	size_t len;
	int fixed;

	return check(tmpl, &len, &fixed, err, err_size);
}

bool pg_wm_template_uses_clock(const char *tmpl)
{
	size_t len, i = 0;
	int fixed;
	struct tok tok;

	if (check(tmpl, &len, &fixed, NULL, 0))
		return false;
	while (next_token(tmpl, len, &i, &tok, NULL, 0) == 0 && tok.kind != TOK_END)
		if (tok.kind == TOK_VAR && (tok.var == VAR_DATE || tok.var == VAR_TIME))
			return true;
	return false;
}

struct out {
	char *p;
	size_t size, len;
	bool full;
};

static void put(struct out *o, const void *s, size_t n)
{
	if (o->full || n >= o->size - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = 0;
}

/* Append at most max_chars characters of value, made harmless: it can neither break
 * a line nor carry bytes the renderer refuses. Returns the characters written. */
static int put_value(struct out *o, const char *value, int max_chars)
{
	static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
	const unsigned char *s = (const unsigned char *)value;
	/* Beyond this many bytes a value has more than max_chars characters anyway. */
	size_t n = strnlen(value, 4 * PG_WM_VALUE_MAX_CHARS), i = 0;
	int chars = 0;

	while (i < n && chars < max_chars) {
		uint32_t cp;
		size_t step = pg_utf8_decode(s + i, n - i, &cp);

		if (!step) {
			put(o, replacement, 3);
			step = 1;
		} else if (is_control(cp) || cp == 0x2028 || cp == 0x2029) {
			put(o, "?", 1);
		} else {
			put(o, s + i, step);
		}
		i += step;
		chars++;
	}
	return chars;
}

int pg_wm_expand(const char *tmpl, const struct pg_wm_vars *v, char *out, size_t out_size,
		 char *err, size_t err_size)
{
	struct out o = {out, out_size, 0, false};
	size_t len, i = 0;
	int fixed, budget, rc;
	struct tok tok;

	if (!v || !out || !out_size) {
		pg_render_err(err, err_size, "template: missing variables or output");
		return -EINVAL;
	}
	out[0] = 0;
	rc = check(tmpl, &len, &fixed, err, err_size);
	if (rc)
		return rc;
	/* The literal text always fits; values share what it leaves. */
	budget = PG_OVERLAY_MAX_CHARS - fixed;
	for (;;) {
		const char *val = NULL;
		char stamp[32];
		struct tm tm;

		next_token(tmpl, len, &i, &tok, NULL, 0); /* cannot fail: checked */
		if (tok.kind == TOK_END)
			break;
		if (tok.kind == TOK_NEWLINE) {
			put(&o, "\n", 1);
			continue;
		}
		if (tok.kind == TOK_TEXT) {
			put(&o, tmpl + tok.at, tok.len);
			continue;
		}
		switch (tok.var) {
		case VAR_USER:
			val = v->user;
			break;
		case VAR_ADDR:
			val = v->addr;
			break;
		case VAR_SESSION:
			val = v->session;
			break;
		case VAR_HOST:
			val = v->host;
			break;
		case VAR_DATE:
		case VAR_TIME:
			if (!localtime_r(&v->now, &tm) ||
			    !strftime(stamp, sizeof(stamp),
				      tok.var == VAR_DATE ? "%Y-%m-%d" : "%H:%M", &tm))
				strcpy(stamp, "?");
			val = stamp;
			break;
		case NVARS:
			break;
		}
		if (!val || !val[0])
			val = "-";
		budget -= put_value(
		    &o, val, budget < PG_WM_VALUE_MAX_CHARS ? budget : PG_WM_VALUE_MAX_CHARS);
	}
	if (o.full) {
		pg_render_err(err, err_size, "template: expanded text does not fit in %zu bytes",
			      out_size);
		out[0] = 0;
		return -ENOSPC;
	}
	return 0;
}
