/* The parser: build -> frame (the viewer-side message parser) -> parse round trips,
 * every prefix against a guard page, caps and the small actions, and a provide
 * that carries RTF and HTML beside the text. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "clip_util.h"
#include "codec/clipboard.h"
#include "codec/err.h"
#include "codec/rfb.h"
#include "codec/rfb_server.h"

#define JP                                                                                               \
	"\xe4\xbd\x8f\xe6\xb0\x91\xe7\xa5\xa8\xe3\x81\xae\xe5\x86\x99\xe3\x81\x97" /* 住民票の写し \
										    */

static int parse_guarded(const uint8_t *payload, size_t len, size_t max_text,
			 struct pg_xclip_msg *m, uint8_t *text, size_t text_size, const char **why)
{
	struct pgx_guard g = {0};
	const uint8_t *p = pgx_guard_place(&g, payload, len);
	int rc = pg_xclip_parse(p, len, max_text, m, text, text_size, why);
	pgx_guard_free(&g);
	return rc;
}

/* A whole ClientCutText: every prefix asks the message parser for more; the whole
 * message frames as extended; every prefix of its payload is an error (never a
 * crash or a read past the end); the payload parses. Returns the parse result. */
static int frame_and_parse(const struct pg_buf *msg, size_t max_text, struct pg_xclip_msg *m,
			   uint8_t *text, size_t text_size)
{
	struct pg_cmsg c;
	const char *why = NULL;
	struct pgx_guard g = {0};
	for (size_t k = 0; k < msg->len; k++) {
		const uint8_t *p = pgx_guard_place(&g, msg->data, k);
		cr_assert_eq(pg_rfb_parse_client_msg(p, k, &c, &why), 0, "prefix %zu", k);
		pgx_guard_free(&g);
	}
	const uint8_t *p = pgx_guard_place(&g, msg->data, msg->len);
	cr_assert_eq(pg_rfb_parse_client_msg(p, msg->len, &c, &why), (ssize_t)msg->len);
	cr_assert_eq(c.type, PG_RFB_CLIENT_CUT_TEXT);
	cr_assert(c.cut.extended);
	cr_assert_eq(c.cut.len, msg->len - 8);
	int rc = pg_xclip_parse(c.cut.text, c.cut.len, max_text, m, text, text_size, &why);
	/* A prefix fails, except that a sync-flushed stream (ours, TigerVNC's) cut in its
	 * final empty block may already hold the whole text: then it is that text. */
	uint8_t *whole = malloc(text_size ? text_size : 1);
	cr_assert_not_null(whole);
	if (text_size)
		memcpy(whole, text, text_size);
	for (size_t k = 0; k < c.cut.len; k++) {
		struct pg_xclip_msg pm;
		why = NULL;
		int prc = parse_guarded(c.cut.text, k, max_text, &pm, text, text_size, &why);
		if (prc == 0 && rc == 0 && m->action == PG_XCLIP_A_PROVIDE && k + 5 >= c.cut.len) {
			cr_assert_eq(pm.text_len, m->text_len, "prefix %zu: partial text", k);
			cr_assert_eq(memcmp(text, whole, m->text_len), 0, "prefix %zu", k);
			continue;
		}
		cr_assert_lt(prc, 0, "payload prefix %zu of %u parsed", k, c.cut.len);
		cr_assert_not_null(why);
	}
	if (text_size)
		memcpy(text, whole, text_size);
	free(whole);
	pgx_guard_free(&g);
	return rc;
}

static void round_trip(const char *s, size_t len, size_t max_text)
{
	struct pg_buf b;
	pg_buf_init(&b, 4u << 20);
	cr_assert_eq(pg_xclip_build_provide(&b, false, (const uint8_t *)s, len), 0);
	struct pg_xclip_msg m;
	size_t cap = len + 1;
	struct pgx_guard g = {0};
	uint8_t *text = pgx_guard_alloc(&g, cap); /* exactly enough: text and NUL */
	cr_assert_eq(frame_and_parse(&b, max_text, &m, text, cap), 0);
	cr_assert_eq(m.action, PG_XCLIP_A_PROVIDE);
	cr_assert_eq(m.formats, PG_XCLIP_TEXT);
	cr_assert_eq(m.dropped_formats, 0);
	cr_assert_eq(m.text_len, len);
	cr_assert_eq(memcmp(text, s, len), 0);
	cr_assert_eq(text[len], 0);
	pgx_guard_free(&g);
	pg_buf_free(&b);
}

