/* Session recordings (docs/recording-format.md): a 16-byte header, then records of
 * META, FRAME (one RFB FramebufferUpdate in the canonical pixel format), EVENT and
 * END, each with a time in microseconds since the recording started.
 *
 * The writer belongs to the relay's event loop and never blocks it on the disk: a
 * thread of its own writes, behind a queue with a byte cap. The reader and the
 * player are for the replay tool and the tests; every length they read is bounded
 * and every failure names the byte offset where the file went wrong. */
#ifndef PG_RECORD_RECFILE_H
#define PG_RECORD_RECFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/buf.h"
#include "codec/encoder.h"
#include "codec/fb.h"

#define PG_REC_MAGIC	   "PGREC\0\r\n"
#define PG_REC_VERSION	   1
#define PG_REC_HEADER_LEN  16
#define PG_REC_RECHDR_LEN  16
#define PG_REC_MAX_PAYLOAD (64u << 20) /* bytes of one record's payload */
/* Room the writer keeps under max_bytes for the END record (header included). */
#define PG_REC_END_RESERVE 4096

#define PG_REC_META  1
#define PG_REC_FRAME 2
#define PG_REC_EVENT 3
#define PG_REC_END   4

#define PG_REC_FLAG_KEY 0x01

/* ---- Writer ---- */

struct pg_rec_writer;

/* Create path (O_EXCL, O_NOFOLLOW, mode 0640), start the writer thread, queue the
 * header and the META record (meta_json, a JSON object). max_bytes: the file never
 * grows beyond it; a record that would pass it (with PG_REC_END_RESERVE kept for
 * END) stops the recording with -EFBIG. max_queue: bytes waiting for the disk; a put
 * that would pass it stops the recording with -ENOBUFS. 0 for either: no limit.
 * NULL with err on failure (the file is then removed). */
struct pg_rec_writer *pg_rec_writer_open(const char *path, const char *meta_json,
					 uint64_t max_bytes, size_t max_queue, char *err,
					 size_t err_size);
/* The same on an open fd, which the writer then owns (closes, on failure too).
 * For tests with /dev/full and pipes; on a pipe or device nothing is cut back or
 * synced. */
struct pg_rec_writer *pg_rec_writer_fdopen(int fd, const char *meta_json, uint64_t max_bytes,
					   size_t max_queue, char *err, size_t err_size);
/* Queue one record (data is copied). 0, or the negative errno that stopped the
 * recording (-ENOSPC, -EIO, -EFBIG, -ENOBUFS, ...): after the first such error every
 * put returns it and nothing more is queued. -EINVAL for a type outside 1..255 or a
 * payload over PG_REC_MAX_PAYLOAD, which does not stop the recording. A time_us
 * below the last one is written as the last one (times never decrease). Never waits
 * for the disk. Called from one thread. */
int pg_rec_writer_put(struct pg_rec_writer *w, int type, int flags, uint64_t time_us,
		      const void *data, size_t len);
/* The error that stopped the recording (negative errno) or 0, with a message such as
 * "write: No space left on device after 1234567 bytes" in why. Thread-safe, cheap. */
int pg_rec_writer_error(struct pg_rec_writer *w, char *why, size_t why_size);

struct pg_rec_result {
	uint64_t bytes;	      /* the file's size as left on disk */
	uint64_t records;     /* whole records in it, META and END included */
	uint64_t duration_us; /* time of the last record */
	int error;	      /* what stopped the recording, 0 if nothing did */
	char why[256];
	char sha256[65]; /* of the file's bytes as left on disk, lower-case hex */
};

/* Queue END (end_json, when not NULL, at most PG_REC_END_RESERVE - 16 bytes, and no
 * write to the disk has failed: a recording stopped by max_bytes or max_queue still
 * ends cleanly), write what is queued, fdatasync, close, join the thread, free w. May block on the
 * disk: call it off the event loop. Fills res (may be NULL); returns res->error. */
int pg_rec_writer_close(struct pg_rec_writer *w, const char *end_json, struct pg_rec_result *res);

/* Append one FramebufferUpdate for rectangles r[0..n) of fb to out, encoded by enc
 * (Tight lossless or Raw, in pg_pixfmt_canonical). key: restart enc first and begin
 * with a DesktopSize rectangle of fb's size, so the update decodes from nothing and
 * paints the whole picture when r covers it. 0 or a negative PG_E code; on error out
 * keeps its old length. */
int pg_rec_encode_update(struct pg_encoder *enc, const struct pg_fb *fb, const struct pg_rect *r,
			 int n, bool key, struct pg_buf *out);

/* ---- Reader ---- */

struct pg_rec_reader;

struct pg_rec_record {
	int type, flags;
	uint64_t time_us;
	uint64_t offset;     /* of the record's header in the file */
	const uint8_t *data; /* payload, valid until the next call on the reader */
	size_t len;
};

