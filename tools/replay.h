/* Shared by pixelgate-replay's files: pixelgate_replay.c (the commands) and
 * replay_serve.c (the VNC server). */
#ifndef PG_TOOLS_REPLAY_H
#define PG_TOOLS_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "record/recfile.h"

#define PG_REPLAY_PROG "pixelgate-replay"

struct pg_replay_serve_opts {
	const char *listen; /* ADDR:PORT, or NULL for 127.0.0.1 from port 5900 up */
	bool allow_remote;
	uint64_t from_us;
	double speed;
	bool loop;
	const char *name; /* the desktop name viewers show */
};

/* Serve r's recording to VNC viewers until it ends (or forever with loop) or
 * SIGINT/SIGTERM. Exit status: 0, 1 (a damaged frame, a socket error), 2 (a bad
 * --listen). */
int pg_replay_serve(struct pg_rec_reader *r, const struct pg_replay_serve_opts *o);

/* "H:MM:SS.mmm" */
void pg_replay_fmt_time(uint64_t us, char *buf, size_t size);
/* Write untrusted text: C0 controls, DEL, bytes that are not UTF-8 and the
 * Unicode bidirectional controls become visible escapes, so a recording cannot
 * rewrite the reviewer's terminal. */
void pg_replay_print_safe(FILE *f, const char *s, size_t len);

#endif
