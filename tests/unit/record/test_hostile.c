/* Damaged and hostile recordings: each is refused or stopped with the byte offset
 * and the reason, never read past its end (every input is copied to a buffer of
 * exactly its size, so ASan sees an over-read). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "codec/err.h"
#include "codec/rfb.h"
#include "rec_util.h"

struct file {
	uint8_t b[4096];
	size_t n;
};

static void put(struct file *f, const void *p, size_t n)
{
	cr_assert_leq(f->n + n, sizeof(f->b));
	memcpy(f->b + f->n, p, n);
	f->n += n;
}

static void put32(struct file *f, uint32_t v)
{
	uint8_t b[4];
	pg_wr32(b, v);
	put(f, b, 4);
}

static void header(struct file *f, uint32_t version)
{
	f->n = 0;
	put(f, PG_REC_MAGIC, 8);
	put32(f, version);
	put32(f, 0);
}

static void rec(struct file *f, int type, int flags, uint16_t reserved, uint32_t len, uint64_t t,
		const void *p, size_t plen)
{
	uint8_t h[8] = {(uint8_t)type, (uint8_t)flags};
	pg_wr16(h + 2, reserved);
	pg_wr32(h + 4, len);
	put(f, h, 8);
	put32(f, (uint32_t)(t >> 32));
	put32(f, (uint32_t)t);
	if (plen)
		put(f, p, plen);
}

static void meta(struct file *f)
{
	header(f, 1);
	rec(f, PG_REC_META, 0, 0, strlen(RU_META), 0, RU_META, strlen(RU_META));
}

/* Open a copy of f of exactly its size; NULL with err when refused. */
static struct pg_rec_reader *open_copy(const struct file *f, uint8_t **copy, char *err,
				       size_t err_size)
{
	*copy = malloc(f->n ? f->n : 1);
	memcpy(*copy, f->b, f->n);
	return pg_rec_reader_open_mem(*copy, f->n, err, err_size);
}

static void expect_refused(const struct file *f, const char *want)
{
	char err[256] = "";
	uint8_t *copy;
	struct pg_rec_reader *r = open_copy(f, &copy, err, sizeof(err));
	cr_assert_null(r, "accepted; wanted '%s'", want);
	cr_assert(strstr(err, want), "'%s' does not say '%s'", err, want);
	free(copy);
}

Test(hostile, headers_and_meta_are_checked)
{
	struct file f;
	header(&f, 1);
	f.n = 10;
	expect_refused(&f, "offset 0: the file is 10 bytes");
	header(&f, 1);
	f.b[5] = 'X';
	expect_refused(&f, "offset 0: not a pixelgate recording");
	header(&f, 2);
	expect_refused(&f, "offset 8: format version 2");
	header(&f, 1);
	f.b[15] = 1;
	expect_refused(&f, "offset 12: reserved");
	header(&f, 1);
	expect_refused(&f, "offset 16: the file stops before the META record");
	header(&f, 1);
	rec(&f, PG_REC_FRAME, 0, 0, 0, 0, NULL, 0);
	expect_refused(&f, "offset 16: the first record is of type 2, not META");
	header(&f, 1);
	rec(&f, PG_REC_META, 0, 0, 0xffffffffu, 0, NULL, 0);
	expect_refused(&f, "offset 16: META record header is malformed");
	header(&f, 1);
	rec(&f, PG_REC_META, 0, 0, 100, 0, "{}", 2);
	expect_refused(&f, "offset 16: the file stops inside the META record");
	header(&f, 1);
	rec(&f, PG_REC_META, 0, 0, 5, 0, "{\"a\":", 5);
	expect_refused(&f, "offset 16: META is not JSON");
	header(&f, 1);
	rec(&f, PG_REC_META, 0, 0, 2, 0, "[]", 2);
	expect_refused(&f, "offset 16: META is not a JSON object");

	static const char *const bad[] = {
	    "{\"format\":\"other\",\"version\":1,\"width\":10,\"height\":10}",
	    "{\"format\":\"pixelgate-recording\",\"version\":2,\"width\":10,\"height\":10}",
	    "{\"format\":\"pixelgate-recording\",\"version\":1,\"width\":0,\"height\":10}",
	    "{\"format\":\"pixelgate-recording\",\"version\":1,\"width\":10,\"height\":99999}",
	    "{\"format\":\"pixelgate-recording\",\"version\":1,\"width\":\"10\",\"height\":10}",
	};
	static const char *const why[] = {"\"format\"", "\"version\"", "\"width\"", "\"width\"",
					  "\"width\""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		header(&f, 1);
		rec(&f, PG_REC_META, 0, 0, strlen(bad[i]), 0, bad[i], strlen(bad[i]));
		expect_refused(&f, why[i]);
	}
	/* Unknown META fields are fine. */
	const char *ok = "{\"format\":\"pixelgate-recording\",\"version\":1,\"width\":10,"
			 "\"height\":10,\"future\":[1,2]}";
	header(&f, 1);
	rec(&f, PG_REC_META, 0, 0, strlen(ok), 0, ok, strlen(ok));
	char err[256];
	uint8_t *copy;
	struct pg_rec_reader *r = open_copy(&f, &copy, err, sizeof(err));
	cr_assert_not_null(r, "%s", err);
	pg_rec_reader_del(r);
	free(copy);
}

