#include "diff.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One row of the old picture in the scroll detector's hash table. */
struct slot {
	uint64_t hash;
	int32_t old_row; /* the last old row with this hash */
	uint16_t old_n;	 /* how many old rows, how many new rows have it (saturating) */
	uint16_t new_n;
	uint8_t used;
};

struct pg_diff {
	int w, h, tile;
	int gw, gh; /* the tile grid */
	uint8_t *map;
	/* Scroll detection: row hashes of old and new, a table of old rows, votes per
	 * distance (index dy + h). */
	uint64_t *ho, *hn; /* of rows that changed only */
	uint8_t *same;	   /* row i of new equals row i of old */
	struct slot *table;
	uint32_t tmask;
	int32_t *votes;
};

struct pg_diff *pg_diff_new(int w, int h, int tile)
{
	if (!tile)
		tile = PG_DIFF_TILE;
	if (w <= 0 || h <= 0 || w > PG_FB_MAX_SIDE || h > PG_FB_MAX_SIDE || tile < 8 ||
	    tile > PG_FB_MAX_SIDE)
		return NULL;
	struct pg_diff *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->w = w;
	d->h = h;
	d->tile = tile;
	d->gw = (w + tile - 1) / tile;
	d->gh = (h + tile - 1) / tile;
	uint32_t tsize = 64;
	/* At most half full, so probes stay short. */
	while (tsize < 2u * (uint32_t)h)
		tsize *= 2;
	d->tmask = tsize - 1;
	d->map = calloc((size_t)d->gw * d->gh, 1);
	d->ho = malloc(sizeof(*d->ho) * (size_t)h);
	d->hn = malloc(sizeof(*d->hn) * (size_t)h);
	d->same = malloc((size_t)h);
	d->table = malloc(sizeof(*d->table) * tsize);
	d->votes = malloc(sizeof(*d->votes) * (2 * (size_t)h + 1));
	if (!d->map || !d->ho || !d->hn || !d->same || !d->table || !d->votes) {
		pg_diff_del(d);
		return NULL;
	}
	return d;
}

void pg_diff_del(struct pg_diff *d)
{
	if (!d)
		return;
	free(d->map);
	free(d->ho);
	free(d->hn);
	free(d->same);
	free(d->table);
	free(d->votes);
	free(d);
}

static int min_i(int a, int b)
{
	return a < b ? a : b;
}

static int max_i(int a, int b)
{
	return a > b ? a : b;
}

/* r clipped to both pictures and to the scratch's size. */
static struct pg_rect clip_to(const struct pg_diff *d, const struct pg_fb *old,
			      const struct pg_fb *new, const struct pg_rect *r)
{
	struct pg_rect all = {0, 0, min_i(min_i(old->w, new->w), d->w),
			      min_i(min_i(old->h, new->h), d->h)};
	return pg_rect_intersect(*r, all);
}

/* Tiles ------------------------------------------------------------------- */

void pg_diff_clear(struct pg_diff *d)
{
	memset(d->map, 0, (size_t)d->gw * d->gh);
}

int pg_diff_mark(struct pg_diff *d, const struct pg_fb *old, const struct pg_fb *new,
		 const struct pg_rect *rect)
{
	struct pg_rect r = clip_to(d, old, new, rect);
	if (pg_rect_empty(&r))
		return 0;
	const int t = d->tile;
	const int tx0 = r.x / t, tx1 = (r.x + r.w - 1) / t;
	int added = 0;
	for (int ty = r.y / t; ty <= (r.y + r.h - 1) / t; ty++) {
		uint8_t *m = d->map + (size_t)ty * d->gw;
		int left = 0;
		for (int tx = tx0; tx <= tx1; tx++)
			left += !m[tx];
		int y1 = min_i((ty + 1) * t, r.y + r.h);
		/* A whole row first: most rows of most updates are equal, and one long
		 * memcmp is the cheapest way to say so. */
		for (int y = max_i(ty * t, r.y); y < y1 && left; y++) {
			const uint32_t *po = old->px + (size_t)y * old->stride;
			const uint32_t *pn = new->px + (size_t)y *new->stride;
			if (!memcmp(po + r.x, pn + r.x, (size_t)r.w * 4))
				continue;
			for (int tx = tx0; tx <= tx1; tx++) {
				if (m[tx])
					continue;
				int x0 = max_i(tx * t, r.x), x1 = min_i((tx + 1) * t, r.x + r.w);
				if (memcmp(po + x0, pn + x0, (size_t)(x1 - x0) * 4)) {
					m[tx] = 1;
					left--;
					added++;
				}
			}
		}
	}
	return added;
}

