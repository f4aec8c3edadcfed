#include "users.h"
#include "passhash.h"
#include "totp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define FIELDS 5

struct pg_user {
	char name[PG_USERS_MAX_NAME + 1];
	char *groups;
	char hash[PG_USERS_MAX_HASH + 1];
	char totp[PG_TOTP_MAX_BASE32 + 1];
	bool locked;
	uint64_t totp_last_step;
	char *comments; /* comment and blank lines just above this user, or NULL */
	unsigned line;	/* where it was read, for duplicate errors */
};

struct pg_users {
	struct pg_user **v;
	size_t n, cap;
	char *trailer; /* comment and blank lines after the last user, or NULL */
};

/* ---- fields ---- */

static bool name_char(char c, bool at_ok)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || (at_ok && c == '@');
}

static bool valid_name_n(const char *s, size_t n, bool at_ok)
{
	if (n == 0 || n > PG_USERS_MAX_NAME || !name_char(s[0], false) || s[0] == '.' ||
	    s[0] == '_' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char(s[i], at_ok))
			return false;
	return true;
}

bool pg_users_valid_name(const char *name)
{
	return name && valid_name_n(name, strlen(name), true);
}

/* NULL when groups is fine, else why not (into why). */
static const char *check_groups(const char *groups, char *why, size_t why_size)
{
	const char *s = groups;
	size_t count = 0;
	if (!*s)
		return NULL;
	for (;;) {
		const char *end = strchr(s, ',');
		size_t n = end ? (size_t)(end - s) : strlen(s);
		if (!valid_name_n(s, n, false)) {
			snprintf(why, why_size,
				 "bad group name '%.*s': use 1-%d of A-Z a-z 0-9 . _ -, starting "
				 "with a letter or digit",
				 (int)(n > PG_USERS_MAX_NAME ? PG_USERS_MAX_NAME : n), s,
				 PG_USERS_MAX_NAME);
			return why;
		}
		if (++count > PG_USERS_MAX_GROUPS) {
			snprintf(why, why_size, "too many groups (at most %d)",
				 PG_USERS_MAX_GROUPS);
			return why;
		}
		for (const char *q = groups; q < s;) {
			const char *qe = strchr(q, ',');
			if ((size_t)(qe - q) == n && memcmp(q, s, n) == 0) {
				snprintf(why, why_size, "group '%.*s' listed twice", (int)n, s);
				return why;
			}
			q = qe + 1;
		}
		if (!end)
			return NULL;
		s = end + 1;
	}
}

bool pg_users_valid_groups(const char *groups)
{
	char why[160];
	return groups && !check_groups(groups, why, sizeof(why));
}

