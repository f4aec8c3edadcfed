/* pg-bench-codec: what encoding and decoding one full screen costs, against the
 * pure cost of TurboJPEG and zlib on the same pixels, measured side by side in one
 * run. Prints medians of --rounds rounds (the machine is noisy; medians hold).
 *   pg-bench-codec [--size 1920x1080] [--rounds 15] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>
#include <zlib.h>

#include "codec/buf.h"
#include "codec/decoder.h"
#include "codec/encoder.h"
#include "codec/rfb.h"

#define MAX_ROUNDS 101

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* A screen like a web page: white background, lines of dark "text" strokes, a
 * coloured header bar, and a photo-like block of smooth noise. */
static void make_page(struct pg_fb *fb)
{
	uint32_t seed = 12345;
	for (int y = 0; y < fb->h; y++) {
		for (int x = 0; x < fb->w; x++) {
			uint32_t px = 0xffffff;
			if (y < 64) {
				px = 0x2b5797;
			} else if (x > fb->w / 2 && x < fb->w - 80 && y > 200 &&
				   y < 200 + fb->h / 3) {
				seed = seed * 1103515245 + 12345;
				int n = (int)((seed >> 16) & 31);
				int r = (x * 255 / fb->w + n) & 255,
				    g = (y * 255 / fb->h + n) & 255;
				px = (uint32_t)r << 16 | (uint32_t)g << 8 | (uint32_t)((r + g) / 2);
			} else if ((y % 24) > 6 && (y % 24) < 20 && x > 40 && x < fb->w / 2 - 20) {
				/* glyph-like strokes: on/off runs that vary per line */
				int k = (x / 3 + y / 24 * 7) % 11;
				if (k < 4 && ((x + y) % 5) < 3)
					px = 0x202020;
			}
			fb->px[(size_t)y * fb->stride + x] = px;
		}
	}
}

struct row {
	const char *name;
	double enc_ms, dec_ms;
	size_t bytes;
};

static int bench_encoding(const char *name, int32_t enc_id, int quality, const struct pg_fb *fb,
			  int rounds, struct row *out)
{
	struct pg_enc_opts o = {quality, -1, -1, 1};
	struct pg_encoder *enc = pg_encoder_new(enc_id, &pg_pixfmt_canonical, &o);
	struct pg_decoder *dec = pg_decoder_new();
	struct pg_fb back;
	struct pg_rect all = {0, 0, fb->w, fb->h};
	double te[MAX_ROUNDS], td[MAX_ROUNDS];
	struct pg_buf b;
	if (!enc || !dec || pg_fb_alloc(&back, fb->w, fb->h) < 0)
		return -1;
	pg_buf_init(&b, (size_t)1 << 30);
	for (int i = 0; i < rounds; i++) {
		pg_buf_reset(&b);
		double t0 = now_ms();
		int n = pg_encoder_encode(enc, fb, &all, &b);
		double t1 = now_ms();
		if (n < 0)
			return -1;
		/* Decode what was encoded, rectangle by rectangle, as the worker would. */
		size_t off = 0;
		double t2 = now_ms();
		for (int k = 0; k < n; k++) {
			const uint8_t *h = b.data + off;
			struct pg_rect r = {pg_rd16(h), pg_rd16(h + 2), pg_rd16(h + 4),
					    pg_rd16(h + 6)};
			const char *why;
			ssize_t used = pg_decode_rect(dec, (int32_t)pg_rd32(h + 8), &r, &back,
						      h + 12, b.len - off - 12, &why);
			if (used <= 0) {
				fprintf(stderr, "%s: decode failed: %s\n", name,
					why ? why : "short");
				return -1;
			}
			off += 12 + (size_t)used;
		}
		td[i] = now_ms() - t2;
		te[i] = t1 - t0;
		out->bytes = b.len;
	}
	out->name = name;
	out->enc_ms = median(te, rounds);
	out->dec_ms = median(td, rounds);
	pg_buf_free(&b);
	pg_fb_free(&back);
	pg_encoder_del(enc);
	pg_decoder_del(dec);
	return 0;
}

