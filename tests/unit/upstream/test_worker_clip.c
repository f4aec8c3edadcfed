/* The upstream worker's clipboard, end to end on its two edges: the test plays the
 * main process on the channel (fd 3 of a real pixelgate-worker) and the browser
 * host on a loopback socket, speaking RFB by hand so every Extended Clipboard action
 * can be sent and every reply seen byte for byte. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <zlib.h>

#include "codec/buf.h"
#include "codec/clipboard.h"
#include "codec/rfb.h"
#include "relay/channel.h"
#include "upstream_util.h"

static struct ut_worker k;

/* The next ClientCutText from the worker, other client messages skipped. Returns
 * its payload (malloc'd), *ext telling an Extended Clipboard one. */
static uint8_t *host_cut(bool *ext, size_t *len)
{
	for (;;) {
		size_t need = ut_worker_msg(&k);
		if (k.in.data[0] == PG_RFB_CLIENT_CUT_TEXT) {
			*ext = pg_rd32(k.in.data + 4) & 0x80000000u;
			*len = need - 8;
			uint8_t *p = malloc(*len + 1);
			cr_assert_not_null(p);
			memcpy(p, k.in.data + 8, *len);
			pg_buf_consume(&k.in, need);
			return p;
		}
		pg_buf_consume(&k.in, need);
	}
}

/* The next Extended Clipboard message from the worker, parsed; text into text. */
static void host_xclip(struct pg_xclip_msg *x, uint8_t *text, size_t text_size)
{
	bool ext;
	size_t len;
	const char *why = NULL;
	uint8_t none[1];
	uint8_t *p = host_cut(&ext, &len);
	if (!text) {
		text = none;
		text_size = sizeof(none);
	}
	cr_assert(ext, "legacy cut text where an extended one was expected");
	cr_assert_eq(pg_xclip_parse(p, len, text_size - 1, x, text, text_size, &why), 0, "%s", why);
	free(p);
}

static void host_send(const struct pg_buf *b)
{
	ut_write_all(k.host, b->data, b->len);
}

/* The next channel message that is not about pixels or the handshake. */
static uint32_t chan_next(void)
{
	uint32_t type;
	while ((type = ut_worker_next(&k)) == PG_CHAN_CONNECTED)
		;
	return type;
}

static void expect_dropped(uint8_t why, uint32_t bytes, uint32_t formats)
{
	cr_assert_eq(chan_next(), PG_CHAN_CLIP_DROPPED);
	cr_assert_eq(k.m->u.clip_dropped.why, why);
	cr_assert_eq(k.m->u.clip_dropped.bytes, bytes);
	cr_assert_eq(k.m->u.clip_dropped.formats, formats);
}

static void expect_from_host(uint8_t format, const void *text, size_t len)
{
	cr_assert_eq(chan_next(), PG_CHAN_CLIP_FROM_HOST);
	cr_assert_eq(k.m->u.clip.format, format);
	cr_assert_eq(k.m->u.clip.len, len);
	cr_assert_eq(memcmp(k.m->u.clip.bytes, text, len), 0);
}

/* A bell from the host, as a marker: everything it sent before has been handled. */
static void host_bell_marker(void)
{
	uint8_t bell = PG_RFB_BELL;
	ut_write_all(k.host, &bell, 1);
	cr_assert_eq(chan_next(), PG_CHAN_BELL);
}

static void to_host(uint8_t format, const void *text, size_t len)
{
	memset(k.m, 0, sizeof(*k.m));
	k.m->type = PG_CHAN_CLIP_TO_HOST;
	k.m->u.clip.format = format;
	k.m->u.clip.len = (uint32_t)len;
	/* An impossible length goes with no bytes at all. */
	if (len <= PG_CHAN_CLIP_MAX)
		memcpy(k.m->u.clip.bytes, text, len);
	cr_assert_eq(pg_chan_send(k.chan, k.m, -1), 0);
}

static void start(void)
{
	ut_worker_start(&k, false, false);
}

static void stop(void)
{
	ut_worker_stop(&k);
}