Test(xclip_parse, round_trips)
{
	round_trip("hello, world", 12, 4096);
	round_trip(JP, strlen(JP), 4096);
	round_trip(JP "\r\n" JP, 2 * strlen(JP) + 2, 4096);
	round_trip("", 0, 4096);
	round_trip("\xff\xfe not UTF-8", 12, 4096); /* passed on as sent */
}

Test(xclip_parse, size_cap)
{
	static char text[4097];
	memset(text, 'a', sizeof(text));
	round_trip(text, 4096, 4096); /* at the cap */

	struct pg_buf b;
	pg_buf_init(&b, 1u << 20);
	cr_assert_eq(pg_xclip_build_provide(&b, true, (const uint8_t *)text, 4097), 0);
	struct pg_xclip_msg m;
	const char *why = NULL;
	static uint8_t out[8192];
	/* over it by one byte */
	cr_assert_eq(parse_guarded(b.data + 8, b.len - 8, 4096, &m, out, sizeof(out), &why),
		     PG_ELIMIT);
	cr_assert_not_null(why);
	/* within the cap, but the caller's buffer has no room for the NUL */
	cr_assert_eq(parse_guarded(b.data + 8, b.len - 8, 8192, &m, out, 4097, &why), PG_ELIMIT);
	cr_assert_eq(parse_guarded(b.data + 8, b.len - 8, 8192, &m, out, 4098, &why), 0);
	cr_assert_eq(m.text_len, 4097);
	pg_buf_free(&b);
}

Test(xclip_parse, max_text_never_over_hard_cap)
{
	static uint8_t text[PG_XCLIP_MAX_TEXT + 2];
	memset(text, 'b', sizeof(text));
	struct pg_buf raw, pl;
	pg_buf_init(&raw, 4u << 20);
	pg_buf_init(&pl, 4u << 20);
	text[PG_XCLIP_MAX_TEXT + 1] = 0;
	pgx_put_entry(&raw, text, PG_XCLIP_MAX_TEXT + 2); /* one byte over, with its NUL */
	pgx_provide_payload(&pl, PG_XCLIP_PROVIDE | PG_XCLIP_TEXT, &raw, Z_FINISH);
	static uint8_t out[PG_XCLIP_MAX_TEXT + 8];
	struct pg_xclip_msg m;
	const char *why;
	cr_assert_eq(pg_xclip_parse(pl.data, pl.len, SIZE_MAX, &m, out, sizeof(out), &why),
		     PG_ELIMIT);
	pg_buf_free(&raw);
	pg_buf_free(&pl);
}

Test(xclip_parse, tigervnc_style_stream)
{
	/* TigerVNC ends its provide stream with a sync flush, not a finish */
	struct pg_buf raw, pl;
	pg_buf_init(&raw, 1u << 20);
	pg_buf_init(&pl, 1u << 20);
	pgx_put_entry(&raw, JP, sizeof(JP));
	pgx_provide_payload(&pl, PG_XCLIP_PROVIDE | PG_XCLIP_TEXT, &raw, Z_SYNC_FLUSH);
	uint8_t out[64];
	struct pg_xclip_msg m;
	const char *why;
	cr_assert_eq(parse_guarded(pl.data, pl.len, 4096, &m, out, sizeof(out), &why), 0);
	cr_assert_eq(m.text_len, strlen(JP));
	cr_assert_str_eq((char *)out, JP);
	pg_buf_free(&raw);
	pg_buf_free(&pl);
}

