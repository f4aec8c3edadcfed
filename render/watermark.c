/* Rendering and drawing the watermark (templates: wm_template.c). */
#include "watermark.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const layout_names[] = {
    [PG_WM_TILE] = "tile",
    [PG_WM_TOP_LEFT] = "top-left",
    [PG_WM_TOP_RIGHT] = "top-right",
    [PG_WM_BOTTOM_LEFT] = "bottom-left",
    [PG_WM_BOTTOM_RIGHT] = "bottom-right",
    [PG_WM_CENTER] = "center",
};
#define NLAYOUTS ((int)(sizeof(layout_names) / sizeof(layout_names[0])))

int pg_wm_layout_parse(const char *s)
{
	for (int i = 0; s && i < NLAYOUTS; i++)
		if (strcmp(s, layout_names[i]) == 0)
			return i;
	return -1;
}

const char *pg_wm_layout_name(int layout)
{
	return layout >= 0 && layout < NLAYOUTS ? layout_names[layout] : NULL;
}

/* The largest side of a rendered copy or a period of the pattern. Bounds the memory
 * a render may take (a 4096 x 4096 period is 64 MiB before it is made sparse). */
#define MAX_SIDE 4096
/* Runs of fewer transparent pixels than this stay inside a span: blending them costs
 * less than starting a new span. Blending a transparent pixel changes nothing. */
#define SPAN_GAP 4

struct mask {
	int w, h;
	uint8_t *a;
};

static inline uint32_t div255(uint32_t x)
{
	/* Exact round(x / 255) for x <= 255 * 255. */
	return (x + 128 + ((x + 128) >> 8)) >> 8;
}

/* Rotate m by deg counter-clockwise, bilinearly, into a mask just large enough (at 0
 * degrees: a copy). At most MAX_SIDE a side, so later w * h products fit. */
static int rotate(const struct mask *m, int deg, struct mask *r, char *err, size_t err_size)
{
	double th = deg * M_PI / 180.0, c = cos(th), s = sin(th);
	double ac = fabs(c), as = fabs(s);
	/* cos(90 degrees) is not exactly 0 in doubles: do not round up for it. */
	long long w = (long long)ceil(m->w * ac + m->h * as - 1e-6);
	long long h = (long long)ceil(m->w * as + m->h * ac - 1e-6);

	if (w > MAX_SIDE || h > MAX_SIDE) {
		pg_render_err(
		    err, err_size,
		    "watermark: %lld x %lld px when rotated, over %d: use a smaller size or "
		    "shorter text",
		    w, h, MAX_SIDE);
		return -E2BIG;
	}
	r->w = (int)w;
	r->h = (int)h;
	r->a = calloc((size_t)w * (size_t)h, 1);
	if (!r->a) {
		pg_render_err(err, err_size, "watermark: out of memory");
		return -ENOMEM;
	}
	if (deg == 0) {
		/* Exactly, so unrotated text stays as sharp as FreeType drew it. */
		memcpy(r->a, m->a, (size_t)w * (size_t)h);
		return 0;
	}
	/* The source with a border of one empty pixel, so the four taps of a sample at
	 * (-1 .. w-1, -1 .. h-1) need no bounds checks. */
	size_t pw = (size_t)m->w + 2;
	uint8_t *src = calloc(pw * ((size_t)m->h + 2), 1);

	if (!src) {
		free(r->a);
		r->a = NULL;
		pg_render_err(err, err_size, "watermark: out of memory");
		return -ENOMEM;
	}
	for (int y = 0; y < m->h; y++)
		memcpy(src + (size_t)(y + 1) * pw + 1, m->a + (size_t)y * m->w, (size_t)m->w);
	for (int y = 0; y < r->h; y++) {
		double Y = y + 0.5 - r->h / 2.0, X = 0.5 - r->w / 2.0;
		/* The inverse rotation of the row's first pixel centre, in the source's
		 * pixel-centre coordinates, then one step per pixel. */
		double sx = X * c - Y * s + m->w / 2.0 - 0.5;
		double sy = X * s + Y * c + m->h / 2.0 - 0.5;

		for (int x = 0; x < r->w; x++, sx += c, sy += s) {
			double fx0 = floor(sx), fy0 = floor(sy);
			int x0 = (int)fx0, y0 = (int)fy0;

			if (x0 < -1 || y0 < -1 || x0 >= m->w || y0 >= m->h)
				continue;
			/* Weights in 1/256ths. */
			unsigned fx = (unsigned)((sx - fx0) * 256),
				 fy = (unsigned)((sy - fy0) * 256);
			const uint8_t *p = src + (size_t)(y0 + 1) * pw + (size_t)(x0 + 1);
			unsigned top = p[0] * (256 - fx) + p[1] * fx;
			unsigned bot = p[pw] * (256 - fx) + p[pw + 1] * fx;

			r->a[(size_t)y * r->w + x] =
			    (uint8_t)((top * (256 - fy) + bot * fy + 32768) >> 16);
		}
	}
	free(src);
	return 0;
}