/* The state after reading every record of f, and the reader's message. */
static enum pg_rec_end read_all(const struct file *f, char *msg, size_t msg_size, int *last_rc)
{
	char err[256];
	uint8_t *copy;
	struct pg_rec_reader *r = open_copy(f, &copy, err, sizeof(err));
	cr_assert_not_null(r, "%s", err);
	struct pg_rec_record rc;
	int n;
	while ((n = pg_rec_reader_next(r, &rc)) == 1)
		;
	*last_rc = n;
	struct pg_rec_stats st;
	cr_assert_eq(pg_rec_reader_index(r, &st), 0);
	snprintf(msg, msg_size, "%s", st.end_why);
	pg_rec_reader_del(r);
	free(copy);
	return st.end;
}

static void expect_damaged(const struct file *f, const char *want)
{
	char msg[256];
	int rc;
	cr_assert_eq(read_all(f, msg, sizeof(msg), &rc), PG_REC_DAMAGED, "not damaged: %s", msg);
	cr_assert_lt(rc, 0);
	cr_assert(strstr(msg, want), "'%s' does not say '%s'", msg, want);
}

Test(hostile, records_are_checked)
{
	struct file f;
	size_t at = 16 + 16 + strlen(RU_META);
	char want[96];

	meta(&f);
	rec(&f, PG_REC_EVENT, 0, 0, (64u << 20) + 1, 5, NULL, 0);
	snprintf(want, sizeof(want), "offset %zu: record type 3: payload length 67108865 over", at);
	expect_damaged(&f, want);

	meta(&f);
	rec(&f, PG_REC_EVENT, 0, 0xbeef, 2, 5, "{}", 2);
	snprintf(want, sizeof(want), "offset %zu: record type 3: reserved bytes 0xbeef", at);
	expect_damaged(&f, want);

	meta(&f);
	rec(&f, PG_REC_EVENT, 0, 0, 2, 500, "{}", 2);
	rec(&f, PG_REC_EVENT, 0, 0, 2, 499, "{}", 2);
	snprintf(want, sizeof(want), "offset %zu: record type 3: time 499 us before", at + 18);
	expect_damaged(&f, want);

	meta(&f);
	rec(&f, PG_REC_META, 0, 0, 2, 0, "{}", 2);
	expect_damaged(&f, "a second META record");

	meta(&f);
	rec(&f, PG_REC_END, 0, 0, 2, 0, "{}", 2);
	put(&f, "junk", 4);
	snprintf(want, sizeof(want), "offset %zu: 4 bytes after the END record", at + 18);
	expect_damaged(&f, want);

	/* A huge declared length on the last record is a file cut short, not damage:
	 * nothing is allocated for it. */
	meta(&f);
	rec(&f, PG_REC_FRAME, 1, 0, 60u << 20, 0, "\0\0", 2);
	char msg[256];
	int rc;
	cr_assert_eq(read_all(&f, msg, sizeof(msg), &rc), PG_REC_CUT);
	cr_assert_eq(rc, 0);
	snprintf(want, sizeof(want), "offset %zu: the file stops inside a record (type 2, 2 of",
		 at);
	cr_assert(strstr(msg, want), "%s", msg);

	/* Unknown types, types 0 and 255 included, are skipped. */
	meta(&f);
	rec(&f, 0, 0, 0, 3, 1, "abc", 3);
	rec(&f, 255, 0xff, 0, 0, 2, NULL, 0);
	rec(&f, PG_REC_END, 0, 0, 2, 3, "{}", 2);
	cr_assert_eq(read_all(&f, msg, sizeof(msg), &rc), PG_REC_CLEAN);
}