Test(xclip_parse, caps_and_actions)
{
	struct pg_buf b;
	pg_buf_init(&b, 1024);
	struct pg_xclip_msg m;
	const char *why;

	cr_assert_eq(pg_xclip_build_caps(&b, false, PG_XCLIP_ACTIONS, PG_XCLIP_MAX_TEXT), 0);
	cr_assert_eq(frame_and_parse(&b, 0, &m, NULL, 0), 0);
	cr_assert_eq(m.action, PG_XCLIP_A_CAPS);
	cr_assert_eq(m.formats, PG_XCLIP_TEXT);
	cr_assert_eq(m.actions, PG_XCLIP_ACTIONS);
	cr_assert_eq(m.text_max, PG_XCLIP_MAX_TEXT);
	pg_buf_reset(&b);

	cr_assert_eq(pg_xclip_build_request(&b, false), 0);
	cr_assert_eq(frame_and_parse(&b, 0, &m, NULL, 0), 0);
	cr_assert_eq(m.action, PG_XCLIP_A_REQUEST);
	cr_assert_eq(m.formats, PG_XCLIP_TEXT);
	pg_buf_reset(&b);

	cr_assert_eq(pg_xclip_build_peek(&b, false), 0);
	cr_assert_eq(frame_and_parse(&b, 0, &m, NULL, 0), 0);
	cr_assert_eq(m.action, PG_XCLIP_A_PEEK);
	pg_buf_reset(&b);

	cr_assert_eq(pg_xclip_build_notify(&b, false, true), 0);
	cr_assert_eq(frame_and_parse(&b, 0, &m, NULL, 0), 0);
	cr_assert_eq(m.action, PG_XCLIP_A_NOTIFY);
	cr_assert_eq(m.formats, PG_XCLIP_TEXT);
	pg_buf_reset(&b);

	cr_assert_eq(pg_xclip_build_notify(&b, false, false), 0);
	cr_assert_eq(frame_and_parse(&b, 0, &m, NULL, 0), 0);
	cr_assert_eq(m.action, PG_XCLIP_A_NOTIFY);
	cr_assert_eq(m.formats, 0);
	pg_buf_free(&b);

	/* TigerVNC's server caps: text, rtf, html (sizes in bit order), five actions */
	static const uint8_t tiger[] = {0x1f, 0,    0, 0x07, 0, 0xa0, 0, 0,
					0,    0x20, 0, 0,    0, 0x20, 0, 0};
	cr_assert_eq(parse_guarded(tiger, sizeof(tiger), 0, &m, NULL, 0, &why), 0);
	cr_assert_eq(m.action, PG_XCLIP_A_CAPS);
	cr_assert_eq(m.text_max, 10u << 20);
	cr_assert_eq(m.formats, PG_XCLIP_TEXT | PG_XCLIP_RTF | PG_XCLIP_HTML);
	cr_assert_eq(m.dropped_formats, PG_XCLIP_RTF | PG_XCLIP_HTML);

	/* caps without text: no text limit, files and DIB reported */
	static const uint8_t notext[] = {0x01, 0, 0, 0x18, 0, 0, 0, 9, 0, 0, 0, 9};
	cr_assert_eq(parse_guarded(notext, sizeof(notext), 0, &m, NULL, 0, &why), 0);
	cr_assert_eq(m.text_max, 0);
	cr_assert_eq(m.actions, 0);
	cr_assert_eq(m.dropped_formats, PG_XCLIP_DIB | PG_XCLIP_FILES);

	/* a request for RTF and HTML only: nothing for us, both reported */
	static const uint8_t req_rtf[] = {0x02, 0, 0, 0x06};
	cr_assert_eq(parse_guarded(req_rtf, 4, 0, &m, NULL, 0, &why), 0);
	cr_assert_eq(m.action, PG_XCLIP_A_REQUEST);
	cr_assert_eq(m.dropped_formats, PG_XCLIP_RTF | PG_XCLIP_HTML);
}

