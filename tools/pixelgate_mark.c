/* pixelgate-mark: read the invisible watermark (render/mark.h) from a screenshot, to
 * find the session it came from in the audit log, and embed one for docs and tests.
 *
 *   pixelgate-mark read IMAGE              PNG or JPEG, told apart by their first bytes
 *   pixelgate-mark embed IN OUT.png CODE   mark IN (PNG or JPEG) with CODE (hex), write PNG
 *
 * Exit status: 0 when a mark was read (or written), 1 when IMAGE holds no readable mark,
 * 2 for a usage error or a file that cannot be read or written. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <turbojpeg.h>

#include "codec/fb.h"
#include "render/mark.h"

/* Largest image file read: a 8192 x 8192 PNG of noise is about 200 MiB. */
#define FILE_MAX ((size_t)256 << 20)

static int usage(void)
{
	fprintf(stderr,
		"usage: pixelgate-mark read IMAGE             (PNG or JPEG)\n"
		"       pixelgate-mark embed IN OUT.png CODE  (CODE in hex, e.g. 0x1234abcd)\n");
	return 2;
}

static int read_file(const char *path, unsigned char **out, size_t *len)
{
	FILE *f = fopen(path, "rbe");
	unsigned char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f) {
		fprintf(stderr, "pixelgate-mark: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 1 << 16;
			unsigned char *nb;

			if (cap >= FILE_MAX) {
				fprintf(stderr, "pixelgate-mark: %s: larger than %zu MiB\n", path,
					FILE_MAX >> 20);
				goto fail;
			}
			nb = realloc(buf, ncap);
			if (!nb) {
				fprintf(stderr, "pixelgate-mark: %s: out of memory\n", path);
				goto fail;
			}
			buf = nb;
			cap = ncap;
		}
		size_t got = fread(buf + n, 1, cap - n, f);

		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "pixelgate-mark: cannot read %s: %s\n", path, strerror(errno));
		goto fail;
	}
	fclose(f);
	*out = buf;
	*len = n;
	return 0;
fail:
	free(buf);
	fclose(f);
	return -1;
}

/* w x h 8-bit RGB to a new framebuffer. */
static int fb_from_rgb(const char *path, const unsigned char *rgb, int w, int h, struct pg_fb *fb)
{
	if (pg_fb_alloc(fb, w, h)) {
		fprintf(stderr, "pixelgate-mark: %s: out of memory for %d x %d pixels\n", path, w,
			h);
		return -1;
	}
	for (size_t i = 0; i < (size_t)w * (size_t)h; i++, rgb += 3)
		fb->px[i] = (uint32_t)rgb[0] << 16 | (uint32_t)rgb[1] << 8 | rgb[2];
	return 0;
}

static bool size_ok(const char *path, long long w, long long h)
{
	if (w < 1 || h < 1 || w > PG_FB_MAX_SIDE || h > PG_FB_MAX_SIDE) {
		fprintf(stderr,
			"pixelgate-mark: %s: %lld x %lld pixels (each side must be 1 to %d)\n",
			path, w, h, PG_FB_MAX_SIDE);
		return false;
	}
	return true;
}

static int load_png(const char *path, const unsigned char *data, size_t len, struct pg_fb *fb)
{
	png_image img = {.version = PNG_IMAGE_VERSION};
	/* Transparent parts land on white, as a browser shows them. */
	png_color white = {255, 255, 255};
	unsigned char *rgb = NULL;
	size_t n;
	int rc = -1;

	if (!png_image_begin_read_from_memory(&img, data, len)) {
		fprintf(stderr, "pixelgate-mark: %s: not a readable PNG: %s\n", path, img.message);
		return -1;
	}
	if (!size_ok(path, img.width, img.height)) {
		png_image_free(&img);
		return -1;
	}
	img.format = PNG_FORMAT_RGB;
	/* Sides are at most PG_FB_MAX_SIDE, so the size fits; checked all the same. */
	if (!pg_mul_size(img.width, img.height, &n) || !pg_mul_size(n, 3, &n) ||
	    !(rgb = malloc(n))) {
		fprintf(stderr, "pixelgate-mark: %s: out of memory\n", path);
		png_image_free(&img);
		return -1;
	}
	if (!png_image_finish_read(&img, &white, rgb, 0, NULL)) {
		fprintf(stderr, "pixelgate-mark: %s: broken PNG: %s\n", path, img.message);
		goto out;
	}
	rc = fb_from_rgb(path, rgb, (int)img.width, (int)img.height, fb);
out:
	free(rgb);
	return rc;
}

