#include "rec_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

#include "codec/encoder.h"
#include "codec/pixfmt.h"
#include "codec/rfb.h"

static char dir[256];

const char *ru_dir(void)
{
	if (!dir[0]) {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof(dir), "%s/pg-rec-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		cr_assert_not_null(mkdtemp(dir));
	}
	return dir;
}

void ru_cleanup(void)
{
	if (!dir[0])
		return;
	if (getenv("PG_TEST_KEEP")) {
		fprintf(stderr, "kept %s\n", dir);
		return;
	}
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char p[512];
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
	dir[0] = '\0';
}

uint8_t *ru_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *p = malloc((size_t)n + 1);
	cr_assert_not_null(p);
	cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

void ru_sha256_file(const char *path, char hex[65])
{
	size_t len;
	uint8_t *p = ru_slurp(path, &len), h[32];
	unsigned int hl = 0;
	cr_assert(EVP_Digest(p, len, h, &hl, EVP_sha256(), NULL));
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	free(p);
}

static void size_of(const struct ru_plan *plan, int i, int *w, int *h)
{
	if (plan->resize_at > 0 && i >= plan->resize_at) {
		*w = 80;
		*h = 40;
	} else {
		*w = 64;
		*h = 48;
	}
}

void ru_picture(const struct ru_plan *plan, int i, struct pg_fb *fb)
{
	int w, h;
	size_of(plan, i, &w, &h);
	cr_assert_eq(pg_fb_alloc(fb, w, h), 0);
	/* A steady background with a gradient, and a block that moves and changes
	 * colour with i: Tight meets solid, palette and full-colour areas. */
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			uint32_t px = 0x203040;
			if (y < 8)
				px =
				    (uint32_t)(x * 3 & 0xff) << 16 | (uint32_t)(y * 30) << 8 | 0x80;
			int bx = (i * 5) % (w - 16), by = 10 + (i * 3) % (h - 26);
			if (x >= bx && x < bx + 16 && y >= by && y < by + 16)
				px = ((uint32_t)(i * 37) & 0xff) << 16 |
				     (uint32_t)((x * 13 + y * 7 + i) & 0xff) << 8 |
				     (uint32_t)((x ^ y) * 9 & 0xff);
			fb->px[(size_t)y * fb->stride + x] = px;
		}
}

int ru_frame_at(uint64_t t_us)
{
	return (int)(t_us / RU_STEP_US);
}

int ru_fb_equal(const struct pg_fb *a, const struct pg_fb *b)
{
	if (a->w != b->w || a->h != b->h)
		return 0;
	for (int y = 0; y < a->h; y++)
		if (memcmp(a->px + (size_t)y * a->stride, b->px + (size_t)y * b->stride,
			   (size_t)a->w * 4))
			return 0;
	return 1;
}

/* The smallest rectangle holding every pixel that differs. */
static struct pg_rect diff_box(const struct pg_fb *a, const struct pg_fb *b)
{
	struct pg_rect box = {0};
	for (int y = 0; y < a->h; y++)
		for (int x = 0; x < a->w; x++)
			if (a->px[(size_t)y * a->stride + x] != b->px[(size_t)y * b->stride + x])
				box = pg_rect_union(box, (struct pg_rect){x, y, 1, 1});
	return box;
}

void ru_make(const char *path, const struct ru_plan *plan, struct pg_rec_result *res)
{
	char err[256];
	struct pg_enc_opts opts = {
	    .quality = -1, .fine_quality = -1, .subsampling = -1, .compress = -1};
	struct pg_encoder *enc = pg_encoder_new(PG_ENC_TIGHT, &pg_pixfmt_canonical, &opts);
	struct pg_rec_writer *w = pg_rec_writer_open(path, RU_META, 0, 0, err, sizeof(err));
	struct pg_buf out;
	struct pg_fb prev = {0};

	cr_assert_not_null(enc);
	cr_assert_not_null(w, "%s", err);
	pg_buf_init(&out, 64u << 20);
	for (int i = 0; i < plan->frames; i++) {
		struct pg_fb fb;
		ru_picture(plan, i, &fb);
		bool key = i == 0 || i % plan->key_every == 0 || i == plan->resize_at;
		struct pg_rect r = {0, 0, fb.w, fb.h};
		if (!key)
			r = diff_box(&prev, &fb);
		pg_buf_reset(&out);
		cr_assert_eq(pg_rec_encode_update(enc, &fb, &r, 1, key, &out), 0);
		cr_assert_eq(pg_rec_writer_put(w, PG_REC_FRAME, key ? PG_REC_FLAG_KEY : 0,
					       (uint64_t)i * RU_STEP_US, out.data, out.len),
			     0);
		char ev[96];
		int n =
		    snprintf(ev, sizeof(ev), "{\"event\":\"key\",\"viewer\":\"1\",\"n\":%d}", i);
		cr_assert_eq(pg_rec_writer_put(w, PG_REC_EVENT, 0,
					       (uint64_t)i * RU_STEP_US + RU_STEP_US / 2, ev,
					       (size_t)n),
			     0);
		pg_fb_free(&prev);
		prev = fb;
	}
	pg_fb_free(&prev);
	pg_buf_free(&out);
	pg_encoder_del(enc);
	cr_assert_eq(pg_rec_writer_close(w, "{\"reason\":\"test done\"}", res), 0, "%s", res->why);
}