/* The halo: text coverage grown by radius pixels, antialiased at its rim. */
static void halo(const struct mask *t, double radius, uint8_t *out)
{
	int reach = (int)ceil(radius) + 1, n = 0;
	struct {
		int dx, dy;
		unsigned w; /* 0..256 */
	} off[(2 * 8 + 1) * (2 * 8 + 1)];

	for (int dy = -reach; dy <= reach; dy++) {
		for (int dx = -reach; dx <= reach; dx++) {
			double cover = radius + 0.5 - sqrt((double)(dx * dx + dy * dy));

			if (cover <= 0)
				continue;
			off[n].dx = dx;
			off[n].dy = dy;
			off[n].w = cover >= 1 ? 256 : (unsigned)(cover * 256);
			n++;
		}
	}
	memset(out, 0, (size_t)t->w * t->h);
	for (int y = 0; y < t->h; y++) {
		for (int x = 0; x < t->w; x++) {
			const uint8_t *p = t->a + (size_t)y * t->w + x;
			unsigned a = *p;

			if (!a)
				continue;
			/* Each point of this pixel's disc is at least as near one of its four
			 * neighbours (the radius is at least 1): when they all cover as much,
			 * their discs already gave the halo all this one would. */
			if (x > 0 && y > 0 && x + 1 < t->w && y + 1 < t->h && p[-1] >= a &&
			    p[1] >= a && p[-t->w] >= a && p[t->w] >= a)
				continue;
			for (int k = 0; k < n; k++) {
				int xx = x + off[k].dx, yy = y + off[k].dy;
				unsigned v = a * off[k].w >> 8;
				uint8_t *o;

				if (xx < 0 || yy < 0 || xx >= t->w || yy >= t->h)
					continue;
				o = &out[(size_t)yy * t->w + xx];
				if (v > *o)
					*o = (uint8_t)v;
			}
		}
	}
}

/* Text over halo, premultiplied, at the mark's opacity. The halo takes the colour
 * opposite the text's (white around dark text, black around light) so that one of
 * the two stands out from any page. */
static void compose(const struct mask *t, const uint8_t *hal, const struct pg_wm_style *st,
		    uint32_t *px)
{
	uint32_t fg = st->rgb & 0xffffff;
	unsigned lum =
	    (299 * (fg >> 16 & 0xff) + 587 * (fg >> 8 & 0xff) + 114 * (fg & 0xff)) / 1000;
	uint32_t bg = lum < 128 ? 0xffffff : 0x000000;
	unsigned op = (unsigned)(st->opacity_pct * 255 + 50) / 100;

	for (size_t i = 0; i < (size_t)t->w * t->h; i++) {
		unsigned ta = t->a[i];
		unsigned hb = div255((255 - ta) * hal[i]); /* the halo around the text */
		unsigned a = ta + hb;
		uint32_t p = div255(a * op) << 24;

		if (!a) {
			px[i] = 0;
			continue;
		}
		for (int sh = 0; sh <= 16; sh += 8) {
			unsigned ch = div255(ta * (fg >> sh & 0xff) + hb * (bg >> sh & 0xff));

			p |= div255(ch * op) << sh;
		}
		px[i] = p;
	}
}

