#include "rfb_client.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipboard.h"
#include "decoder.h"
#include "err.h"
#include "pixfmt.h"
#include "rfb.h"

/* Output is only ever a few small messages between writes; a host that stops
 * reading must not make it grow without bound. */
#define OUT_MAX (1u << 20)

enum state {
	ST_VERSION,
	ST_SEC33,
	ST_SECLIST,
	ST_EXTERNAL, /* the caller runs the security type (VeNCrypt and TLS) */
	ST_CHALLENGE,
	ST_SECRESULT,
	ST_REASON,
	ST_SERVERINIT,
	ST_MSG,
	ST_RECT_HDR,
	ST_RECT_BODY,
	ST_DEAD,
};

static const int32_t default_encodings[] = {
    PG_ENC_TIGHT,	  PG_ENC_ZRLE,	       PG_ENC_COPYRECT,
    PG_ENC_RAW,		  PG_ENC_DESKTOP_SIZE, PG_ENC_EXT_DESKTOP_SIZE,
    PG_ENC_LAST_RECT,	  PG_ENC_CURSOR,       PG_ENC_COMPRESS_LEVEL_0 + 1,
    PG_ENC_EXT_CLIPBOARD, PG_ENC_QEMU_EXT_KEY,
};

struct pg_rfb_client {
	struct pg_rfb_client_cb cb;
	enum state st;
	int minor;
	int dead_code;
	int reason_code;	 /* code to fail with once the reason string is read */
	const char *reason_what; /* what the reason string explains */
	bool ready;
	uint8_t external; /* the security type the caller runs, while in ST_EXTERNAL */
	bool qemu_key;	  /* the host acknowledged QEMU extended key events */
	/* The host sent ExtendedDesktopSize: it takes SetDesktopSize, for the first
	 * of its screens (id and flags as it last described them). */
	bool ext_desktop;
	uint32_t screen_id, screen_flags;
	/* Continuous updates: the host announced them (EndOfContinuousUpdates), they
	 * are on (EnableContinuousUpdates sent), or the host ended them after they were
	 * on: then requests carry on as without them, for the rest of the connection. */
	bool cu_offered, cu_on, cu_ended;
	bool pipelined; /* request the next update when one begins */
	bool updated;	/* a FramebufferUpdate ended */
	struct pg_buf out;
	struct pg_fb fb;
	bool own_fb; /* no resize callback: the client keeps the framebuffer */
	struct pg_decoder *dec;
	struct pg_rfb_client_limits lim;
	int32_t enc[PG_RFB_MAX_ENCODINGS];
	size_t n_enc;
	unsigned rects, rect_i;
	struct pg_rect cur;
	int32_t cur_enc;
	int rows_done; /* of a Raw rectangle decoded as its rows arrive */
	char err[384];
};

