/* The admin control socket: a Unix stream socket where a local administrator's
 * command ("reload", "status"), one line, gets one answer, then the connection ends.
 * Only the relay's own user (mode 0600) may connect. See docs/operations.md. */
#ifndef PG_RELAY_CONTROL_H
#define PG_RELAY_CONTROL_H

#include <stddef.h>
#include <stdio.h>
#include <uv.h>

#define PG_CONTROL_MAX_COMMAND 64	   /* bytes of one command line */
#define PG_CONTROL_MAX_ANSWER  (16u << 10) /* bytes of one answer */
#define PG_CONTROL_TIMEOUT_MS  5000	   /* to send the command line */

struct pg_control;

/* Run cmd (NUL-terminated, no newline); write the answer (lines ending in '\n',
 * the last starting "ok" or "error"/"rejected") to out. Return 0 or -1. */
typedef int (*pg_control_fn)(void *ud, const char *cmd, char *out, size_t size);

/* Listen on path (a stale socket there is replaced; any other file is an error). */
struct pg_control *pg_control_start(uv_loop_t *loop, const char *path, pg_control_fn fn, void *ud,
				    char *err, size_t err_size);
/* Close the listener and every connection; remove the socket file. */
void pg_control_stop(struct pg_control *c);

/* The client side, for pixelgate --reload: send cmd, copy the answer to out.
 * Returns 0 when the answer's last line starts with "ok", else -1 (with why on err). */
int pg_control_request(const char *path, const char *cmd, FILE *out, FILE *err);

#endif
