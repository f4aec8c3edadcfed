/* The player: FRAME records decoded into a picture with pg_decoder, in time
 * order, going back to a KEY frame when asked for an earlier time. */
#include "recfile.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/decoder.h"
#include "codec/err.h"
#include "codec/rfb.h"

struct pg_rec_player {
	struct pg_rec_reader *r;
	struct pg_decoder *dec;
	struct pg_fb fb;
	bool fresh;	  /* nothing applied since the start or a seek */
	uint64_t applied; /* the t of the last advance */
	bool have_pending;
	struct pg_rec_record pending; /* read, later than the last advance */
	struct pg_rect damage;
	bool resized;
	char err[256];
};

static int fail(struct pg_rec_player *p, int code, const char *f, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct pg_rec_player *p, int code, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	vsnprintf(p->err, sizeof(p->err), f, ap);
	va_end(ap);
	return code;
}

/* A black picture of w x h. */
static int set_size(struct pg_rec_player *p, int w, int h)
{
	if (p->fb.px && p->fb.w == w && p->fb.h == h) {
		memset(p->fb.px, 0, (size_t)p->fb.stride * (size_t)h * sizeof(uint32_t));
	} else {
		struct pg_fb nfb;
		int rc = pg_fb_alloc(&nfb, w, h);
		if (rc < 0)
			return rc;
		pg_fb_free(&p->fb);
		p->fb = nfb;
	}
	p->resized = true;
	p->damage = (struct pg_rect){0, 0, w, h};
	return 0;
}

static int reset(struct pg_rec_player *p, uint64_t t)
{
	const struct pg_rec_meta *m = pg_rec_reader_meta(p->r);
	struct pg_decoder *dec = pg_decoder_new();
	if (!dec)
		return fail(p, PG_ENOMEM, "out of memory");
	pg_decoder_del(p->dec);
	p->dec = dec;
	pg_rec_reader_seek(p->r, t);
	p->have_pending = false;
	p->fresh = false;
	/* A KEY frame begins with its size; from the start, META's size holds. */
	int rc = set_size(p, m->width, m->height);
	if (rc < 0)
		return fail(p, rc, "cannot make a %dx%d picture", m->width, m->height);
	return 0;
}

struct pg_rec_player *pg_rec_player_new(struct pg_rec_reader *r)
{
	struct pg_rec_player *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->r = r;
	if (reset(p, 0) < 0) {
		pg_rec_player_del(p);
		return NULL;
	}
	p->fresh = true;
	return p;
}

void pg_rec_player_del(struct pg_rec_player *p)
{
	if (!p)
		return;
	pg_decoder_del(p->dec);
	pg_fb_free(&p->fb);
	free(p);
}