/* Premultiplied s over d, all four channels. */
static inline uint32_t over(uint32_t s, uint32_t d)
{
	uint32_t na = 255 - (s >> 24), out = 0;

	for (int sh = 0; sh <= 24; sh += 8)
		out |= ((s >> sh & 0xff) + div255((d >> sh & 0xff) * na)) << sh;
	return out;
}

/* The watermark's copies sit on a lattice spanned by (dx, 0) and (sx, dy): rows dy
 * apart, each shifted by sx = dx * m / k from the one above, so that dx x k dy is one
 * period of the pattern. */
struct lattice {
	int dx, dy, sx, k;
};

/* Does the lattice keep every copy of an ew x eh rectangle rotated by (c, s) clear of
 * its neighbours? Two copies of one rotated rectangle overlap exactly when their
 * offset, in the rectangle's own axes, is shorter than its sides on both axes
 * (separating axis theorem). */
static bool lattice_clear(const struct lattice *l, double ew, double eh, double c, double s)
{
	double reach = sqrt(ew * ew + eh * eh);
	int jmax = (int)(reach / l->dy) + 1;

	for (int j = -jmax; j <= jmax; j++) {
		int ilo = (int)floor((-reach - (double)j * l->sx) / l->dx) - 1;
		int ihi = (int)ceil((reach - (double)j * l->sx) / l->dx) + 1;

		for (int i = ilo; i <= ihi; i++) {
			double X = (double)i * l->dx + (double)j * l->sx, Y = (double)j * l->dy;
			double u = X * c - Y * s, v = X * s + Y * c;

			if ((i || j) && fabs(u) < ew && fabs(v) < eh)
				return false;
		}
	}
	return true;
}

/* Distance from (tx, ty) to the nearest point of the lattice spanned by a and b. */
static double lattice_miss(double ax, double ay, double bx, double by, double tx, double ty)
{
	double det = ax * by - ay * bx, best = INFINITY;
	double al = floor((tx * by - ty * bx) / det), be = floor((ax * ty - ay * tx) / det);

	/* The nearest point is among the 4 x 4 around the target's cell. */
	for (int k = 0; k < 16; k++) {
		double p = al + (k & 3) - 1, q = be + (k >> 2) - 1;
		double ex = p * ax + q * bx - tx, ey = p * ay + q * by - ty;
		double d2 = ex * ex + ey * ey;

		best = d2 < best ? d2 : best;
	}
	return sqrt(best);
}

/* How far l is from the ideal pattern: in the text's own axes, in units of a copy
 * plus its gaps (ew x eh), a brick wall with neighbours at (1, 0) along the text and
 * (1/2, 1) across it. */
static double lattice_score(const struct lattice *l, double ew, double eh, double c, double s)
{
	/* The basis (dx, 0), (sx, dy) in those units. */
	double ax = l->dx * c / ew, ay = l->dx * s / eh;
	double bx = (l->sx * c - l->dy * s) / ew, by = (l->sx * s + l->dy * c) / eh;

	/* Each row of the period is one more copy kept in memory: take a taller
	 * period only for a clearly better match. */
	return lattice_miss(ax, ay, bx, by, 1, 0) + lattice_miss(ax, ay, bx, by, 0.5, 1) +
	       0.15 * (l->k - 1);
}

/* The lattice closest to the ideal pattern (lattice_score) among those that keep the
 * gaps: at 0 degrees the brick wall itself. Rotated, a lattice with a horizontal
 * period rarely matches exactly: the gaps are then kept, the stagger approximated. */
