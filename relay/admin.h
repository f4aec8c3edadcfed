/* The admin listener: plain HTTP for IT staff's monitoring and load balancers.
 * GET /healthz (no token), GET /metrics, GET /sessions, POST /sessions/ID/end;
 * every request but /healthz needs "Authorization: Bearer TOKEN". One request per
 * connection, each capped in size and time. Loop thread only. See
 * docs/operations.md. */
#ifndef PG_RELAY_ADMIN_H
#define PG_RELAY_ADMIN_H

#include <stddef.h>

struct pg_relay;
struct pg_admin;

/* Connections open at once; past it, the oldest that has not sent its request is
 * closed for the new one. */
#define PG_ADMIN_MAX_CONNS 32
/* A connection has this long to send its request and read the answer. */
#define PG_ADMIN_DEADLINE_MS 5000
/* The most a /metrics or /sessions answer may take. */
#define PG_ADMIN_MAX_BODY (16u << 20)

/* Listen on host:port. token: the bearer token (copied). NULL with err set. */
struct pg_admin *pg_admin_start(struct pg_relay *relay, const char *host, int port,
				const char *token, char *err, size_t err_size);
/* A reload's new token (copied; the old one is wiped). */
void pg_admin_set_token(struct pg_admin *a, const char *token);
/* Close the listener and every connection; a frees itself once they are closed.
 * NULL is fine. */
void pg_admin_stop(struct pg_admin *a);

/* The token in path: its first line, at least 32 and at most 255 printable
 * characters without spaces. 0, or -1 with why (static). */
int pg_admin_read_token(const char *path, char *out, size_t size, const char **why);

#endif
