#include "clipboard.h"

#include <string.h>
#include <zlib.h>

#include "err.h"
#include "rfb.h"

/* Message header: type, 3 padding, the s32 length. */
#define HDR 8

static uint8_t cut_type(bool to_viewer)
{
	return to_viewer ? PG_RFB_SERVER_CUT_TEXT : PG_RFB_CLIENT_CUT_TEXT;
}

/* Append the 8-byte header of a cut text message. The Extended Clipboard sends
 * the payload size negated; n is at most PG_RFB_MAX_CUT_TEXT, so both fit. */
static void put_hdr(uint8_t *p, bool to_viewer, uint32_t n, bool extended)
{
	p[0] = cut_type(to_viewer);
	p[1] = p[2] = p[3] = 0;
	pg_wr32(p + 4, extended ? 0u - n : n);
}

/* A payload that is only a flags word (request, peek, notify). */
static int build_flags(struct pg_buf *out, bool to_viewer, uint32_t flags)
{
	int rc = pg_buf_reserve(out, HDR + 4);
	if (rc < 0)
		return rc;
	uint8_t *p = out->data + out->len;
	put_hdr(p, to_viewer, 4, true);
	pg_wr32(p + HDR, flags);
	out->len += HDR + 4;
	return 0;
}

int pg_xclip_build_caps(struct pg_buf *out, bool to_viewer, uint32_t actions, uint32_t max_text)
{
	if (max_text > PG_XCLIP_MAX_TEXT)
		return PG_ELIMIT;
	int rc = pg_buf_reserve(out, HDR + 8);
	if (rc < 0)
		return rc;
	uint8_t *p = out->data + out->len;
	/* One size per format bit; text is our only format, so one entry. */
	put_hdr(p, to_viewer, 8, true);
	pg_wr32(p + HDR, PG_XCLIP_CAPS | (actions & PG_XCLIP_ACTIONS) | PG_XCLIP_TEXT);
	pg_wr32(p + HDR + 4, max_text);
	out->len += HDR + 8;
	return 0;
}

int pg_xclip_build_request(struct pg_buf *out, bool to_viewer)
{
	return build_flags(out, to_viewer, PG_XCLIP_REQUEST | PG_XCLIP_TEXT);
}

int pg_xclip_build_peek(struct pg_buf *out, bool to_viewer)
{
	return build_flags(out, to_viewer, PG_XCLIP_PEEK);
}

int pg_xclip_build_notify(struct pg_buf *out, bool to_viewer, bool text_available)
{
	return build_flags(out, to_viewer, PG_XCLIP_NOTIFY | (text_available ? PG_XCLIP_TEXT : 0));
}

int pg_xclip_build_provide(struct pg_buf *out, bool to_viewer, const uint8_t *utf8, size_t len)
{
	if (len > PG_XCLIP_MAX_TEXT)
		return PG_ELIMIT;
	if (len && memchr(utf8, 0, len))
		return PG_EPROTO;

	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (deflateInit(&zs, Z_DEFAULT_COMPRESSION) != Z_OK)
		return PG_ENOMEM;
	/* The inflated data: size (text and its NUL), text, NUL. */
	uint8_t size[4], nul = 0;
	pg_wr32(size, (uint32_t)len + 1);
	size_t bound = deflateBound(&zs, 4 + len + 1);
	int rc = pg_buf_reserve(out, HDR + 4 + bound);
	if (rc < 0)
		goto done;

	uint8_t *p = out->data + out->len;
	zs.next_out = p + HDR + 4;
	zs.avail_out = (uInt)bound;
	/* Each provide is a zlib stream of its own (TigerVNC and noVNC inflate each
	 * with a fresh stream), ended with a sync flush as TigerVNC and noVNC end
	 * theirs: libvncserver closes a client whose stream is finished inside the
	 * message (its inflate must keep returning Z_OK). */
	const struct {
		const uint8_t *p;
		size_t n;
		int flush;
	} part[] = {{size, 4, Z_NO_FLUSH}, {utf8, len, Z_NO_FLUSH}, {&nul, 1, Z_SYNC_FLUSH}};
	for (size_t i = 0; i < 3; i++) {
		zs.next_in = (Bytef *)part[i].p;
		zs.avail_in = (uInt)part[i].n;
		int zrc = deflate(&zs, part[i].flush);
		if (zrc != Z_OK && !(zrc == Z_BUF_ERROR && part[i].n == 0)) {
			rc = PG_ENOMEM;
			goto done;
		}
	}
	size_t n = 4 + (size_t)zs.total_out;
	/* Our own parsers refuse more, and so would a peer like us. */
	if (n > PG_RFB_MAX_CUT_TEXT) {
		rc = PG_ELIMIT;
		goto done;
	}
	put_hdr(p, to_viewer, (uint32_t)n, true);
	pg_wr32(p + HDR, PG_XCLIP_PROVIDE | PG_XCLIP_TEXT);
	out->len += HDR + n;
	rc = 0;
done:
	deflateEnd(&zs);
	return rc;
}