static struct lattice choose_lattice(const struct mask *text, const struct mask *rot, int deg,
				     int px)
{
	static const int frac[][2] = {{0, 1}, {1, 2}, {1, 3}, {2, 3}, {1, 4}, {3, 4}};
	double th_ = deg * M_PI / 180.0, c = cos(th_), s = sin(th_);
	int gu = text->w / 2 > 2 * px ? text->w / 2 : 2 * px;
	int gv = text->h / 2 > px ? text->h / 2 : px;
	double ew = text->w + gu, eh = text->h + gv;
	int step = px / 4 > 2 ? px / 4 & ~1 : 2;
	int dx_max = rot->w + gu + (int)ew, dy_max = rot->h + gv + (int)eh;
	double best = INFINITY;
	int bx = (rot->w + gu + 1) & ~1;
	/* Bricks as far apart as their rotated bounding boxes plus the gaps: clear. */
	struct lattice l, pick = {bx, rot->h + gv, bx / 2, 2};

	for (l.dx = step; l.dx <= dx_max; l.dx += step) {
		/* No lattice is denser than one copy per ew * eh. */
		int dy0 = (int)(ew * eh / l.dx) / step * step;

		for (l.dy = dy0 > step ? dy0 : step; l.dy <= dy_max; l.dy += step) {
			for (size_t f = 0; f < sizeof(frac) / sizeof(frac[0]); f++) {
				l.k = frac[f][1];
				if (l.dx % l.k)
					continue;
				l.sx = l.dx / l.k * frac[f][0];
				double score = lattice_score(&l, ew, eh, c, s);

				if (score < best && lattice_clear(&l, ew, eh, c, s)) {
					best = score;
					pick = l;
				}
			}
		}
	}
	return pick;
}

/* Keep only the visible runs of img (w x h) in wm. */
static int make_sparse(const uint32_t *img, int w, int h, struct pg_watermark *wm)
{
	size_t nspans = 0, npx = 0;

	for (int pass = 0; pass < 2; pass++) {
		size_t ns = 0, np = 0;

		for (int y = 0; y < h; y++) {
			const uint32_t *r = img + (size_t)y * w;

			if (pass)
				wm->row[y] = (uint32_t)ns;
			for (int x = 0; x < w;) {
				int end, zeros = 0;

				if (!(r[x] >> 24)) {
					x++;
					continue;
				}
				for (end = x + 1; end < w && zeros < SPAN_GAP; end++)
					zeros = r[end] >> 24 ? 0 : zeros + 1;
				end -= zeros;
				if (pass) {
					wm->span[ns].x = (uint16_t)x;
					wm->span[ns].len = (uint16_t)(end - x);
					wm->span[ns].off = (uint32_t)np;
					memcpy(wm->px + np, r + x, (size_t)(end - x) * sizeof(*r));
				}
				ns++;
				np += (size_t)(end - x);
				x = end;
			}
		}
		if (pass) {
			wm->row[h] = (uint32_t)ns;
			break;
		}
		nspans = ns;
		npx = np;
		/* Sides are at most MAX_SIDE: no product below overflows. */
		wm->row = malloc(((size_t)h + 1) * sizeof(*wm->row));
		wm->span = malloc((nspans ? nspans : 1) * sizeof(*wm->span));
		wm->px = malloc((npx ? npx : 1) * sizeof(*wm->px));
		if (!wm->row || !wm->span || !wm->px)
			return -ENOMEM;
	}
	wm->w = w;
	wm->h = h;
	wm->bytes =
	    ((size_t)h + 1) * sizeof(*wm->row) + nspans * sizeof(*wm->span) + npx * sizeof(*wm->px);
	return 0;
}

static int make_tile(const struct mask *text, const struct mask *rot, const uint32_t *block,
		     const struct pg_wm_style *st, struct pg_watermark *wm, char *err,
		     size_t err_size)
{
	struct lattice l = choose_lattice(text, rot, st->angle_deg, st->size_px);
	int pw = l.dx, ph = l.k * l.dy, rc;
	uint32_t *period;

	if (pw > MAX_SIDE || ph > MAX_SIDE) {
		pg_render_err(
		    err, err_size,
		    "watermark: pattern of %d x %d px, over %d: use a smaller size or shorter "
		    "text",
		    pw, ph, MAX_SIDE);
		return -E2BIG;
	}
	period = calloc((size_t)pw * ph, sizeof(*period));
	if (!period) {
		pg_render_err(err, err_size, "watermark: out of memory");
		return -ENOMEM;
	}
	/* One period holds k copies, one per row of the lattice; the pattern is a torus,
	 * so each copy wraps around the period's edges. The first copy starts a little
	 * in from the picture's corner. */
	for (int r = 0; r < l.k; r++) {
		int cx = (st->size_px + r * l.sx) % pw, cy = st->size_px / 2 + r * l.dy;

		for (int y = 0; y < rot->h; y++) {
			uint32_t *d = period + (size_t)((cy + y) % ph) * pw;

			for (int x = 0; x < rot->w; x++) {
				uint32_t p = block[(size_t)y * rot->w + x];

				if (p >> 24)
					d[(cx + x) % pw] = over(p, d[(cx + x) % pw]);
			}
		}
	}
	rc = make_sparse(period, pw, ph, wm);
	free(period);
	if (rc)
		pg_render_err(err, err_size, "watermark: out of memory");
	return rc;
}