Test(xclip_parse, malformed_flags)
{
	static const struct {
		uint8_t p[12];
		size_t n;
		int rc;
	} bad[] = {
	    {{0, 0, 0, 1}, 4, PG_EPROTO},		    /* no action */
	    {{0x0a, 0, 0, 1}, 4, PG_EPROTO},		    /* request and notify */
	    {{0x20, 0, 0, 1}, 4, PG_EUNSUP},		    /* reserved action 29 */
	    {{0x80, 0, 0, 1}, 4, PG_EUNSUP},		    /* reserved action 31 */
	    {{0x02, 0, 0, 1, 0}, 5, PG_EPROTO},		    /* request with a byte more */
	    {{0x08, 0, 0, 1, 0, 0, 0, 0}, 8, PG_EPROTO},    /* notify with data */
	    {{0x01, 0, 0, 1}, 4, PG_EPROTO},		    /* caps missing its size */
	    {{0x01, 0, 0, 3, 0, 0, 0, 0}, 8, PG_EPROTO},    /* caps missing one size */
	    {{0x01, 0, 0, 1, 0, 0, 0, 0, 0}, 9, PG_EPROTO}, /* caps with a stray byte */
	    {{0x01, 0, 0, 0, 0, 0, 0, 0}, 8, PG_EPROTO},    /* caps, no formats, data */
	    {{0x10, 0, 0}, 3, PG_EPROTO},		    /* short flags */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pg_xclip_msg m;
		const char *why = NULL;
		cr_assert_eq(parse_guarded(bad[i].p, bad[i].n, 4096, &m, NULL, 0, &why), bad[i].rc,
			     "case %zu", i);
		cr_assert_not_null(why, "case %zu", i);
	}
	static uint8_t huge[PG_RFB_MAX_CUT_TEXT + 1] = {0x08, 0, 0, 1};
	struct pg_xclip_msg m;
	const char *why;
	cr_assert_eq(pg_xclip_parse(huge, sizeof(huge), 4096, &m, NULL, 0, &why), PG_ELIMIT);
}

Test(xclip_parse, other_formats_reported_never_returned)
{
	static const char rtf[] = "{\\rtf1 secret}";
	static const char html[] = "<b>secret</b>";
	struct pg_buf raw, pl;
	pg_buf_init(&raw, 1u << 20);
	pg_buf_init(&pl, 1u << 20);
	/* in bit order: text, rtf, html */
	pgx_put_entry(&raw, JP, sizeof(JP));
	pgx_put_entry(&raw, rtf, sizeof(rtf));
	pgx_put_entry(&raw, html, sizeof(html));
	pgx_provide_payload(&pl, PG_XCLIP_PROVIDE | PG_XCLIP_TEXT | PG_XCLIP_RTF | PG_XCLIP_HTML,
			    &raw, Z_FINISH);

	uint8_t out[256];
	memset(out, 0x55, sizeof(out));
	struct pg_xclip_msg m;
	const char *why;
	cr_assert_eq(parse_guarded(pl.data, pl.len, 4096, &m, out, sizeof(out), &why), 0);
	cr_assert_eq(m.action, PG_XCLIP_A_PROVIDE);
	cr_assert_eq(m.formats, PG_XCLIP_TEXT | PG_XCLIP_RTF | PG_XCLIP_HTML);
	cr_assert_eq(m.dropped_formats, PG_XCLIP_RTF | PG_XCLIP_HTML);
	cr_assert_eq(m.text_len, strlen(JP));
	cr_assert_str_eq((char *)out, JP);
	/* nothing of the others was written anywhere in the buffer */
	for (size_t i = sizeof(JP); i < sizeof(out); i++)
		cr_assert_eq(out[i], 0x55, "byte %zu", i);

	/* RTF only: nothing to return, RTF reported, no text */
	pg_buf_reset(&raw);
	pg_buf_reset(&pl);
	pgx_put_entry(&raw, rtf, sizeof(rtf));
	pgx_provide_payload(&pl, PG_XCLIP_PROVIDE | PG_XCLIP_RTF, &raw, Z_FINISH);
	memset(out, 0x55, sizeof(out));
	cr_assert_eq(parse_guarded(pl.data, pl.len, 4096, &m, out, sizeof(out), &why), 0);
	cr_assert_eq(m.formats, PG_XCLIP_RTF);
	cr_assert_eq(m.dropped_formats, PG_XCLIP_RTF);
	cr_assert_eq(m.text_len, 0);
	for (size_t i = 0; i < sizeof(out); i++)
		cr_assert_eq(out[i], 0x55);
	pg_buf_free(&raw);
	pg_buf_free(&pl);
}