static int load_jpeg(const char *path, const unsigned char *data, size_t len, struct pg_fb *fb)
{
	tjhandle tj = tjInitDecompress();
	unsigned char *rgb = NULL;
	int w = 0, h = 0, subsamp = 0, colorspace = 0, rc = -1;
	size_t n;

	if (!tj) {
		fprintf(stderr, "pixelgate-mark: %s: %s\n", path, tjGetErrorStr2(NULL));
		return -1;
	}
	/* len is under FILE_MAX, so it fits an unsigned long. */
	if (tjDecompressHeader3(tj, data, (unsigned long)len, &w, &h, &subsamp, &colorspace)) {
		fprintf(stderr, "pixelgate-mark: %s: not a readable JPEG: %s\n", path,
			tjGetErrorStr2(tj));
		goto out;
	}
	if (w <= 0 || h <= 0) {
		/* TurboJPEG 2.1 reports success, and leaves w and h alone, on a header cut
		 * before its frame. */
		fprintf(stderr, "pixelgate-mark: %s: not a readable JPEG: no frame header\n", path);
		goto out;
	}
	if (!size_ok(path, w, h))
		goto out;
	if (!pg_mul_size((size_t)w, (size_t)h, &n) || !pg_mul_size(n, 3, &n) ||
	    !(rgb = malloc(n))) {
		fprintf(stderr, "pixelgate-mark: %s: out of memory\n", path);
		goto out;
	}
	/* LIMITSCANS: a progressive JPEG with thousands of scans takes minutes to decode. */
	if (tjDecompress2(tj, data, (unsigned long)len, rgb, w, 0, h, TJPF_RGB,
			  TJFLAG_LIMITSCANS)) {
		if (tjGetErrorCode(tj) != TJERR_WARNING) {
			fprintf(stderr, "pixelgate-mark: %s: broken JPEG: %s\n", path,
				tjGetErrorStr2(tj));
			goto out;
		}
		/* A truncated screenshot still carries the mark in what is left. */
		fprintf(stderr, "pixelgate-mark: %s: warning: %s\n", path, tjGetErrorStr2(tj));
	}
	rc = fb_from_rgb(path, rgb, w, h, fb);
out:
	free(rgb);
	tjDestroy(tj);
	return rc;
}

static int load_image(const char *path, struct pg_fb *fb)
{
	static const unsigned char png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	unsigned char *data;
	size_t len;
	int rc;

	if (read_file(path, &data, &len))
		return -1;
	if (len >= sizeof(png_magic) && !memcmp(data, png_magic, sizeof(png_magic))) {
		rc = load_png(path, data, len, fb);
	} else if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) {
		rc = load_jpeg(path, data, len, fb);
	} else {
		fprintf(stderr, "pixelgate-mark: %s: neither PNG nor JPEG\n", path);
		rc = -1;
	}
	free(data);
	return rc;
}

static int save_png(const char *path, const struct pg_fb *fb)
{
	png_image img = {.version = PNG_IMAGE_VERSION,
			 .width = (png_uint_32)fb->w,
			 .height = (png_uint_32)fb->h,
			 .format = PNG_FORMAT_RGB};
	size_t n;
	unsigned char *rgb, *o;
	int rc = 0;

	if (!pg_mul_size((size_t)fb->w, (size_t)fb->h, &n) || !pg_mul_size(n, 3, &n) ||
	    !(rgb = malloc(n))) {
		fprintf(stderr, "pixelgate-mark: %s: out of memory\n", path);
		return -1;
	}
	o = rgb;
	for (int y = 0; y < fb->h; y++)
		for (int x = 0; x < fb->w; x++, o += 3) {
			uint32_t p = fb->px[(size_t)y * (size_t)fb->stride + (size_t)x];

			o[0] = (unsigned char)(p >> 16);
			o[1] = (unsigned char)(p >> 8);
			o[2] = (unsigned char)p;
		}
	if (!png_image_write_to_file(&img, path, 0, rgb, 0, NULL)) {
		fprintf(stderr, "pixelgate-mark: cannot write %s: %s\n", path, img.message);
		rc = -1;
	}
	free(rgb);
	return rc;
}

/* "0x1234abcd" or "1234abcd": one to eight hex digits. */
static int parse_code(const char *s, uint32_t *code)
{
	char *end;
	unsigned long long v;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (!*s || strlen(s) > 8 || strspn(s, "0123456789abcdefABCDEF") != strlen(s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 16);
	if (errno || *end)
		return -1;
	*code = (uint32_t)v;
	return 0;
}

static int cmd_read(int argc, char **argv)
{
	struct pg_fb fb;
	uint32_t code;
	double confidence;
	int rc;

	if (argc != 1)
		return usage();
	if (load_image(argv[0], &fb))
		return 2;
	rc = pg_mark_read(&fb, &code, &confidence);
	pg_fb_free(&fb);
	if (rc == -ENOENT) {
		printf("no mark found\n");
		return 1;
	}
	if (rc) {
		fprintf(stderr, "pixelgate-mark: %s: %s\n", argv[0], strerror(-rc));
		return 2;
	}
	printf("code 0x%08x confidence %.1f\n", code, confidence);
	return 0;
}

static int cmd_embed(int argc, char **argv)
{
	struct pg_fb fb;
	uint32_t code;
	int rc;

	if (argc != 3)
		return usage();
	if (parse_code(argv[2], &code)) {
		fprintf(stderr, "pixelgate-mark: bad code %s: give 1 to 8 hex digits\n", argv[2]);
		return 2;
	}
	if (load_image(argv[0], &fb))
		return 2;
	pg_mark_draw(&fb, code, NULL);
	rc = save_png(argv[1], &fb);
	pg_fb_free(&fb);
	return rc ? 2 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "read"))
		return cmd_read(argc - 2, argv + 2);
	if (!strcmp(argv[1], "embed"))
		return cmd_embed(argc - 2, argv + 2);
	return usage();
}
