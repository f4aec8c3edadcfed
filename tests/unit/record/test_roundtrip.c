/* Recordings written and read back: records as they were put, pictures at any time
 * equal to the source pictures, seeking to the right KEY frame, files cut short
 * anywhere in their last record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "rec_util.h"

static void teardown(void)
{
	ru_cleanup();
}

TestSuite(roundtrip, .fini = teardown);

static const struct ru_plan plan = {.frames = 40, .key_every = 8, .resize_at = 21};

static char *make(const char *name, struct pg_rec_result *res)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", ru_dir(), name);
	ru_make(path, &plan, res);
	return path;
}

Test(roundtrip, records_come_back_as_written)
{
	struct pg_rec_result res;
	char err[256], hex[65];
	const char *path = make("a.pgrec", &res);

	cr_assert_eq(res.error, 0);
	/* header + META + 40 frames + 40 events + END */
	cr_assert_eq(res.records, 1 + 2 * 40 + 1);
	cr_assert_eq(res.duration_us, 39 * RU_STEP_US + RU_STEP_US / 2);
	ru_sha256_file(path, hex);
	cr_assert_str_eq(hex, res.sha256);

	struct pg_rec_reader *r = pg_rec_reader_open(path, err, sizeof(err));
	cr_assert_not_null(r, "%s", err);
	const struct pg_rec_meta *m = pg_rec_reader_meta(r);
	cr_assert_eq(m->width, 64);
	cr_assert_eq(m->height, 48);
	cr_assert_str_eq(m->json, RU_META);

	struct pg_rec_record rec;
	for (int i = 0; i < 40; i++) {
		cr_assert_eq(pg_rec_reader_next(r, &rec), 1, "%s", pg_rec_reader_error(r));
		cr_assert_eq(rec.type, PG_REC_FRAME);
		cr_assert_eq(rec.time_us, (uint64_t)i * RU_STEP_US);
		bool key = i % 8 == 0 || i == 21;
		cr_assert_eq(rec.flags, key ? PG_REC_FLAG_KEY : 0, "frame %d", i);
		cr_assert_eq(pg_rec_reader_next(r, &rec), 1);
		cr_assert_eq(rec.type, PG_REC_EVENT);
		char ev[96];
		snprintf(ev, sizeof(ev), "{\"event\":\"key\",\"viewer\":\"1\",\"n\":%d}", i);
		cr_assert_eq(rec.len, strlen(ev));
		cr_assert_str_eq((const char *)rec.data, ev);
	}
	cr_assert_eq(pg_rec_reader_next(r, &rec), 1);
	cr_assert_eq(rec.type, PG_REC_END);
	cr_assert_str_eq((const char *)rec.data, "{\"reason\":\"test done\"}");
	cr_assert_eq(pg_rec_reader_next(r, &rec), 0);
	cr_assert_eq(pg_rec_reader_next(r, &rec), 0);

	struct pg_rec_stats st;
	cr_assert_eq(pg_rec_reader_index(r, &st), 0);
	cr_assert_eq(st.frames, 40);
	cr_assert_eq(st.key_frames, 6); /* 0 8 16 21 24 32 */
	cr_assert_eq(st.events, 40);
	cr_assert_eq(st.unknown, 0);
	cr_assert_eq(st.end, PG_REC_CLEAN);
	cr_assert_str_eq(st.end_json, "{\"reason\":\"test done\"}");
	cr_assert_eq(pg_rec_reader_sha256(r, hex), 0);
	cr_assert_str_eq(hex, res.sha256);
	pg_rec_reader_del(r);
}

