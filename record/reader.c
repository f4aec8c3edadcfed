/* The recording reader: records one by one from a file (pread, so a file still
 * being written can be read up to where it was when opened) or from memory. Every
 * length is checked against what is left of the file before anything is read. */
#include "recfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "codec/err.h"

struct key {
	uint64_t offset, time_us;
};

struct pg_rec_reader {
	int fd; /* -1 over memory */
	const uint8_t *mem;
	uint64_t size; /* of the file when opened */

	struct pg_rec_meta meta;
	uint64_t first;	    /* offset of the record after META */
	uint64_t meta_time; /* META's time */

	uint64_t pos;
	uint64_t last_time;
	bool after_end; /* the last record returned was END */
	int done;	/* 0 reading, 1 at the end, < 0 the sticky error */
	char err[160];
	enum pg_rec_end end;
	uint64_t end_offset;

	uint8_t *buf; /* payload, NUL-terminated */
	size_t cap;

	bool indexed;
	struct key *keys;
	size_t nkeys;
	char *end_json;
};

static void fmt(char *buf, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;
	if (!buf || !len)
		return;
	va_start(ap, f);
	vsnprintf(buf, len, f, ap);
	va_end(ap);
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)pg_rd32(p) << 32 | pg_rd32(p + 4);
}

/* Read n bytes at off (which the caller checked lie inside size) into dst. */
static int read_at(struct pg_rec_reader *r, uint64_t off, void *dst, size_t n)
{
	if (r->fd < 0) {
		memcpy(dst, r->mem + off, n);
		return 0;
	}
	size_t done = 0;
	while (done < n) {
		ssize_t got = pread(r->fd, (uint8_t *)dst + done, n - done, (off_t)(off + done));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return -EIO; /* the file shrank under us */
		done += (size_t)got;
	}
	return 0;
}

static int fail(struct pg_rec_reader *r, int code, uint64_t off, const char *f, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct pg_rec_reader *r, int code, uint64_t off, const char *f, ...)
{
	char msg[128];
	va_list ap;
	va_start(ap, f);
	vsnprintf(msg, sizeof(msg), f, ap);
	va_end(ap);
	fmt(r->err, sizeof(r->err), "offset %" PRIu64 ": %s", off, msg);
	r->done = code;
	r->end_offset = off;
	return code;
}

/* The file stops at off, inside a record or after a whole one. */
static int stop(struct pg_rec_reader *r, enum pg_rec_end end, uint64_t off, const char *f, ...)
    __attribute__((format(printf, 4, 5)));
static int stop(struct pg_rec_reader *r, enum pg_rec_end end, uint64_t off, const char *f, ...)
{
	r->err[0] = '\0';
	if (f) {
		char msg[128];
		va_list ap;
		va_start(ap, f);
		vsnprintf(msg, sizeof(msg), f, ap);
		va_end(ap);
		fmt(r->err, sizeof(r->err), "offset %" PRIu64 ": %s", off, msg);
	}
	r->end = end;
	r->end_offset = off;
	r->done = 1;
	return 0;
}

static int load_payload(struct pg_rec_reader *r, uint64_t off, size_t len)
{
	if (len + 1 > r->cap) {
		uint8_t *nb = realloc(r->buf, len + 1);
		if (!nb)
			return fail(r, PG_ENOMEM, off, "out of memory for %zu bytes", len);
		r->buf = nb;
		r->cap = len + 1;
	}
	int rc = read_at(r, off, r->buf, len);
	if (rc < 0)
		return fail(r, rc, off, "read: %s", strerror(-rc));
	r->buf[len] = '\0';
	return 0;
}

/* One record at r->pos: 1, 0 at the end, or the error. want_payload: read it (END's
 * always is). */