/* The host's caps, as TigerVNC's server sends them: text, every action, size 0. */
static void host_caps(uint32_t formats)
{
	struct pg_buf b;
	pg_buf_init(&b, 64);
	cr_assert_eq(pg_xclip_build_caps(&b, true, PG_XCLIP_ACTIONS, 0), 0);
	/* Extra formats ride along with a size each, as the spec lays them out. */
	uint32_t flags = pg_rd32(b.data + 8) | formats;
	uint32_t nfmt = (uint32_t)__builtin_popcount(flags & PG_XCLIP_FORMAT_MASK);
	b.len = 8;
	pg_wr32(b.data + 4, 0u - (4 + 4 * nfmt));
	cr_assert_eq(pg_buf_put_u32(&b, flags), 0);
	for (uint32_t i = 0; i < nfmt; i++)
		cr_assert_eq(pg_buf_put_u32(&b, 0), 0);
	host_send(&b);
	pg_buf_free(&b);
}

static void extended_start(void)
{
	start();
	host_caps(0);
	cr_assert_eq(chan_next(), PG_CHAN_CLIP_CAPS);
	cr_assert_eq(k.m->u.clip_caps.extended, 1);
	struct pg_xclip_msg x;
	host_xclip(&x, NULL, 1);
	cr_assert_eq(x.action, PG_XCLIP_A_CAPS);
	cr_assert_eq(x.formats, PG_XCLIP_TEXT);
	cr_assert_eq(x.actions, PG_XCLIP_ACTIONS);
	cr_assert_eq(x.text_max, PG_CHAN_CLIP_MAX);
}