Test(roundtrip, seek_lands_on_the_last_key_frame)
{
	struct pg_rec_result res;
	char err[256];
	const char *path = make("s.pgrec", &res);
	struct pg_rec_reader *r = pg_rec_reader_open(path, err, sizeof(err));
	cr_assert_not_null(r, "%s", err);
	static const struct {
		uint64_t t, key;
	} cases[] = {
	    {0, 0},
	    {5 * RU_STEP_US, 0},
	    {8 * RU_STEP_US - 1, 0},
	    {8 * RU_STEP_US, 8 * RU_STEP_US},
	    {20 * RU_STEP_US + 99, 16 * RU_STEP_US},
	    {21 * RU_STEP_US, 21 * RU_STEP_US},
	    {23 * RU_STEP_US, 21 * RU_STEP_US},
	    {1000 * RU_STEP_US, 32 * RU_STEP_US},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(pg_rec_reader_seek(r, cases[i].t), cases[i].key, "t %llu",
			     (unsigned long long)cases[i].t);
		struct pg_rec_record rec;
		cr_assert_eq(pg_rec_reader_next(r, &rec), 1);
		cr_assert_eq(rec.type, PG_REC_FRAME);
		cr_assert_eq(rec.time_us, cases[i].key);
	}
	pg_rec_reader_del(r);
}

static void expect_picture(struct pg_rec_player *p, uint64_t t)
{
	struct pg_fb want;
	int i = ru_frame_at(t);
	if (i >= plan.frames)
		i = plan.frames - 1;
	ru_picture(&plan, i, &want);
	const struct pg_fb *got = pg_rec_player_fb(p);
	cr_assert(ru_fb_equal(got, &want), "t %llu: picture %d differs (%dx%d, want %dx%d)",
		  (unsigned long long)t, i, got->w, got->h, want.w, want.h);
	pg_fb_free(&want);
}

Test(roundtrip, picture_at_any_time_is_the_source_picture)
{
	struct pg_rec_result res;
	char err[256];
	const char *path = make("p.pgrec", &res);
	struct pg_rec_reader *r = pg_rec_reader_open(path, err, sizeof(err));
	cr_assert_not_null(r, "%s", err);

	/* Forward frame by frame, every picture. */
	struct pg_rec_player *p = pg_rec_player_new(r);
	cr_assert_not_null(p);
	for (int i = 0; i < plan.frames; i++) {
		uint64_t t = (uint64_t)i * RU_STEP_US + 10;
		int rc = pg_rec_player_advance(p, t, NULL, NULL);
		cr_assert_geq(rc, 0, "%s", pg_rec_player_error(p));
		expect_picture(p, t);
	}
	cr_assert_eq(pg_rec_player_advance(p, 100 * RU_STEP_US, NULL, NULL), 0);
	expect_picture(p, 100 * RU_STEP_US);
	pg_rec_player_del(p);

	/* Jumps back and forth, each from a fresh player and on one player. */
	static const uint64_t ts[] = {
	    33 * RU_STEP_US + 5,
	    3 * RU_STEP_US,
	    20 * RU_STEP_US + 1,
	    21 * RU_STEP_US,
	    22 * RU_STEP_US,
	    8 * RU_STEP_US - 1,
	    0,
	    39 * RU_STEP_US,
	    15 * RU_STEP_US,
	    16 * RU_STEP_US,
	};
	struct pg_rec_player *one = pg_rec_player_new(r);
	for (size_t k = 0; k < sizeof(ts) / sizeof(ts[0]); k++) {
		p = pg_rec_player_new(r);
		cr_assert_geq(pg_rec_player_advance(p, ts[k], NULL, NULL), 0, "%s",
			      pg_rec_player_error(p));
		expect_picture(p, ts[k]);
		pg_rec_player_del(p);
	}
	for (size_t k = 0; k < sizeof(ts) / sizeof(ts[0]); k++) {
		cr_assert_geq(pg_rec_player_advance(one, ts[k], NULL, NULL), 0, "%s",
			      pg_rec_player_error(one));
		expect_picture(one, ts[k]);
	}
	pg_rec_player_del(one);
	pg_rec_reader_del(r);
}

static void count_event(void *ctx, const struct pg_rec_record *rec)
{
	(*(int *)ctx)++;
}

