/* The recording writer: the caller (the relay's event loop) copies records into a
 * queue; a thread of its own writes them, so a slow or full disk never holds the
 * caller. The queue has a byte cap, so a slow disk cannot grow the relay's memory
 * either: over it, the recording stops instead. */
#include "recfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define SYNC_EVERY_NS 1000000000ull

struct node {
	struct node *next;
	bool is_record; /* the file header is not */
	uint64_t time_us;
	size_t len;
	uint8_t data[];
};

struct pg_rec_writer {
	int fd;
	bool regular; /* a regular file: cut back and synced; pipes and devices are not */
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;

	/* Under mu. */
	struct node *head, *tail;
	size_t queued; /* bytes in nodes not yet written */
	bool stop;
	int err;	  /* what stopped the recording, first one wins */
	bool disk_failed; /* a write or sync failed: no END */
	char why[256];

	/* The caller's thread only. */
	uint64_t max_bytes;
	size_t max_queue;
	uint64_t accepted; /* bytes the file holds once the queue is written */
	uint64_t last_time;

	/* The writer thread only, then close after the join. */
	uint64_t written; /* bytes of whole records (and the header) on disk */
	uint64_t records;
	uint64_t duration_us;
	EVP_MD_CTX *md;
	uint64_t last_sync_ns;
	bool unsynced;
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

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Record the first error; takes mu. */
static void stop_with(struct pg_rec_writer *w, int err, bool disk, const char *f, ...)
    __attribute__((format(printf, 4, 5)));
static void stop_with(struct pg_rec_writer *w, int err, bool disk, const char *f, ...)
{
	va_list ap;
	pthread_mutex_lock(&w->mu);
	if (disk)
		w->disk_failed = true;
	if (!w->err) {
		w->err = err;
		va_start(ap, f);
		vsnprintf(w->why, sizeof(w->why), f, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&w->mu);
}

static struct node *make_node(int type, int flags, uint64_t time_us, const void *data, size_t len)
{
	struct node *n = malloc(sizeof(*n) + PG_REC_RECHDR_LEN + len);
	if (!n)
		return NULL;
	n->next = NULL;
	n->is_record = true;
	n->time_us = time_us;
	n->len = PG_REC_RECHDR_LEN + len;
	uint8_t *h = n->data;
	h[0] = (uint8_t)type;
	h[1] = (uint8_t)flags;
	h[2] = h[3] = 0;
	pg_wr32(h + 4, (uint32_t)len);
	pg_wr32(h + 8, (uint32_t)(time_us >> 32));
	pg_wr32(h + 12, (uint32_t)time_us);
	if (len)
		memcpy(h + PG_REC_RECHDR_LEN, data, len);
	return n;
}

/* Under mu. */
static void enqueue(struct pg_rec_writer *w, struct node *n)
{
	if (w->tail)
		w->tail->next = n;
	else
		w->head = n;
	w->tail = n;
	w->queued += n->len;
	pthread_cond_signal(&w->cv);
}

/* 0, or -errno with *done the bytes that did reach the file. */
static int write_all(int fd, const uint8_t *p, size_t len, size_t *done)
{
	*done = 0;
	while (*done < len) {
		ssize_t n = write(fd, p + *done, len - *done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		*done += (size_t)n;
	}
	return 0;
}

static void write_node(struct pg_rec_writer *w, struct node *n)
{
	size_t done;
	int rc = write_all(w->fd, n->data, n->len, &done);
	if (rc == 0) {
		EVP_DigestUpdate(w->md, n->data, n->len);
		w->written += n->len;
		w->unsynced = true;
		if (n->is_record) {
			w->records++;
			w->duration_us = n->time_us;
		}
		return;
	}
	/* A part of the record may be in the file: cut it off, so what was recorded
	 * stays a valid file whose hash is the one we report. */
	char cut[96] = "";
	if (done && w->regular && ftruncate(w->fd, (off_t)w->written) < 0)
		fmt(cut, sizeof(cut), "; cutting back to %" PRIu64 " bytes failed: %s", w->written,
		    strerror(errno));
	else if (done && !w->regular)
		fmt(cut, sizeof(cut), "; %zu bytes of a partial record follow", done);
	stop_with(w, rc, true, "write: %s after %" PRIu64 " bytes%s", strerror(-rc), w->written,
		  cut);
}

static void sync_file(struct pg_rec_writer *w)
{
	w->unsynced = false;
	w->last_sync_ns = now_ns();
	if (!w->regular)
		return;
	if (fdatasync(w->fd) < 0)
		stop_with(w, -errno, true, "fdatasync: %s after %" PRIu64 " bytes", strerror(errno),
			  w->written);
}

static void *writer_main(void *arg)
{
	struct pg_rec_writer *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		if (!w->head) {
			if (w->stop)
				break;
			if (!w->unsynced || w->disk_failed) {
				pthread_cond_wait(&w->cv, &w->mu);
				continue;
			}
			/* Sync what came within a second once no more comes. */
			uint64_t due = w->last_sync_ns + SYNC_EVERY_NS;
			struct timespec ts = {(time_t)(due / 1000000000ull),
					      (long)(due % 1000000000ull)};
			if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT && !w->head) {
				pthread_mutex_unlock(&w->mu);
				sync_file(w);
				pthread_mutex_lock(&w->mu);
			}
			continue;
		}
		struct node *list = w->head;
		w->head = w->tail = NULL;
		bool failed = w->disk_failed;
		pthread_mutex_unlock(&w->mu);

		while (list) {
			struct node *n = list;
			list = n->next;
			if (!failed) {
				write_node(w, n);
				pthread_mutex_lock(&w->mu);
				failed = w->disk_failed;
				pthread_mutex_unlock(&w->mu);
			}
			pthread_mutex_lock(&w->mu);
			w->queued -= n->len;
			pthread_mutex_unlock(&w->mu);
			free(n);
		}
		if (!failed && w->unsynced && now_ns() - w->last_sync_ns >= SYNC_EVERY_NS)
			sync_file(w);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void writer_free(struct pg_rec_writer *w)
{
	if (!w)
		return;
	while (w->head) {
		struct node *n = w->head;
		w->head = n->next;
		free(n);
	}
	EVP_MD_CTX_free(w->md);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

struct pg_rec_writer *pg_rec_writer_fdopen(int fd, const char *meta_json, uint64_t max_bytes,
					   size_t max_queue, char *err, size_t err_size)
{
	struct pg_rec_writer *w = NULL;
	pthread_condattr_t ca;
	struct stat st;
	sigset_t all, old;
	size_t meta_len = meta_json ? strlen(meta_json) : 0;

	if (fd < 0) {
		fmt(err, err_size, "no file");
		return NULL;
	}
	if (!meta_json || meta_len == 0 || meta_len > PG_REC_MAX_PAYLOAD) {
		fmt(err, err_size, "META must be a JSON object of at most %u bytes",
		    PG_REC_MAX_PAYLOAD);
		goto fail;
	}
	if (max_bytes &&
	    max_bytes < PG_REC_HEADER_LEN + PG_REC_RECHDR_LEN + meta_len + PG_REC_END_RESERVE) {
		fmt(err, err_size,
		    "a limit of %" PRIu64 " bytes leaves no room for the META record", max_bytes);
		goto fail;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		goto nomem;
	w->fd = fd;
	w->regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	w->max_bytes = max_bytes;
	w->max_queue = max_queue;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	w->md = EVP_MD_CTX_new();
	if (!w->md || !EVP_DigestInit_ex(w->md, EVP_sha256(), NULL))
		goto nomem;
	w->last_sync_ns = now_ns();

	struct node *hdr = malloc(sizeof(*hdr) + PG_REC_HEADER_LEN);
	if (!hdr)
		goto nomem;
	*hdr = (struct node){.len = PG_REC_HEADER_LEN};
	memcpy(hdr->data, PG_REC_MAGIC, 8);
	pg_wr32(hdr->data + 8, PG_REC_VERSION);
	pg_wr32(hdr->data + 12, 0);
	enqueue(w, hdr);
	struct node *meta = make_node(PG_REC_META, 0, 0, meta_json, meta_len);
	if (!meta)
		goto nomem;
	enqueue(w, meta);
	w->accepted = PG_REC_HEADER_LEN + meta->len;

	/* Signals go to the caller's threads, never to this one; a write to a pipe
	 * whose reader left then fails with EPIPE, a file over RLIMIT_FSIZE with EFBIG. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&w->thread, NULL, writer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		fmt(err, err_size, "cannot start the writer thread: %s", strerror(rc));
		goto fail;
	}
	w->started = true;
	return w;
nomem:
	fmt(err, err_size, "out of memory");
fail:
	writer_free(w);
	close(fd);
	return NULL;
}

struct pg_rec_writer *pg_rec_writer_open(const char *path, const char *meta_json,
					 uint64_t max_bytes, size_t max_queue, char *err,
					 size_t err_size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0) {
		fmt(err, err_size, "cannot create %s: %s", path, strerror(errno));
		return NULL;
	}
	struct pg_rec_writer *w =
	    pg_rec_writer_fdopen(fd, meta_json, max_bytes, max_queue, err, err_size);
	if (!w)
		unlink(path);
	return w;
}

int pg_rec_writer_put(struct pg_rec_writer *w, int type, int flags, uint64_t time_us,
		      const void *data, size_t len)
{
	int err;

	if (type < 1 || type > 255 || len > PG_REC_MAX_PAYLOAD || (len && !data))
		return -EINVAL;
	pthread_mutex_lock(&w->mu);
	err = w->err;
	pthread_mutex_unlock(&w->mu);
	if (err)
		return err;

	size_t size = PG_REC_RECHDR_LEN + len;
	if (w->max_bytes && w->accepted + size + PG_REC_END_RESERVE > w->max_bytes) {
		stop_with(w, -EFBIG, false,
			  "the recording reached its limit of %" PRIu64 " bytes at %" PRIu64
			  " bytes",
			  w->max_bytes, w->accepted);
		return -EFBIG;
	}
	if (time_us < w->last_time)
		time_us = w->last_time;
	struct node *n = make_node(type, flags, time_us, data, len);
	if (!n) {
		stop_with(w, -ENOMEM, false, "out of memory at %" PRIu64 " bytes", w->accepted);
		return -ENOMEM;
	}
	pthread_mutex_lock(&w->mu);
	if (w->max_queue && w->queued + size > w->max_queue) {
		size_t q = w->queued;
		pthread_mutex_unlock(&w->mu);
		free(n);
		stop_with(
		    w, -ENOBUFS, false,
		    "the disk is too slow: %zu bytes wait for it, the limit is %zu (at %" PRIu64
		    " bytes)",
		    q, w->max_queue, w->accepted);
		return -ENOBUFS;
	}
	enqueue(w, n);
	pthread_mutex_unlock(&w->mu);
	w->accepted += size;
	w->last_time = time_us;
	return 0;
}

int pg_rec_writer_error(struct pg_rec_writer *w, char *why, size_t why_size)
{
	pthread_mutex_lock(&w->mu);
	int err = w->err;
	fmt(why, why_size, "%s", w->why);
	pthread_mutex_unlock(&w->mu);
	return err;
}

int pg_rec_writer_close(struct pg_rec_writer *w, const char *end_json, struct pg_rec_result *res)
{
	struct pg_rec_result tmp;
	uint8_t h[32];
	unsigned int hl = 0;

	if (!res)
		res = &tmp;
	memset(res, 0, sizeof(*res));
	if (!w)
		return 0;

	size_t end_len = end_json ? strlen(end_json) : 0;
	pthread_mutex_lock(&w->mu);
	/* END has room kept under max_bytes and goes past max_queue: a recording
	 * stopped by either still closes cleanly, only a failed disk leaves it open. */
	if (end_json && !w->disk_failed && PG_REC_RECHDR_LEN + end_len <= PG_REC_END_RESERVE) {
		struct node *n = make_node(PG_REC_END, 0, w->last_time, end_json, end_len);
		if (n)
			enqueue(w, n);
	}
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (w->started)
		pthread_join(w->thread, NULL);

	if (!w->disk_failed && w->unsynced)
		sync_file(w);
	if (close(w->fd) < 0 && !w->disk_failed)
		stop_with(w, -errno, true, "close: %s after %" PRIu64 " bytes", strerror(errno),
			  w->written);
	EVP_DigestFinal_ex(w->md, h, &hl);
	for (unsigned i = 0; i < hl && i < 32; i++)
		snprintf(res->sha256 + 2 * i, 3, "%02x", h[i]);
	res->bytes = w->written;
	res->records = w->records;
	res->duration_us = w->duration_us;
	res->error = w->err;
	fmt(res->why, sizeof(res->why), "%s", w->why);
	int rc = w->err;
	writer_free(w);
	return rc;
}
