/* The files the HTTPS listener serves (the noVNC page), read into memory once at
 * startup. Nothing on disk is touched afterwards, so no request can traverse,
 * follow a symlink or race a rename: a lookup is an exact match in a table. */
#ifndef PG_HTTP_STATIC_H
#define PG_HTTP_STATIC_H

#include <stddef.h>
#include <stdint.h>

#include "codec/buf.h"
#include "http/request.h"

#define PG_STATIC_MAX_FILES 4096
#define PG_STATIC_MAX_BYTES (64u << 20) /* all files together */
#define PG_STATIC_MAX_DEPTH 8		/* folders below root */

struct pg_static;

struct pg_static_file {
	const char *path; /* URL path: "/index.html", "/app/ui.js" */
	const uint8_t *data;
	size_t len;
	const char *type; /* Content-Type, from the extension */
	const char *etag; /* strong and quoted: the SHA-256's first 8 bytes in hex */
};

/* Read every regular file under root (the one function here that does I/O).
 * Directories are opened with O_NOFOLLOW | O_DIRECTORY, root included; symlinks
 * (never followed), hidden names (".git", ".htaccess"), devices, FIFOs, sockets
 * and names no request path can spell (control characters, '\', "..") are
 * skipped. More than PG_STATIC_MAX_FILES files, PG_STATIC_MAX_BYTES bytes or
 * PG_STATIC_MAX_DEPTH levels, an unreadable entry, or a file that changes while
 * read is an error: returns PG_EPROTO, PG_ELIMIT or PG_ENOMEM with the reason in
 * err. 0 with *out set otherwise (an empty folder is fine). */
int pg_static_load(const char *root, struct pg_static **out, char *err, size_t n);

/* The file at a decoded request path, exact match only; "/" is "/index.html".
 * NULL when there is none. Valid until pg_static_free. Thread-safe once loaded. */
const struct pg_static_file *pg_static_lookup(const struct pg_static *st, const char *path);
size_t pg_static_count(const struct pg_static *st);
void pg_static_free(struct pg_static *st);

/* Answer a parsed GET or HEAD into out: 200 with the file and its ETag, 304 when
 * If-None-Match holds that ETag, 404 otherwise. Returns the status, or PG_ELIMIT
 * or PG_ENOMEM when out cannot hold the response. */
int pg_static_respond(const struct pg_static *st, const struct pg_http_req *r, struct pg_buf *out);

#endif