static long area(const struct pg_rect *r)
{
	return (long)r->w * r->h;
}

static long waste(const struct pg_rect *a, const struct pg_rect *b)
{
	struct pg_rect u = pg_rect_union(*a, *b);
	return area(&u) - area(a) - area(b);
}

/* The merge state of pg_diff_rects: the cheapest pair among the full list, found again
 * only after it is used, so scattered changes cost O(max) per rectangle, not
 * O(max^2). It may go stale as rectangles grow (a grown one can make a cheaper pair);
 * that costs some area, never a pixel. */
struct merge {
	int bi, bj;
	long best; /* < 0: not known */
};

/* Add r (tile units) to out, which holds *n of at most max: when full, r joins its
 * cheapest partner, or the cheapest pair merges and r takes the place freed. */
static void add_rect(struct pg_rect *out, int *n, int max, struct pg_rect r, struct merge *m)
{
	if (*n < max) {
		out[(*n)++] = r;
		return;
	}
	if (m->best < 0) {
		for (int i = 0; i < max; i++)
			for (int j = i + 1; j < max; j++) {
				long c = waste(&out[i], &out[j]);
				if (m->best < 0 || c < m->best) {
					m->best = c;
					m->bi = i;
					m->bj = j;
				}
			}
	}
	int p = 0;
	long pc = waste(&out[0], &r);
	for (int i = 1; i < max; i++) {
		long c = waste(&out[i], &r);
		if (c < pc) {
			pc = c;
			p = i;
		}
	}
	if (m->best < 0 || pc <= m->best) {
		out[p] = pg_rect_union(out[p], r);
		if (p == m->bi || p == m->bj)
			m->best = -1;
		return;
	}
	out[m->bi] = pg_rect_union(out[m->bi], out[m->bj]);
	out[m->bj] = r;
	m->best = -1;
}

int pg_diff_rects(struct pg_diff *d, const struct pg_rect *clip, struct pg_rect *out, int max)
{
	int n = 0;
	struct merge mg = {.best = -1};
	if (max < 1)
		return 0;
	for (int ty = 0; ty < d->gh; ty++) {
		const uint8_t *m = d->map + (size_t)ty * d->gw;
		for (int tx = 0; tx < d->gw;) {
			if (!m[tx]) {
				tx++;
				continue;
			}
			int start = tx;
			while (tx < d->gw && m[tx])
				tx++;
			/* Below a rectangle of the same span that ends on the row above? */
			int k = n - 1;
			for (; k >= 0; k--)
				if (out[k].x == start && out[k].w == tx - start &&
				    out[k].y + out[k].h == ty)
					break;
			if (k >= 0)
				out[k].h++;
			else
				add_rect(out, &n, max, (struct pg_rect){start, ty, tx - start, 1},
					 &mg);
		}
	}
	/* Tile units to pixels, clipped. */
	int kept = 0;
	for (int k = 0; k < n; k++) {
		const int t = d->tile;
		struct pg_rect px = {out[k].x * t, out[k].y * t, out[k].w * t, out[k].h * t};
		px = pg_rect_intersect(px, *clip);
		if (!pg_rect_empty(&px))
			out[kept++] = px;
	}
	return kept;
}

int pg_diff_tiles(struct pg_diff *d, const struct pg_fb *old, const struct pg_fb *new,
		  const struct pg_rect *r, struct pg_rect *out, int max)
{
	pg_diff_clear(d);
	if (!pg_diff_mark(d, old, new, r))
		return 0;
	return pg_diff_rects(d, r, out, max);
}