static int apply_frame(struct pg_rec_player *p, const struct pg_rec_record *rec)
{
	const uint8_t *d = rec->data;
	size_t len = rec->len, pos = 4;
	uint64_t base = rec->offset + PG_REC_RECHDR_LEN;

	if (len < 4 || d[0] != PG_RFB_FB_UPDATE)
		return fail(p, PG_EPROTO,
			    "frame at offset %" PRIu64 ": not a FramebufferUpdate message",
			    rec->offset);
	unsigned n = pg_rd16(d + 2);
	for (unsigned i = 0; i < n; i++) {
		uint64_t at = base + pos;
		if (len - pos < 12)
			return fail(p, PG_EPROTO,
				    "frame at offset %" PRIu64 ", rectangle %u at offset %" PRIu64
				    ": the frame ends inside its header (%u rectangles declared)",
				    rec->offset, i, at, n);
		const uint8_t *h = d + pos;
		struct pg_rect r = {pg_rd16(h), pg_rd16(h + 2), pg_rd16(h + 4), pg_rd16(h + 6)};
		int32_t enc = (int32_t)pg_rd32(h + 8);
		pos += 12;
		if (enc == PG_ENC_LAST_RECT)
			break;
		if (enc == PG_ENC_DESKTOP_SIZE || enc == PG_ENC_EXT_DESKTOP_SIZE) {
			if (enc == PG_ENC_EXT_DESKTOP_SIZE) {
				size_t body;
				if (len - pos < 4 || (body = 4 + (size_t)d[pos] * 16) > len - pos)
					return fail(p, PG_EPROTO,
						    "frame at offset %" PRIu64
						    ", rectangle %u at offset %" PRIu64
						    ": ExtendedDesktopSize body cut short",
						    rec->offset, i, at);
				pos += body;
				if (r.y != 0) /* an error status: no new size */
					continue;
			}
			if (r.w < 1 || r.h < 1 || r.w > PG_FB_MAX_SIDE || r.h > PG_FB_MAX_SIDE)
				return fail(p, PG_ELIMIT,
					    "frame at offset %" PRIu64
					    ", rectangle %u at offset %" PRIu64
					    ": new size %dx%d outside 1..%d",
					    rec->offset, i, at, r.w, r.h, PG_FB_MAX_SIDE);
			int rc = set_size(p, r.w, r.h);
			if (rc < 0)
				return fail(p, rc,
					    "frame at offset %" PRIu64
					    ": cannot make a %dx%d picture",
					    rec->offset, r.w, r.h);
			continue;
		}
		if (!pg_rect_inside(&r, p->fb.w, p->fb.h))
			return fail(p, PG_EPROTO,
				    "frame at offset %" PRIu64 ", rectangle %u at offset %" PRIu64
				    ": %dx%d at %d,%d is empty or outside the %dx%d picture",
				    rec->offset, i, at, r.w, r.h, r.x, r.y, p->fb.w, p->fb.h);
		const char *why = NULL;
		ssize_t got = pg_decode_rect(p->dec, enc, &r, &p->fb, d + pos, len - pos, &why);
		if (got == 0)
			return fail(p, PG_EPROTO,
				    "frame at offset %" PRIu64 ", rectangle %u at offset %" PRIu64
				    ": the frame ends inside the rectangle (encoding %d)",
				    rec->offset, i, at, (int)enc);
		if (got < 0)
			return fail(p, (int)got,
				    "frame at offset %" PRIu64 ", rectangle %u at offset %" PRIu64
				    ": %s",
				    rec->offset, i, at, pg_decoder_error(p->dec));
		pos += (size_t)got;
		p->damage = pg_rect_union(p->damage, r);
	}
	if (pos != len)
		return fail(p, PG_EPROTO,
			    "frame at offset %" PRIu64 ": %zu bytes after its last rectangle",
			    rec->offset, len - pos);
	return 0;
}

int pg_rec_player_advance(struct pg_rec_player *p, uint64_t t_us,
			  void (*on_event)(void *ctx, const struct pg_rec_record *rec), void *ctx)
{
	int rc;

	if (p->fresh || t_us < p->applied) {
		rc = reset(p, t_us);
		if (rc < 0)
			return rc;
	}
	p->applied = t_us;
	for (;;) {
		if (!p->have_pending) {
			rc = pg_rec_reader_next(p->r, &p->pending);
			if (rc == 0)
				return 0;
			if (rc < 0)
				return fail(p, rc, "%s", pg_rec_reader_error(p->r));
			p->have_pending = true;
		}
		if (p->pending.time_us > t_us)
			return 1;
		p->have_pending = false;
		if (p->pending.type == PG_REC_FRAME) {
			rc = apply_frame(p, &p->pending);
			if (rc < 0)
				return rc;
		} else if (p->pending.type == PG_REC_EVENT && on_event) {
			on_event(ctx, &p->pending);
		}
	}
}

const char *pg_rec_player_error(const struct pg_rec_player *p)
{
	return p->err;
}

const struct pg_fb *pg_rec_player_fb(const struct pg_rec_player *p)
{
	return &p->fb;
}

uint64_t pg_rec_player_next_time(const struct pg_rec_player *p)
{
	return p->have_pending ? p->pending.time_us : p->applied;
}

struct pg_rect pg_rec_player_take_damage(struct pg_rec_player *p, bool *resized)
{
	struct pg_rect d = p->damage;
	if (resized)
		*resized = p->resized;
	p->damage = (struct pg_rect){0};
	p->resized = false;
	return d;
}