/* A provide payload by hand: the text (with its NUL) and, if html, an HTML entry. */
static void host_provide(const char *text, const char *html)
{
	struct pg_buf raw, b;
	pg_buf_init(&raw, 1u << 20);
	pg_buf_init(&b, 1u << 20);
	cr_assert_eq(pg_buf_put_u32(&raw, (uint32_t)strlen(text) + 1), 0);
	cr_assert_eq(pg_buf_append(&raw, text, strlen(text) + 1), 0);
	if (html) {
		cr_assert_eq(pg_buf_put_u32(&raw, (uint32_t)strlen(html) + 1), 0);
		cr_assert_eq(pg_buf_append(&raw, html, strlen(html) + 1), 0);
	}
	uLongf zn = compressBound(raw.len);
	cr_assert_eq(pg_buf_reserve(&b, 12 + zn + 64), 0);
	/* As TigerVNC: a sync flush, no stream end. */
	z_stream zs = {0};
	cr_assert_eq(deflateInit(&zs, 6), Z_OK);
	zs.next_in = raw.data;
	zs.avail_in = (uInt)raw.len;
	zs.next_out = b.data + 12;
	zs.avail_out = (uInt)zn + 64;
	cr_assert_eq(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
	size_t n = zs.total_out;
	deflateEnd(&zs);
	b.data[0] = PG_RFB_SERVER_CUT_TEXT;
	b.data[1] = b.data[2] = b.data[3] = 0;
	pg_wr32(b.data + 4, 0u - (uint32_t)(4 + n));
	pg_wr32(b.data + 8, PG_XCLIP_PROVIDE | PG_XCLIP_TEXT | (html ? PG_XCLIP_HTML : 0));
	b.len = 12 + n;
	host_send(&b);
	pg_buf_free(&raw);
	pg_buf_free(&b);
}

static void host_flags(uint32_t flags)
{
	uint8_t m[12] = {PG_RFB_SERVER_CUT_TEXT};
	pg_wr32(m + 4, 0u - 4);
	pg_wr32(m + 8, flags);
	ut_write_all(k.host, m, sizeof(m));
}

Test(worker_clip, legacy_host_both_ways, .init = start, .fini = stop)
{
	static const uint8_t cut[] = {
	    PG_RFB_SERVER_CUT_TEXT, 0, 0, 0, 0, 0, 0, 7, 'c', 'a', 'f', 0xe9, '\r', '\n', '!'};
	ut_write_all(k.host, cut, sizeof(cut));
	/* Latin-1 as sent: converting it is the main process's job. */
	expect_from_host(PG_CHAN_CLIP_LATIN1, cut + 8, 7);

	to_host(PG_CHAN_CLIP_LATIN1, "na\xefve\nline", 10);
	bool ext;
	size_t len;
	uint8_t *p = host_cut(&ext, &len);
	cr_assert_not(ext);
	cr_assert_eq(len, 10);
	cr_assert_eq(memcmp(p, "na\xefve\nline", 10), 0);
	free(p);

	/* UTF-8 toward a host that never sent caps goes nowhere. */
	to_host(PG_CHAN_CLIP_UTF8, "x", 1);
	to_host(PG_CHAN_CLIP_LATIN1, "y", 1);
	p = host_cut(&ext, &len);
	cr_assert_not(ext);
	cr_assert_eq(len, 1);
	cr_assert_eq(p[0], 'y');
	free(p);
}

Test(worker_clip, legacy_over_limit, .init = start, .fini = stop)
{
	size_t n = PG_CHAN_CLIP_MAX + 1;
	uint8_t *msg = malloc(8 + n);
	cr_assert_not_null(msg);
	memset(msg, 'a', 8 + n);
	msg[0] = PG_RFB_SERVER_CUT_TEXT;
	msg[1] = msg[2] = msg[3] = 0;
	pg_wr32(msg + 4, (uint32_t)n);
	ut_write_all(k.host, msg, 8 + n);
	expect_dropped(PG_CHAN_DROP_TOO_LARGE, (uint32_t)n, PG_XCLIP_TEXT);
	/* At the limit it crosses. */
	pg_wr32(msg + 4, (uint32_t)(n - 1));
	ut_write_all(k.host, msg, 8 + n - 1);
	expect_from_host(PG_CHAN_CLIP_LATIN1, msg + 8, n - 1);
	free(msg);
}

/* Host to viewer: notify, request, provide; the text arrives with LF line ends. */
Test(worker_clip, host_notify_request_provide, .init = extended_start, .fini = stop)
{
	struct pg_xclip_msg x;
	host_flags(PG_XCLIP_NOTIFY | PG_XCLIP_TEXT);
	host_xclip(&x, NULL, 1);
	cr_assert_eq(x.action, PG_XCLIP_A_REQUEST);
	cr_assert_eq(x.formats, PG_XCLIP_TEXT);

	host_provide("\xe4\xbd\x8f\xe6\xb0\x91\xe7\xa5\xa8\r\nline 2\r\n", NULL);
	expect_from_host(PG_CHAN_CLIP_UTF8, "\xe4\xbd\x8f\xe6\xb0\x91\xe7\xa5\xa8\nline 2\n", 17);

	/* Unsolicited provides are taken too (TigerVNC sends them up to our caps' size). */
	host_provide("", NULL);
	expect_from_host(PG_CHAN_CLIP_UTF8, "", 0);

	/* A notify without text asks for nothing. */
	host_flags(PG_XCLIP_NOTIFY);
	host_flags(PG_XCLIP_PEEK);
	host_xclip(&x, NULL, 1);
	cr_assert_eq(x.action, PG_XCLIP_A_NOTIFY, "expected the peek's answer, not a request");
	cr_assert_eq(x.formats, 0);
}

/* Formats other than text are never requested nor forwarded: only reported. */
Test(worker_clip, other_formats_reported, .init = start, .fini = stop)
{
	struct pg_xclip_msg x;
	/* Caps only say what the host could send: not a drop. */
	host_caps(PG_XCLIP_RTF | PG_XCLIP_HTML);
	cr_assert_eq(chan_next(), PG_CHAN_CLIP_CAPS);
	host_xclip(&x, NULL, 1);
	cr_assert_eq(x.action, PG_XCLIP_A_CAPS);

	host_flags(PG_XCLIP_NOTIFY | PG_XCLIP_TEXT | PG_XCLIP_HTML | PG_XCLIP_DIB);
	expect_dropped(PG_CHAN_DROP_FORMATS, 0, PG_XCLIP_HTML | PG_XCLIP_DIB);
	host_xclip(&x, NULL, 1);
	cr_assert_eq(x.action, PG_XCLIP_A_REQUEST);
	cr_assert_eq(x.formats, PG_XCLIP_TEXT, "requested more than text");

	/* Only HTML on offer: reported, nothing requested. */
	host_flags(PG_XCLIP_NOTIFY | PG_XCLIP_HTML);
	expect_dropped(PG_CHAN_DROP_FORMATS, 0, PG_XCLIP_HTML);
	host_flags(PG_XCLIP_PEEK);
	host_xclip(&x, NULL, 1);
	cr_assert_eq(x.action, PG_XCLIP_A_NOTIFY);

	host_provide("plain", "<b>rich</b>");
	expect_dropped(PG_CHAN_DROP_FORMATS, 0, PG_XCLIP_HTML);
	expect_from_host(PG_CHAN_CLIP_UTF8, "plain", 5);

	/* A request for HTML alone gets nothing. */
	host_flags(PG_XCLIP_REQUEST | PG_XCLIP_HTML);
	host_flags(PG_XCLIP_PEEK);
	host_xclip(&x, NULL, 1);
	cr_assert_eq(x.action, PG_XCLIP_A_NOTIFY);
}

/* Viewer to host: notify, the host requests, provide with CRLF line ends. */
Test(worker_clip, main_text_to_host, .init = extended_start, .fini = stop)
{
	struct pg_xclip_msg x;
	uint8_t text[64];

	/* Nothing held yet: a request or a peek gets "no text". */
	host_flags(PG_XCLIP_REQUEST | PG_XCLIP_TEXT);
	host_xclip(&x, NULL, 1);
	cr_assert_eq(x.action, PG_XCLIP_A_NOTIFY);
	cr_assert_eq(x.formats, 0);
	host_flags(PG_XCLIP_PEEK);
	host_xclip(&x, NULL, 1);
	cr_assert_eq(x.action, PG_XCLIP_A_NOTIFY);
	cr_assert_eq(x.formats, 0);

	to_host(PG_CHAN_CLIP_UTF8, "first", 5);
	host_xclip(&x, NULL, 1);
	cr_assert_eq(x.action, PG_XCLIP_A_NOTIFY);
	cr_assert_eq(x.formats, PG_XCLIP_TEXT);
	/* Newer text replaces it before the host asks. */
	to_host(PG_CHAN_CLIP_UTF8, "caf\xc3\xa9\nau\nlait", 13);
	host_xclip(&x, NULL, 1);
	cr_assert_eq(x.action, PG_XCLIP_A_NOTIFY);

	host_flags(PG_XCLIP_REQUEST | PG_XCLIP_TEXT);
	host_xclip(&x, text, sizeof(text));
	cr_assert_eq(x.action, PG_XCLIP_A_PROVIDE);
	cr_assert_eq(x.formats, PG_XCLIP_TEXT);
	cr_assert_eq(x.text_len, 15);
	cr_assert_eq(memcmp(text, "caf\xc3\xa9\r\nau\r\nlait", 15), 0);

	/* Asked again, it is still there; a peek says so. */
	host_flags(PG_XCLIP_REQUEST | PG_XCLIP_TEXT);
	host_xclip(&x, text, sizeof(text));
	cr_assert_eq(x.text_len, 15);
	host_flags(PG_XCLIP_PEEK);
	host_xclip(&x, NULL, 1);
	cr_assert_eq(x.action, PG_XCLIP_A_NOTIFY);
	cr_assert_eq(x.formats, PG_XCLIP_TEXT);

	/* Latin-1 still goes the legacy way. */
	to_host(PG_CHAN_CLIP_LATIN1, "\xe9", 1);
	bool ext;
	size_t len;
	uint8_t *p = host_cut(&ext, &len);
	cr_assert_not(ext);
	cr_assert_eq(len, 1);
	free(p);
}

/* A host that takes no notify (libvncserver) gets the text unsolicited, within
 * the limit its caps give; over it, nothing. */
Test(worker_clip, host_without_notify, .init = start, .fini = stop)
{
	uint8_t caps[16] = {PG_RFB_SERVER_CUT_TEXT};
	pg_wr32(caps + 4, 0u - 8);
	pg_wr32(caps + 8, PG_XCLIP_CAPS | PG_XCLIP_REQUEST | PG_XCLIP_PEEK | PG_XCLIP_PROVIDE |
			      PG_XCLIP_TEXT);
	pg_wr32(caps + 12, 8);
	ut_write_all(k.host, caps, sizeof(caps));
	cr_assert_eq(chan_next(), PG_CHAN_CLIP_CAPS);
	struct pg_xclip_msg x;
	uint8_t text[64];
	host_xclip(&x, NULL, 1);
	cr_assert_eq(x.action, PG_XCLIP_A_CAPS);

	to_host(PG_CHAN_CLIP_UTF8, "a\nbcde", 6); /* 7 bytes on the wire, 8 with the NUL */
	host_xclip(&x, text, sizeof(text));
	cr_assert_eq(x.action, PG_XCLIP_A_PROVIDE);
	cr_assert_eq(x.text_len, 7);
	cr_assert_eq(memcmp(text, "a\r\nbcde", 7), 0);

	to_host(PG_CHAN_CLIP_UTF8, "abcdefgh", 8);
	to_host(PG_CHAN_CLIP_LATIN1, "z", 1);
	bool ext;
	size_t len;
	uint8_t *p = host_cut(&ext, &len);
	cr_assert_not(ext, "text over the host's limit was sent unsolicited");
	free(p);
	/* It waits for the host's request. */
	host_flags(PG_XCLIP_REQUEST | PG_XCLIP_TEXT);
	host_xclip(&x, text, sizeof(text));
	cr_assert_eq(x.action, PG_XCLIP_A_PROVIDE);
	cr_assert_eq(x.text_len, 8);
}

/* What does not parse is reported and skipped; the connection goes on. */
Test(worker_clip, malformed_and_too_large, .init = extended_start, .fini = stop)
{
	host_flags(PG_XCLIP_NOTIFY | PG_XCLIP_PEEK | PG_XCLIP_TEXT); /* two actions */
	expect_dropped(PG_CHAN_DROP_MALFORMED, 4, PG_XCLIP_TEXT);

	uint8_t junk[16] = {PG_RFB_SERVER_CUT_TEXT};
	pg_wr32(junk + 4, 0u - 8);
	pg_wr32(junk + 8, PG_XCLIP_PROVIDE | PG_XCLIP_TEXT);
	memcpy(junk + 12, "\x78\x9c\xff\xff", 4); /* corrupt zlib */
	ut_write_all(k.host, junk, sizeof(junk));
	expect_dropped(PG_CHAN_DROP_MALFORMED, 8, PG_XCLIP_TEXT);

	/* Text over the relay's limit is refused from its declared size. */
	char *big = malloc(PG_CHAN_CLIP_MAX + 2);
	cr_assert_not_null(big);
	memset(big, 'x', PG_CHAN_CLIP_MAX + 1);
	big[PG_CHAN_CLIP_MAX + 1] = '\0';
	host_provide(big, NULL);
	cr_assert_eq(chan_next(), PG_CHAN_CLIP_DROPPED);
	cr_assert_eq(k.m->u.clip_dropped.why, PG_CHAN_DROP_TOO_LARGE);
	cr_assert_eq(k.m->u.clip_dropped.bytes, PG_CHAN_CLIP_MAX + 1, "the declared size");
	cr_assert_eq(k.m->u.clip_dropped.formats, PG_XCLIP_TEXT);
	/* At the limit it crosses. */
	big[PG_CHAN_CLIP_MAX] = '\0';
	host_provide(big, NULL);
	expect_from_host(PG_CHAN_CLIP_UTF8, big, PG_CHAN_CLIP_MAX);
	free(big);
	host_bell_marker();
}

static void expect_worker_gone(void)
{
	cr_assert_eq(chan_next(), PG_CHAN_ERROR);
	cr_assert(memmem(k.m->u.text.bytes, k.m->u.text.len, "clipboard", 9));
	int status;
	cr_assert_eq(waitpid(k.pid, &status, 0), k.pid);
	k.pid = 0;
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1,
		  "the worker ended with status 0x%x, not exit 1", status);
}

/* The main process breaking the channel's contract ends the worker. */
Test(worker_clip, bad_channel_length, .init = extended_start, .fini = stop)
{
	to_host(PG_CHAN_CLIP_UTF8, "x", PG_CHAN_CLIP_MAX + 1);
	expect_worker_gone();
}

Test(worker_clip, bad_channel_format, .init = extended_start, .fini = stop)
{
	to_host(7, "x", 1);
	expect_worker_gone();
}

Test(worker_clip, bad_channel_nul, .init = extended_start, .fini = stop)
{
	to_host(PG_CHAN_CLIP_UTF8, "a\0b", 3);
	expect_worker_gone();
}
