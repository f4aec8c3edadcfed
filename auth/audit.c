#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#define HASH_LEN   32
#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

/* PG_AUDIT_SYNC_BEHIND: a thread of its own syncs what the writer wrote, as many
 * records per fdatasync as came meanwhile, so a slow disk never holds the writer
 * (the relay's event loop). All fields under mu. */
struct syncer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool started, stop;
	bool pending; /* records written since the last sync began */
	bool busy;    /* a sync of fd runs */
	int fd;	      /* the file the writer appends to */
	int err;      /* a failed sync, not yet reported */
};

struct pg_audit {
	char *path;
	char *ident; /* openlog keeps the pointer, so it lives as long as we do */
	int fd;
	enum pg_audit_sync sync;
	uint64_t next_seq;
	uint8_t last[HASH_LEN];
	/* A write failed: the file may end in a partial line, so the next record first
	 * looks at the file's end again. */
	bool dirty;
	struct syncer sy;
};

static const char *const reserved_keys[] = {"ts", "seq", "event", "prev"};
static const char *const secret_words[] = {
    "password", "passwd", "pass", "passphrase", "secret",     "token",	     "otp",
    "totp",	"code",	  "pin",  "key",	"credential", "credentials",
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

static void sha256(const void *data, size_t len, uint8_t out[HASH_LEN])
{
	unsigned int n = HASH_LEN;
	EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

static void to_hex(const uint8_t h[HASH_LEN], char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < HASH_LEN; i++) {
		hex[2 * i] = digits[h[i] >> 4];
		hex[2 * i + 1] = digits[h[i] & 15];
	}
	hex[64] = '\0';
}

static int from_hex(const char *hex, uint8_t h[HASH_LEN])
{
	if (strlen(hex) != 2 * HASH_LEN)
		return -1;
	for (int i = 0; i < 2 * HASH_LEN; i++) {
		char c = hex[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return -1;
		if (i % 2 == 0)
			h[i / 2] = (uint8_t)(v << 4);
		else
			h[i / 2] |= (uint8_t)v;
	}
	return 0;
}

/* ---- names and values ---- */

static bool valid_event(const char *e)
{
	size_t n = e ? strlen(e) : 0;
	if (n == 0 || n > PG_AUDIT_MAX_EVENT || !(e[0] >= 'a' && e[0] <= 'z'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((e[i] >= 'a' && e[i] <= 'z') || (e[i] >= '0' && e[i] <= '9') || e[i] == '-'))
			return false;
	return true;
}

static bool names_secret(const char *key)
{
	const char *p = key;
	while (*p) {
		size_t n = strcspn(p, "_");
		for (size_t i = 0; i < sizeof(secret_words) / sizeof(secret_words[0]); i++)
			if (strlen(secret_words[i]) == n && !memcmp(p, secret_words[i], n))
				return true;
		p += n;
		if (*p == '_')
			p++;
	}
	return false;
}

static bool valid_key(const char *k)
{
	size_t n = k ? strlen(k) : 0;
	if (n == 0 || n > PG_AUDIT_MAX_KEY || !(k[0] >= 'a' && k[0] <= 'z'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
			return false;
	for (size_t i = 0; i < sizeof(reserved_keys) / sizeof(reserved_keys[0]); i++)
		if (!strcmp(k, reserved_keys[i]))
			return false;
	return !names_secret(k);
}

/* Length of the well-formed UTF-8 character at s (at most n bytes), or 0. Overlong
 * forms, surrogates and code points past U+10FFFF are not well formed. */
static size_t utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* A value from a peer as a JSON string: ill-formed UTF-8 bytes and C1 controls (which
 * some terminals obey) each become U+FFFD; C0 controls, quotes and backslashes are
 * escaped by jansson; past PG_AUDIT_MAX_VALUE bytes the text is cut on a character
 * boundary and PG_AUDIT_TRUNCATED is appended. */
static json_t *safe_string(const char *in)
{
	static const char repl[] = "\xef\xbf\xbd";
	char out[PG_AUDIT_MAX_VALUE + sizeof(PG_AUDIT_TRUNCATED)];
	const unsigned char *s = (const unsigned char *)in;
	size_t n = strlen(in), o = 0;
	while (n) {
		uint32_t cp = 0;
		size_t len = utf8_char(s, n, &cp);
		const char *src = (const char *)s;
		size_t olen = len;
		if (len == 0 || (cp >= 0x80 && cp <= 0x9f)) {
			src = repl;
			olen = 3;
			len = len ? len : 1;
		}
		if (o + olen > PG_AUDIT_MAX_VALUE) {
			memcpy(out + o, PG_AUDIT_TRUNCATED, sizeof(PG_AUDIT_TRUNCATED) - 1);
			o += sizeof(PG_AUDIT_TRUNCATED) - 1;
			break;
		}
		memcpy(out + o, src, olen);
		o += olen;
		s += len;
		n -= len;
	}
	return json_stringn(out, o);
}

static json_t *field_value(const struct pg_audit_field *f)
{
	switch (f->type) {
	case PG_AUDIT_STR:
		return f->v.s ? safe_string(f->v.s) : json_null();
	case PG_AUDIT_INT:
		return json_integer((json_int_t)f->v.i);
	case PG_AUDIT_UINT:
		return f->v.u <= INT64_MAX ? json_integer((json_int_t)f->v.u) : NULL;
	case PG_AUDIT_BOOL:
		return json_boolean(f->v.b);
	}
	return NULL;
}

static void now_rfc3339(char buf[32])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* ---- records ---- */

struct record {
	json_t *root;
	uint64_t seq;
	const char *event;
	uint8_t prev[HASH_LEN];
};

/* Parse one line as a record. Returns 0, -1 (not JSON) or -2 (JSON but not a
 * record), with why filled. r->root is the caller's to json_decref on success. */
static int parse_record(const char *line, size_t len, struct record *r, char *why, size_t whylen)
{
	json_error_t jerr;
	r->root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!r->root) {
		fmt(why, whylen, "%s at column %d", jerr.text, jerr.column);
		return -1;
	}
	json_t *seq = json_object_get(r->root, "seq");
	json_t *prev = json_object_get(r->root, "prev");
	json_t *event = json_object_get(r->root, "event");
	const char *bad = !json_is_object(r->root)			    ? "not an object"
			  : !json_is_string(json_object_get(r->root, "ts")) ? "no \"ts\" string"
			  : !json_is_integer(seq) || json_integer_value(seq) < 1
			      ? "no \"seq\" of 1 or more"
			  : !json_is_string(event) ? "no \"event\" string"
			  : !json_is_string(prev) || from_hex(json_string_value(prev), r->prev)
			      ? "no \"prev\" of 64 hex digits"
			      : NULL;
	if (bad) {
		fmt(why, whylen, "%s", bad);
		json_decref(r->root);
		r->root = NULL;
		return -2;
	}
	r->seq = (uint64_t)json_integer_value(seq);
	r->event = json_string_value(event);
	return 0;
}

/* What the end of an audit file holds. */
struct tail {
	enum { TAIL_EMPTY, TAIL_RECORD, TAIL_DAMAGED } kind;
	uint8_t hash[HASH_LEN]; /* of the last line's bytes (as found, when damaged) */
	uint64_t seq;		/* TAIL_RECORD: the last record's seq */
	bool need_newline;	/* the file does not end with '\n' */
	bool have_good;		/* TAIL_DAMAGED: a record was found before the damage */
	uint64_t good_seq;
	char reason[160];
};

static int read_tail(int fd, struct tail *t)
{
	struct stat st;
	memset(t, 0, sizeof(*t));
	if (fstat(fd, &st))
		return -errno;
	if (st.st_size == 0)
		return 0;
	size_t cap = PG_AUDIT_MAX_LINE + 1;
	size_t n = (uint64_t)st.st_size < cap ? (size_t)st.st_size : cap;
	char *buf = malloc(n);
	if (!buf)
		return -ENOMEM;
	ssize_t got = pread(fd, buf, n, st.st_size - (off_t)n);
	if (got != (ssize_t)n) {
		free(buf);
		return got < 0 ? -errno : -EIO;
	}
	size_t end = n;
	t->need_newline = buf[n - 1] != '\n';
	if (!t->need_newline)
		end--;
	size_t start = end;
	while (start > 0 && buf[start - 1] != '\n')
		start--;
	sha256(buf + start, end - start, t->hash);
	struct record r;
	char why[128];
	t->kind = TAIL_DAMAGED;
	if (start == 0 && n < (uint64_t)st.st_size) {
		fmt(t->reason, sizeof(t->reason), "the last line is longer than any record");
	} else if (t->need_newline) {
		fmt(t->reason, sizeof(t->reason), "the last line has no newline (cut off)");
	} else {
		int rc = parse_record(buf + start, end - start, &r, why, sizeof(why));
		if (rc == 0) {
			t->kind = TAIL_RECORD;
			t->seq = r.seq;
			json_decref(r.root);
		} else {
			fmt(t->reason, sizeof(t->reason), "the last line is %s (%s)",
			    rc == -1 ? "not valid JSON" : "not an audit record", why);
		}
	}
	/* Damaged: the newest record before the damage, so seq stays monotonic. */
	while (t->kind == TAIL_DAMAGED && start > 1) {
		size_t e = start - 1, s = e;
		while (s > 0 && buf[s - 1] != '\n')
			s--;
		if (s == 0 && n < (uint64_t)st.st_size)
			break;
		if (parse_record(buf + s, e - s, &r, why, sizeof(why)) == 0) {
			t->have_good = true;
			t->good_seq = r.seq;
			json_decref(r.root);
			break;
		}
		start = s;
	}
	free(buf);
	return 0;
}

static void *syncer_main(void *arg)
{
	struct syncer *sy = arg;
	pthread_mutex_lock(&sy->mu);
	for (;;) {
		while (!sy->pending && !sy->stop)
			pthread_cond_wait(&sy->cv, &sy->mu);
		if (!sy->pending)
			break;
		/* Everything written before this point is covered by the sync below.
		 * While busy, the writer does not close the file (syncer_set_fd). */
		sy->pending = false;
		sy->busy = true;
		int fd = sy->fd;
		pthread_mutex_unlock(&sy->mu);
		int e = fdatasync(fd) ? errno : 0;
		pthread_mutex_lock(&sy->mu);
		sy->busy = false;
		pthread_cond_broadcast(&sy->cv);
		if (e && !sy->err)
			sy->err = e;
	}
	pthread_mutex_unlock(&sy->mu);
	return NULL;
}

static int syncer_start(struct pg_audit *a)
{
	struct syncer *sy = &a->sy;
	if (sy->started)
		return 0;
	sy->fd = a->fd;
	sy->stop = sy->pending = sy->busy = false;
	sy->err = 0;
	int e = pthread_create(&sy->thread, NULL, syncer_main, sy);
	if (e)
		return -e;
	sy->started = true;
	return 0;
}

/* Let the thread sync what is written, then end it. */
static void syncer_stop(struct pg_audit *a)
{
	struct syncer *sy = &a->sy;
	if (!sy->started)
		return;
	pthread_mutex_lock(&sy->mu);
	sy->stop = true;
	pthread_cond_signal(&sy->cv);
	pthread_mutex_unlock(&sy->mu);
	pthread_join(sy->thread, NULL);
	sy->started = false;
}

/* The writer's side: ask for a sync, and take the error of an earlier one. */
static int syncer_kick(struct pg_audit *a)
{
	struct syncer *sy = &a->sy;
	pthread_mutex_lock(&sy->mu);
	sy->pending = true;
	int e = sy->err;
	sy->err = 0;
	pthread_cond_signal(&sy->cv);
	pthread_mutex_unlock(&sy->mu);
	return -e;
}

/* The writer moves to a new file; the old one may be closed once this returns. */
static void syncer_set_fd(struct pg_audit *a, int fd)
{
	struct syncer *sy = &a->sy;
	pthread_mutex_lock(&sy->mu);
	while (sy->busy)
		pthread_cond_wait(&sy->cv, &sy->mu);
	sy->fd = fd;
	pthread_mutex_unlock(&sy->mu);
}

/* Build, write (one write(), O_APPEND) and sync one record; on success advance the
 * chain. Names are checked by the callers. */
static int write_record(struct pg_audit *a, bool need_newline, const char *event,
			const struct pg_audit_field *fields, size_t n)
{
	char ts[32];
	char prev[65];
	int rc = -ENOMEM;
	char *line = NULL, *buf = NULL;
	json_t *o = json_object();
	if (!o)
		return -ENOMEM;
	now_rfc3339(ts);
	to_hex(a->last, prev);
	if (json_object_set_new(o, "ts", json_string(ts)) ||
	    json_object_set_new(o, "seq", json_integer((json_int_t)a->next_seq)) ||
	    json_object_set_new(o, "event", json_string(event)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		json_t *v = field_value(&fields[i]);
		if (!v) {
			rc = fields[i].type == PG_AUDIT_STR ? -ENOMEM : -EINVAL;
			goto out;
		}
		if (json_object_set_new(o, fields[i].key, v))
			goto out;
	}
	if (json_object_set_new(o, "prev", json_string(prev)))
		goto out;
	line = json_dumps(o, DUMP_FLAGS);
	if (!line)
		goto out;
	size_t len = strlen(line);
	if (len >= PG_AUDIT_MAX_LINE) {
		rc = -E2BIG;
		goto out;
	}
	/* One write() per record: with O_APPEND, concurrent readers never see half a
	 * record unless the disk fills up, and then the next record notices. */
	size_t total = len + 1 + (need_newline ? 1 : 0);
	buf = malloc(total);
	if (!buf)
		goto out;
	size_t off = 0;
	if (need_newline)
		buf[off++] = '\n';
	memcpy(buf + off, line, len);
	buf[total - 1] = '\n';
	for (off = 0; off < total;) {
		ssize_t w = write(a->fd, buf + off, total - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? -errno : -EIO;
			a->dirty = true;
			goto out;
		}
		off += (size_t)w;
	}
	/* The whole line is in the file: the chain moves on even if the sync fails. */
	sha256(line, len, a->last);
	a->next_seq++;
	if (a->ident)
		syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", line);
	if (a->sync == PG_AUDIT_SYNC_EVERY)
		rc = fdatasync(a->fd) ? -errno : 0;
	else if (a->sync == PG_AUDIT_SYNC_BEHIND && a->sy.started)
		rc = syncer_kick(a);
	else
		rc = 0;
out:
	free(buf);
	free(line);
	json_decref(o);
	return rc;
}

static int open_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		int e = errno;
		fmt(err, errlen, "cannot open audit log %s: %s", path, strerror(e));
		return -e;
	}
	/* A second writer would interleave records and break the chain. */
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int e = errno;
		fmt(err, errlen, "audit log %s is in use by another process", path);
		close(fd);
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	return fd;
}

static int write_broken(struct pg_audit *a, const struct tail *t)
{
	struct pg_audit_field f[2] = {PG_AUDIT_S("reason", t->reason)};
	size_t n = 1;
	if (t->have_good)
		f[n++] = PG_AUDIT_U("last_good_seq", t->good_seq);
	else if (t->kind == TAIL_RECORD)
		f[n++] = PG_AUDIT_U("last_good_seq", t->seq);
	return write_record(a, t->need_newline, PG_AUDIT_EV_CHAIN_BROKEN, f, n);
}

/* Continue this log's chain in the file now open at fd (a fresh open of the path). */
static int continue_chain(struct pg_audit *a, char *err, size_t errlen)
{
	struct tail t;
	char hex[65];
	int rc = read_tail(a->fd, &t);
	if (rc) {
		fmt(err, errlen, "cannot read audit log %s: %s", a->path, strerror(-rc));
		return rc;
	}
	switch (t.kind) {
	case TAIL_EMPTY: {
		to_hex(a->last, hex);
		struct pg_audit_field f[] = {PG_AUDIT_U("prev_seq", a->next_seq - 1),
					     PG_AUDIT_S("prev_hash", hex)};
		rc = write_record(a, false, PG_AUDIT_EV_CHAIN_CONTINUED, f, 2);
		break;
	}
	case TAIL_RECORD:
		if (t.seq == a->next_seq - 1 && !memcmp(t.hash, a->last, HASH_LEN))
			return 0;
		fmt(t.reason, sizeof(t.reason),
		    "the file does not end with the last record this log wrote (seq %" PRIu64
		    ") but with seq %" PRIu64,
		    a->next_seq - 1, t.seq);
		/* fall through */
	case TAIL_DAMAGED:
		if (t.kind == TAIL_RECORD && t.seq + 1 > a->next_seq)
			a->next_seq = t.seq + 1;
		if (t.have_good && t.good_seq + 1 > a->next_seq)
			a->next_seq = t.good_seq + 1;
		memcpy(a->last, t.hash, HASH_LEN);
		rc = write_broken(a, &t);
		break;
	}
	if (rc)
		fmt(err, errlen, "cannot write to audit log %s: %s", a->path, strerror(-rc));
	return rc;
}

struct pg_audit *pg_audit_open(const char *path, const char *syslog_ident, char *err, size_t errlen)
{
	struct tail t;
	int rc;
	struct pg_audit *a = calloc(1, sizeof(*a));
	if (!a || !path || !(a->path = strdup(path)) ||
	    (syslog_ident && !(a->ident = strdup(syslog_ident)))) {
		fmt(err, errlen, path ? "out of memory" : "no audit log path");
		goto fail_free;
	}
	a->sync = PG_AUDIT_SYNC_EVERY;
	pthread_mutex_init(&a->sy.mu, NULL);
	pthread_cond_init(&a->sy.cv, NULL);
	a->fd = open_file(path, err, errlen);
	if (a->fd < 0)
		goto fail_free;
	if (a->ident)
		openlog(a->ident, LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
	rc = read_tail(a->fd, &t);
	if (rc) {
		fmt(err, errlen, "cannot read audit log %s: %s", path, strerror(-rc));
		goto fail;
	}
	switch (t.kind) {
	case TAIL_EMPTY:
		a->next_seq = 1;
		rc = write_record(a, false, PG_AUDIT_EV_CHAIN_START, NULL, 0);
		break;
	case TAIL_RECORD:
		a->next_seq = t.seq + 1;
		memcpy(a->last, t.hash, HASH_LEN);
		break;
	case TAIL_DAMAGED:
		a->next_seq = t.have_good ? t.good_seq + 1 : 1;
		memcpy(a->last, t.hash, HASH_LEN);
		rc = write_broken(a, &t);
		break;
	}
	if (rc) {
		fmt(err, errlen, "cannot write to audit log %s: %s", path, strerror(-rc));
		goto fail;
	}
	return a;
fail:
	pg_audit_close(a);
	return NULL;
fail_free:
	if (a) {
		pthread_mutex_destroy(&a->sy.mu);
		pthread_cond_destroy(&a->sy.cv);
		free(a->path);
		free(a->ident);
	}
	free(a);
	return NULL;
}

int pg_audit_set_sync(struct pg_audit *a, enum pg_audit_sync mode)
{
	if (!a || (mode != PG_AUDIT_SYNC_EVERY && mode != PG_AUDIT_SYNC_NONE &&
		   mode != PG_AUDIT_SYNC_BEHIND))
		return -EINVAL;
	if (mode == PG_AUDIT_SYNC_BEHIND) {
		int rc = syncer_start(a);
		if (rc)
			return rc;
	}
	a->sync = mode;
	return 0;
}

enum pg_audit_sync pg_audit_get_sync(const struct pg_audit *a)
{
	return a ? a->sync : PG_AUDIT_SYNC_EVERY;
}

int pg_audit_reopen(struct pg_audit *a, char *err, size_t errlen)
{
	if (!a)
		return -EINVAL;
	/* flock is per open file description: reopening the same path from this
	 * process would find it locked by our own old descriptor, so let it go first
	 * and take it back if the new open fails. */
	int old = a->fd;
	flock(old, LOCK_UN);
	int fd = open_file(a->path, err, errlen);
	if (fd < 0) {
		flock(old, LOCK_EX | LOCK_NB);
		return fd;
	}
	/* What the old file holds reaches its disk before it is let go. */
	if (a->sync != PG_AUDIT_SYNC_NONE)
		fdatasync(old);
	a->fd = fd;
	if (a->sy.started)
		syncer_set_fd(a, fd);
	close(old);
	a->dirty = false;
	return continue_chain(a, err, errlen);
}

int pg_audit_event(struct pg_audit *a, const char *event, const struct pg_audit_field *fields,
		   size_t n)
{
	/* The chain-* records are this file's own; nobody else may forge one. */
	if (!a || !valid_event(event) || !strncmp(event, "chain-", 6))
		return -EINVAL;
	if (n > PG_AUDIT_MAX_FIELDS || (n && !fields))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!valid_key(fields[i].key))
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(fields[i].key, fields[j].key))
				return -EINVAL;
	}
	if (a->dirty) {
		int rc = pg_audit_reopen(a, NULL, 0);
		if (rc)
			return rc;
	}
	return write_record(a, false, event, fields, n);
}

uint64_t pg_audit_next_seq(const struct pg_audit *a)
{
	return a ? a->next_seq : 0;
}

void pg_audit_last_hash(const struct pg_audit *a, char hex[65])
{
	static const uint8_t zero[HASH_LEN];
	to_hex(a ? a->last : zero, hex);
}

void pg_audit_close(struct pg_audit *a)
{
	if (!a)
		return;
	syncer_stop(a);
	pthread_mutex_destroy(&a->sy.mu);
	pthread_cond_destroy(&a->sy.cv);
	if (a->fd >= 0)
		close(a->fd);
	if (a->ident)
		closelog();
	free(a->path);
	free(a->ident);
	free(a);
}

/* ---- the verifier ---- */

struct verifier {
	void (*report)(void *ctx, bool is_problem, const char *msg);
	void *ctx;
	struct pg_audit_verify_result *res;
	/* The last line read, in this or an earlier file. */
	bool have_prev;
	bool prev_known; /* it parsed as a record: prev_seq is its seq */
	uint8_t prev_hash[HASH_LEN];
	uint64_t prev_seq;
	const char *prev_file;
	unsigned long prev_line;
};

static void say(struct verifier *v, bool problem, const char *f, ...)
    __attribute__((format(printf, 3, 4)));
static void say(struct verifier *v, bool problem, const char *f, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, f);
	vsnprintf(msg, sizeof(msg), f, ap);
	va_end(ap);
	if (problem)
		v->res->problems++;
	if (v->report)
		v->report(v->ctx, problem, msg);
}