static int make_single(const struct mask *rot, const uint32_t *block, int px,
		       struct pg_watermark *wm, char *err, size_t err_size)
{
	int x0 = rot->w, y0 = rot->h, x1 = 0, y1 = 0, rc;

	/* Crop to the visible pixels so the margin is measured from them. */
	for (int y = 0; y < rot->h; y++) {
		for (int x = 0; x < rot->w; x++) {
			if (!(block[(size_t)y * rot->w + x] >> 24))
				continue;
			x0 = x < x0 ? x : x0;
			x1 = x + 1 > x1 ? x + 1 : x1;
			y0 = y < y0 ? y : y0;
			y1 = y + 1 > y1 ? y + 1 : y1;
		}
	}
	wm->margin = px;
	if (x0 >= x1) {
		/* Nothing visible (only spaces): an empty mark. */
		x0 = y0 = 0;
		x1 = y1 = 1;
	}
	rc = make_sparse(block + (size_t)y0 * rot->w, rot->w, y1 - y0, wm);
	if (rc) {
		pg_render_err(err, err_size, "watermark: out of memory");
		return rc;
	}
	/* Shift the runs left by x0: the stored image starts at the first visible column. */
	for (uint32_t i = 0; i < wm->row[wm->h]; i++)
		wm->span[i].x = (uint16_t)(wm->span[i].x - x0);
	wm->w = x1 - x0;
	return 0;
}

static int check_style(const struct pg_wm_style *st, char *err, size_t err_size)
{
	if (st->size_px < PG_WM_MIN_PX || st->size_px > PG_WM_MAX_PX) {
		pg_render_err(err, err_size, "watermark: size %d px outside %d..%d", st->size_px,
			      PG_WM_MIN_PX, PG_WM_MAX_PX);
		return -EINVAL;
	}
	if (st->opacity_pct < PG_WM_MIN_OPACITY || st->opacity_pct > PG_WM_MAX_OPACITY) {
		pg_render_err(err, err_size, "watermark: opacity %d%% outside %d..%d",
			      st->opacity_pct, PG_WM_MIN_OPACITY, PG_WM_MAX_OPACITY);
		return -EINVAL;
	}
	if (st->angle_deg < PG_WM_MIN_ANGLE || st->angle_deg > PG_WM_MAX_ANGLE) {
		pg_render_err(err, err_size, "watermark: angle %d outside %d..%d", st->angle_deg,
			      PG_WM_MIN_ANGLE, PG_WM_MAX_ANGLE);
		return -EINVAL;
	}
	if (!pg_wm_layout_name(st->layout)) {
		pg_render_err(err, err_size, "watermark: unknown layout %d", st->layout);
		return -EINVAL;
	}
	return 0;
}

int pg_watermark_render(struct pg_font *f, const char *utf8_text, const struct pg_wm_style *st,
			struct pg_watermark *out, char *err, size_t err_size)
{
	struct pg_text_mask tm = {0};
	struct mask text, rot = {0};
	struct pg_watermark wm = {0};
	uint8_t *hal = NULL;
	uint32_t *block = NULL;
	double radius;
	int rc;

