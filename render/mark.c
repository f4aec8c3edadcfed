#include "mark.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define BITS	  48 /* the 32-bit code, then its CRC-16 */
#define CELLS	  (PG_MARK_TILE * PG_MARK_TILE)
#define TILE_MASK (PG_MARK_TILE - 1)
#define WRAP	  (2 * PG_MARK_TILE) /* side of the tables the reader indexes without a mask */

/* Luminance differences between pixels one cell apart larger than this are the page's
 * own edges, not the mark (at most 2 * PG_MARK_AMPLITUDE plus JPEG's noise). */
#define READ_EDGE 12
/* A cell's mean difference is clipped to this many levels. */
#define READ_CLIP 8.0
/* A cell weighs 1 / (READ_FLOOR + the scatter of its differences): the floor stands for
 * JPEG's own noise, so a perfectly flat page does not weigh infinitely. */
#define READ_FLOOR 1.0
/* Cells with fewer kept differences (of 256) say nothing. */
#define READ_MIN_PAIRS 16
/* Mean z^2 per bit the best offset must reach (each z is at most sqrt(21), the cells a
 * bit has in one tile). Without a mark each z is about N(0, 1), so the sum over 48 bits
 * is about chi-square(48); the largest over the ~24,000 offsets tried was 2.3 * 48 in
 * 5,000 random pictures (docs/watermark-invisible.md). */
#define READ_MIN_Z2 4.0

/* The tile: which bit each cell carries and with which sign (the chip). Fixed forever:
 * changing them makes every earlier screenshot unreadable. */
static int8_t chip[CELLS];
static uint8_t bit_of[CELLS];
/* For the reader: the i-th cell of each bit, as an offset into a tile repeated 2 x 2
 * (row * WRAP + column), and its chip. Dealing the deck round-robin gives every bit
 * BIT_CELLS cells and the first BIT_EXTRA bits one more. Cell-major, so the reader's inner
 * loop runs over the bits, whose sums do not wait for one another. */
