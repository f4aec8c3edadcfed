#include "rfb_server.h"

#include <string.h>

#include "err.h"
#include "rfb.h"

/* "RFB xxx.yyy\n": checked byte by byte as it arrives, so garbage is refused on
 * its first byte instead of after twelve. */
static int version_byte_ok(size_t i, uint8_t c)
{
	static const char fixed[] = "RFB ";
	if (i < 4)
		return c == (uint8_t)fixed[i];
	if (i == 7)
		return c == '.';
	if (i == 11)
		return c == '\n';
	return c >= '0' && c <= '9';
}

static int three_digits(const uint8_t *p)
{
	return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

ssize_t pg_rfb_parse_version(const uint8_t *buf, size_t len, int *minor)
{
	size_t n = len < 12 ? len : 12;

	for (size_t i = 0; i < n; i++)
		if (!version_byte_ok(i, buf[i]))
			return PG_EPROTO;
	if (len < 12)
		return 0;
	if (three_digits(buf + 4) != 3)
		return PG_EPROTO;
	switch (three_digits(buf + 8)) {
	case 7:
		*minor = 7;
		break;
	case 8:
	case 889: /* Apple Remote Desktop speaks 3.8 with its own extras */
		*minor = 8;
		break;
	default:
		*minor = 3;
		break;
	}
	return 12;
}

int pg_rfb_write_server_init(struct pg_buf *out, int w, int h, const char *name, size_t len)
{
	uint8_t pf[16];
	int rc;

	if (w <= 0 || h <= 0 || w > 65535 || h > 65535)
		return PG_EPROTO;
	if (len > PG_RFB_NAME_OUT)
		return PG_ELIMIT;
	rc = pg_buf_reserve(out, 24 + len);
	if (rc < 0)
		return rc;
	pg_pixfmt_write(&pg_pixfmt_canonical, pf);
	pg_buf_put_u16(out, (uint16_t)w);
	pg_buf_put_u16(out, (uint16_t)h);
	pg_buf_append(out, pf, sizeof(pf));
	pg_buf_put_u32(out, (uint32_t)len);
	return pg_buf_append(out, name, len);
}

int pg_rfb_write_bell(struct pg_buf *out)
{
	return pg_buf_put_u8(out, PG_RFB_BELL);
}

int pg_rfb_write_fence(struct pg_buf *out, uint32_t flags, const uint8_t *payload, size_t len)
{
	static const uint8_t pad[3];
	int rc;

	if (len > PG_RFB_MAX_FENCE)
		return PG_ELIMIT;
	rc = pg_buf_reserve(out, 9 + len);
	if (rc < 0)
		return rc;
	pg_buf_put_u8(out, PG_RFB_FENCE);
	pg_buf_append(out, pad, sizeof(pad));
	pg_buf_put_u32(out, flags);
	pg_buf_put_u8(out, (uint8_t)len);
	return pg_buf_append(out, payload, len);
}

int pg_rfb_write_end_of_cu(struct pg_buf *out)
{
	return pg_buf_put_u8(out, PG_RFB_END_OF_CU);
}

/* Each parser below is called with len >= 1 and returns the message size, 0 for
 * "need more" or a negative code. */

static ssize_t parse_set_encodings(const uint8_t *buf, size_t len, struct pg_cmsg *msg,
				   const char **why)
{
	if (len < 4)
		return 0;
	uint16_t count = pg_rd16(buf + 2);
	if (count > PG_RFB_MAX_ENCODINGS) {
		*why = "SetEncodings lists more encodings than PG_RFB_MAX_ENCODINGS";
		return PG_ELIMIT;
	}
	size_t need = 4 + (size_t)count * 4;
	if (len < need)
		return 0;
	msg->encodings.count = count;
	msg->encodings.list = buf + 4;
	return (ssize_t)need;
}

static ssize_t parse_cut_text(const uint8_t *buf, size_t len, struct pg_cmsg *msg, const char **why)
{
	if (len < 8)
		return 0;
	uint32_t raw = pg_rd32(buf + 4);
	/* Extended Clipboard sends a negative s32; its magnitude is the payload size.
	 * Negating in unsigned arithmetic keeps INT32_MIN defined (and over the cap). */
	int extended = (raw & 0x80000000u) != 0;
	uint32_t n = extended ? (uint32_t)(0u - raw) : raw;
	if (n > PG_RFB_MAX_CUT_TEXT) {
		*why = "ClientCutText is longer than PG_RFB_MAX_CUT_TEXT";
		return PG_ELIMIT;
	}
	/* Every Extended Clipboard payload starts with its 4-byte flags. */
	if (extended && n < 4) {
		*why = "ClientCutText: Extended Clipboard payload shorter than its 4-byte flags";
		return PG_EPROTO;
	}
	size_t need = 8 + (size_t)n;
	if (len < need)
		return 0;
	msg->cut.len = n;
	msg->cut.extended = extended;
	msg->cut.text = buf + 8;
	return (ssize_t)need;
}

static ssize_t parse_set_desktop_size(const uint8_t *buf, size_t len, struct pg_cmsg *msg,
				      const char **why)
{
	if (len < 8)
		return 0;
	uint8_t screens = buf[6];
	if (screens > PG_RFB_MAX_SCREENS) {
		*why = "SetDesktopSize lists more screens than PG_RFB_MAX_SCREENS";
		return PG_ELIMIT;
	}
	size_t need = 8 + (size_t)screens * 16;
	if (len < need)
		return 0;
	msg->desktop_size.w = pg_rd16(buf + 2);
	msg->desktop_size.h = pg_rd16(buf + 4);
	msg->desktop_size.screens = screens;
	msg->desktop_size.list = buf + 8;
	return (ssize_t)need;
}

/* Fence: the payload is at most 64 bytes, so the spec says; more is refused before
 * any of it is buffered. */
static ssize_t parse_fence(const uint8_t *buf, size_t len, struct pg_cmsg *msg, const char **why)
{
	if (len < 9)
		return 0;
	if (buf[8] > PG_RFB_MAX_FENCE) {
		*why = "Fence payload longer than PG_RFB_MAX_FENCE (64 bytes)";
		return PG_ELIMIT;
	}
	if (len < 9 + (size_t)buf[8])
		return 0;
	msg->fence.flags = pg_rd32(buf + 4);
	msg->fence.len = buf[8];
	msg->fence.payload = buf + 9;
	return 9 + (ssize_t)buf[8];
}

/* QEMU client message: only subtype 0, the extended key event, has a known length. */
static ssize_t parse_qemu(const uint8_t *buf, size_t len, struct pg_cmsg *msg, const char **why)
{
	if (len < 2)
		return 0;
	if (buf[1] != PG_RFB_QEMU_EXT_KEY) {
		*why = "unknown client message type: QEMU subtype other than 0 (its length "
		       "cannot be known)";
		return PG_EUNSUP;
	}
	if (len < PG_RFB_QEMU_KEY_LEN)
		return 0;
	msg->qemu_key.down = pg_rd16(buf + 2) != 0;
	msg->qemu_key.keysym = pg_rd32(buf + 4);
	msg->qemu_key.keycode = pg_rd32(buf + 8);
	return PG_RFB_QEMU_KEY_LEN;
}

ssize_t pg_rfb_parse_client_msg(const uint8_t *buf, size_t len, struct pg_cmsg *msg,
				const char **why)
{
	const char *dummy;

	if (!why)
		why = &dummy;
	if (len < 1)
		return 0;
	memset(msg, 0, sizeof(*msg));
	msg->type = buf[0];
	switch (buf[0]) {
	case PG_RFB_SET_PIXEL_FORMAT:
		if (len < 20)
			return 0;
		pg_pixfmt_read(&msg->pixfmt, buf + 4);
		return 20;
	case PG_RFB_SET_ENCODINGS:
		return parse_set_encodings(buf, len, msg, why);
	case PG_RFB_FB_UPDATE_REQUEST:
		if (len < 10)
			return 0;
		msg->fbreq.incremental = buf[1];
		msg->fbreq.x = pg_rd16(buf + 2);
		msg->fbreq.y = pg_rd16(buf + 4);
		msg->fbreq.w = pg_rd16(buf + 6);
		msg->fbreq.h = pg_rd16(buf + 8);
		return 10;
	case PG_RFB_KEY_EVENT:
		if (len < 8)
			return 0;
		msg->key.down = buf[1];
		msg->key.keysym = pg_rd32(buf + 4);
		return 8;
	case PG_RFB_POINTER_EVENT:
		if (len < 6)
			return 0;
		msg->pointer.mask = buf[1];
		msg->pointer.x = pg_rd16(buf + 2);
		msg->pointer.y = pg_rd16(buf + 4);
		return 6;
	case PG_RFB_CLIENT_CUT_TEXT:
		return parse_cut_text(buf, len, msg, why);
	case PG_RFB_ENABLE_CU:
		if (len < 10)
			return 0;
		msg->cu.enable = buf[1];
		msg->cu.x = pg_rd16(buf + 2);
		msg->cu.y = pg_rd16(buf + 4);
		msg->cu.w = pg_rd16(buf + 6);
		msg->cu.h = pg_rd16(buf + 8);
		return 10;
	case PG_RFB_FENCE:
		return parse_fence(buf, len, msg, why);
	case PG_RFB_SET_DESKTOP_SIZE:
		return parse_set_desktop_size(buf, len, msg, why);
	case PG_RFB_QEMU:
		return parse_qemu(buf, len, msg, why);
	default:
		/* Without knowing a type we cannot know its length, so the stream
		 * cannot be resynchronised: the caller has to close. */
		*why = "unknown client message type (its length cannot be known)";
		return PG_EUNSUP;
	}
}