static int read_record(struct pg_rec_reader *r, struct pg_rec_record *rec, bool want_payload)
{
	uint8_t h[PG_REC_RECHDR_LEN];
	uint64_t off = r->pos;

	if (r->done)
		return r->done < 0 ? r->done : 0;
	if (r->after_end) {
		if (off == r->size)
			return stop(r, PG_REC_CLEAN, r->end_offset, NULL);
		r->end = PG_REC_DAMAGED;
		return fail(r, PG_EPROTO, off, "%" PRIu64 " bytes after the END record",
			    r->size - off);
	}
	if (off == r->size)
		return stop(r, PG_REC_NO_END, off, NULL);
	if (r->size - off < PG_REC_RECHDR_LEN)
		return stop(r, PG_REC_CUT, off,
			    "the file stops inside a record header (%" PRIu64 " of %d bytes)",
			    r->size - off, PG_REC_RECHDR_LEN);
	int rc = read_at(r, off, h, sizeof(h));
	if (rc < 0)
		return fail(r, rc, off, "read: %s", strerror(-rc));
	uint32_t len = pg_rd32(h + 4);
	uint64_t t = rd64(h + 8);
	r->end = PG_REC_DAMAGED;
	if (pg_rd16(h + 2))
		return fail(r, PG_EPROTO, off, "record type %u: reserved bytes 0x%04x are not zero",
			    h[0], pg_rd16(h + 2));
	if (len > PG_REC_MAX_PAYLOAD)
		return fail(r, PG_ELIMIT, off,
			    "record type %u: payload length %" PRIu32 " over the limit %u", h[0],
			    len, PG_REC_MAX_PAYLOAD);
	if (t < r->last_time)
		return fail(r, PG_EPROTO, off,
			    "record type %u: time %" PRIu64
			    " us before the previous record's %" PRIu64 " us",
			    h[0], t, r->last_time);
	if (h[0] == PG_REC_META)
		return fail(r, PG_EPROTO, off, "a second META record");
	r->end = PG_REC_OPEN;
	if (r->size - off - PG_REC_RECHDR_LEN < len)
		return stop(r, PG_REC_CUT, off,
			    "the file stops inside a record (type %u, %" PRIu64 " of %" PRIu32
			    " payload bytes)",
			    h[0], r->size - off - PG_REC_RECHDR_LEN, len);
	if (want_payload || h[0] == PG_REC_END) {
		rc = load_payload(r, off + PG_REC_RECHDR_LEN, len);
		if (rc < 0)
			return rc;
	}
	*rec = (struct pg_rec_record){
	    .type = h[0],
	    .flags = h[1],
	    .time_us = t,
	    .offset = off,
	    .data = want_payload || h[0] == PG_REC_END ? r->buf : NULL,
	    .len = len,
	};
	r->pos = off + PG_REC_RECHDR_LEN + len;
	r->last_time = t;
	if (h[0] == PG_REC_END) {
		r->after_end = true;
		r->end_offset = off;
	}
	return 1;
}

static bool known_type(int t)
{
	return t >= PG_REC_META && t <= PG_REC_END;
}

int pg_rec_reader_next(struct pg_rec_reader *r, struct pg_rec_record *rec)
{
	int rc;
	/* Headers first: an unknown record's payload is skipped unread. */
	while ((rc = read_record(r, rec, false)) == 1) {
		if (!known_type(rec->type))
			continue;
		if (!rec->data) {
			rc = load_payload(r, rec->offset + PG_REC_RECHDR_LEN, rec->len);
			if (rc < 0)
				return rc;
			rec->data = r->buf;
		}
		return 1;
	}
	return rc;
}

const char *pg_rec_reader_error(const struct pg_rec_reader *r)
{
	return r->err;
}

static void go_to(struct pg_rec_reader *r, uint64_t off, uint64_t last_time)
{
	r->pos = off;
	r->last_time = last_time;
	r->after_end = false;
	r->done = 0;
	r->err[0] = '\0';
	r->end = PG_REC_OPEN;
}

void pg_rec_reader_rewind(struct pg_rec_reader *r)
{
	go_to(r, r->first, r->meta_time);
}

