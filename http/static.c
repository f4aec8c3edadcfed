#include "static.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/err.h"
#include "http/response.h"

struct entry {
	struct pg_static_file f;
	char etag[19]; /* '"', 16 hex digits, '"', NUL */
};

struct pg_static {
	struct entry *e;
	size_t n, cap;
};

struct walk {
	struct pg_static *st;
	const char *root;
	size_t bytes;
	char *err;
	size_t errlen;
	char rel[PG_HTTP_MAX_URL + 1]; /* the URL path being visited */
};

static const struct {
	const char *ext, *type;
} types[] = {
    {"html", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"woff2", "font/woff2"},
    {"json", "application/json"},
    {"ico", "image/x-icon"},
    {"txt", "text/plain; charset=utf-8"},
};

static const char *type_of(const char *name)
{
	const char *dot = strrchr(name, '.');
	if (dot)
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot + 1, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

static int werr(struct walk *w, int rc, const char *what)
{
	snprintf(w->err, w->errlen, "%s%s: %s", w->root, w->rel, what);
	return rc;
}

/* Names pg_http_parse would never let a request spell. */
static bool reachable(const char *name)
{
	if (name[0] == '.' || strstr(name, ".."))
		return false;
	for (const char *c = name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\')
			return false;
	return true;
}

static int add_file(struct walk *w, int dfd, const char *name)
{
	struct pg_static *st = w->st;
	if (st->n == PG_STATIC_MAX_FILES)
		return werr(w, PG_ELIMIT, "more than 4096 files");
	/* fstatat said regular, but the name may have been swapped since:
	 * O_NOFOLLOW refuses a symlink, O_NONBLOCK keeps a FIFO from blocking, and
	 * fstat on what was opened decides. */
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? 0 : werr(w, PG_EPROTO, strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		int e = errno;
		close(fd);
		return werr(w, PG_EPROTO, strerror(e));
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return 0;
	}
	if ((uint64_t)sb.st_size > PG_STATIC_MAX_BYTES - w->bytes) {
		close(fd);
		return werr(w, PG_ELIMIT, "files over 64 MiB in total");
	}
	size_t size = (size_t)sb.st_size, got = 0;
	uint8_t *data = malloc(size + 1);
	char *path = strdup(w->rel);
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 64;
		struct entry *e = realloc(st->e, cap * sizeof(*e));
		if (e) {
			st->e = e;
			st->cap = cap;
		}
	}
	if (!data || !path || st->n == st->cap) {
		free(data);
		free(path);
		close(fd);
		return werr(w, PG_ENOMEM, "out of memory");
	}
	/* Read one byte more than fstat promised, to notice a file still growing. */
	while (got <= size) {
		ssize_t r = read(fd, data + got, size + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	int e = errno;
	close(fd);
	if (got != size) {
		free(data);
		free(path);
		return werr(w, PG_EPROTO,
			    got > size || e == 0 ? "changed while being read" : strerror(e));
	}
	struct entry *en = &st->e[st->n++];
	memset(en, 0, sizeof(*en));
	en->f.path = path;
	en->f.data = data;
	en->f.len = size;
	en->f.type = type_of(name);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!EVP_Digest(data, size, md, &mdlen, EVP_sha256(), NULL))
		return werr(w, PG_ENOMEM, "SHA-256 failed");
	en->etag[0] = '"';
	for (int i = 0; i < 8; i++)
		snprintf(en->etag + 1 + 2 * i, 3, "%02x", md[i]);
	en->etag[17] = '"';
	w->bytes += size;
	return 0;
}

/* Takes dfd. */
static int walk_dir(struct walk *w, int dfd, size_t rel_len, int depth)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return werr(w, PG_EPROTO, strerror(errno));
	}
	int rc = 0;
	struct dirent *de;
	for (errno = 0; !rc && (de = readdir(d)); errno = 0) {
		const char *name = de->d_name;
		if (!reachable(name))
			continue;
		size_t nl = strlen(name);
		w->rel[rel_len] = '\0';
		if (rel_len + 1 + nl > PG_HTTP_MAX_URL) {
			rc = werr(w, PG_ELIMIT, "path too long to serve");
			break;
		}
		w->rel[rel_len] = '/';
		memcpy(w->rel + rel_len + 1, name, nl + 1);
		struct stat sb;
		if (fstatat(dirfd(d), name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = errno == ENOENT ? 0 : werr(w, PG_EPROTO, strerror(errno));
		} else if (S_ISDIR(sb.st_mode)) {
			if (depth == PG_STATIC_MAX_DEPTH) {
				rc = werr(w, PG_ELIMIT, "folders nested more than 8 deep");
				break;
			}
			int sub =
			    openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				rc = errno == ELOOP || errno == ENOTDIR
					 ? 0
					 : werr(w, PG_EPROTO, strerror(errno));
			else
				rc = walk_dir(w, sub, rel_len + 1 + nl, depth + 1);
		} else if (S_ISREG(sb.st_mode)) {
			rc = add_file(w, dirfd(d), name);
		}
		/* Symlinks, devices, FIFOs and sockets are not served. */
	}
	if (!rc && errno) {
		w->rel[rel_len] = '\0';
		rc = werr(w, PG_EPROTO, strerror(errno));
	}
	closedir(d);
	return rc;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->f.path, ((const struct entry *)b)->f.path);
}