/* Scrolling --------------------------------------------------------------- */

#define P1 0x9e3779b185ebca87ull
#define P2 0xc2b2ae3d27d4eb4full

static inline uint64_t rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t round64(uint64_t acc, uint64_t v)
{
	return rotl(acc + v * P2, 31) * P1;
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* xxHash64's inner loop, four lanes wide so the multiplies overlap: rows only ever
 * meet rows of the same length, so no length or seed mixing is needed beyond this. */
/* Rows wider than this are hashed by a sample: 8 pixels in every 32. The hash only
 * picks candidates; every row of a band is then compared whole, so a sample that
 * misses a difference costs at worst a scroll not found, never a wrong picture. It
 * made hashing a quarter of the worker's time on full-screen changes. */
#define HASH_FULL_WIDTH 256
#define HASH_STEP	32 /* pixels */

static uint64_t row_hash(const uint32_t *px, int n)
{
	const uint8_t *p = (const uint8_t *)px;
	size_t len = (size_t)n * 4, i = 0;
	uint64_t a = P1, b = P2, c = 0, e = P1 ^ P2;
	size_t step = n > HASH_FULL_WIDTH ? HASH_STEP * 4 : 32;
	for (; i + 32 <= len; i += step) {
		a = round64(a, load64(p + i));
		b = round64(b, load64(p + i + 8));
		c = round64(c, load64(p + i + 16));
		e = round64(e, load64(p + i + 24));
	}
	if (step != 32)
		i = len & ~(size_t)31; /* the tail is always hashed */
	uint64_t h = rotl(a, 1) + rotl(b, 7) + rotl(c, 12) + rotl(e, 18);
	for (; i + 8 <= len; i += 8)
		h = round64(h, load64(p + i));
	if (i < len) {
		uint32_t v;
		memcpy(&v, p + i, 4);
		h = round64(h, v);
	}
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	return h;
}

static struct slot *lookup(struct pg_diff *d, uint64_t hash, bool insert)
{
	for (uint32_t i = (uint32_t)hash & d->tmask;; i = (i + 1) & d->tmask) {
		struct slot *s = &d->table[i];
		if (!s->used) {
			if (!insert)
				return NULL;
			*s = (struct slot){.hash = hash, .old_row = -1, .used = 1};
			return s;
		}
		if (s->hash == hash)
			return s;
	}
}

static const uint32_t *row_at(const struct pg_fb *fb, int y, int x)
{
	return fb->px + (size_t)y * fb->stride + x;
}

bool pg_diff_scroll(struct pg_diff *d, const struct pg_fb *old, const struct pg_fb *new,
		    const struct pg_rect *rect, struct pg_rect *dst, int *src_y)
{
	struct pg_rect r = clip_to(d, old, new, rect);
	const int h = r.h;
	const size_t bytes = (size_t)r.w * 4;
	if (pg_rect_empty(&r) || h < PG_DIFF_SCROLL_MIN_ROWS + 1)
		return false;
	/* Rows that stayed put cost one memcmp and no hash: a still picture is
	 * dismissed at memcmp speed. */
	int changed = 0;
	for (int i = 0; i < h; i++) {
		d->same[i] = !memcmp(row_at(old, r.y + i, r.x), row_at(new, r.y + i, r.x), bytes);
		changed += !d->same[i];
	}
	if (changed < PG_DIFF_SCROLL_MIN_ROWS)
		return false;
	/* Changed rows by hash, counting how often each occurs in old and in new: only
	 * a row that occurs once in each can say where it came from. */
	memset(d->table, 0, sizeof(*d->table) * ((size_t)d->tmask + 1));
	for (int i = 0; i < h; i++) {
		if (d->same[i])
			continue;
		d->ho[i] = row_hash(row_at(old, r.y + i, r.x), r.w);
		d->hn[i] = row_hash(row_at(new, r.y + i, r.x), r.w);
		struct slot *s = lookup(d, d->ho[i], true);
		s->old_row = i;
		if (s->old_n < UINT16_MAX)
			s->old_n++;
	}
	for (int i = 0; i < h; i++) {
		struct slot *s = d->same[i] ? NULL : lookup(d, d->hn[i], false);
		if (s && s->new_n < UINT16_MAX)
			s->new_n++;
	}
	memset(d->votes, 0, sizeof(*d->votes) * (2 * (size_t)h + 1));
	int best = 0; /* dy + h of the most voted distance; 0: none */
	for (int i = 0; i < h; i++) {
		struct slot *s = d->same[i] ? NULL : lookup(d, d->hn[i], false);
		if (!s || s->old_n != 1 || s->new_n != 1)
			continue;
		int k = i - s->old_row + h;
		d->votes[k]++;
		if (!best || d->votes[k] > d->votes[best] ||
		    (d->votes[k] == d->votes[best] && abs(k - h) < abs(best - h)))
			best = k;
	}
	if (!best || d->votes[best] < 2)
		return false;
	const int dy = best - h;

	/* The run of rows equal to old's dy rows away that brings most rows into
	 * place. Hashes rule most rows out; the rest are compared pixel for pixel (rows
	 * that stayed put have no hash: blank lines inside a scrolled page). */
	int lo = max_i(0, dy), hi = min_i(h, h + dy);
	int run0 = -1, gain = 0, b0 = 0, blen = 0, bgain = 0;
	for (int i = lo; i <= hi; i++) {
		bool match = false;
		if (i < hi) {
			int j = i - dy;
			bool hashed = !d->same[i] && !d->same[j];
			match =
			    (!hashed || d->hn[i] == d->ho[j]) &&
			    !memcmp(row_at(new, r.y + i, r.x), row_at(old, r.y + j, r.x), bytes);
		}
		if (match) {
			if (run0 < 0) {
				run0 = i;
				gain = 0;
			}
			gain += !d->same[i];
			continue;
		}
		if (run0 >= 0 && gain > bgain) {
			b0 = run0;
			blen = i - run0;
			bgain = gain;
		}
		run0 = -1;
	}
	if (bgain < PG_DIFF_SCROLL_MIN_ROWS)
		return false;
	*dst = (struct pg_rect){r.x, r.y + b0, r.w, blen};
	*src_y = r.y + b0 - dy;
	return true;
}

bool pg_diff_copy(struct pg_fb *fb, const struct pg_rect *dst, int src_x, int src_y)
{
	struct pg_rect src = {src_x, src_y, dst->w, dst->h};
	if (!pg_rect_inside(dst, fb->w, fb->h) || !pg_rect_inside(&src, fb->w, fb->h))
		return false;
	pg_fb_move(fb, &src, dst->x, dst->y);
	return true;
}

static bool row_same(const struct pg_fb *a, const struct pg_fb *b, int x, int y, int w)
{
	return !memcmp(a->px + (size_t)y * a->stride + x, b->px + (size_t)y * b->stride + x,
		       (size_t)w * 4);
}

bool pg_diff_trim(const struct pg_fb *old, const struct pg_fb *new, struct pg_rect *r)
{
	int top = r->y, bottom = r->y + r->h - 1, left, right;
	while (top <= bottom && row_same(old, new, r->x, top, r->w))
		top++;
	if (top > bottom)
		return false;
	while (row_same(old, new, r->x, bottom, r->w))
		bottom--;
	/* Columns: per row, the first and last differing pixel beyond what is known. */
	left = r->x + r->w;
	right = r->x - 1;
	for (int y = top; y <= bottom; y++) {
		const uint32_t *a = old->px + (size_t)y * old->stride;
		const uint32_t *b = new->px + (size_t)y *new->stride;
		for (int x = r->x; x < left; x++) {
			if (a[x] != b[x]) {
				left = x;
				break;
			}
		}
		for (int x = r->x + r->w - 1; x > right; x--) {
			if (a[x] != b[x]) {
				right = x;
				break;
			}
		}
	}
	*r = (struct pg_rect){left, top, right - left + 1, bottom - top + 1};
	return true;
}