static int check_meta(struct pg_rec_reader *r, const uint8_t *p, size_t len, char *err,
		      size_t err_size)
{
	json_error_t jerr;
	json_t *o = json_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *why = NULL;

	if (!o) {
		fmt(err, err_size, "offset %d: META is not JSON: %s (at byte %d of it)",
		    PG_REC_HEADER_LEN, jerr.text, jerr.position);
		return PG_EPROTO;
	}
	const char *format = json_string_value(json_object_get(o, "format"));
	json_t *v = json_object_get(o, "version");
	json_t *w = json_object_get(o, "width"), *h = json_object_get(o, "height");
	if (!json_is_object(o))
		why = "META is not a JSON object";
	else if (!format || strcmp(format, "pixelgate-recording"))
		why = "META's \"format\" is not \"pixelgate-recording\"";
	else if (!json_is_integer(v) || json_integer_value(v) != PG_REC_VERSION)
		why = "META's \"version\" is not 1";
	else if (!json_is_integer(w) || json_integer_value(w) < 1 ||
		 json_integer_value(w) > PG_FB_MAX_SIDE || !json_is_integer(h) ||
		 json_integer_value(h) < 1 || json_integer_value(h) > PG_FB_MAX_SIDE)
		why = "META's \"width\" and \"height\" are not whole numbers in 1..8192";
	if (why) {
		fmt(err, err_size, "offset %d: %s", PG_REC_HEADER_LEN, why);
		json_decref(o);
		return PG_EPROTO;
	}
	r->meta.width = (int)json_integer_value(w);
	r->meta.height = (int)json_integer_value(h);
	json_decref(o);
	return 0;
}

static struct pg_rec_reader *open_common(struct pg_rec_reader *r, char *err, size_t err_size)
{
	uint8_t h[PG_REC_HEADER_LEN];
	if (r->size < PG_REC_HEADER_LEN) {
		fmt(err, err_size,
		    "offset 0: the file is %" PRIu64 " bytes, shorter than its header", r->size);
		goto fail;
	}
	int rc = read_at(r, 0, h, sizeof(h));
	if (rc < 0) {
		fmt(err, err_size, "offset 0: read: %s", strerror(-rc));
		goto fail;
	}
	if (memcmp(h, PG_REC_MAGIC, 8)) {
		fmt(err, err_size, "offset 0: not a pixelgate recording (no PGREC magic)");
		goto fail;
	}
	if (pg_rd32(h + 8) != PG_REC_VERSION) {
		fmt(err, err_size, "offset 8: format version %" PRIu32 ", this reader knows %d",
		    pg_rd32(h + 8), PG_REC_VERSION);
		goto fail;
	}
	if (pg_rd32(h + 12)) {
		fmt(err, err_size, "offset 12: reserved header field 0x%08" PRIx32 " is not zero",
		    pg_rd32(h + 12));
		goto fail;
	}
	go_to(r, PG_REC_HEADER_LEN, 0);
	/* META is the one record read_record refuses; read its header here. */
	uint8_t mh[PG_REC_RECHDR_LEN];
	if (r->size - PG_REC_HEADER_LEN < PG_REC_RECHDR_LEN) {
		fmt(err, err_size, "offset 16: the file stops before the META record");
		goto fail;
	}
	rc = read_at(r, PG_REC_HEADER_LEN, mh, sizeof(mh));
	if (rc < 0) {
		fmt(err, err_size, "offset 16: read: %s", strerror(-rc));
		goto fail;
	}
	uint32_t len = pg_rd32(mh + 4);
	if (mh[0] != PG_REC_META) {
		fmt(err, err_size, "offset 16: the first record is of type %u, not META", mh[0]);
		goto fail;
	}
	if (pg_rd16(mh + 2) || len > PG_REC_MAX_PAYLOAD) {
		fmt(err, err_size, "offset 16: META record header is malformed");
		goto fail;
	}
	if (r->size - PG_REC_HEADER_LEN - PG_REC_RECHDR_LEN < len) {
		fmt(err, err_size, "offset 16: the file stops inside the META record");
		goto fail;
	}
	if (load_payload(r, PG_REC_HEADER_LEN + PG_REC_RECHDR_LEN, len) < 0) {
		fmt(err, err_size, "%s", r->err);
		goto fail;
	}
	if (check_meta(r, r->buf, len, err, err_size) < 0)
		goto fail;
	r->meta.json = (char *)r->buf;
	r->meta.json_len = len;
	r->buf = NULL;
	r->cap = 0;
	r->meta_time = rd64(mh + 8);
	r->first = PG_REC_HEADER_LEN + PG_REC_RECHDR_LEN + (uint64_t)len;
	pg_rec_reader_rewind(r);
	return r;
fail:
	pg_rec_reader_del(r);
	return NULL;
}