Test(roundtrip, cut_anywhere_in_the_last_record_reads_to_the_one_before)
{
	struct pg_rec_result res;
	char err[256];
	const char *path = make("c.pgrec", &res);
	size_t len;
	uint8_t *all = ru_slurp(path, &len);

	/* Offsets of the last FRAME record and of END. */
	struct pg_rec_reader *r = pg_rec_reader_open_mem(all, len, err, sizeof(err));
	cr_assert_not_null(r, "%s", err);
	struct pg_rec_record rec;
	uint64_t last_frame = 0, last_event = 0, end = 0;
	while (pg_rec_reader_next(r, &rec) == 1) {
		if (rec.type == PG_REC_FRAME)
			last_frame = rec.offset;
		if (rec.type == PG_REC_EVENT)
			last_event = rec.offset;
		if (rec.type == PG_REC_END)
			end = rec.offset;
	}
	pg_rec_reader_del(r);
	cr_assert(last_frame > 0 && end > last_frame);

	/* Every 3 bytes, and each record boundary. */
	for (size_t cut = (size_t)last_frame; cut<len; cut = cut + 3> last_event && cut < last_event
						  ? last_event
					      : cut + 3 > end && cut < end ? end
									   : cut + 3) {
		uint8_t *part = malloc(cut);
		memcpy(part, all, cut);
		r = pg_rec_reader_open_mem(part, cut, err, sizeof(err));
		cr_assert_not_null(r, "cut %zu: %s", cut, err);
		struct pg_rec_stats st;
		cr_assert_eq(pg_rec_reader_index(r, &st), 0);
		bool frame_whole = cut >= last_event;
		cr_assert_eq(st.frames, frame_whole ? 40 : 39, "cut %zu", cut);
		if (cut == last_frame || cut == last_event || cut == end) {
			cr_assert_eq(st.end, PG_REC_NO_END, "cut %zu", cut);
		} else {
			cr_assert_eq(st.end, PG_REC_CUT, "cut %zu", cut);
			cr_assert(strstr(st.end_why, "the file stops inside"), "%s", st.end_why);
		}
		/* It plays to its last whole frame. */
		struct pg_rec_player *p = pg_rec_player_new(r);
		int events = 0;
		cr_assert_eq(pg_rec_player_advance(p, 1000 * RU_STEP_US, count_event, &events), 0,
			     "%s", pg_rec_player_error(p));
		expect_picture(p, (frame_whole ? 39 : 38) * (uint64_t)RU_STEP_US);
		pg_rec_player_del(p);
		pg_rec_reader_del(r);
		free(part);
	}
	free(all);
}

Test(roundtrip, unknown_records_are_skipped_and_counted)
{
	struct pg_rec_result res;
	char err[256];
	const char *path = make("u.pgrec", &res);
	size_t len;
	uint8_t *all = ru_slurp(path, &len);
	/* Make the first EVENT a record of type 77. */
	struct pg_rec_reader *r = pg_rec_reader_open_mem(all, len, err, sizeof(err));
	struct pg_rec_record rec;
	while (pg_rec_reader_next(r, &rec) == 1 && rec.type != PG_REC_EVENT)
		;
	uint64_t off = rec.offset;
	pg_rec_reader_del(r);
	all[off] = 77;

	r = pg_rec_reader_open_mem(all, len, err, sizeof(err));
	struct pg_rec_stats st;
	cr_assert_eq(pg_rec_reader_index(r, &st), 0);
	cr_assert_eq(st.unknown, 1);
	cr_assert_eq(st.events, 39);
	cr_assert_eq(st.end, PG_REC_CLEAN);
	int events = 0;
	while (pg_rec_reader_next(r, &rec) == 1) {
		cr_assert_neq(rec.type, 77);
		events += rec.type == PG_REC_EVENT;
	}
	cr_assert_eq(events, 39);
	pg_rec_reader_del(r);
	free(all);
}