int pg_static_load(const char *root, struct pg_static **out, char *err, size_t n)
{
	*out = NULL;
	struct pg_static *st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, n, "out of memory");
		return PG_ENOMEM;
	}
	struct walk w = {.st = st, .root = root, .err = err, .errlen = n};
	int rc;
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;
	if (fd < 0) {
		/* O_DIRECTORY | O_NOFOLLOW on a symlink fails with ENOTDIR: say why. */
		int e = errno;
		bool link = lstat(root, &sb) == 0 && S_ISLNK(sb.st_mode);
		rc = werr(&w, PG_EPROTO,
			  link ? "is a symlink (give the folder it points to)" : strerror(e));
	} else
		rc = walk_dir(&w, fd, 0, 0);
	if (rc) {
		pg_static_free(st);
		return rc;
	}
	/* Pointers into the table only now that it no longer moves. */
	if (st->n)
		qsort(st->e, st->n, sizeof(*st->e), by_path);
	for (size_t i = 0; i < st->n; i++)
		st->e[i].f.etag = st->e[i].etag;
	*out = st;
	return 0;
}

const struct pg_static_file *pg_static_lookup(const struct pg_static *st, const char *path)
{
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	struct entry key = {.f.path = path};
	const struct entry *e = st->n ? bsearch(&key, st->e, st->n, sizeof(*st->e), by_path) : NULL;
	return e ? &e->f : NULL;
}

size_t pg_static_count(const struct pg_static *st)
{
	return st->n;
}

void pg_static_free(struct pg_static *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++) {
		free((void *)st->e[i].f.path);
		free((void *)st->e[i].f.data);
	}
	free(st->e);
	free(st);
}

/* If-None-Match is "*" or a list of entity tags, compared weakly (RFC 9110,
 * 13.1.2): a W/ prefix does not matter. */
static bool etag_matches(const char *inm, const char *etag)
{
	size_t el = strlen(etag), n;
	for (const char *s; (s = pg_http_list_next(&inm, &n));) {
		if (n >= 2 && s[0] == 'W' && s[1] == '/') {
			s += 2;
			n -= 2;
		}
		if ((n == 1 && *s == '*') || (n == el && !memcmp(s, etag, el)))
			return true;
	}
	return false;
}

int pg_static_respond(const struct pg_static *st, const struct pg_http_req *r, struct pg_buf *out)
{
	bool head = r->method == PG_HTTP_HEAD;
	const struct pg_static_file *f = pg_static_lookup(st, r->path);
	int rc;
	if (!f) {
		static const char body[] = "404 Not Found\n";
		rc = pg_http_response(out, 404, "text/plain; charset=utf-8", body, sizeof(body) - 1,
				      NULL, head);
		return rc < 0 ? rc : 404;
	}
	char extra[64];
	snprintf(extra, sizeof(extra), "ETag: %s\r\n", f->etag);
	int status = etag_matches(r->if_none_match, f->etag) ? 304 : 200;
	rc = pg_http_response(out, status, f->type, f->data, f->len, extra, head);
	return rc < 0 ? rc : status;
}