struct pg_rec_reader *pg_rec_reader_open(const char *path, char *err, size_t err_size)
{
	struct stat st;
	struct pg_rec_reader *r = calloc(1, sizeof(*r));
	if (!r) {
		fmt(err, err_size, "out of memory");
		return NULL;
	}
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0 || fstat(r->fd, &st) < 0) {
		fmt(err, err_size, "cannot open %s: %s", path, strerror(errno));
		pg_rec_reader_del(r);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		fmt(err, err_size, "%s is not a regular file", path);
		pg_rec_reader_del(r);
		return NULL;
	}
	r->size = (uint64_t)st.st_size;
	return open_common(r, err, err_size);
}

struct pg_rec_reader *pg_rec_reader_open_mem(const void *data, size_t len, char *err,
					     size_t err_size)
{
	struct pg_rec_reader *r = calloc(1, sizeof(*r));
	if (!r) {
		fmt(err, err_size, "out of memory");
		return NULL;
	}
	r->fd = -1;
	r->mem = data;
	r->size = len;
	return open_common(r, err, err_size);
}

void pg_rec_reader_del(struct pg_rec_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free((char *)r->meta.json);
	free(r->buf);
	free(r->keys);
	free(r->end_json);
	free(r);
}

const struct pg_rec_meta *pg_rec_reader_meta(const struct pg_rec_reader *r)
{
	return &r->meta;
}

int pg_rec_reader_index(struct pg_rec_reader *r, struct pg_rec_stats *stats)
{
	struct pg_rec_stats st = {0};
	struct pg_rec_record rec;
	int rc;

	pg_rec_reader_rewind(r);
	r->nkeys = 0;
	size_t cap = 0;
	while ((rc = read_record(r, &rec, false)) == 1) {
		st.duration_us = rec.time_us;
		switch (rec.type) {
		case PG_REC_FRAME:
			st.frames++;
			if (!(rec.flags & PG_REC_FLAG_KEY))
				break;
			st.key_frames++;
			if (r->nkeys == cap) {
				size_t ncap = cap ? 2 * cap : 64;
				struct key *nk = reallocarray(r->keys, ncap, sizeof(*nk));
				if (!nk) {
					rc = PG_ENOMEM;
					goto out;
				}
				r->keys = nk;
				cap = ncap;
			}
			r->keys[r->nkeys++] = (struct key){rec.offset, rec.time_us};
			break;
		case PG_REC_EVENT:
			st.events++;
			break;
		case PG_REC_END:
			free(r->end_json);
			r->end_json = strdup((const char *)rec.data);
			break;
		default:
			st.unknown++;
		}
	}
	if (rc == 0 || rc == PG_EPROTO || rc == PG_ELIMIT) {
		st.end = r->end;
		st.end_offset = r->end_offset;
		fmt(st.end_why, sizeof(st.end_why), "%s", r->err);
		st.end_json = st.end == PG_REC_CLEAN ? r->end_json : NULL;
		rc = 0;
		r->indexed = true;
	}
out:
	if (stats)
		*stats = st;
	pg_rec_reader_rewind(r);
	return rc;
}

uint64_t pg_rec_reader_seek(struct pg_rec_reader *r, uint64_t t_us)
{
	if (!r->indexed)
		pg_rec_reader_index(r, NULL);
	/* The last key at or before t_us. */
	size_t lo = 0, hi = r->nkeys;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->keys[mid].time_us <= t_us)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0) {
		pg_rec_reader_rewind(r);
		return 0;
	}
	go_to(r, r->keys[lo - 1].offset, r->keys[lo - 1].time_us);
	return r->keys[lo - 1].time_us;
}

int pg_rec_reader_sha256(struct pg_rec_reader *r, char hex[65])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t h[32];
	unsigned int hl = 0;
	int rc = 0;

	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(md);
		return -ENOMEM;
	}
	if (r->fd < 0) {
		EVP_DigestUpdate(md, r->mem, r->size);
	} else {
		size_t csize = 1 << 16;
		uint8_t *chunk = malloc(csize);
		off_t off = 0;
		while (chunk) {
			ssize_t n = pread(r->fd, chunk, csize, off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = -errno;
				break;
			}
			if (n == 0)
				break;
			EVP_DigestUpdate(md, chunk, (size_t)n);
			off += n;
		}
		if (!chunk)
			rc = -ENOMEM;
		free(chunk);
	}
	EVP_DigestFinal_ex(md, h, &hl);
	EVP_MD_CTX_free(md);
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	return rc;
}