int main(int argc, char **argv)
{
	int w = 1920, h = 1080, rounds = 15;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc &&
		    sscanf(argv[i + 1], "%dx%d", &w, &h) == 2) {
			i++;
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: pg-bench-codec [--size WxH] [--rounds N]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "pg-bench-codec: --rounds must be 1..%d\n", MAX_ROUNDS);
		return 2;
	}
	struct pg_fb fb;
	if (pg_fb_alloc(&fb, w, h) < 0) {
		fprintf(stderr, "pg-bench-codec: bad size %dx%d\n", w, h);
		return 2;
	}
	make_page(&fb);

	/* References: the libraries alone on the same pixels. */
	double tj[MAX_ROUNDS], zl[MAX_ROUNDS];
	tjhandle tjh = tjInitCompress();
	size_t raw = (size_t)w * h * 4;
	uLongf zcap = compressBound((uLong)raw);
	uint8_t *zout = malloc(zcap);
	unsigned long jlen = 0, jpeg_bytes = 0;
	uLongf zbytes = 0;
	for (int i = 0; i < rounds; i++) {
		unsigned char *jbuf = NULL;
		double t0 = now_ms();
		tjCompress2(tjh, (const unsigned char *)fb.px, w, 0, h, TJPF_BGRX, &jbuf, &jlen,
			    TJSAMP_420, 86, TJFLAG_FASTDCT);
		tj[i] = now_ms() - t0;
		jpeg_bytes = jlen;
		tjFree(jbuf);
		uLongf zl_len = zcap;
		t0 = now_ms();
		compress2(zout, &zl_len, (const Bytef *)fb.px, (uLong)raw, 1);
		zl[i] = now_ms() - t0;
		zbytes = zl_len;
	}
	tjDestroy(tjh);
	free(zout);
	double tj_ms = median(tj, rounds), zl_ms = median(zl, rounds);

	struct row rows[4];
	if (bench_encoding("raw", PG_ENC_RAW, -1, &fb, rounds, &rows[0]) < 0 ||
	    bench_encoding("zrle", PG_ENC_ZRLE, -1, &fb, rounds, &rows[1]) < 0 ||
	    bench_encoding("tight-lossless", PG_ENC_TIGHT, -1, &fb, rounds, &rows[2]) < 0 ||
	    bench_encoding("tight-jpeg-q8", PG_ENC_TIGHT, 8, &fb, rounds, &rows[3]) < 0) {
		fprintf(stderr, "pg-bench-codec: an encoder failed\n");
		return 1;
	}
	printf("pg-bench-codec: %dx%d web-like page, median of %d rounds\n", w, h, rounds);
	printf("%-16s %10s %10s %12s %10s\n", "", "encode ms", "decode ms", "bytes", "Mpx/s enc");
	printf("%-16s %10.2f %10s %12lu %10.1f\n", "turbojpeg alone", tj_ms, "-", jpeg_bytes,
	       w * h / tj_ms / 1e3);
	printf("%-16s %10.2f %10s %12lu %10.1f\n", "zlib-1 alone", zl_ms, "-",
	       (unsigned long)zbytes, w * h / zl_ms / 1e3);
	for (int i = 0; i < 4; i++)
		printf("%-16s %10.2f %10.2f %12zu %10.1f\n", rows[i].name, rows[i].enc_ms,
		       rows[i].dec_ms, rows[i].bytes, w * h / rows[i].enc_ms / 1e3);
	printf("ratios: tight-jpeg-q8 encode / turbojpeg alone = %.2f; zrle encode / zlib-1 alone "
	       "= %.2f\n",
	       rows[3].enc_ms / tj_ms, rows[1].enc_ms / zl_ms);
	pg_fb_free(&fb);
	return 0;
}