int pg_xclip_build_legacy(struct pg_buf *out, bool to_viewer, const uint8_t *latin1, size_t len)
{
	if (len > PG_RFB_MAX_CUT_TEXT)
		return PG_ELIMIT;
	int rc = pg_buf_reserve(out, HDR + len);
	if (rc < 0)
		return rc;
	uint8_t *p = out->data + out->len;
	put_hdr(p, to_viewer, (uint32_t)len, false);
	if (len)
		memcpy(p + HDR, latin1, len);
	out->len += HDR + len;
	return 0;
}

static int bad(const char **why, const char *msg, int rc)
{
	*why = msg;
	return rc;
}

static unsigned popcount16(uint32_t v)
{
	unsigned n = 0;
	for (v &= PG_XCLIP_FORMAT_MASK; v; v &= v - 1)
		n++;
	return n;
}

/* Inflate exactly want bytes into dst. Returns 0, or PG_EPROTO when the stream is
 * corrupt or ends (or its input runs out) first. zs->avail_out bounds the output,
 * so nothing past dst + want is ever written, whatever the input claims. */
static int inflate_exact(z_stream *zs, uint8_t *dst, size_t want)
{
	zs->next_out = dst;
	zs->avail_out = (uInt)want;
	while (zs->avail_out) {
		uInt before = zs->avail_out;
		int zrc = inflate(zs, Z_SYNC_FLUSH);
		if (zrc == Z_STREAM_END && zs->avail_out)
			return PG_EPROTO;
		if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR)
			return PG_EPROTO;
		/* No progress with input left means none will come: truncated. */
		if (zs->avail_out == before && (zrc == Z_BUF_ERROR || zs->avail_in == 0))
			return PG_EPROTO;
	}
	return 0;
}

/* After the text of a text-only provide, the stream must end: finished (its
 * checksum is then verified), or, as TigerVNC and noVNC leave it, flushed with no
 * final block. More data, or a final block cut short, is malformed. */
static int check_end(z_stream *zs)
{
	uint8_t extra;
	zs->next_out = &extra;
	zs->avail_out = 1;
	int zrc = inflate(zs, Z_SYNC_FLUSH);
	if (zs->avail_out == 0)
		return PG_EPROTO;
	if (zrc == Z_STREAM_END)
		return zs->avail_in == 0 ? 0 : PG_EPROTO;
	if (zrc != Z_OK && zrc != Z_BUF_ERROR)
		return PG_EPROTO;
	/* data_type has 64 set while inside the final block. */
	return zs->avail_in == 0 && !(zs->data_type & 64) ? 0 : PG_EPROTO;
}