/* What the META record says that the reader itself needs. */
struct pg_rec_meta {
	int width, height;
	const char *json; /* the META payload, NUL-terminated, owned by the reader */
	size_t json_len;
};

/* Open a recording read-only and check its header and first record (META, a JSON
 * object naming the format, version 1 and a width and height in
 * 1..PG_FB_MAX_SIDE). NULL with err ("offset 16: ...") on failure. */
struct pg_rec_reader *pg_rec_reader_open(const char *path, char *err, size_t err_size);
/* The same over len bytes at data, which must outlive the reader (fuzzing, tests). */
struct pg_rec_reader *pg_rec_reader_open_mem(const void *data, size_t len, char *err,
					     size_t err_size);
void pg_rec_reader_del(struct pg_rec_reader *r);
const struct pg_rec_meta *pg_rec_reader_meta(const struct pg_rec_reader *r);

/* The next record after META: 1 with rec filled, 0 at the end (after END, or where
 * the file stops: see pg_rec_reader_state), or a negative PG_E code for a damaged
 * record, with pg_rec_reader_error saying where and why. Records of unknown types
 * are skipped and counted. After 0 or an error it keeps returning the same. */
int pg_rec_reader_next(struct pg_rec_reader *r, struct pg_rec_record *rec);
/* "offset 1234: record payload length 99999999 over the limit 67108864". */
const char *pg_rec_reader_error(const struct pg_rec_reader *r);

/* Go back to the first record after META. */
void pg_rec_reader_rewind(struct pg_rec_reader *r);

enum pg_rec_end {
	PG_REC_OPEN,	/* not read to the end yet */
	PG_REC_CLEAN,	/* an END record closed it */
	PG_REC_NO_END,	/* it stops after a whole record, with no END */
	PG_REC_CUT,	/* it stops inside a record */
	PG_REC_DAMAGED, /* a record is malformed: pg_rec_reader_error */
};

struct pg_rec_stats {
	uint64_t frames, key_frames, events, unknown;
	uint64_t duration_us; /* time of the last whole record */
	enum pg_rec_end end;
	uint64_t end_offset;  /* CLEAN: offset of END; NO_END, CUT, DAMAGED: where it stops */
	char end_why[160];    /* CUT and DAMAGED: why, as pg_rec_reader_error */
	const char *end_json; /* CLEAN: END's payload, NUL-terminated, owned by the reader */
};

/* Read every record's header once (payloads only for END): counts, the end state
 * and the index of KEY frames that pg_rec_reader_seek uses. Rewinds. 0, or a
 * negative code for an I/O error (a damaged file is stats->end == PG_REC_DAMAGED). */
int pg_rec_reader_index(struct pg_rec_reader *r, struct pg_rec_stats *stats);
/* Position the reader at the last KEY frame at or before t_us (the first record
 * after META when there is none): decoding from there needs nothing earlier.
 * Builds the index on first use. Returns the time of that frame (0 for the start). */
uint64_t pg_rec_reader_seek(struct pg_rec_reader *r, uint64_t t_us);

/* SHA-256 of the whole file (or memory) as lower-case hex; 0 or -errno. */
int pg_rec_reader_sha256(struct pg_rec_reader *r, char hex[65]);

/* ---- Player: FRAME records applied to a picture ---- */

struct pg_rec_player;

/* A player over r (which it does not own), at the start: a black picture of META's
 * size. NULL on allocation failure. */
struct pg_rec_player *pg_rec_player_new(struct pg_rec_reader *r);
void pg_rec_player_del(struct pg_rec_player *p);

/* Apply every FRAME up to and including time t_us, seeking back to a KEY frame
 * first when t_us is before what was applied (or far ahead of it, past a KEY
 * frame). 1 when the file has records after t_us, 0 when it ended at or before
 * t_us, or a negative PG_E code with pg_rec_player_error ("frame at offset 4096,
 * rectangle 2 at offset 4130: Tight zlib data invalid"). on_event, when not NULL,
 * is called for each EVENT record passed on the way (not for ones skipped by a
 * seek). */
int pg_rec_player_advance(struct pg_rec_player *p, uint64_t t_us,
			  void (*on_event)(void *ctx, const struct pg_rec_record *rec), void *ctx);
const char *pg_rec_player_error(const struct pg_rec_player *p);

/* The picture as of the last advance. Valid until the next advance. */
const struct pg_fb *pg_rec_player_fb(const struct pg_rec_player *p);
/* Time of the next record not yet applied (when advance returned 1). */
uint64_t pg_rec_player_next_time(const struct pg_rec_player *p);
/* The area changed since the last call (empty when none), and whether the picture
 * was resized or replaced since then (then all of it changed). */
struct pg_rect pg_rec_player_take_damage(struct pg_rec_player *p, bool *resized);

#endif
