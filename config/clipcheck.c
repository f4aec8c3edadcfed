#include "clipcheck.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <unictype.h>
#include <uninorm.h>

static int deny(struct pg_clip_verdict *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int deny(struct pg_clip_verdict *v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->rule, sizeof(v->rule), fmt, ap);
	va_end(ap);
	v->allowed = false;
	return -1;
}

/* Decode one code point strictly (no overlongs, surrogates or values past U+10FFFF).
 * Returns its length, or 0 when s[0..n) does not start with a valid one. Reads only
 * within s[0..n). */
static size_t decode(const uint8_t *s, size_t n, uint32_t *cp)
{
	uint8_t c = s[0];
	size_t len;
	uint32_t min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		len = 2, min = 0x80, *cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3, min = 0x800, *cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, min = 0x10000, *cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return len;
}

static bool is_bidi_control(uint32_t cp)
{
	return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e ||
	       cp == 0x200f || cp == 0x061c;
}

/* Invisible characters that could sit between the digits of a number: removed from
 * the copy the detectors and patterns read, never from the text that crosses. */
static bool is_invisible(uint32_t cp)
{
	return cp == 0x00ad || cp == 0x034f || cp == 0x180e || (cp >= 0x200b && cp <= 0x200f) ||
	       (cp >= 0x2060 && cp <= 0x2064) || cp == 0xfeff || (cp >= 0xfe00 && cp <= 0xfe0f);
}

static bool is_separator(uint32_t cp)
{
	return cp == ' ' || cp == '-' || (cp >= 0x2010 && cp <= 0x2015) || cp == 0x2212 ||
	       cp == 0x30fc || cp == 0x3000;
}

static bool mynumber_ok(const uint8_t *d)
{
	int sum = 0;
	for (int n = 1; n <= 11; n++)
		sum += d[11 - n] * (n <= 6 ? n + 1 : n - 5);
	int r = sum % 11;
	return d[11] == (r <= 1 ? 0 : 11 - r);
}

static bool corporate_ok(const uint8_t *d)
{
	int sum = 0;
	for (int n = 1; n <= 12; n++)
		sum += d[13 - n] * (n % 2 ? 1 : 2);
	return d[0] == 9 - sum % 9;
}

static bool luhn_ok(const uint8_t *d, int n)
{
	int sum = 0;
	for (int i = 0; i < n; i++) {
		int x = d[n - 1 - i];
		if (i % 2) {
			x *= 2;
			if (x > 9)
				x -= 9;
		}
		sum += x;
	}
	return sum % 10 == 0;
}

/* Issuer prefixes of the card networks in use in Japan and abroad. */
static bool iin_known(const uint8_t *d)
{
	int p2 = d[0] * 10 + d[1], p3 = p2 * 10 + d[2], p4 = p3 * 10 + d[3];
	int p6 = p4 * 100 + d[4] * 10 + d[5];
	return d[0] == 4 ||						   /* Visa */
	       (p2 >= 51 && p2 <= 55) ||				   /* Mastercard */
	       (p4 >= 2221 && p4 <= 2720) ||				   /* Mastercard 2-series */
	       p2 == 34 || p2 == 37 ||					   /* American Express */
	       (p4 >= 3528 && p4 <= 3589) ||				   /* JCB */
	       (p3 >= 300 && p3 <= 305) || p2 == 36 ||			   /* Diners Club */
	       p2 == 38 || p2 == 39 ||					   /* Diners Club */
	       p4 == 6011 || (p3 >= 644 && p3 <= 649) ||		   /* Discover */
	       p2 == 65 || (p6 >= 622126 && p6 <= 622925) || p2 == 62 ||   /* UnionPay */
	       p2 == 50 || (p2 >= 56 && p2 <= 58) || p2 == 63 || p2 == 67; /* Maestro */
}

struct group {
	size_t start; /* index into the digits */
	int len;
	int token; /* groups joined by separators share a token */
};

static bool shape(const struct group *g, int i, int j, const int *want, int nwant)
{
	if (i == j)
		return true;
	if (j - i + 1 != nwant)
		return false;
	for (int k = 0; k < nwant; k++)
		if (g[i + k].len != want[k])
			return false;
	return true;
}

/* A candidate is one or more whole groups of one token: never a slice of a longer
 * digit run, but found inside a longer separated sequence so that digits written next
 * to a number cannot hide it. */
