/* Session recordings (record/recfile.h) as pixelgate-replay reads them: the whole
 * input is one file, opened from memory. Every record is read, the index built,
 * then a player decodes forward to the end and seeks back to times taken from the
 * file's own length. A refusal must name an offset; the reader must stop at the
 * same place twice; a player's failure must say where. */
#include <stdlib.h>
#include <string.h>

#include "record/recfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	/* Exactly size bytes, so an over-read is ASan's to see. */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	struct pg_rec_reader *r = pg_rec_reader_open_mem(copy, size, err, sizeof(err));
	if (!r) {
		if (strncmp(err, "offset ", 7))
			abort();
		free(copy);
		return 0;
	}
	struct pg_rec_record rec;
	int rc;
	uint64_t n = 0, last = 0;
	while ((rc = pg_rec_reader_next(r, &rec)) == 1) {
		if (rec.time_us < last || rec.offset + 16 + rec.len > size || !rec.data ||
		    rec.data[rec.len] != '\0')
			abort();
		last = rec.time_us;
		n++;
	}
	if (rc < 0 && strncmp(pg_rec_reader_error(r), "offset ", 7))
		abort();
	struct pg_rec_stats st;
	if (pg_rec_reader_index(r, &st) == 0) {
		if ((st.end == PG_REC_DAMAGED) != (rc < 0))
			abort();
		if (st.frames + st.events + (st.end == PG_REC_CLEAN) > n)
			abort();
	}
	struct pg_rec_player *p = pg_rec_player_new(r);
	if (p) {
		uint64_t ts[4] = {UINT64_MAX, st.duration_us / 2, 0, st.duration_us};
		for (int i = 0; i < 4; i++) {
			rc = pg_rec_player_advance(p, ts[i], NULL, NULL);
			if (rc < 0 && !strstr(pg_rec_player_error(p), "offset"))
				abort();
			const struct pg_fb *fb = pg_rec_player_fb(p);
			if (fb->w < 1 || fb->h < 1 || fb->w > PG_FB_MAX_SIDE ||
			    fb->h > PG_FB_MAX_SIDE)
				abort();
			bool resized;
			struct pg_rect d = pg_rec_player_take_damage(p, &resized);
			if (!pg_rect_empty(&d) && !pg_rect_inside(&d, fb->w, fb->h))
				abort();
		}
		pg_rec_player_del(p);
	}
	pg_rec_reader_del(r);
	free(copy);
	return 0;
}