#define BIT_CELLS (CELLS / BITS)
#define BIT_EXTRA (CELLS % BITS)
static int16_t bit_cell[BIT_CELLS + 1][BITS];
static double bit_chip[BIT_CELLS + 1][BITS];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static void make_tables(void)
{
	uint64_t s = 0x7069786d61726b31u; /* "pixmark1" */
	uint16_t order[CELLS];

	/* A shuffled deck dealt round-robin: every bit gets 21 or 22 cells, spread over the
	 * whole tile so one dark area of the page cannot hide a bit. */
	for (int i = 0; i < CELLS; i++)
		order[i] = (uint16_t)i;
	for (int i = CELLS - 1; i > 0; i--) {
		int j = (int)(splitmix64(&s) % (uint64_t)(i + 1));
		uint16_t t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (int i = 0; i < CELLS; i++) {
		bit_of[order[i]] = (uint8_t)(i % BITS);
		chip[i] = splitmix64(&s) >> 63 ? 1 : -1;
	}
	for (int i = 0; i < CELLS; i++) {
		int t = order[i];

		bit_cell[i / BITS][i % BITS] =
		    (int16_t)(t / PG_MARK_TILE * WRAP + t % PG_MARK_TILE);
		bit_chip[i / BITS][i % BITS] = chip[t];
	}
}

/* CRC-16/CCITT-FALSE of the code's four bytes, most significant first. */
static uint16_t crc16(uint32_t code)
{
	uint16_t crc = 0xffff;

	for (int i = 3; i >= 0; i--) {
		crc ^= (uint16_t)((code >> (8 * i) & 0xff) << 8);
		for (int b = 0; b < 8; b++)
			crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
	}
	return crc;
}

static uint64_t word_of(uint32_t code)
{
	return code | (uint64_t)crc16(code) << 32;
}

/* R, G and B of p plus d3 = d * 0x010101 (0 < d < 128), each saturating at 255, four
 * bytes at once: the low seven bits of each byte add without carrying into the next, and
 * the top bit is put back by hand. */
static inline uint32_t add_sat(uint32_t p, uint32_t d3)
{
	uint32_t q = (p & 0x7f7f7f) + d3;
	uint32_t ovf = q & p & 0x808080;

	return (q ^ (p & 0x808080)) | (ovf >> 7) * 0xff | (p & 0xff000000);
}

/* The same for p minus d3, saturating at 0: each byte has its top bit set first, so no
 * byte borrows from the next. */
static inline uint32_t sub_sat(uint32_t p, uint32_t d3)
{
	uint32_t q = ((p & 0xffffff) | 0x808080) - d3;
	uint32_t unf = ~q & ~p & 0x808080;

	return ((q ^ (~p & 0x808080)) & ~((unf >> 7) * 0xff)) | (p & 0xff000000);
}

void pg_mark_draw(struct pg_fb *fb, uint32_t code, const struct pg_rect *clip)
{
	/* In long long: clip->x + clip->w may not fit in an int. */
	long long x0 = 0, y0 = 0, x1, y1;
	int8_t delta[CELLS];
	uint64_t word;

	if (!fb || !fb->px || fb->w <= 0 || fb->h <= 0)
		return;
	x1 = fb->w;
	y1 = fb->h;
	if (clip) {
		if (clip->w <= 0 || clip->h <= 0)
			return;
		x0 = clip->x > 0 ? clip->x : 0;
		y0 = clip->y > 0 ? clip->y : 0;
		if ((long long)clip->x + clip->w < x1)
			x1 = (long long)clip->x + clip->w;
		if ((long long)clip->y + clip->h < y1)
			y1 = (long long)clip->y + clip->h;
	}
	if (x0 >= x1 || y0 >= y1)
		return;
	pthread_once(&tables_once, make_tables);
	word = word_of(code);
	/* Only the tile rows the clip meets: the relay marks many small rectangles. */
	for (long long ty = y0 / PG_MARK_CELL; ty <= (y1 - 1) / PG_MARK_CELL; ty++) {
		int8_t *drow = delta + (ty & TILE_MASK) * PG_MARK_TILE;
		int t0 = (int)(ty & TILE_MASK) * PG_MARK_TILE;

		if (ty - y0 / PG_MARK_CELL >= PG_MARK_TILE)
			break;
		for (int i = 0; i < PG_MARK_TILE; i++)
			drow[i] = (int8_t)(chip[t0 + i] * (word >> bit_of[t0 + i] & 1 ? 1 : -1) *
					   PG_MARK_AMPLITUDE);
	}

	/* x0..y1 now lie inside fb, so they fit an int. */
	for (int y = (int)y0; y < (int)y1; y++) {
		uint32_t *row = fb->px + (size_t)y * (size_t)fb->stride;
		const int8_t *drow = delta + (y / PG_MARK_CELL & TILE_MASK) * PG_MARK_TILE;

		for (int x = (int)x0; x < (int)x1;) {
			int end = (x / PG_MARK_CELL + 1) * PG_MARK_CELL;
			int d = drow[x / PG_MARK_CELL & TILE_MASK];
			uint32_t d3 = (uint32_t)(d > 0 ? d : -d) * 0x010101u;

			if (end > (int)x1)
				end = (int)x1;
			if (end - x == PG_MARK_CELL) {
				/* A whole cell: a fixed count the compiler turns into vector code.
				 */
				uint32_t *p = row + x;

				if (d > 0)
					for (int i = 0; i < PG_MARK_CELL; i++)
						p[i] = add_sat(p[i], d3);
				else
					for (int i = 0; i < PG_MARK_CELL; i++)
						p[i] = sub_sat(p[i], d3);
				x = end;
			} else if (d > 0) {
				for (; x < end; x++)
					row[x] = add_sat(row[x], d3);
			} else {
				for (; x < end; x++)
					row[x] = sub_sat(row[x], d3);
			}
		}
	}
}

/* The best tile offset found so far, over every pixel phase. */
struct best {
	double score; /* sum of z^2 over the bits */
	double corr[BITS];
};

/* Per pixel, what its differences with the pixels one cell away (left, right, up, down)
 * say: a marked cell differs from its neighbours by the mark, on a flat page exactly.
 * Differences larger than READ_EDGE are the page's own edges (a glyph's stroke, a
 * border) and are left out, so text costs only the pairs it touches. */
struct diffs {
	int16_t *sum; /* sum of the kept differences */
	uint16_t *sq; /* sum of their squares */
	uint8_t *n;   /* how many were kept, 0 to 4 */
};

static void pixel_diffs(const uint8_t *luma, int w, int h, struct diffs *d)
{
	const int c = PG_MARK_CELL;

	for (int y = 0; y < h; y++) {
		const uint8_t *l = luma + (size_t)y * (size_t)w;
		size_t o = (size_t)y * (size_t)w;

		for (int x = 0; x < w; x++) {
			int nb[4], k = 0, sum = 0, sq = 0, n = 0;

			if (x >= c)
				nb[k++] = l[x - c];
			if (x + c < w)
				nb[k++] = l[x + c];
			if (y >= c)
				nb[k++] = l[x - (ptrdiff_t)c * w];
			if (y + c < h)
				nb[k++] = l[x + (ptrdiff_t)c * w];
			for (int i = 0; i < k; i++) {
				int e = l[x] - nb[i];

				if (e <= READ_EDGE && e >= -READ_EDGE) {
					sum += e;
					sq += e * e;
					n++;
				}
			}
			d->sum[o + x] = (int16_t)sum;
			d->sq[o + x] = (uint16_t)sq;
			d->n[o + x] = (uint8_t)n;
		}
	}
}

/* Try all 32 x 32 tile offsets of one folded phase; true when one beat best. Under "no mark", each
 * bit's correlation with its fixed +/-1 chips has variance sum(f^2) over its cells, so corr /
 * sqrt(energy) is a z-score whatever the page is. */
static bool search(const double *f, struct best *best)
{
	double fw[WRAP * WRAP], f2w[WRAP * WRAP];
	bool better = false;
	int filled = 0;

	/* Each bit's z^2 is at most its number of filled cells, so a tile with fewer than
	 * READ_MIN_Z2 * BITS filled cannot pass the gate: a crop too small to read is
	 * refused here without the search. */
	for (int t = 0; t < CELLS; t++)
		filled += f[t] != 0;
	if (filled < READ_MIN_Z2 * BITS)
		return false;
	for (int a = 0; a < WRAP; a++)
		for (int b = 0; b < WRAP; b++) {
			double v = f[(a & TILE_MASK) * PG_MARK_TILE + (b & TILE_MASK)];

			fw[a * WRAP + b] = v;
			f2w[a * WRAP + b] = v * v;
		}
	for (int dv = 0; dv < PG_MARK_TILE; dv++)
		for (int du = 0; du < PG_MARK_TILE; du++) {
			/* The tile's cell (r, c) lies at (r - dv, c - du) of the folded one. */
			int base = (PG_MARK_TILE - dv) * WRAP + (PG_MARK_TILE - du);
			double corr[BITS] = {0}, energy[BITS] = {0}, score = 0;

			for (int i = 0; i <= BIT_CELLS; i++) {
				const int16_t *off = bit_cell[i];
				const double *ch = bit_chip[i];

				for (int k = 0; k < (i < BIT_CELLS ? BITS : BIT_EXTRA); k++) {
					corr[k] += fw[base + off[k]] * ch[k];
					energy[k] += f2w[base + off[k]];
				}
			}
			for (int k = 0; k < BITS; k++) {
				if (energy[k] <= 0)
					goto next; /* a bit no cell carried: no reading here */
				score += corr[k] * corr[k] / energy[k];
			}
			if (score > best->score) {
				best->score = score;
				memcpy(best->corr, corr, sizeof(corr));
				better = true;
			}
		next:;
		}
	return better;
}

/* One band of cells (8 rows from y0) at every horizontal phase, folded onto the tiles
 * f[px]: each cell's mean kept difference, clipped, weighted by how many differences
 * were kept and how little they scatter. */
static void fold_band(const struct diffs *d, int w, int y0, int v, int64_t *pre, double *f)
{
	const int c = PG_MARK_CELL;
	int64_t *psum = pre, *psq = pre + w + 1, *pn = pre + 2 * (w + 1);

	psum[0] = psq[0] = pn[0] = 0;
	for (int x = 0; x < w; x++) {
		int64_t s = 0, q = 0, n = 0;

		for (int r = 0; r < c; r++) {
			size_t o = (size_t)(y0 + r) * (size_t)w + (size_t)x;

			s += d->sum[o];
			q += d->sq[o];
			n += d->n[o];
		}
		psum[x + 1] = psum[x] + s;
		psq[x + 1] = psq[x] + q;
		pn[x + 1] = pn[x] + n;
	}
	for (int px = 0; px < c; px++) {
		double *frow = f + (size_t)px * CELLS + (size_t)(v & TILE_MASK) * PG_MARK_TILE;

		for (int u = 0, x = px; x + c <= w; u++, x += c) {
			double n = (double)(pn[x + c] - pn[x]);
			double r, spread;

			if (n < READ_MIN_PAIRS)
				continue;
			r = (double)(psum[x + c] - psum[x]) / n;
			spread = (double)(psq[x + c] - psq[x]) / n - r * r;
			if (r > READ_CLIP)
				r = READ_CLIP;
			else if (r < -READ_CLIP)
				r = -READ_CLIP;
			frow[u & TILE_MASK] += r * (n / (4.0 * c * c)) / (READ_FLOOR + spread);
		}
	}
}

int pg_mark_read(const struct pg_fb *img, uint32_t *code, double *confidence)
{
	int w, h, rc = -ENOMEM;
	size_t npx, npre;
	uint8_t *luma = NULL;
	struct diffs d = {0};
	int64_t *pre = NULL;
	double *f = NULL;
	struct best best = {.score = -1};
	uint64_t word = 0;

	if (!img || !img->px || !code || img->stride < img->w)
		return -EINVAL;
	w = img->w < PG_MARK_READ_MAX ? img->w : PG_MARK_READ_MAX;
	h = img->h < PG_MARK_READ_MAX ? img->h : PG_MARK_READ_MAX;
	/* Two cells each way at the worst phase, or no cell has a neighbour. */
	if (w < 3 * PG_MARK_CELL - 1 || h < 3 * PG_MARK_CELL - 1)
		return -ENOENT;
	pthread_once(&tables_once, make_tables);
	if (!pg_mul_size((size_t)w, (size_t)h, &npx) || !pg_mul_size((size_t)w + 1, 3, &npre))
		return -ENOMEM;
	luma = malloc(npx);
	d.sum = malloc(npx * sizeof(*d.sum));
	d.sq = malloc(npx * sizeof(*d.sq));
	d.n = malloc(npx);
	pre = malloc(npre * sizeof(*pre));
	f = malloc((size_t)PG_MARK_CELL * PG_MARK_CELL * CELLS * sizeof(*f));
	if (!luma || !d.sum || !d.sq || !d.n || !pre || !f)
		goto fail;

	for (int y = 0; y < h; y++) {
		const uint32_t *s = img->px + (size_t)y * (size_t)img->stride;
		uint8_t *l = luma + (size_t)y * (size_t)w;

		/* BT.601 luma, as JPEG stores it. */
		for (int x = 0; x < w; x++)
			l[x] = (uint8_t)((77 * (s[x] >> 16 & 0xff) + 150 * (s[x] >> 8 & 0xff) +
					  29 * (s[x] & 0xff) + 128) >>
					 8);
	}
	pixel_diffs(luma, w, h, &d);

	/* f holds a folded tile for each of the 64 pixel phases, at [(py * 8 + px) * CELLS]. */
	memset(f, 0, (size_t)PG_MARK_CELL * PG_MARK_CELL * CELLS * sizeof(*f));
	for (int py = 0; py < PG_MARK_CELL; py++)
		for (int v = 0, y = py; y + PG_MARK_CELL <= h; v++, y += PG_MARK_CELL)
			fold_band(&d, w, y, v, pre, f + (size_t)py * PG_MARK_CELL * CELLS);

	/* The search is most of the reader's time. A phase one pixel off still keeps 7/8 of
	 * the mark each way, so every other phase is tried first, then the eight around the
	 * best of those. */
	int bx = 0, by = 0;

	for (int py = 0; py < PG_MARK_CELL; py += 2)
		for (int px = 0; px < PG_MARK_CELL; px += 2)
			if (search(f + (size_t)(py * PG_MARK_CELL + px) * CELLS, &best)) {
				bx = px;
				by = py;
			}
	for (int dy = -1; dy <= 1; dy++)
		for (int dx = -1; dx <= 1; dx++) {
			int px = (bx + dx) & (PG_MARK_CELL - 1),
			    py = (by + dy) & (PG_MARK_CELL - 1);

			if (dx || dy)
				search(f + (size_t)(py * PG_MARK_CELL + px) * CELLS, &best);
		}

	rc = -ENOENT;
	if (best.score < READ_MIN_Z2 * BITS)
		goto fail;
	for (int k = 0; k < BITS; k++)
		if (best.corr[k] > 0)
			word |= (uint64_t)1 << k;
	if (crc16((uint32_t)word) != (uint16_t)(word >> 32))
		goto fail;
	*code = (uint32_t)word;
	if (confidence)
		*confidence = sqrt(best.score / BITS);
	rc = 0;
fail:
	free(luma);
	free(d.sum);
	free(d.sq);
	free(d.n);
	free(pre);
	free(f);
	return rc;
}