static unsigned check_span(const uint8_t *d, const struct group *g, int i, int j, int n,
			   unsigned detect)
{
	static const int mynumber[] = {4, 4, 4}, corporate[] = {1, 4, 4, 4};
	if (detect & PG_POLICY_DETECT_CREDIT_CARD && n >= 13 && n <= 19 && luhn_ok(d, n) &&
	    iin_known(d)) {
		bool groups_ok = true;
		for (int k = i; k <= j && i != j; k++)
			groups_ok &= g[k].len >= 3;
		if (groups_ok)
			return PG_POLICY_DETECT_CREDIT_CARD;
	}
	if (detect & PG_POLICY_DETECT_CORPORATE_NUMBER && n == 13 && shape(g, i, j, corporate, 4) &&
	    corporate_ok(d))
		return PG_POLICY_DETECT_CORPORATE_NUMBER;
	if (detect & PG_POLICY_DETECT_MYNUMBER && n == 12 && shape(g, i, j, mynumber, 3) &&
	    mynumber_ok(d))
		return PG_POLICY_DETECT_MYNUMBER;
	return 0;
}

bool pg_clip_detect(const uint8_t *text, size_t len, unsigned detect, unsigned *which)
{
	uint8_t *digits = malloc(len + 1);
	struct group *g = malloc(sizeof(*g) * (len + 1));
	size_t nd = 0;
	int ng = 0, token = 0, seps = 0;
	bool in_digits = false, found = false;
	*which = 0;
	if (!digits || !g) {
		/* Cannot look, so cannot allow. */
		free(digits);
		free(g);
		*which = detect;
		return detect != 0;
	}
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = decode(text + i, len - i, &cp);
		if (!n)
			n = 1, cp = 0xfffd;
		i += n;
		int dv = uc_decimal_value(cp);
		if (dv >= 0) {
			if (!in_digits) {
				if (!ng || seps == 0 || seps > 3)
					token++;
				g[ng++] = (struct group){.start = nd, .len = 0, .token = token};
				in_digits = true;
			}
			digits[nd++] = (uint8_t)dv;
			g[ng - 1].len++;
			seps = 0;
		} else if (is_separator(cp) && (in_digits || seps)) {
			in_digits = false;
			seps++;
		} else {
			in_digits = false;
			seps = 99; /* anything else ends the token */
		}
	}
	for (int i = 0; i < ng && !found; i++) {
		int j = i, n = 0;
		while (j < ng && g[j].token == g[i].token && n + g[j].len <= 19)
			n += g[j++].len;
		/* longest first, so a card is named as a card */
		for (j--; j >= i && !found; j--) {
			*which =
			    check_span(digits + g[i].start, g, i, j,
				       (int)(g[j].start + (size_t)g[j].len - g[i].start), detect);
			found = *which != 0;
		}
	}
	free(digits);
	free(g);
	return found;
}

static const char *detector_name(unsigned bit)
{
	switch (bit) {
	case PG_POLICY_DETECT_MYNUMBER:
		return "mynumber";
	case PG_POLICY_DETECT_CORPORATE_NUMBER:
		return "corporate_number";
	case PG_POLICY_DETECT_CREDIT_CARD:
		return "credit_card";
	}
	return "unavailable";
}

/* Detectors and patterns over the NFKC form, invisible characters removed. */
static int check_content(const struct pg_policy *p, const uint8_t *text, size_t len,
			 struct pg_clip_verdict *v)
{
	size_t nlen = 0;
	int rc = 0;
	uint8_t *nfkc = len ? u8_normalize(UNINORM_NFKC, text, len, NULL, &nlen) : NULL;
	if (len && !nfkc)
		return deny(v, "out of memory");
	size_t w = 0;
	for (size_t i = 0; i < nlen;) {
		uint32_t cp;
		size_t n = decode(nfkc + i, nlen - i, &cp);
		if (!n) {
			rc = deny(v, "invalid UTF-8");
			goto out;
		}
		if (!is_invisible(cp))
			memmove(nfkc + w, nfkc + i, n), w += n;
		i += n;
	}
	nlen = w;
	unsigned which;
	if (p->detect &&
	    pg_clip_detect(nfkc ? nfkc : (const uint8_t *)"", nlen, p->detect, &which)) {
		rc = deny(v, "detector %s", detector_name(which));
		goto out;
	}
	pcre2_match_data *md = p->npatterns ? pcre2_match_data_create(1, NULL) : NULL;
	if (p->npatterns && !md) {
		rc = deny(v, "out of memory");
		goto out;
	}
	for (int i = 0; i < p->npatterns; i++) {
		const struct pg_policy_pattern *pat = p->patterns[i];
		int m = pcre2_match(pat->code, nfkc ? nfkc : (const uint8_t *)"", nlen, 0,
				    PCRE2_NO_UTF_CHECK, md, pat->mcontext);
		if (m >= 0) {
			rc = deny(v, "deny_pattern #%d", pat->number);
			break;
		}
		if (m == PCRE2_ERROR_MATCHLIMIT || m == PCRE2_ERROR_DEPTHLIMIT ||
		    m == PCRE2_ERROR_HEAPLIMIT) {
			/* Too costly to decide means no. */
			rc = deny(v, "pattern match limit (deny_pattern #%d)", pat->number);
			break;
		}
		if (m != PCRE2_ERROR_NOMATCH) {
			rc = deny(v, "pattern error %d (deny_pattern #%d)", m, pat->number);
			break;
		}
	}
	pcre2_match_data_free(md);
out:
	free(nfkc);
	return rc;
}