static const char *check_totp(const char *secret, char *why, size_t why_size)
{
	uint8_t key[PG_TOTP_MAX_KEY];
	size_t len = strlen(secret);
	int n = -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!((secret[i] >= 'A' && secret[i] <= 'Z') ||
		      (secret[i] >= '2' && secret[i] <= '7')))
			goto bad;
	if (len > PG_TOTP_MAX_BASE32)
		goto range;
	n = pg_totp_base32_decode(secret, len, key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
	if (n < 0)
		goto bad;
	if (n < PG_TOTP_MIN_KEY)
		goto range;
	return NULL;
bad:
	snprintf(why, why_size,
		 "bad TOTP secret: expected base32 (A-Z, 2-7, upper case, no padding)");
	return why;
range:
	snprintf(why, why_size,
		 "bad TOTP secret: key must be %d to %d bytes (%d to %d base32 "
		 "characters)",
		 PG_TOTP_MIN_KEY, PG_TOTP_MAX_KEY, (PG_TOTP_MIN_KEY * 8 + 4) / 5,
		 PG_TOTP_MAX_BASE32);
	return why;
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static void user_free(struct pg_user *u)
{
	if (!u)
		return;
	free(u->groups);
	free(u->comments);
	OPENSSL_cleanse(u, sizeof(*u));
	free(u);
}

static struct pg_user *find(const struct pg_users *db, const char *name, size_t *index)
{
	if (!db || !name)
		return NULL;
	for (size_t i = 0; i < db->n; i++) {
		if (strcmp(db->v[i]->name, name) == 0) {
			if (index)
				*index = i;
			return db->v[i];
		}
	}
	return NULL;
}

static int append(struct pg_users *db, struct pg_user *u)
{
	if (db->n >= PG_USERS_MAX_USERS)
		return -E2BIG;
	if (db->n == db->cap) {
		size_t cap = db->cap ? db->cap * 2 : 16;
		struct pg_user **v = realloc(db->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		db->v = v;
		db->cap = cap;
	}
	db->v[db->n++] = u;
	return 0;
}

/* ---- parsing ---- */

struct parse {
	const char *origin;
	unsigned line;
	char *err;
	size_t err_size;
	char *pending; /* comment lines not yet attached to a user */
	size_t pending_len;
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
fail(struct parse *ps, const char *fmt, ...)
{
	if (ps->err && ps->err_size) {
		va_list ap;
		int n = snprintf(ps->err, ps->err_size, "%s:%u: ", ps->origin, ps->line);
		if (n >= 0 && (size_t)n < ps->err_size) {
			va_start(ap, fmt);
			vsnprintf(ps->err + n, ps->err_size - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -EINVAL;
}

/* A name for an error message: printable ASCII only, cut at the name limit. */
static void printable(const char *s, size_t n, char out[PG_USERS_MAX_NAME + 4])
{
	size_t o = 0;
	for (size_t i = 0; i < n && o < PG_USERS_MAX_NAME; i++)
		out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (n > PG_USERS_MAX_NAME) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static int add_pending(struct parse *ps, const char *line, size_t n)
{
	char *p = realloc(ps->pending, ps->pending_len + n + 2);
	if (!p)
		return -ENOMEM;
	memcpy(p + ps->pending_len, line, n);
	p[ps->pending_len + n] = '\n';
	ps->pending_len += n + 1;
	p[ps->pending_len] = '\0';
	ps->pending = p;
	return 0;
}

static int parse_user(struct parse *ps, struct pg_users *db, const char *line, size_t n)
{
	const char *f[FIELDS];
	size_t fl[FIELDS];
	size_t count = 0;
	const char *s = line, *end = line + n;
	char shown[PG_USERS_MAX_NAME + 4], why[200];

	for (;;) {
		const char *c = memchr(s, ':', (size_t)(end - s));
		if (count < FIELDS) {
			f[count] = s;
			fl[count] = c ? (size_t)(c - s) : (size_t)(end - s);
		}
		count++;
		if (!c)
			break;
		s = c + 1;
	}
	if (count != FIELDS)
		return fail(ps, "expected 5 fields NAME:GROUPS:HASH:TOTP:FLAGS, found %zu", count);
	if (!valid_name_n(f[0], fl[0], true)) {
		printable(f[0], fl[0], shown);
		return fail(ps,
			    "bad user name '%s': use 1-%d of A-Z a-z 0-9 . _ @ -, starting with a "
			    "letter or digit",
			    shown, PG_USERS_MAX_NAME);
	}

	struct pg_user *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	int rc = -ENOMEM;
	memcpy(u->name, f[0], fl[0]);
	u->line = ps->line;
	u->groups = dup_n(f[1], fl[1]);
	if (!u->groups)
		goto out;
	if (check_groups(u->groups, why, sizeof(why))) {
		rc = fail(ps, "user '%s': %s", u->name, why);
		goto out;
	}
	if (fl[2] > PG_USERS_MAX_HASH) {
		rc = fail(ps, "user '%s': bad password hash: longer than %d bytes", u->name,
			  PG_USERS_MAX_HASH);
		goto out;
	}
	memcpy(u->hash, f[2], fl[2]);
	rc = pg_users_check_hash(u->hash);
	if (rc == -ERANGE) {
		rc = fail(ps,
			  "user '%s': scrypt parameters over the limits (ln %d-20, r 1-32, p "
			  "1-16, 128*r*2^ln at most %u MiB, 2^ln*r*p at most 2^20)",
			  u->name, PG_USERS_SCRYPT_MIN_LN, PG_USERS_SCRYPT_MAX_MEM >> 20);
		goto out;
	}
	if (rc < 0) {
		rc = fail(ps,
			  "user '%s': bad password hash: expected $scrypt$ln=L,r=R,p=P$SALT$KEY "
			  "(write it with pixelgate-passwd)",
			  u->name);
		goto out;
	}
	if (fl[3] > PG_TOTP_MAX_BASE32) {
		rc = fail(ps, "user '%s': bad TOTP secret: longer than %d characters", u->name,
			  PG_TOTP_MAX_BASE32);
		goto out;
	}
	memcpy(u->totp, f[3], fl[3]);
	if (u->totp[0] && check_totp(u->totp, why, sizeof(why))) {
		rc = fail(ps, "user '%s': %s", u->name, why);
		goto out;
	}
	for (s = f[4]; s < f[4] + fl[4];) {
		const char *c = memchr(s, ',', (size_t)(f[4] + fl[4] - s));
		size_t fn = c ? (size_t)(c - s) : (size_t)(f[4] + fl[4] - s);
		if (fn == 6 && memcmp(s, "locked", 6) == 0) {
			u->locked = true;
		} else {
			printable(s, fn, shown);
			rc = fail(ps, "user '%s': unknown flag '%s' (known: locked)", u->name,
				  shown);
			goto out;
		}
		s += fn + (c ? 1 : 0);
		if (c && s == f[4] + fl[4]) {
			rc = fail(ps, "user '%s': empty flag after ','", u->name);
			goto out;
		}
	}
	rc = append(db, u);
	if (rc == -E2BIG) {
		rc = fail(ps, "too many users (at most %d)", PG_USERS_MAX_USERS);
		rc = -E2BIG;
	}
	if (rc < 0)
		goto out;
	u->comments = ps->pending;
	ps->pending = NULL;
	ps->pending_len = 0;
	return 0;
out:
	user_free(u);
	return rc;
}

static int by_name_then_line(const void *a, const void *b)
{
	const struct pg_user *ua = *(const struct pg_user *const *)a;
	const struct pg_user *ub = *(const struct pg_user *const *)b;
	int c = strcmp(ua->name, ub->name);
	return c ? c : (ua->line > ub->line) - (ua->line < ub->line);
}

/* Sorting finds duplicates in n log n; 10,000 users pairwise would be 50 million
 * comparisons. The reported line is the earliest second occurrence. */
static int check_duplicates(struct parse *ps, struct pg_users *db)
{
	if (db->n < 2)
		return 0;
	struct pg_user **s = malloc(db->n * sizeof(*s));
	if (!s)
		return -ENOMEM;
	memcpy(s, db->v, db->n * sizeof(*s));
	qsort(s, db->n, sizeof(*s), by_name_then_line);
	const struct pg_user *dup = NULL, *first = NULL;
	for (size_t i = 1; i < db->n; i++) {
		if (strcmp(s[i]->name, s[i - 1]->name) == 0 && (!dup || s[i]->line < dup->line)) {
			dup = s[i];
			first = s[i - 1];
		}
	}
	int rc = 0;
	if (dup) {
		ps->line = dup->line;
		rc = fail(ps, "duplicate user '%s' (first on line %u)", dup->name, first->line);
	}
	free(s);
	return rc;
}

struct pg_users *pg_users_new(void)
{
	return calloc(1, sizeof(struct pg_users));
}

int pg_users_parse(const char *text, size_t len, const char *origin, struct pg_users **out,
		   char *err, size_t err_size)
{
	struct parse ps = {.origin = origin ? origin : "users", .err = err, .err_size = err_size};
	int rc = 0;

	if (err && err_size)
		err[0] = '\0';
	if (!out || (!text && len))
		return -EINVAL;
	*out = NULL;
	struct pg_users *db = pg_users_new();
	if (!db)
		return -ENOMEM;
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		ps.line++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > PG_USERS_MAX_LINE) {
			rc = fail(&ps, "line longer than %d bytes", PG_USERS_MAX_LINE);
			goto fail;
		}
		if (memchr(p, '\0', n)) {
			rc = fail(&ps, "NUL byte in line");
			goto fail;
		}
		size_t i = 0;
		while (i < n && (p[i] == ' ' || p[i] == '\t'))
			i++;
		if (i == n || p[i] == '#')
			rc = add_pending(&ps, p, n);
		else
			rc = parse_user(&ps, db, p, n);
		if (rc < 0)
			goto fail;
		p = nl ? nl + 1 : end;
	}
	rc = check_duplicates(&ps, db);
	if (rc < 0)
		goto fail;
	db->trailer = ps.pending;
	*out = db;
	return 0;
fail:
	if (rc == -ENOMEM && err && err_size)
		snprintf(err, err_size, "%s: out of memory", ps.origin);
	free(ps.pending);
	pg_users_del(db);
	return rc;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
set_err(char *err, size_t size, const char *fmt, ...)
{
	if (!err || !size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

int pg_users_load(const char *path, struct pg_users **out, char *err, size_t err_size)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int rc;

	if (!path || !out)
		return -EINVAL;
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		set_err(err, err_size, "%s: cannot open: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		set_err(err, err_size, "%s: cannot stat: %s", path, strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		set_err(err, err_size, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & (S_IRWXO | S_IWGRP)) {
		rc = -EPERM;
		set_err(err, err_size,
			"%s: mode %04o lets others read or change it (it holds TOTP secrets); "
			"run chmod 600 on it",
			path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size > PG_USERS_MAX_FILE) {
		rc = -EFBIG;
		set_err(err, err_size, "%s: larger than %d bytes", path, PG_USERS_MAX_FILE);
		goto out;
	}
	size_t cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (!buf) {
		rc = -ENOMEM;
		set_err(err, err_size, "%s: out of memory", path);
		goto out;
	}
	/* The file may grow between fstat and read: stop at the cap either way. */
	for (;;) {
		ssize_t r = read(fd, buf + got, cap - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			set_err(err, err_size, "%s: cannot read: %s", path, strerror(-rc));
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got == cap) {
			rc = -EFBIG;
			set_err(err, err_size, "%s: changed while being read", path);
			goto out;
		}
	}
	rc = pg_users_parse(buf, got, path, out, err, err_size);
out:
	if (buf) {
		OPENSSL_cleanse(buf, got);
		free(buf);
	}
	close(fd);
	return rc;
}

/* ---- saving ---- */

struct text {
	char *p;
	size_t len, cap;
};

static int put(struct text *t, const char *s)
{
	size_t n = strlen(s);
	if (t->len + n + 1 > t->cap) {
		size_t cap = (t->len + n + 1) * 2;
		char *p = malloc(cap);
		if (!p)
			return -ENOMEM;
		if (t->p) {
			memcpy(p, t->p, t->len);
			OPENSSL_cleanse(t->p, t->cap);
			free(t->p);
		}
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n + 1);
	t->len += n;
	return 0;
}

static int render(const struct pg_users *db, struct text *t)
{
	int rc = 0;
	for (size_t i = 0; i < db->n && rc == 0; i++) {
		const struct pg_user *u = db->v[i];
		if (u->comments)
			rc |= put(t, u->comments);
		rc |= put(t, u->name);
		rc |= put(t, ":");
		rc |= put(t, u->groups);
		rc |= put(t, ":");
		rc |= put(t, u->hash);
		rc |= put(t, ":");
		rc |= put(t, u->totp);
		rc |= put(t, u->locked ? ":locked\n" : ":\n");
	}
	if (rc == 0 && db->trailer)
		rc = put(t, db->trailer);
	if (rc == 0 && !t->p)
		rc = put(t, "");
	return rc ? -ENOMEM : 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int pg_users_save(const struct pg_users *db, const char *path)
{
	struct text t = {0};
	struct stat st;
	char *tmp = NULL, *dir = NULL;
	int fd = -1, rc;

	if (!db || !path || !*path)
		return -EINVAL;
	rc = render(db, &t);
	if (rc < 0)
		goto out;
	size_t pl = strlen(path);
	tmp = malloc(pl + 8);
	dir = malloc(pl + 2);
	if (!tmp || !dir) {
		rc = -ENOMEM;
		goto out;
	}
	/* Same folder, so rename is atomic; mkstemp creates it 0600. */
	memcpy(tmp, path, pl);
	memcpy(tmp + pl, ".XXXXXX", 8);
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = -errno;
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
		/* The relay may read the file through its group: keep that, and nothing
		 * wider. Best effort: only root may give a file to another group. */
		if (fchown(fd, (uid_t)-1, st.st_gid) == 0)
			fchmod(fd, 0600 | (st.st_mode & S_IRGRP));
	}
	rc = write_all(fd, t.p, t.len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	fd = -1;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		goto out;
	free(tmp);
	tmp = NULL;
	/* The rename is durable once the folder is. */
	memcpy(dir, path, pl + 1);
	char *slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0)
			rc = -errno;
		close(dfd);
	}
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(dir);
	if (t.p) {
		OPENSSL_cleanse(t.p, t.cap);
		free(t.p);
	}
	return rc;
}

void pg_users_del(struct pg_users *db)
{
	if (!db)
		return;
	for (size_t i = 0; i < db->n; i++)
		user_free(db->v[i]);
	free(db->v);
	free(db->trailer);
	free(db);
}

/* ---- queries ---- */

const struct pg_user *pg_users_lookup(const struct pg_users *db, const char *name)
{
	return find(db, name, NULL);
}

size_t pg_users_count(const struct pg_users *db)
{
	return db ? db->n : 0;
}

const struct pg_user *pg_users_at(const struct pg_users *db, size_t i)
{
	return db && i < db->n ? db->v[i] : NULL;
}

const char *pg_users_name(const struct pg_user *u)
{
	return u->name;
}

const char *pg_users_groups(const struct pg_user *u)
{
	return u->groups;
}

bool pg_users_in_group(const struct pg_user *u, const char *group)
{
	size_t n = group ? strlen(group) : 0;
	if (!u || n == 0)
		return false;
	for (const char *s = u->groups; *s;) {
		const char *c = strchr(s, ',');
		size_t len = c ? (size_t)(c - s) : strlen(s);
		if (len == n && memcmp(s, group, n) == 0)
			return true;
		if (!c)
			break;
		s = c + 1;
	}
	return false;
}

bool pg_users_is_locked(const struct pg_user *u)
{
	return u->locked;
}

bool pg_users_has_totp(const struct pg_user *u)
{
	return u->totp[0] != '\0';
}

uint64_t pg_users_totp_last_step(const struct pg_user *u)
{
	return u->totp_last_step;
}

int pg_users_set_totp_last_step(struct pg_users *db, const char *name, uint64_t step)
{
	struct pg_user *u = find(db, name, NULL);
	if (!u)
		return -ENOENT;
	u->totp_last_step = step;
	return 0;
}

int pg_users_totp_key(const struct pg_users *db, const char *name, uint8_t *key, size_t size)
{
	const struct pg_user *u = find(db, name, NULL);
	if (!u)
		return -ENOENT;
	if (!u->totp[0])
		return -ENODATA;
	return pg_totp_base32_decode(u->totp, strlen(u->totp), key, size);
}

/* ---- verification ---- */

int pg_users_verify_password(const struct pg_users *db, const char *name, const char *password,
			     size_t len)
{
	const struct pg_user *u = find(db, name, NULL);
	if (!u || !password || len > PG_USERS_MAX_PASSWORD) {
		pg_passhash_dummy(password, len);
		return u ? -EINVAL : -ENOENT;
	}
	int rc = pg_passhash_verify(u->hash, password, len);
	/* HMAC pads keys with zeros, so "pw" and "pw\0" derive the same key: a NUL
	 * is never part of a password. */
	if (memchr(password, '\0', len))
		rc = -EACCES;
	if (u->locked)
		return -EPERM;
	return rc == 0 ? 0 : -EACCES;
}

const char *pg_users_result_str(enum pg_users_result r)
{
	switch (r) {
	case PG_USERS_OK:
		return "ok";
	case PG_USERS_UNKNOWN_USER:
		return "unknown user";
	case PG_USERS_BAD_PASSWORD:
		return "wrong password";
	case PG_USERS_LOCKED:
		return "user locked";
	case PG_USERS_TOTP_MISSING:
		return "TOTP code missing";
	case PG_USERS_TOTP_NOT_ENROLLED:
		return "TOTP required but not enrolled";
	case PG_USERS_TOTP_BAD:
		return "wrong TOTP code";
	case PG_USERS_TOTP_REPLAYED:
		return "TOTP code already used";
	case PG_USERS_BAD_INPUT:
		return "password too long";
	}
	return "unknown reason";
}

int pg_users_authenticate(struct pg_users *db, const char *name, const char *input, size_t len,
			  bool require_totp, uint64_t now, enum pg_users_result *why)
{
	enum pg_users_result r = PG_USERS_OK;
	size_t pw_len = len;
	const char *code = NULL;
	struct pg_user *u = find(db, name, NULL);

	if (u && u->totp[0] && input &&
	    pg_auth_split_password_code(input, len, &pw_len, &code) < 0) {
		code = NULL;
		r = PG_USERS_TOTP_MISSING;
	}
	int rc = pg_users_verify_password(db, name, input, pw_len);
	if (rc == -ENOENT)
		r = PG_USERS_UNKNOWN_USER;
	else if (rc == -EPERM)
		r = PG_USERS_LOCKED;
	else if (rc == -EINVAL)
		r = PG_USERS_BAD_INPUT;
	else if (rc < 0)
		r = PG_USERS_BAD_PASSWORD;
	else if (r == PG_USERS_OK && !u->totp[0] && require_totp)
		r = PG_USERS_TOTP_NOT_ENROLLED;
	if (r == PG_USERS_OK && code) {
		uint8_t key[PG_TOTP_MAX_KEY];
		int n = pg_totp_base32_decode(u->totp, strlen(u->totp), key, sizeof(key));
		rc = n < 0 ? n
			   : pg_totp_verify(key, (size_t)n, code, PG_TOTP_DIGITS, now,
					    &u->totp_last_step);
		OPENSSL_cleanse(key, sizeof(key));
		if (rc == -EALREADY)
			r = PG_USERS_TOTP_REPLAYED;
		else if (rc < 0)
			r = PG_USERS_TOTP_BAD;
	}
	if (why)
		*why = r;
	return r == PG_USERS_OK ? 0 : -EACCES;
}

/* ---- changes ---- */

int pg_users_add(struct pg_users *db, const char *name, const char *groups, const char *hash)
{
	if (!db || !pg_users_valid_name(name) || !pg_users_valid_groups(groups ? groups : "") ||
	    !hash || pg_users_check_hash(hash) < 0)
		return -EINVAL;
	if (find(db, name, NULL))
		return -EEXIST;
	struct pg_user *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	snprintf(u->name, sizeof(u->name), "%s", name);
	snprintf(u->hash, sizeof(u->hash), "%s", hash);
	u->groups = strdup(groups ? groups : "");
	int rc = u->groups ? append(db, u) : -ENOMEM;
	if (rc < 0)
		user_free(u);
	return rc;
}

int pg_users_remove(struct pg_users *db, const char *name)
{
	size_t i;
	struct pg_user *u = find(db, name, &i);
	if (!u)
		return -ENOENT;
	/* The comment above a removed user stays, now above the next one. */
	if (u->comments) {
		char **to = i + 1 < db->n ? &db->v[i + 1]->comments : &db->trailer;
		size_t a = strlen(u->comments), b = *to ? strlen(*to) : 0;
		char *m = malloc(a + b + 1);
		if (!m)
			return -ENOMEM;
		memcpy(m, u->comments, a);
		memcpy(m + a, *to ? *to : "", b + 1);
		free(*to);
		*to = m;
	}
	memmove(&db->v[i], &db->v[i + 1], (db->n - i - 1) * sizeof(db->v[0]));
	db->n--;
	user_free(u);
	return 0;
}

int pg_users_set_hash(struct pg_users *db, const char *name, const char *hash)
{
	struct pg_user *u = find(db, name, NULL);
	if (!u)
		return -ENOENT;
	if (!hash || pg_users_check_hash(hash) < 0)
		return -EINVAL;
	snprintf(u->hash, sizeof(u->hash), "%s", hash);
	return 0;
}

int pg_users_set_groups(struct pg_users *db, const char *name, const char *groups)
{
	struct pg_user *u = find(db, name, NULL);
	if (!u)
		return -ENOENT;
	if (!pg_users_valid_groups(groups))
		return -EINVAL;
	char *g = strdup(groups);
	if (!g)
		return -ENOMEM;
	free(u->groups);
	u->groups = g;
	return 0;
}

int pg_users_set_locked(struct pg_users *db, const char *name, bool locked)
{
	struct pg_user *u = find(db, name, NULL);
	if (!u)
		return -ENOENT;
	u->locked = locked;
	return 0;
}

int pg_users_set_totp(struct pg_users *db, const char *name, const char *secret_base32)
{
	char why[160];
	struct pg_user *u = find(db, name, NULL);
	if (!u)
		return -ENOENT;
	if (secret_base32 && (!*secret_base32 || check_totp(secret_base32, why, sizeof(why))))
		return -EINVAL;
	OPENSSL_cleanse(u->totp, sizeof(u->totp));
	if (secret_base32)
		snprintf(u->totp, sizeof(u->totp), "%s", secret_base32);
	u->totp_last_step = 0;
	return 0;
}