	if (!f || !utf8_text || !st || !out) {
		pg_render_err(err, err_size, "watermark: missing font, text, style or output");
		return -EINVAL;
	}
	rc = check_style(st, err, err_size);
	if (rc)
		return rc;
	/* A thin halo, a twelfth of the glyph size: thick enough to carry the mark over
	 * a page of the text's own colour, thin enough not to read as a box. */
	radius = st->size_px / 12.0;
	radius = radius < 1.25 ? 1.25 : radius > 5 ? 5 : radius;
	rc = pg_text_mask(f, utf8_text, st->size_px, (int)ceil(radius) + 2, &tm, err, err_size);
	if (rc)
		return rc;
	text = (struct mask){tm.w, tm.h, tm.cov};
	rc = rotate(&text, st->angle_deg, &rot, err, err_size);
	if (rc)
		goto fail;
	hal = malloc((size_t)rot.w * rot.h);
	block = malloc((size_t)rot.w * rot.h * sizeof(*block));
	if (!hal || !block) {
		pg_render_err(err, err_size, "watermark: out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	halo(&rot, radius, hal);
	compose(&rot, hal, st, block);
	wm.layout = st->layout;
	if (st->layout == PG_WM_TILE)
		rc = make_tile(&text, &rot, block, st, &wm, err, err_size);
	else
		rc = make_single(&rot, block, st->size_px, &wm, err, err_size);
	if (rc)
		goto fail;
	*out = wm;
	wm = (struct pg_watermark){0};
fail:
	pg_watermark_free(&wm);
	free(block);
	free(hal);
	free(rot.a);
	pg_text_mask_free(&tm);
	return rc;
}

void pg_watermark_free(struct pg_watermark *wm)
{
	if (!wm)
		return;
	free(wm->row);
	free(wm->span);
	free(wm->px);
	memset(wm, 0, sizeof(*wm));
}

int pg_watermark_copy(struct pg_watermark *dst, const struct pg_watermark *src)
{
	size_t nrow, nspans, npx;

	memset(dst, 0, sizeof(*dst));
	if (!src->row || src->w <= 0 || src->h <= 0)
		return 0;
	nrow = (size_t)src->h + 1;
	nspans = src->row[src->h];
	npx = nspans ? src->span[nspans - 1].off + src->span[nspans - 1].len : 0;
	dst->row = malloc(nrow * sizeof(*dst->row));
	dst->span = malloc((nspans ? nspans : 1) * sizeof(*dst->span));
	dst->px = malloc((npx ? npx : 1) * sizeof(*dst->px));
	if (!dst->row || !dst->span || !dst->px) {
		pg_watermark_free(dst);
		return -ENOMEM;
	}
	memcpy(dst->row, src->row, nrow * sizeof(*dst->row));
	memcpy(dst->span, src->span, nspans * sizeof(*dst->span));
	memcpy(dst->px, src->px, npx * sizeof(*dst->px));
	dst->layout = src->layout;
	dst->w = src->w;
	dst->h = src->h;
	dst->margin = src->margin;
	dst->bytes = src->bytes;
	return 0;
}

/* Top-left corner of a positioned mark in a fb_w x fb_h picture (may be outside it). */
static void place(const struct pg_watermark *wm, int fb_w, int fb_h, long long *x, long long *y)
{
	long long m = wm->margin, left = m, top = m;
	long long right = (long long)fb_w - wm->w - m, bottom = (long long)fb_h - wm->h - m;

	switch (wm->layout) {
	case PG_WM_TOP_LEFT:
		*x = left, *y = top;
		break;
	case PG_WM_TOP_RIGHT:
		*x = right, *y = top;
		break;
	case PG_WM_BOTTOM_LEFT:
		*x = left, *y = bottom;
		break;
	case PG_WM_BOTTOM_RIGHT:
		*x = right, *y = bottom;
		break;
	default: /* PG_WM_CENTER */
		*x = ((long long)fb_w - wm->w) / 2;
		*y = ((long long)fb_h - wm->h) / 2;
		break;
	}
}

struct pg_rect pg_watermark_bounds(const struct pg_watermark *wm, int fb_w, int fb_h)
{
	struct pg_rect all = {0, 0, fb_w > 0 ? fb_w : 0, fb_h > 0 ? fb_h : 0};
	long long x, y;

	if (!wm || !wm->row || wm->w <= 0 || wm->h <= 0 || pg_rect_empty(&all))
		return (struct pg_rect){0, 0, 0, 0};
	if (wm->layout == PG_WM_TILE)
		return all;
	place(wm, fb_w, fb_h, &x, &y);
	/* The mark is at most MAX_SIDE a side; clamping keeps the sums in int. */
	x = x < -MAX_SIDE ? -MAX_SIDE : x;
	y = y < -MAX_SIDE ? -MAX_SIDE : y;
	return pg_rect_intersect(all, (struct pg_rect){(int)x, (int)y, wm->w, wm->h});
}

/* Premultiplied s over the opaque pixels of d, n of them; fb's top byte stays 0. The
 * two channel pairs are scaled at once: red and blue in one word, green in another,
 * with the same exact rounding as div255. */
static inline void blend_run(uint32_t *d, const uint32_t *s, long long n)
{
	for (long long i = 0; i < n; i++) {
		uint32_t sp = s[i], a = sp >> 24, na, dp, rb, g;

		if (!a)
			continue;
		if (a == 255) {
			d[i] = sp & 0xffffff;
			continue;
		}
		na = 255 - a;
		dp = d[i];
		rb = (dp & 0xff00ff) * na + 0x800080;
		rb = ((rb + ((rb >> 8) & 0xff00ff)) >> 8) & 0xff00ff;
		g = (dp & 0xff00) * na + 0x8000;
		g = ((g + ((g >> 8) & 0xff00)) >> 8) & 0xff00;
		d[i] = (sp & 0xffffff) + rb + g;
	}
}

/* Blend row r of the mark, its column 0 at fb column base, over d within [x0, x1). */
static inline void draw_row(uint32_t *d, const struct pg_watermark *wm, int r, long long base,
			    long long x0, long long x1)
{
	for (uint32_t i = wm->row[r]; i < wm->row[r + 1]; i++) {
		const struct pg_wm_span *sp = &wm->span[i];
		long long a = base + sp->x, b = a + sp->len;

		if (b <= x0)
			continue;
		if (a >= x1)
			break;
		long long from = a > x0 ? a : x0, to = b < x1 ? b : x1;

		blend_run(d + from, wm->px + sp->off + (from - a), to - from);
	}
}

void pg_watermark_draw(struct pg_fb *fb, const struct pg_watermark *wm, const struct pg_rect *clip)
{
	long long x0 = 0, y0 = 0, x1, y1;

	if (!fb || !fb->px || fb->w <= 0 || fb->h <= 0 || !wm || !wm->row || wm->w <= 0 ||
	    wm->h <= 0)
		return;
	x1 = fb->w;
	y1 = fb->h;
	if (clip) {
		if (clip->w <= 0 || clip->h <= 0)
			return;
		/* In long long: clip->x + clip->w may not fit in an int. */
		x0 = clip->x > x0 ? clip->x : x0;
		y0 = clip->y > y0 ? clip->y : y0;
		x1 = (long long)clip->x + clip->w < x1 ? (long long)clip->x + clip->w : x1;
		y1 = (long long)clip->y + clip->h < y1 ? (long long)clip->y + clip->h : y1;
	}
	if (wm->layout == PG_WM_TILE) {
		for (long long y = y0; y < y1; y++) {
			int r = (int)(y % wm->h);
			uint32_t *d = fb->px + y * fb->stride;

			if (wm->row[r] == wm->row[r + 1])
				continue;
			for (long long base = x0 / wm->w * wm->w; base < x1; base += wm->w)
				draw_row(d, wm, r, base, x0, x1);
		}
		return;
	}
	long long px, py;

	place(wm, fb->w, fb->h, &px, &py);
	y0 = py > y0 ? py : y0;
	y1 = py + wm->h < y1 ? py + wm->h : y1;
	for (long long y = y0; y < y1; y++)
		draw_row(fb->px + y * fb->stride, wm, (int)(y - py), px, x0, x1);
}
