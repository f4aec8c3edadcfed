/* What the main process's parts share: the relay-wide settings and the calls
 * between sessions and viewers. Runs on the one libuv loop thread. */
#ifndef PG_RELAY_RELAY_H
#define PG_RELAY_RELAY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "codec/fb.h"

struct pg_session;
struct pg_viewer;

struct pg_relay {
	uv_loop_t *loop;
	char upstream_host[256];
	int upstream_port;
	char upstream_password[128];
	char worker_path[4096];
	int max_fps;
	int max_viewers;
	int reconnect_max_ms;
	int viewers; /* connected now */
	uint64_t next_viewer_id;
	struct pg_session *session; /* the one browser host, until per-user routing */
};

/* The cursor shape a session shows, in canonical pixels with an RFB bitmask. */
struct pg_cursor_shape {
	int hot_x, hot_y, w, h;
	uint32_t *px;
	uint8_t *mask;
};

/* Sessions (session.c) */
struct pg_session *pg_session_new(struct pg_relay *relay);
/* Stops the worker and closes every viewer. */
void pg_session_del(struct pg_session *s);
void pg_session_attach(struct pg_session *s, struct pg_viewer *v);
void pg_session_detach(struct pg_session *s, struct pg_viewer *v);
/* True once the browser host has given a picture (a size and pixels). */
bool pg_session_has_picture(const struct pg_session *s);
/* True while a worker is connected to the browser host. */
bool pg_session_connected(const struct pg_session *s);
const struct pg_fb *pg_session_fb(const struct pg_session *s);
const char *pg_session_name(const struct pg_session *s); /* sanitized, NUL-terminated */
const struct pg_cursor_shape *pg_session_cursor(const struct pg_session *s); /* w 0: none */
/* Input from a viewer; dropped (and counted) while the browser host is away. */
void pg_session_key(struct pg_session *s, bool down, uint32_t keysym);
void pg_session_pointer(struct pg_session *s, uint8_t mask, int x, int y);

/* Viewers (viewer.c) */
/* Accept a connection from a listener. */
void pg_viewer_accept(struct pg_relay *relay, uv_stream_t *server);
/* Called by the session */
void pg_viewer_session_ready(struct pg_viewer *v);
void pg_viewer_session_failed(struct pg_viewer *v, const char *reason);
/* The n rectangles of one update changed. */
void pg_viewer_damage(struct pg_viewer *v, const struct pg_rect *r, int n);
void pg_viewer_resized(struct pg_viewer *v);
void pg_viewer_cursor_changed(struct pg_viewer *v);
void pg_viewer_bell(struct pg_viewer *v);
void pg_viewer_close(struct pg_viewer *v, const char *reason);

uint64_t pg_now_ms(void);

#endif