/* Play f to its end: the player's result and message. */
static int play(const struct file *f, char *msg, size_t msg_size)
{
	char err[256];
	uint8_t *copy;
	struct pg_rec_reader *r = open_copy(f, &copy, err, sizeof(err));
	cr_assert_not_null(r, "%s", err);
	struct pg_rec_player *p = pg_rec_player_new(r);
	int rc = pg_rec_player_advance(p, UINT64_MAX, NULL, NULL);
	snprintf(msg, msg_size, "%s", pg_rec_player_error(p));
	pg_rec_player_del(p);
	pg_rec_reader_del(r);
	free(copy);
	return rc;
}

static void frame(struct file *f, const void *p, size_t n)
{
	meta(f);
	rec(f, PG_REC_FRAME, 0, 0, (uint32_t)n, 0, p, n);
}

static void expect_bad_frame(const void *p, size_t n, const char *want)
{
	struct file f;
	char msg[256];
	frame(&f, p, n);
	cr_assert_lt(play(&f, msg, sizeof(msg)), 0, "accepted, wanted '%s'", want);
	cr_assert(strstr(msg, want), "'%s' does not say '%s'", msg, want);
	/* "frame at offset" names the record. */
	char at[64];
	snprintf(at, sizeof(at), "frame at offset %zu", 32 + strlen(RU_META));
	cr_assert(strstr(msg, at), "'%s' does not name '%s'", msg, at);
}

Test(hostile, frames_are_checked)
{
	/* u8 type, pad, u16 count, then rectangles: x, y, w, h, s32 encoding */
	static const uint8_t not_update[] = {3, 0, 0, 0};
	expect_bad_frame(not_update, sizeof(not_update), "not a FramebufferUpdate");
	static const uint8_t short_hdr[] = {0, 0, 0, 1, 0, 0, 0};
	expect_bad_frame(short_hdr, sizeof(short_hdr), "ends inside its header");
	static const uint8_t outside[] = {0, 0, 0, 1, 0, 60, 0, 0, 0, 10, 0, 1, 0, 0, 0, 0};
	expect_bad_frame(outside, sizeof(outside), "10x1 at 60,0 is empty or outside the 64x48");
	static const uint8_t raw_short[] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0, 1, 2};
	expect_bad_frame(raw_short, sizeof(raw_short), "ends inside the rectangle (encoding 0)");
	static const uint8_t huge[] = {0,    0,	   0, 1, 0,    0,    0,	   0,
				       0x23, 0x29, 0, 1, 0xff, 0xff, 0xff, 0x21};
	expect_bad_frame(huge, sizeof(huge), "new size 9001x1 outside 1..8192");
	static const uint8_t cursor[] = {0, 0, 0, 1, 0,	   0,	 0,    0,
					 0, 1, 0, 1, 0xff, 0xff, 0xff, 0x11};
	expect_bad_frame(cursor, sizeof(cursor), "encoding -239");
	static const uint8_t tail[] = {0, 0, 0, 0, 9};
	expect_bad_frame(tail, sizeof(tail), "1 bytes after its last rectangle");
	/* Tight with a zlib stream that is not zlib. */
	static const uint8_t tight[] = {0, 0,  0,  1,	 0,  0,	 0,  0,	 0,  8,	 0,  8, 0,
					0, 0,  7,  0x00, 20, 1,	 2,  3,	 4,  5,	 6,  7, 8,
					9, 10, 11, 12,	 13, 14, 15, 16, 17, 18, 19, 20};
	expect_bad_frame(tight, sizeof(tight), "rectangle 0 at offset");

	/* A resize then a rectangle in the new size: fine. */
	static const uint8_t resize[] = {0, 0,	  0,	2,    0,    0, 0,  0, 0, 100, 0,
					 2, 0xff, 0xff, 0xff, 0x21, 0, 90, 0, 0, 0,   1,
					 0, 1,	  0,	0,    0,    0, 1,  2, 3, 0};
	struct file f;
	char msg[256];
	frame(&f, resize, sizeof(resize));
	cr_assert_eq(play(&f, msg, sizeof(msg)), 0, "%s", msg);
}
