/* Shared by the recording tests: synthetic pictures, recordings made from them,
 * temporary folders and whole files in memory. */
#ifndef PG_TEST_REC_UTIL_H
#define PG_TEST_REC_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "codec/fb.h"
#include "record/recfile.h"

#define RU_META                                                                                    \
	"{\"format\":\"pixelgate-recording\",\"version\":1,\"session\":\"0123456789abcdef\","      \
	"\"user\":\"staff01\",\"browser_host\":\"127.0.0.1:5901\",\"started\":"                    \
	"\"2026-01-02T03:04:05+09:00\",\"width\":64,\"height\":48}"

/* How the synthetic recordings are made: frame i at time i * RU_STEP_US, of size
 * 64x48 before frame resize_at and 80x40 from it, a KEY frame every key_every
 * frames and at the resize, an EVENT after every frame. */
#define RU_STEP_US 100000
struct ru_plan {
	int frames, key_every, resize_at;
};

/* Picture i of plan (allocated; pg_fb_free it). */
void ru_picture(const struct ru_plan *plan, int i, struct pg_fb *fb);
/* Write plan's recording to path with END; res filled. Asserts on failure. */
void ru_make(const char *path, const struct ru_plan *plan, struct pg_rec_result *res);
/* The index of the picture shown at t_us (the last frame at or before it). */
int ru_frame_at(uint64_t t_us);
/* True when a and b hold the same size and pixels. */
int ru_fb_equal(const struct pg_fb *a, const struct pg_fb *b);

/* A new temporary folder's path for this test process; removed by ru_cleanup. */
const char *ru_dir(void);
void ru_cleanup(void);
/* A whole file in memory (free it); *len its size. */
uint8_t *ru_slurp(const char *path, size_t *len);
/* SHA-256 of a file as hex. */
void ru_sha256_file(const char *path, char hex[65]);

#endif
