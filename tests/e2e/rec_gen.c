/* Writes a known session recording for tests/e2e/test_replay.sh, with the
 * library the relay uses (pg_rec_writer, pg_rec_encode_update, Tight lossless):
 *
 *   pg-rec-gen OUT.pgrec PICTURE_DIR
 *
 * 60 frames, one every 100 ms from 0 to 5.9 s, a KEY frame every second:
 *   0 to 2 s     320x240, red background
 *   2 to 4 s     320x240, green background
 *   from 4 s     400x300, yellow background (a resize, DesktopSize in a KEY frame)
 * always a blue 40x40 square at 20,20 and a white 16x16 square moving along
 * y = 200; events every second, a clipboard event at 2.5 s and a last event at
 * 6.0 s, then END. The pictures of frames 10, 35, 45 and 59 go to
 * PICTURE_DIR/frame_N.ppm, and one line of counts to stdout:
 *   frames 60 key 6 events E duration_us 6000000 sha256 HEX */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/pixfmt.h"
#include "codec/rfb.h"
#include "record/recfile.h"

static void die(const char *what)
{
	fprintf(stderr, "pg-rec-gen: %s\n", what);
	exit(1);
}

static void draw(struct pg_fb *fb, int i)
{
	int w = i >= 40 ? 400 : 320, h = i >= 40 ? 300 : 240;
	if (pg_fb_alloc(fb, w, h))
		die("pg_fb_alloc");
	uint32_t bg = i < 20 ? 0xff0000 : i < 40 ? 0x00c000 : 0xffff00;
	pg_fb_fill(fb, &(struct pg_rect){0, 0, w, h}, bg);
	pg_fb_fill(fb, &(struct pg_rect){20, 20, 40, 40}, 0x0000ff);
	/* A gradient strip, so Tight meets more than solid areas. */
	for (int y = 100; y < 120; y++)
		for (int x = 0; x < w; x++)
			fb->px[(size_t)y * fb->stride + x] =
			    (uint32_t)(x & 0xff) << 16 | (uint32_t)((y * 9) & 0xff) << 8 | 0x40;
	pg_fb_fill(fb, &(struct pg_rect){10 + (i * 4) % (w - 30), 200, 16, 16}, 0xffffff);
}

static void write_ppm(const char *dir, int i, const struct pg_fb *fb)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/frame_%d.ppm", dir, i);
	FILE *f = fopen(path, "wb");
	if (!f)
		die("cannot write a picture");
	fprintf(f, "P6\n%d %d\n255\n", fb->w, fb->h);
	for (int y = 0; y < fb->h; y++)
		for (int x = 0; x < fb->w; x++) {
			uint32_t p = fb->px[(size_t)y * fb->stride + x];
			uint8_t rgb[3] = {(uint8_t)(p >> 16), (uint8_t)(p >> 8), (uint8_t)p};
			fwrite(rgb, 1, 3, f);
		}
	if (fclose(f))
		die("cannot write a picture");
}

static int events;

static void event(struct pg_rec_writer *w, uint64_t t, const char *json)
{
	if (pg_rec_writer_put(w, PG_REC_EVENT, 0, t, json, strlen(json)))
		die("put event");
	events++;
}

int main(int argc, char **argv)
{
	char err[256], ev[160];
	if (argc != 3)
		die("usage: pg-rec-gen OUT.pgrec PICTURE_DIR");
	const char *meta =
	    "{\"format\":\"pixelgate-recording\",\"version\":1,\"session\":\"00112233445566ff\","
	    "\"user\":\"e2e-user\",\"browser_host\":\"127.0.0.1:5999\","
	    "\"started\":\"2026-01-02T03:04:05+09:00\",\"width\":320,\"height\":240}";
	struct pg_rec_writer *w = pg_rec_writer_open(argv[1], meta, 0, 64u << 20, err, sizeof(err));
	if (!w)
		die(err);
	struct pg_enc_opts opts = {
	    .quality = -1, .fine_quality = -1, .subsampling = -1, .compress = -1};
	struct pg_encoder *enc = pg_encoder_new(PG_ENC_TIGHT, &pg_pixfmt_canonical, &opts);
	struct pg_buf out;
	struct pg_fb prev = {0};
	if (!enc)
		die("pg_encoder_new");
	pg_buf_init(&out, 64u << 20);
	event(w, 50000,
	      "{\"event\":\"viewer-join\",\"user\":\"e2e-user\",\"address\":\"127.0.0.1\"}");
	int keys = 0;
	for (int i = 0; i < 60; i++) {
		struct pg_fb fb;
		draw(&fb, i);
		bool key = i % 10 == 0;
		struct pg_rect r = {0, 0, fb.w, fb.h};
		if (!key) {
			/* What changed: the moving square's row, and the background when it
			 * changed colour (frame 20). */
			r = i == 20 ? r : (struct pg_rect){0, 200, fb.w, 16};
		}
		pg_buf_reset(&out);
		if (pg_rec_encode_update(enc, &fb, &r, 1, key, &out))
			die("pg_rec_encode_update");
		if (pg_rec_writer_put(w, PG_REC_FRAME, key ? PG_REC_FLAG_KEY : 0,
				      (uint64_t)i * 100000, out.data, out.len))
			die("put frame");
		keys += key;
		if (i == 10 || i == 35 || i == 45 || i == 59)
			write_ppm(argv[2], i, &fb);
		if (i % 10 == 5) {
			snprintf(ev, sizeof(ev),
				 "{\"event\":\"key\",\"viewer\":\"1\",\"down\":true,\"keysym\":%d}",
				 0x61 + i / 10);
			event(w, (uint64_t)i * 100000 + 1000, ev);
		}
		if (i == 25)
			event(w, 2500000 + 2000,
			      "{\"event\":\"clipboard\",\"direction\":\"to_browser\",\"decision\":"
			      "\"denied\",\"bytes\":12,\"reason\":\"policy\"}");
		pg_fb_free(&prev);
		prev = fb;
	}
	event(w, 6000000, "{\"event\":\"viewer-leave\",\"viewer\":\"1\"}");
	pg_fb_free(&prev);
	pg_buf_free(&out);
	pg_encoder_del(enc);
	struct pg_rec_result res;
	if (pg_rec_writer_close(w, "{\"reason\":\"generator done\"}", &res))
		die(res.why);
	printf("frames 60 key %d events %d duration_us %" PRIu64 " sha256 %s\n", keys, events,
	       res.duration_us, res.sha256);
	return 0;
}