static ssize_t fail(struct pg_rfb_client *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ssize_t fail(struct pg_rfb_client *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->st = ST_DEAD;
	c->dead_code = code;
	return code;
}

static const char *enc_name(int32_t enc)
{
	switch (enc) {
	case PG_ENC_RAW:
		return "Raw";
	case PG_ENC_COPYRECT:
		return "CopyRect";
	case PG_ENC_RRE:
		return "RRE";
	case PG_ENC_HEXTILE:
		return "Hextile";
	case PG_ENC_TIGHT:
		return "Tight";
	case PG_ENC_ZRLE:
		return "ZRLE";
	case PG_ENC_DESKTOP_SIZE:
		return "DesktopSize";
	case PG_ENC_EXT_DESKTOP_SIZE:
		return "ExtendedDesktopSize";
	case PG_ENC_LAST_RECT:
		return "LastRect";
	case PG_ENC_CURSOR:
		return "Cursor";
	case PG_ENC_QEMU_EXT_KEY:
		return "QEMUExtendedKeyEvent";
	default:
		return "unknown";
	}
}

/* Copy peer text into an error message without letting it forge lines. */
static void printable(char *dst, size_t size, const uint8_t *src, size_t n)
{
	size_t j = 0;
	for (size_t i = 0; i < n && j + 1 < size; i++)
		dst[j++] = src[i] >= 0x20 && src[i] < 0x7f ? (char)src[i] : '?';
	dst[j] = '\0';
}

struct pg_rfb_client *pg_rfb_client_new(const struct pg_rfb_client_cb *cb)
{
	struct pg_rfb_client *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (cb)
		c->cb = *cb;
	c->own_fb = !c->cb.resize;
	pg_rfb_client_set_limits(c, NULL);
	pg_buf_init(&c->out, OUT_MAX);
	memcpy(c->enc, default_encodings, sizeof(default_encodings));
	c->n_enc = sizeof(default_encodings) / sizeof(default_encodings[0]);
	c->dec = pg_decoder_new();
	if (!c->dec) {
		free(c);
		return NULL;
	}
	return c;
}

void pg_rfb_client_del(struct pg_rfb_client *c)
{
	if (!c)
		return;
	pg_decoder_del(c->dec);
	pg_buf_free(&c->out);
	if (c->own_fb)
		pg_fb_free(&c->fb);
	free(c);
}

static int limit_int(int v, int def, int max)
{
	return v <= 0 ? def : v > max ? max : v;
}

void pg_rfb_client_set_limits(struct pg_rfb_client *c, const struct pg_rfb_client_limits *l)
{
	static const struct pg_rfb_client_limits none;
	if (!l)
		l = &none;
	c->lim.max_width = limit_int(l->max_width, PG_RFB_CLIENT_MAX_WIDTH, PG_FB_MAX_SIDE);
	c->lim.max_height = limit_int(l->max_height, PG_RFB_CLIENT_MAX_HEIGHT, PG_FB_MAX_SIDE);
	c->lim.max_rects = !l->max_rects		     ? PG_RFB_CLIENT_MAX_RECTS
			   : l->max_rects > PG_RFB_MAX_RECTS ? PG_RFB_MAX_RECTS
							     : l->max_rects;
	c->lim.max_cursor_side =
	    limit_int(l->max_cursor_side, PG_RFB_CLIENT_MAX_CURSOR_SIDE, PG_RFB_MAX_CURSOR_SIDE);
}

const char *pg_rfb_client_error(const struct pg_rfb_client *c)
{
	return c->err;
}

int pg_rfb_client_ready(const struct pg_rfb_client *c)
{
	return c->ready && c->st != ST_DEAD;
}

int pg_rfb_client_external(const struct pg_rfb_client *c)
{
	return c->st == ST_EXTERNAL ? c->external : 0;
}

int pg_rfb_client_external_done(struct pg_rfb_client *c, int vnc_auth)
{
	if (c->st != ST_EXTERNAL)
		return PG_EPROTO;
	/* Even a 3.7 host sends SecurityResult after a type other than None. */
	c->st = vnc_auth ? ST_CHALLENGE : ST_SECRESULT;
	return 0;
}

struct pg_buf *pg_rfb_client_output(struct pg_rfb_client *c)
{
	return &c->out;
}

const struct pg_fb *pg_rfb_client_fb(const struct pg_rfb_client *c)
{
	return &c->fb;
}

int pg_rfb_client_set_encodings(struct pg_rfb_client *c, const int32_t *list, size_t n)
{
	if (c->ready)
		return PG_EUNSUP;
	if (n > PG_RFB_MAX_ENCODINGS)
		return PG_ELIMIT;
	memcpy(c->enc, list, n * sizeof(*list));
	c->n_enc = n;
	return 0;
}

static bool requested(const struct pg_rfb_client *c, int32_t enc)
{
	/* Every RFB client must accept Raw, asked for or not. */
	if (enc == PG_ENC_RAW)
		return true;
	for (size_t i = 0; i < c->n_enc; i++)
		if (c->enc[i] == enc)
			return true;
	return false;
}

static int queue_request(struct pg_rfb_client *c, int incremental)
{
	uint8_t m[10] = {PG_RFB_FB_UPDATE_REQUEST, incremental ? 1 : 0};
	pg_wr16(m + 6, (uint16_t)c->fb.w);
	pg_wr16(m + 8, (uint16_t)c->fb.h);
	return pg_buf_append(&c->out, m, sizeof(m));
}

/* EnableContinuousUpdates for the whole framebuffer. */
static int queue_cu(struct pg_rfb_client *c)
{
	uint8_t m[10] = {PG_RFB_ENABLE_CU, 1};
	pg_wr16(m + 6, (uint16_t)c->fb.w);
	pg_wr16(m + 8, (uint16_t)c->fb.h);
	if (pg_buf_append(&c->out, m, sizeof(m)) < 0)
		return (int)fail(c, PG_ELIMIT, "output to the host over %u bytes unsent", OUT_MAX);
	return 0;
}

/* Continuous updates go on once the host announced them and the first update (the
 * full one asked for at ServerInit) ended, as TigerVNC's viewer does; never again
 * after the host ended them. From then on the host sends as its congestion control
 * allows, paced by our answers to its fences: no request per update. */
static int start_cu(struct pg_rfb_client *c)
{
	if (!c->cu_offered || c->cu_on || c->cu_ended || !c->updated)
		return 0;
	if (queue_cu(c) < 0)
		return -1;
	c->cu_on = true;
	return 0;
}

int pg_rfb_client_continuous(const struct pg_rfb_client *c)
{
	return c->cu_on;
}

void pg_rfb_client_set_pipelined(struct pg_rfb_client *c, int on)
{
	c->pipelined = on != 0;
}

int pg_rfb_client_request(struct pg_rfb_client *c, int incremental)
{
	if (!pg_rfb_client_ready(c))
		return 0;
	return queue_request(c, incremental);
}

int pg_rfb_client_key(struct pg_rfb_client *c, int down, uint32_t keysym)
{
	uint8_t m[8] = {PG_RFB_KEY_EVENT, down ? 1 : 0};
	if (!pg_rfb_client_ready(c))
		return 0;
	pg_wr32(m + 4, keysym);
	return pg_buf_append(&c->out, m, sizeof(m));
}

int pg_rfb_client_qemu_key(const struct pg_rfb_client *c)
{
	return c->qemu_key;
}

int pg_rfb_client_key_code(struct pg_rfb_client *c, int down, uint32_t keysym, uint32_t keycode)
{
	uint8_t m[PG_RFB_QEMU_KEY_LEN] = {PG_RFB_QEMU, PG_RFB_QEMU_EXT_KEY, 0, down ? 1 : 0};
	if (!pg_rfb_client_ready(c))
		return 0;
	if (!c->qemu_key || keycode == 0 || keycode > PG_RFB_MAX_KEYCODE) {
		/* A KeyEvent means nothing without a keysym: nothing to send. */
		return keysym ? pg_rfb_client_key(c, down, keysym) : 0;
	}
	pg_wr32(m + 4, keysym);
	pg_wr32(m + 8, keycode);
	return pg_buf_append(&c->out, m, sizeof(m));
}

int pg_rfb_client_pointer(struct pg_rfb_client *c, uint8_t mask, int x, int y)
{
	uint8_t m[6] = {PG_RFB_POINTER_EVENT, mask};
	if (!pg_rfb_client_ready(c))
		return 0;
	x = x < 0 ? 0 : x >= c->fb.w ? c->fb.w - 1 : x;
	y = y < 0 ? 0 : y >= c->fb.h ? c->fb.h - 1 : y;
	pg_wr16(m + 2, (uint16_t)x);
	pg_wr16(m + 4, (uint16_t)y);
	return pg_buf_append(&c->out, m, sizeof(m));
}

int pg_rfb_client_ext_desktop(const struct pg_rfb_client *c)
{
	return c->ext_desktop;
}

int pg_rfb_client_set_desktop_size(struct pg_rfb_client *c, int w, int h)
{
	uint8_t m[8 + 16] = {PG_RFB_SET_DESKTOP_SIZE, 0};
	if (!pg_rfb_client_ready(c) || !c->ext_desktop)
		return PG_EUNSUP;
	if (w < 1 || h < 1 || w > c->lim.max_width || h > c->lim.max_height)
		return PG_ELIMIT;
	pg_wr16(m + 2, (uint16_t)w);
	pg_wr16(m + 4, (uint16_t)h);
	m[6] = 1; /* one screen, then a padding byte */
	pg_wr32(m + 8, c->screen_id);
	/* x, y = 0 */
	pg_wr16(m + 16, (uint16_t)w);
	pg_wr16(m + 18, (uint16_t)h);
	pg_wr32(m + 20, c->screen_flags);
	return pg_buf_append(&c->out, m, sizeof(m));
}

int pg_rfb_client_cut_text(struct pg_rfb_client *c, const uint8_t *latin1, size_t len)
{
	if (!pg_rfb_client_ready(c))
		return PG_EUNSUP;
	return pg_xclip_build_legacy(&c->out, false, latin1, len);
}

static int out(struct pg_rfb_client *c, const void *p, size_t n)
{
	if (pg_buf_append(&c->out, p, n) < 0)
		return (int)fail(c, PG_ELIMIT, "output to the host over %u bytes unsent", OUT_MAX);
	return 0;
}

static int set_size(struct pg_rfb_client *c, const char *what, int w, int h)
{
	if (w <= 0 || h <= 0)
		return (int)fail(c, PG_EPROTO, "%s: framebuffer %dx%d is empty", what, w, h);
	/* Checked before the resize callback: every resize costs the worker and the
	 * main process a framebuffer of this size. */
	if (w > c->lim.max_width || h > c->lim.max_height)
		return (int)fail(c, PG_ELIMIT,
				 "%s: framebuffer %dx%d exceeds the limit %dx%d ([upstream] "
				 "max_width, max_height)",
				 what, w, h, c->lim.max_width, c->lim.max_height);
	if (c->own_fb) {
		pg_fb_free(&c->fb);
		if (pg_fb_alloc(&c->fb, w, h) < 0)
			return (int)fail(c, PG_ENOMEM, "%s: no memory for %dx%d", what, w, h);
		return 0;
	}
	struct pg_fb fb = {0};
	if (c->cb.resize(c->cb.ud, w, h, &fb) < 0 || !fb.px || fb.w != w || fb.h != h ||
	    fb.stride < w)
		return (int)fail(c, PG_ENOMEM, "%s: framebuffer of %dx%d refused", what, w, h);
	c->fb = fb;
	return 0;
}

/* The messages that follow ServerInit: our pixel format, encodings, a full update. */
static int queue_init(struct pg_rfb_client *c)
{
	uint8_t m[4 + 4 * PG_RFB_MAX_ENCODINGS] = {PG_RFB_SET_PIXEL_FORMAT};
	pg_pixfmt_write(&pg_pixfmt_canonical, m + 4);
	if (out(c, m, 20) < 0)
		return -1;
	memset(m, 0, 4);
	m[0] = PG_RFB_SET_ENCODINGS;
	pg_wr16(m + 2, (uint16_t)c->n_enc);
	for (size_t i = 0; i < c->n_enc; i++)
		pg_wr32(m + 4 + 4 * i, (uint32_t)c->enc[i]);
	if (out(c, m, 4 + 4 * c->n_enc) < 0)
		return -1;
	if (queue_request(c, 0) < 0)
		return (int)fail(c, PG_ELIMIT, "output to the host over %u bytes unsent", OUT_MAX);
	return 0;
}

static ssize_t client_init(struct pg_rfb_client *c, size_t used)
{
	uint8_t shared = 1;
	if (out(c, &shared, 1) < 0)
		return c->dead_code;
	c->st = ST_SERVERINIT;
	return (ssize_t)used;
}

static ssize_t st_version(struct pg_rfb_client *c, const uint8_t *p, size_t n)
{
	char v[13], shown[16];
	int major, minor;
	if (n < 12)
		return 0;
	memcpy(v, p, 12);
	v[12] = '\0';
	printable(shown, sizeof(shown), p, 11);
	if (sscanf(v, "RFB %3d.%3d\n", &major, &minor) != 2 || v[11] != '\n' || major != 3 ||
	    (minor != 3 && minor != 7 && minor != 8))
		return fail(
		    c, PG_EUNSUP,
		    "ProtocolVersion: host speaks \"%s\", pixelgate needs RFB 3.3, 3.7 or 3.8",
		    shown);
	c->minor = minor;
	snprintf(v, sizeof(v), "RFB 003.%03d\n", minor);
	if (out(c, v, 12) < 0)
		return c->dead_code;
	c->st = minor == 3 ? ST_SEC33 : ST_SECLIST;
	return 12;
}

static ssize_t start_reason(struct pg_rfb_client *c, size_t used, int code, const char *what)
{
	c->reason_code = code;
	c->reason_what = what;
	c->st = ST_REASON;
	return (ssize_t)used;
}

static ssize_t st_sec33(struct pg_rfb_client *c, const uint8_t *p, size_t n)
{
	if (n < 4)
		return 0;
	uint32_t type = pg_rd32(p);
	if (type == PG_RFB_SEC_INVALID)
		return start_reason(c, 4, PG_EPROTO, "host refused the connection");
	if (c->cb.security && type <= 255) {
		uint8_t t = (uint8_t)type;
		int want = c->cb.security(c->cb.ud, &t, 1);
		if (want < 0 || (want > 0 && (uint32_t)want != type))
			return fail(c, PG_EUNSUP, "security: RFB 3.3 host chose type %u, refused",
				    type);
	}
	if (type == PG_RFB_SEC_NONE)
		return client_init(c, 4);
	if (type == PG_RFB_SEC_VNC && c->cb.vnc_auth) {
		c->st = ST_CHALLENGE;
		return 4;
	}
	return fail(c, PG_EUNSUP, "security: RFB 3.3 host chose type %u, pixelgate supports %s",
		    type, c->cb.vnc_auth ? "1 (None) and 2 (VNC)" : "1 (None)");
}

static ssize_t st_seclist(struct pg_rfb_client *c, const uint8_t *p, size_t n)
{
	char offered[4 * 255 + 1] = "";
	if (n < 1)
		return 0;
	if (p[0] == 0)
		return start_reason(c, 1, PG_EPROTO, "host refused the connection");
	if (n < 1 + (size_t)p[0])
		return 0;
	uint8_t pick = PG_RFB_SEC_INVALID;
	for (int i = 1; i <= p[0]; i++) {
		/* None when offered: nothing secret is then needed. */
		if (p[i] == PG_RFB_SEC_NONE)
			pick = PG_RFB_SEC_NONE;
		else if (p[i] == PG_RFB_SEC_VNC && c->cb.vnc_auth && pick != PG_RFB_SEC_NONE)
			pick = PG_RFB_SEC_VNC;
		size_t o = strlen(offered);
		snprintf(offered + o, sizeof(offered) - o, "%s%u", i > 1 ? ", " : "", p[i]);
	}
	if (c->cb.security) {
		/* The caller may insist on a type (VeNCrypt when it wants TLS): the
		 * default choice above would then be a downgrade. */
		int want = c->cb.security(c->cb.ud, p + 1, p[0]);
		if (want < 0)
			return fail(c, PG_EUNSUP, "security: refused; host offered %s", offered);
		if (want > 0) {
			if (want > 255 || !memchr(p + 1, want, p[0]))
				return fail(c, PG_EUNSUP,
					    "security: type %d chosen, but host offered %s", want,
					    offered);
			pick = (uint8_t)want;
		}
	}
	if (pick == PG_RFB_SEC_INVALID)
		return fail(c, PG_EUNSUP,
			    "security: no usable type; host offered %s, pixelgate supports %s",
			    offered, c->cb.vnc_auth ? "1 (None) and 2 (VNC)" : "1 (None)");
	if (out(c, &pick, 1) < 0)
		return c->dead_code;
	if (pick == PG_RFB_SEC_VNC) {
		c->st = ST_CHALLENGE;
		return 1 + p[0];
	}
	if (pick != PG_RFB_SEC_NONE) {
		c->external = pick;
		c->st = ST_EXTERNAL;
		return 1 + p[0];
	}
	if (c->minor == 8) {
		c->st = ST_SECRESULT;
		return 1 + p[0];
	}
	return client_init(c, 1 + p[0]);
}

static ssize_t st_challenge(struct pg_rfb_client *c, const uint8_t *p, size_t n)
{
	uint8_t resp[16];
	if (n < 16)
		return 0;
	if (!c->cb.vnc_auth || c->cb.vnc_auth(c->cb.ud, p, resp) < 0)
		return fail(c, PG_EAUTH,
			    "security: host wants VNC authentication, no password configured");
	int rc = out(c, resp, 16);
	memset(resp, 0, sizeof(resp));
	if (rc < 0)
		return c->dead_code;
	c->st = ST_SECRESULT;
	return 16;
}

static ssize_t st_secresult(struct pg_rfb_client *c, const uint8_t *p, size_t n)
{
	if (n < 4)
		return 0;
	uint32_t res = pg_rd32(p);
	if (res == 0)
		return client_init(c, 4);
	if (c->minor == 8)
		return start_reason(c, 4, PG_EAUTH, "security: host refused authentication");
	return fail(c, PG_EAUTH, "security: host refused authentication (result %u)", res);
}

static ssize_t st_reason(struct pg_rfb_client *c, const uint8_t *p, size_t n)
{
	char why[PG_RFB_MAX_REASON + 1];
	if (n < 4)
		return 0;
	uint32_t len = pg_rd32(p);
	if (len > PG_RFB_MAX_REASON)
		return fail(c, PG_ELIMIT, "%s; reason length %u over limit %u", c->reason_what, len,
			    PG_RFB_MAX_REASON);
	if (n - 4 < len)
		return 0;
	printable(why, sizeof(why), p + 4, len);
	return fail(c, c->reason_code, "%s: \"%s\"", c->reason_what, why);
}

static ssize_t st_serverinit(struct pg_rfb_client *c, const uint8_t *p, size_t n)
{
	if (n < 24)
		return 0;
	int w = pg_rd16(p), h = pg_rd16(p + 2);
	uint32_t name_len = pg_rd32(p + 20);
	if (name_len > PG_RFB_MAX_NAME)
		return fail(c, PG_ELIMIT, "ServerInit: name length %u over limit %u", name_len,
			    PG_RFB_MAX_NAME);
	if (n - 24 < name_len)
		return 0;
	if (set_size(c, "ServerInit", w, h) < 0)
		return c->dead_code;
	if (c->cb.name)
		c->cb.name(c->cb.ud, p + 24, name_len);
	if (queue_init(c) < 0)
		return c->dead_code;
	c->ready = true;
	c->st = ST_MSG;
	return 24 + (ssize_t)name_len;
}

static ssize_t end_update(struct pg_rfb_client *c, ssize_t used)
{
	c->st = ST_MSG;
	c->updated = true;
	if (c->cb.update_end)
		c->cb.update_end(c->cb.ud);
	if (start_cu(c) < 0)
		return c->dead_code;
	/* Pipelined, the next request went out when this update began. */
	if (!c->cu_on && !c->pipelined && queue_request(c, 1) < 0)
		return fail(c, PG_ELIMIT, "output to the host over %u bytes unsent", OUT_MAX);
	return used;
}

static ssize_t rect_done(struct pg_rfb_client *c, ssize_t used)
{
	if (++c->rect_i == c->rects)
		return end_update(c, used);
	c->st = ST_RECT_HDR;
	return used;
}

static ssize_t resized(struct pg_rfb_client *c, const char *what, int w, int h)
{
	/* TigerVNC answers every non-incremental request with an ExtendedDesktopSize
	 * of the same size: treating that as a resize would ask for another full
	 * update, forever. */
	if (w == c->fb.w && h == c->fb.h)
		return 0;
	if (set_size(c, what, w, h) < 0)
		return c->dead_code;
	/* Continuous updates cover the area they were enabled for: make it the new
	 * size, as TigerVNC's viewer does. */
	if (c->cu_on && queue_cu(c) < 0)
		return c->dead_code;
	if (queue_request(c, 0) < 0)
		return fail(c, PG_ELIMIT, "output to the host over %u bytes unsent", OUT_MAX);
	return 0;
}

static ssize_t end_of_cu(struct pg_rfb_client *c)
{
	/* Unasked for (TigerVNC's server refuses continuous updates to a client
	 * without fences), it changes nothing. */
	if (!requested(c, PG_ENC_CONTINUOUS_UPDATES) || !requested(c, PG_ENC_FENCE))
		return 1;
	if (!c->cu_on) {
		/* The announcement. */
		c->cu_offered = true;
		return start_cu(c) < 0 ? c->dead_code : 1;
	}
	/* The host ended them (we never ask it to): back to requests for good, so a
	 * host cannot make a loop of enabling them again. */
	c->cu_on = false;
	c->cu_ended = true;
	if (queue_request(c, 1) < 0)
		return fail(c, PG_ELIMIT, "output to the host over %u bytes unsent", OUT_MAX);
	return 1;
}

static ssize_t fence(struct pg_rfb_client *c, const uint8_t *p, size_t n)
{
	if (n < 9)
		return 0;
	uint32_t flags = pg_rd32(p + 4);
	unsigned len = p[8];
	if (len > PG_RFB_MAX_FENCE)
		return fail(c, PG_EPROTO, "Fence: payload length %u over the limit of %d", len,
			    PG_RFB_MAX_FENCE);
	if (n - 9 < len)
		return 0;
	/* A request is answered at once with its payload. Messages are handled in
	 * order, so everything before it has taken effect (BlockBefore) and nothing
	 * after it has begun (BlockAfter); SyncNext is not claimed. An answer (we ask
	 * nothing), or a fence we did not list, changes nothing. */
	if ((flags & PG_RFB_FENCE_REQUEST) && requested(c, PG_ENC_FENCE)) {
		uint8_t m[9 + PG_RFB_MAX_FENCE] = {PG_RFB_FENCE};
		pg_wr32(m + 4, flags & (PG_RFB_FENCE_BLOCK_BEFORE | PG_RFB_FENCE_BLOCK_AFTER));
		m[8] = (uint8_t)len;
		memcpy(m + 9, p + 9, len);
		/* A host that sends fences and reads nothing runs into OUT_MAX. */
		if (pg_buf_append(&c->out, m, 9 + len) < 0)
			return fail(c, PG_ELIMIT,
				    "Fence: output to the host over %u bytes unsent (a host that "
				    "asks and does not read)",
				    OUT_MAX);
	}
	return 9 + (ssize_t)len;
}

static ssize_t st_msg(struct pg_rfb_client *c, const uint8_t *p, size_t n)
{
	switch (p[0]) {
	case PG_RFB_FB_UPDATE:
		if (n < 4)
			return 0;
		c->rects = pg_rd16(p + 2);
		c->rect_i = 0;
		/* 65535 announces an update that ends with LastRect: its rectangles
		 * are counted as they come (st_rect_hdr). */
		if (c->rects > c->lim.max_rects && c->rects != PG_RFB_MAX_RECTS)
			return fail(c, PG_ELIMIT,
				    "FramebufferUpdate: %u rectangles exceed the limit %u",
				    c->rects, c->lim.max_rects);
		/* Pipelined, the host encodes the next update while we decode this one. */
		if (c->pipelined && !c->cu_on && queue_request(c, 1) < 0)
			return fail(c, PG_ELIMIT, "output to the host over %u bytes unsent",
				    OUT_MAX);
		if (c->rects == 0)
			return end_update(c, 4);
		c->st = ST_RECT_HDR;
		return 4;
	case PG_RFB_SET_COLOUR_MAP:
		return fail(
		    c, PG_EUNSUP,
		    "SetColourMapEntries: host uses a colour map, pixelgate asked for true colour");
	case PG_RFB_BELL:
		if (c->cb.bell)
			c->cb.bell(c->cb.ud);
		return 1;
	case PG_RFB_SERVER_CUT_TEXT: {
		if (n < 8)
			return 0;
		uint32_t len = pg_rd32(p + 4);
		bool ext = len & 0x80000000u;
		/* A negative length is the Extended Clipboard: bounded like plain text,
		 * then handed over whole for codec/clipboard.c to parse. */
		uint32_t body = ext ? 0u - len : len;
		if (body > PG_RFB_MAX_CUT_TEXT)
			return fail(c, PG_ELIMIT, "ServerCutText: %slength %u over limit %u",
				    ext ? "extended " : "", body, PG_RFB_MAX_CUT_TEXT);
		if (ext && body < 4)
			return fail(c, PG_EPROTO, "ServerCutText: extended length %u under 4",
				    body);
		if (n - 8 < body)
			return 0;
		if (ext && c->cb.ext_clipboard)
			c->cb.ext_clipboard(c->cb.ud, p + 8, body);
		else if (!ext && c->cb.cut_text)
			c->cb.cut_text(c->cb.ud, p + 8, body);
		return 8 + (ssize_t)body;
	}
	case PG_RFB_END_OF_CU:
		return end_of_cu(c);
	case PG_RFB_FENCE:
		return fence(c, p, n);
	default:
		return fail(c, PG_EUNSUP, "server message type %u unknown", p[0]);
	}
}

static ssize_t st_rect_hdr(struct pg_rfb_client *c, const uint8_t *p, size_t n)
{
	if (n < 12)
		return 0;
	struct pg_rect r = {pg_rd16(p), pg_rd16(p + 2), pg_rd16(p + 4), pg_rd16(p + 6)};
	int32_t enc = (int32_t)pg_rd32(p + 8);
	unsigned i = c->rect_i + 1;

	if (!requested(c, enc))
		return fail(c, PG_EUNSUP, "rect %u of update: encoding %d (%s) never requested", i,
			    (int)enc, enc_name(enc));
	if (enc == PG_ENC_LAST_RECT)
		return end_update(c, 12);
	/* Only an update announced as 65535 rectangles can get here past the limit. */
	if (i > c->lim.max_rects)
		return fail(c, PG_ELIMIT,
			    "FramebufferUpdate: rect %u before LastRect exceeds the limit of %u "
			    "rectangles in one update",
			    i, c->lim.max_rects);
	c->cur = r;
	c->cur_enc = enc;
	c->rows_done = 0;
	switch (enc) {
	case PG_ENC_QEMU_EXT_KEY:
		/* The host wants keycodes: no body, whatever the header says. */
		c->qemu_key = true;
		return rect_done(c, 12);
	case PG_ENC_DESKTOP_SIZE:
		if (resized(c, "DesktopSize", r.w, r.h) < 0)
			return c->dead_code;
		return rect_done(c, 12);
	case PG_ENC_CURSOR:
		/* Its body is buffered whole: the side bounds that buffer. */
		if (r.w > c->lim.max_cursor_side || r.h > c->lim.max_cursor_side)
			return fail(c, PG_ELIMIT, "rect %u of update: cursor %dx%d over limit %d",
				    i, r.w, r.h, c->lim.max_cursor_side);
		/* An invisible cursor has no body; every step must consume something. */
		if (pg_rect_empty(&r)) {
			if (c->cb.cursor)
				c->cb.cursor(c->cb.ud, 0, 0, 0, 0, NULL, NULL);
			return rect_done(c, 12);
		}
		break;
	case PG_ENC_EXT_DESKTOP_SIZE:
		break;
	default:
		if (r.x > c->fb.w - r.w || r.y > c->fb.h - r.h)
			return fail(
			    c, PG_EPROTO,
			    "rect %u of update: %dx%d at %d,%d outside the %dx%d framebuffer", i,
			    r.w, r.h, r.x, r.y, c->fb.w, c->fb.h);
		/* An empty Raw rectangle has no body at all. */
		if (enc == PG_ENC_RAW && pg_rect_empty(&r))
			return rect_done(c, 12);
	}
	c->st = ST_RECT_BODY;
	return 12;
}

static ssize_t body_cursor(struct pg_rfb_client *c, const uint8_t *p, size_t n)
{
	const struct pg_rect *r = &c->cur;
	size_t px_bytes = (size_t)r->w * r->h * 4, mask_bytes = (size_t)(r->w + 7) / 8 * r->h;
	if (n < px_bytes + mask_bytes)
		return 0;
	if (c->cb.cursor) {
		uint32_t *px = malloc(px_bytes);
		if (!px)
			return fail(c, PG_ENOMEM, "cursor: no memory");
		for (size_t k = 0; k < (size_t)r->w * r->h; k++)
			px[k] = (uint32_t)p[4 * k] | (uint32_t)p[4 * k + 1] << 8 |
				(uint32_t)p[4 * k + 2] << 16;
		/* A hot spot outside the shape is clamped, not trusted. */
		int hx = r->x < r->w ? r->x : r->w - 1;
		int hy = r->y < r->h ? r->y : r->h - 1;
		c->cb.cursor(c->cb.ud, hx, hy, r->w, r->h, px, p + px_bytes);
		free(px);
	}
	return rect_done(c, (ssize_t)(px_bytes + mask_bytes));
}

static ssize_t body_ext_desktop(struct pg_rfb_client *c, const uint8_t *p, size_t n)
{
	if (n < 4)
		return 0;
	if (p[0] > PG_RFB_MAX_SCREENS)
		return fail(c, PG_ELIMIT,
			    "rect %u of update: ExtendedDesktopSize %u screens over limit %d",
			    c->rect_i + 1, p[0], PG_RFB_MAX_SCREENS);
	size_t len = 4 + 16 * (size_t)p[0];
	if (n < len)
		return 0;
	c->ext_desktop = true;
	if (p[0] > 0) {
		c->screen_id = pg_rd32(p + 4);
		c->screen_flags = pg_rd32(p + 16);
	}
	/* A non-zero status answers our SetDesktopSize: nothing changed. */
	if (c->cur.y == 0 && resized(c, "ExtendedDesktopSize", c->cur.w, c->cur.h) < 0)
		return c->dead_code;
	/* Reason 1: the answer to this client's request (after the resize it made). */
	if (c->cur.x == 1 && c->cb.size_result)
		c->cb.size_result(c->cb.ud, (unsigned)c->cur.y);
	return rect_done(c, (ssize_t)len);
}

static ssize_t body_raw(struct pg_rfb_client *c, const uint8_t *p, size_t n)
{
	/* Raw is decoded a row at a time so a full-screen rectangle never has to sit
	 * whole in the caller's input buffer. */
	size_t row = (size_t)c->cur.w * 4;
	size_t rows = n / row, left = (size_t)(c->cur.h - c->rows_done);
	const char *why;
	if (rows == 0)
		return 0;
	if (rows > left)
		rows = left;
	struct pg_rect part = {c->cur.x, c->cur.y + c->rows_done, c->cur.w, (int)rows};
	ssize_t rc = pg_decode_rect(c->dec, PG_ENC_RAW, &part, &c->fb, p, rows * row, &why);
	if (rc < 0)
		return fail(c, (int)rc, "rect %u of update: %s", c->rect_i + 1,
			    pg_decoder_error(c->dec));
	if (c->cb.damage)
		c->cb.damage(c->cb.ud, &part);
	c->rows_done += (int)rows;
	if (c->rows_done < c->cur.h)
		return rc;
	return rect_done(c, rc);
}

static ssize_t st_rect_body(struct pg_rfb_client *c, const uint8_t *p, size_t n)
{
	const char *why;
	switch (c->cur_enc) {
	case PG_ENC_CURSOR:
		return body_cursor(c, p, n);
	case PG_ENC_EXT_DESKTOP_SIZE:
		return body_ext_desktop(c, p, n);
	case PG_ENC_RAW:
		return body_raw(c, p, n);
	}
	ssize_t rc = pg_decode_rect(c->dec, c->cur_enc, &c->cur, &c->fb, p, n, &why);
	if (rc == 0)
		return 0;
	if (rc < 0)
		return fail(c, (int)rc, "rect %u of update: %s", c->rect_i + 1,
			    pg_decoder_error(c->dec));
	if (pg_rect_empty(&c->cur)) {
		/* Nothing changed. */
	} else if (c->cur_enc == PG_ENC_COPYRECT) {
		if (c->cb.copy)
			c->cb.copy(c->cb.ud, &c->cur, pg_rd16(p), pg_rd16(p + 2));
	} else if (c->cb.damage) {
		c->cb.damage(c->cb.ud, &c->cur);
	}
	return rect_done(c, rc);
}

static ssize_t step(struct pg_rfb_client *c, const uint8_t *p, size_t n)
{
	switch (c->st) {
	case ST_VERSION:
		return st_version(c, p, n);
	case ST_SEC33:
		return st_sec33(c, p, n);
	case ST_SECLIST:
		return st_seclist(c, p, n);
	case ST_EXTERNAL:
		return 0;
	case ST_CHALLENGE:
		return st_challenge(c, p, n);
	case ST_SECRESULT:
		return st_secresult(c, p, n);
	case ST_REASON:
		return st_reason(c, p, n);
	case ST_SERVERINIT:
		return st_serverinit(c, p, n);
	case ST_MSG:
		return st_msg(c, p, n);
	case ST_RECT_HDR:
		return st_rect_hdr(c, p, n);
	case ST_RECT_BODY:
		return st_rect_body(c, p, n);
	case ST_DEAD:
		break;
	}
	return c->dead_code;
}

ssize_t pg_rfb_client_feed(struct pg_rfb_client *c, const uint8_t *buf, size_t len)
{
	size_t used = 0;
	if (c->st == ST_DEAD)
		return c->dead_code;
	while (used < len) {
		ssize_t rc = step(c, buf + used, len - used);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
		used += (size_t)rc;
	}
	return (ssize_t)used;
}