int pg_clip_check(const struct pg_policy *p, enum pg_clip_dir dir, const uint8_t *text, size_t len,
		  uint8_t *out, size_t out_size, size_t *out_len, struct pg_clip_verdict *v)
{
	memset(v, 0, sizeof(*v));
	*out_len = 0;
	v->bytes = len;
	bool to_browser = dir == PG_CLIP_TO_BROWSER;
	if ((to_browser ? p->clipboard_to_browser : p->clipboard_to_viewer) != PG_POLICY_TEXT)
		return deny(v, "%s = deny",
			    to_browser ? "clipboard_to_browser" : "clipboard_to_viewer");
	if (len > (size_t)p->clipboard_max_bytes)
		return deny(v, "clipboard_max_bytes %d", p->clipboard_max_bytes);
	for (size_t i = 0; i < len; v->chars++) {
		uint32_t cp;
		size_t n = decode(text + i, len - i, &cp);
		if (!n) {
			v->chars = 0;
			return deny(v, "invalid UTF-8");
		}
		i += n;
	}
	if (v->chars > (size_t)p->clipboard_max_chars)
		return deny(v, "clipboard_max_chars %d", p->clipboard_max_chars);
	if (out_size < len)
		return deny(v, "output buffer too small");
	size_t w = 0;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = decode(text + i, len - i, &cp);
		i += n;
		if (cp == '\r') {
			/* CR LF becomes LF; a lone CR (old Mac text) too */
			if (i < len && text[i] == '\n')
				continue;
			out[w++] = '\n';
			continue;
		}
		if ((cp < 0x20 && cp != '\t' && cp != '\n') || (cp >= 0x7f && cp <= 0x9f) ||
		    is_bidi_control(cp)) {
			v->stripped++;
			continue;
		}
		memcpy(out + w, text + i - n, n);
		w += n;
	}
	if (to_browser && check_content(p, out, w, v) < 0)
		return -1;
	*out_len = w;
	v->allowed = true;
	snprintf(v->rule, sizeof(v->rule), "%s = text",
		 to_browser ? "clipboard_to_browser" : "clipboard_to_viewer");
	return 0;
}

int pg_clip_check_interval(const struct pg_policy *p, uint64_t since_last_ms,
			   struct pg_clip_verdict *v)
{
	memset(v, 0, sizeof(*v));
	if (since_last_ms < (uint64_t)p->clipboard_min_interval_ms)
		return deny(v, "clipboard_min_interval_ms %d", p->clipboard_min_interval_ms);
	v->allowed = true;
	return 0;
}

int pg_clip_from_latin1(const uint8_t *in, size_t len, uint8_t *out, size_t out_size,
			size_t *out_len)
{
	size_t w = 0;
	for (size_t i = 0; i < len; i++) {
		if (w + 2 > out_size)
			return -1;
		if (in[i] < 0x80) {
			out[w++] = in[i];
		} else {
			out[w++] = (uint8_t)(0xc0 | in[i] >> 6);
			out[w++] = (uint8_t)(0x80 | (in[i] & 0x3f));
		}
	}
	*out_len = w;
	return 0;
}

int pg_clip_to_latin1(const struct pg_policy *p, const uint8_t *text, size_t len, uint8_t *out,
		      size_t out_size, size_t *out_len, struct pg_clip_verdict *v)
{
	size_t w = 0;
	memset(v, 0, sizeof(*v));
	*out_len = 0;
	v->bytes = len;
	if (out_size < len)
		return deny(v, "output buffer too small");
	for (size_t i = 0; i < len; v->chars++) {
		uint32_t cp;
		size_t n = decode(text + i, len - i, &cp);
		if (!n)
			return deny(v, "invalid UTF-8");
		i += n;
		if (cp <= 0xff) {
			out[w++] = (uint8_t)cp;
		} else if (p->clipboard_latin1 == PG_POLICY_REPLACE) {
			out[w++] = '?';
			v->replaced++;
		} else {
			return deny(v, "clipboard_latin1 = drop (U+%04X has no Latin-1 form)",
				    (unsigned)cp);
		}
	}
	*out_len = w;
	v->allowed = true;
	snprintf(v->rule, sizeof(v->rule), "clipboard_latin1 = %s",
		 p->clipboard_latin1 == PG_POLICY_REPLACE ? "replace" : "drop");
	return 0;
}