static int parse_provide(const uint8_t *payload, size_t len, size_t max_text,
			 struct pg_xclip_msg *out, uint8_t *text_buf, size_t text_buf_size,
			 const char **why)
{
	/* Text is format bit 0, so its size and data come first in the stream: the
	 * other formats after it are never inflated, only reported. */
	if (!(out->formats & PG_XCLIP_TEXT))
		return 0;
	if (max_text > PG_XCLIP_MAX_TEXT)
		max_text = PG_XCLIP_MAX_TEXT;

	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	zs.next_in = (Bytef *)(payload + 4);
	zs.avail_in = (uInt)(len - 4);
	if (inflateInit(&zs) != Z_OK)
		return bad(why, "Extended Clipboard provide: out of memory for zlib", PG_ENOMEM);
	int rc;
	uint8_t size_be[4];
	if (inflate_exact(&zs, size_be, 4) < 0) {
		rc = bad(
		    why,
		    "Extended Clipboard provide: corrupt or truncated zlib before the text size",
		    PG_EPROTO);
		goto done;
	}
	uint32_t size = pg_rd32(size_be);
	if (size == 0) {
		rc = bad(why, "Extended Clipboard provide: text without its terminating NUL",
			 PG_EPROTO);
		goto done;
	}
	if (size - 1 > max_text) {
		out->text_len = size - 1; /* the declared size, for the caller's report */
		rc = bad(why, "Extended Clipboard provide: text longer than the limit", PG_ELIMIT);
		goto done;
	}
	if (size > text_buf_size) {
		out->text_len = size - 1;
		rc =
		    bad(why, "Extended Clipboard provide: text does not fit the buffer", PG_ELIMIT);
		goto done;
	}
	if (inflate_exact(&zs, text_buf, size) < 0) {
		rc = bad(why, "Extended Clipboard provide: corrupt or truncated zlib in the text",
			 PG_EPROTO);
		goto done;
	}
	if (text_buf[size - 1] != 0) {
		rc = bad(why, "Extended Clipboard provide: text without its terminating NUL",
			 PG_EPROTO);
		goto done;
	}
	if (!out->dropped_formats && check_end(&zs) < 0) {
		rc = bad(why, "Extended Clipboard provide: zlib stream does not end after the text",
			 PG_EPROTO);
		goto done;
	}
	out->text_len = size - 1;
	rc = 0;
done:
	inflateEnd(&zs);
	return rc;
}

int pg_xclip_parse(const uint8_t *payload, size_t len, size_t max_text, struct pg_xclip_msg *out,
		   uint8_t *text_buf, size_t text_buf_size, const char **why)
{
	memset(out, 0, sizeof(*out));
	if (len > PG_RFB_MAX_CUT_TEXT)
		return bad(why, "Extended Clipboard payload longer than PG_RFB_MAX_CUT_TEXT",
			   PG_ELIMIT);
	if (len < 4)
		return bad(why, "Extended Clipboard payload shorter than its 4-byte flags",
			   PG_EPROTO);
	uint32_t flags = pg_rd32(payload);
	out->formats = flags & PG_XCLIP_FORMAT_MASK;
	out->dropped_formats = out->formats & ~PG_XCLIP_TEXT;

	if (flags & PG_XCLIP_CAPS) {
		/* One u32 size per format bit, in bit order: text's, if any, is first. */
		size_t need = 4 + 4 * (size_t)popcount16(flags);
		if (len != need)
			return bad(why,
				   "Extended Clipboard caps: length does not match its formats",
				   PG_EPROTO);
		out->action = PG_XCLIP_A_CAPS;
		out->actions = flags & PG_XCLIP_ACTIONS;
		if (flags & PG_XCLIP_TEXT)
			out->text_max = pg_rd32(payload + 4);
		return 0;
	}

	/* Without caps, exactly one action. */
	uint32_t action = flags & PG_XCLIP_ACTION_MASK;
	if (!action || (action & (action - 1)))
		return bad(why, "Extended Clipboard: not exactly one action", PG_EPROTO);
	switch (action) {
	case PG_XCLIP_REQUEST:
		out->action = PG_XCLIP_A_REQUEST;
		break;
	case PG_XCLIP_PEEK:
		out->action = PG_XCLIP_A_PEEK;
		break;
	case PG_XCLIP_NOTIFY:
		out->action = PG_XCLIP_A_NOTIFY;
		break;
	case PG_XCLIP_PROVIDE:
		out->action = PG_XCLIP_A_PROVIDE;
		return parse_provide(payload, len, max_text, out, text_buf, text_buf_size, why);
	default:
		return bad(why, "Extended Clipboard: unknown action", PG_EUNSUP);
	}
	if (len != 4)
		return bad(why,
			   "Extended Clipboard request, peek or notify with data after its flags",
			   PG_EPROTO);
	return 0;
}

size_t pg_xclip_lf_to_crlf(const uint8_t *in, size_t len, uint8_t *out)
{
	size_t w = 0;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			out[w++] = '\r';
		out[w++] = in[i];
	}
	return w;
}

size_t pg_xclip_crlf_to_lf(const uint8_t *in, size_t len, uint8_t *out)
{
	size_t w = 0;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\r' && i + 1 < len && in[i + 1] == '\n')
			continue;
		out[w++] = in[i];
	}
	return w;
}