/* Read one line (without its '\n') into buf, keeping at most cap bytes but hashing
 * all of them. Returns 0 at end of file, 1 for a line. */
static int read_line(FILE *f, char *buf, size_t cap, size_t *len, bool *newline, bool *overlong,
		     uint8_t hash[HASH_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t n = 0, total = 0;
	int c;
	*newline = *overlong = false;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while ((c = getc_unlocked(f)) != EOF) {
		if (c == '\n') {
			*newline = true;
			break;
		}
		if (n == cap) {
			EVP_DigestUpdate(md, buf, n);
			n = 0;
			*overlong = true;
		}
		buf[n++] = (char)c;
		total++;
	}
	EVP_DigestUpdate(md, buf, n);
	EVP_DigestFinal_ex(md, hash, NULL);
	EVP_MD_CTX_free(md);
	*len = n;
	return total || *newline;
}

/* The first problem of one line, if any (0 when the line verifies). */
static int check_line(struct verifier *v, const char *path, unsigned long ln, const char *line,
		      size_t len, bool newline, bool overlong, struct record *r)
{
	char why[160], hex[65], phex[65];
	if (overlong) {
		say(v, true, "%s:%lu: line is longer than any audit record (over %d bytes)", path,
		    ln, PG_AUDIT_MAX_LINE);
		return -1;
	}
	int rc = parse_record(line, len, r, why, sizeof(why));
	if (!newline) {
		say(v, true,
		    "%s:%lu: last line is cut off (no newline at its end): a truncated record",
		    path, ln);
		return -1;
	}
	if (rc) {
		say(v, true, "%s:%lu: %s (%s)", path, ln,
		    rc == -1 ? "not valid JSON" : "not an audit record", why);
		return -1;
	}
	const char *reason = json_string_value(json_object_get(r->root, "reason"));
	bool broken = !strcmp(r->event, PG_AUDIT_EV_CHAIN_BROKEN);
	to_hex(r->prev, hex);
	if (!v->have_prev) {
		if (!strcmp(r->event, PG_AUDIT_EV_CHAIN_START)) {
			static const uint8_t zero[HASH_LEN];
			if (r->seq == 1 && !memcmp(r->prev, zero, HASH_LEN))
				return 0;
			say(v, true,
			    "%s:%lu: record seq %" PRIu64
			    ": a chain-start record must have seq 1 and a prev of 64 zeros",
			    path, ln, r->seq);
			return -1;
		}
		if (!strcmp(r->event, PG_AUDIT_EV_CHAIN_CONTINUED)) {
			say(v, false,
			    "%s:%lu: starts mid-chain at seq %" PRIu64
			    " (continuing a file not given, whose last record has hash %s); "
			    "records before it are not checked",
			    path, ln, r->seq, hex);
			return 0;
		}
		if (broken) {
			say(v, true,
			    "%s:%lu: record seq %" PRIu64 ": chain-broken-at-start: pixelgate "
			    "found the end of the log damaged when it opened it (%s)",
			    path, ln, r->seq, reason ? reason : "no reason given");
			return -1;
		}
		say(v, true,
		    "%s:%lu: record seq %" PRIu64 " (%s) does not start a chain: the records "
		    "before it are missing (give every file, oldest first)",
		    path, ln, r->seq, r->event);
		return -1;
	}
	if (ln == 1) {
		if (!strcmp(r->event, PG_AUDIT_EV_CHAIN_CONTINUED) && v->prev_known &&
		    r->seq == v->prev_seq + 1 && !memcmp(r->prev, v->prev_hash, HASH_LEN))
			return 0;
		to_hex(v->prev_hash, phex);
		char last[64] = "an unreadable record";
		if (v->prev_known)
			snprintf(last, sizeof(last), "seq %" PRIu64, v->prev_seq);
		say(v, true,
		    "%s:1: first record of %s does not continue the chain of the previous file "
		    "%s (which ends with %s, hash %s): found %s seq %" PRIu64
		    " with prev %s%s%s%s%s",
		    path, path, v->prev_file, last, phex, r->event, r->seq, hex,
		    broken ? " (reason: " : "", broken && reason ? reason : "", broken ? ")" : "",
		    !strcmp(r->event, PG_AUDIT_EV_CHAIN_START)
			? " (a new chain: pixelgate was started on an empty file)"
			: "");
		return -1;
	}
	/* The writer's own admission of damage says more than the seq or hash would. */
	if (broken) {
		say(v, true,
		    "%s:%lu: record seq %" PRIu64 ": chain-broken-at-start: pixelgate found the "
		    "end of the log damaged when it opened it (%s)",
		    path, ln, r->seq, reason ? reason : "no reason given");
		return -1;
	}
	if (r->seq > v->prev_seq + 1) {
		say(v, true,
		    "%s:%lu: seq jumps from %" PRIu64 " to %" PRIu64
		    " (records missing or reordered)",
		    path, ln, v->prev_seq, r->seq);
		return -1;
	}
	if (r->seq <= v->prev_seq) {
		say(v, true,
		    "%s:%lu: seq goes back from %" PRIu64 " to %" PRIu64
		    " (records reordered or replayed)",
		    path, ln, v->prev_seq, r->seq);
		return -1;
	}
	if (memcmp(r->prev, v->prev_hash, HASH_LEN)) {
		say(v, true,
		    "%s:%lu: record seq %" PRIu64 ": prev hash does not match the previous record "
		    "(line %lu, seq %" PRIu64 "): that record was altered, or this one's prev was",
		    path, ln, r->seq, v->prev_line, v->prev_seq);
		return -1;
	}
	if (!strcmp(r->event, PG_AUDIT_EV_CHAIN_START)) {
		say(v, true,
		    "%s:%lu: record seq %" PRIu64 ": a new chain starts in the middle of the log",
		    path, ln, r->seq);
		return -1;
	}
	return 0;
}

static int verify_file(struct verifier *v, const char *path, char *buf)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		say(v, true, "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	unsigned long ln = 0;
	bool broken = false;
	size_t len;
	bool newline, overlong;
	uint8_t hash[HASH_LEN];
	while (read_line(f, buf, PG_AUDIT_MAX_LINE, &len, &newline, &overlong, hash)) {
		struct record r = {0};
		ln++;
		if (!broken) {
			if (check_line(v, path, ln, buf, len, newline, overlong, &r))
				broken = true;
			else
				v->res->records++;
		} else if (!overlong) {
			parse_record(buf, len, &r, NULL, 0);
		}
		/* After a problem the rest of the file is only followed, so that the next
		 * file's link to this one can still be checked. */
		v->prev_known = r.root != NULL;
		if (r.root) {
			v->prev_seq = r.seq;
			v->res->last_seq = r.seq;
		}
		json_decref(r.root);
		memcpy(v->prev_hash, hash, HASH_LEN);
		v->have_prev = true;
		v->prev_file = path;
		v->prev_line = ln;
	}
	int err = ferror(f) ? -EIO : 0;
	fclose(f);
	if (err) {
		say(v, true, "%s:%lu: read error", path, ln);
		return err;
	}
	if (ln == 0)
		say(v, true, "%s: empty: no records (an audit file always starts with one)", path);
	return 0;
}

int pg_audit_verify(const char *const *paths, size_t n,
		    void (*report)(void *ctx, bool is_problem, const char *msg), void *ctx,
		    struct pg_audit_verify_result *res)
{
	struct pg_audit_verify_result local;
	struct verifier v = {.report = report, .ctx = ctx, .res = res ? res : &local};
	int rc = 0;
	memset(v.res, 0, sizeof(*v.res));
	char *buf = malloc(PG_AUDIT_MAX_LINE);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int e = verify_file(&v, paths[i], buf);
		if (e && !rc)
			rc = e;
	}
	free(buf);
	if (n == 0)
		say(&v, true, "no files given");
	to_hex(v.prev_hash, v.res->last_hash);
	if (rc)
		return rc;
	return v.res->problems ? 1 : 0;
}
