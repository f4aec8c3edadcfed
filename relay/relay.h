/* What the main process's parts share: the relay-wide settings and the calls
 * between sessions and viewers. Runs on the one libuv loop thread. */
#ifndef PG_RELAY_RELAY_H
#define PG_RELAY_RELAY_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "codec/fb.h"
#include "config/config.h"
#include "config/policy.h"

struct pg_session;
struct pg_share;
struct pg_viewer;
struct pg_tls_ctx;
struct pg_users;
struct pg_lockout;
struct pg_audit;
struct pg_ldap_config;
struct pg_font;
struct pg_static;
struct pg_broker;
struct pg_metrics;

/* How the worker logs in to one browser host. */
struct pg_upstream_login {
	char address[300]; /* host:port, for [host] sections */
	char password[128];
	int tls; /* enum pg_chan_tls */
	char ca_file[1024];
	char pin[128];
};

/* The upstream worker's caps and sandbox ([upstream], [sandbox]). */
struct pg_worker_limits {
	int max_width, max_height; /* framebuffer the browser host may have */
	int update_timeout_ms;	   /* to finish an update once begun */
	int stall_timeout_ms;	   /* a worker unanswering this long is killed */
	uint32_t uid, gid;	   /* the worker's user when the relay runs as root */
	int memory_mib;		   /* address space */
	int cpu_seconds;
	int32_t encoding; /* asked of the browser host first: PG_ENC_TIGHT, _ZRLE or _RAW */
};

/* Audit records about connections that have not logged in (viewer.c). Anyone who
 * reaches a listener can cause them, and each costs the loop a write, so at most
 * PG_PREAUTH_AUDIT_PER_SEC a second are written one by one (without an fdatasync
 * each); the rest are counted per event and written as one preauth-summary each
 * when the second ends. */
#define PG_PREAUTH_AUDIT_PER_SEC 10
#define PG_PREAUTH_EVENTS	 6
struct pg_preauth_audit {
	int written;				/* one by one, this second */
	uint64_t suppressed[PG_PREAUTH_EVENTS]; /* per event, this second */
	char last_source[PG_PREAUTH_EVENTS][48];
};

struct pg_relay {
	uv_loop_t *loop;
	char upstream_address[300];	   /* the default browser host, may be empty */
	struct pg_upstream_login upstream; /* [upstream]: every browser host by default */
	struct pg_upstream_login *hosts;   /* [host ADDRESS] sections */
	int nhosts;
	char worker_path[4096];
	int max_fps;
	int max_bandwidth; /* kbit/s per viewer, 0 for none */
	bool adaptive_quality;
	int refine_delay_ms;
	int max_viewers;
	int max_handshakes, max_handshakes_per_source;
	/* [relay] proxy_protocol_from: connections from these start with a PROXY v2
	 * header naming the real client (http/proxy.h). */
	int nproxy_nets;
	struct pg_policy_net proxy_nets[PG_POLICY_MAX_NETS];
	int reconnect_max_ms;
	int auth_timeout_ms;
	int send_timeout_ms; /* a viewer whose output stays unread this long is closed */
	struct pg_worker_limits worker;
	bool resize_follow; /* [upstream] resize = follow: viewers may resize the host */

	/* Viewer security */
	bool security_none;		   /* no login: loopback only, one shared browser host */
	struct pg_tls_ctx *tls;		   /* X509Plain, or NULL */
	struct pg_tls_ctx *anon;	   /* TLSPlain, or NULL */
	bool insecure;			   /* Plain without TLS (loopback only) */
	struct pg_users *users;		   /* may be NULL when LDAP is used */
	const struct pg_ldap_config *ldap; /* NULL: no LDAP */
	struct pg_lockout *lockout;
	struct pg_audit *audit;	    /* NULL: no audit file */
	char vnc_auth_user[65];	    /* legacy VNC authentication: off when empty */
	char vnc_auth_password[16]; /* at most 8 bytes count */
	bool takeover;		    /* a user's new viewer closes the older ones */
	char totp_groups[1024];	    /* comma-separated, or "*" */
	const struct pg_route *routes;
	int nroutes;
	const struct pg_policy_config *policy; /* [policy] sections of the config in force */
	bool audit_clipboard_text;	       /* clipboard text itself in audit records */
	struct pg_font *font;		       /* for warnings in the picture; may be NULL */
	uv_timer_t guard_timer;		       /* session limits and their warnings, each second */
	int login_jobs;			       /* logins on the thread pool now */
	struct pg_static *web_static;	       /* the viewer page's files, or NULL */
	const char *web_origins;	       /* [web] origins, or "" */
	uint64_t web_upgrades;
	uint64_t reloads;

	int viewers;		  /* logged in (or past security None) now */
	int handshakes;		  /* connections still in the handshake */
	uv_timer_t flood_timer;	  /* summarises refused connections */
	uint64_t refused_quietly; /* refused since the last summary */
	struct pg_preauth_audit preauth;
	uint64_t next_viewer_id;
	struct pg_viewer *viewer_list;
	struct pg_session **sessions;
	int nsessions;
	int linger_ms;		  /* [broker] linger: a session without viewers ends after it */
	struct pg_broker *broker; /* [broker] mode pool or spawn; NULL: static */
	bool stopping;
	bool draining;		    /* SIGTERM: listeners closed, viewers told, exit when they go */
	struct pg_metrics *metrics; /* relay/metrics.h; may be NULL */
	/* [recording] (record.c): off when rec_dir is empty */
	char rec_dir[PATH_MAX];
	uint64_t rec_max_bytes;
	size_t rec_max_queue;
	int rec_fps, rec_key_ms, rec_max_age_days;
	int recordings;	       /* files open now */
	uv_timer_t rec_sweep;  /* max_age, hourly */
	char hostname[256];    /* {host} in watermarks, relay in recordings */
	uv_timer_t mark_timer; /* puts watermarks moved by copies back (vmark.c) */
};

/* The cursor shape a session shows, in canonical pixels with an RFB bitmask. */
struct pg_cursor_shape {
	int hot_x, hot_y, w, h;
	uint32_t *px;
	uint8_t *mask;
};

/* True when a comma-separated list holds name ("*" holds every name). */
bool pg_list_has(const char *list, const char *name, size_t name_len);

/* Audit an event when an audit file is configured; a failed write is logged. */
#define pg_audit(relay, event, ...)                                                                \
	do {                                                                                       \
		if ((relay)->audit)                                                                \
			pg_relay_audit_result(                                                     \
			    PG_AUDIT_EVENT((relay)->audit, (event), __VA_ARGS__), (event));        \
	} while (0)
void pg_relay_audit_result(int rc, const char *event);

/* Sessions (session.c): one per browser host. */
/* What /sessions and /metrics show of a session; strings point into it. */
struct pg_session_info {
	const char *id;		  /* 16 hex digits, for the session's life */
	const char *browser_host; /* host:port */
	uint64_t frames;	  /* updates from the browser host */
	double fps;		  /* of them, in the last whole second */
	int64_t started_unix;
	bool connected; /* the worker is logged in to the browser host */
	int nviewers;
	uint64_t queued_bytes; /* waiting to be written to its viewers */
};
void pg_session_info(const struct pg_session *s, struct pg_session_info *out);
/* The session with this id, or NULL. */
struct pg_session *pg_session_find(struct pg_relay *relay, const char *id);
/* Close its viewers with reason, then pg_session_del. */
void pg_session_end(struct pg_session *s, const char *reason);
/* The session for the browser host at address (host:port), made when missing. */
struct pg_session *pg_session_get(struct pg_relay *relay, const char *address);
/* Stops the worker, closes every viewer and frees the session. */
void pg_session_del(struct pg_session *s);
/* Once a second: kill a worker that stopped answering ([upstream] stall_timeout). */
void pg_session_tick(struct pg_session *s);
void pg_session_attach(struct pg_session *s, struct pg_viewer *v);
void pg_session_detach(struct pg_session *s, struct pg_viewer *v);
/* A session nobody has joined yet starts its linger, so it ends if nobody does. */
void pg_session_linger_if_unused(struct pg_session *s);
const char *pg_session_label(const struct pg_session *s);
/* The viewers of a session, for takeover. */
int pg_session_viewers(const struct pg_session *s, struct pg_viewer ***out);
const struct pg_fb *pg_session_fb(const struct pg_session *s);
/* Pool threads read pg_session_fb between begin and end; meanwhile an update or a
 * resize from the worker waits (held), and so does the worker. */
void pg_session_read_begin(struct pg_session *s);
void pg_session_read_end(struct pg_session *s);
/* An update waits for the readers: start no new reader until it is in. */
bool pg_session_held(const struct pg_session *s);
/* One more each time the pixels of pg_session_fb change. */
uint64_t pg_session_version(const struct pg_session *s);
/* The session's slot for update.c's shared bytes (pg_share_put frees it). */
struct pg_share **pg_session_share(struct pg_session *s);
void pg_share_put(struct pg_share *sh);
const char *pg_session_name(const struct pg_session *s); /* sanitized, NUL-terminated */
const struct pg_cursor_shape *pg_session_cursor(const struct pg_session *s); /* w 0: none */
/* Input from a viewer; dropped (and counted) while the browser host is away. */
/* keycode: the XT scancode of a QEMU extended key event (1..PG_RFB_MAX_KEYCODE), 0
 * for a plain KeyEvent; keysym may then be 0. */
void pg_session_key(struct pg_session *s, bool down, uint32_t keysym, uint32_t keycode);
void pg_session_pointer(struct pg_session *s, uint8_t mask, int x, int y);
/* Ask the browser host for a w x h screen on behalf of v, the session's only viewer
 * (the caller checked policy and range): the newest size wins, one request out at
 * a time, at most 4 a second; v hears the answer through pg_viewer_size_result. */
void pg_session_set_size(struct pg_session *s, struct pg_viewer *v, int w, int h);

/* The session's recording (record.c), NULL when it records nothing. */
struct pg_recorder **pg_session_recorder(struct pg_session *s);

/* Session recording (record.c). */
/* Start or stop the session's recording as its viewers' policies say. */
void pg_record_check(struct pg_session *s);
/* Stop it (the session ends, or nobody recorded is left); the file closes off the
 * loop, then recording-end is audited. */
void pg_record_session_end(struct pg_session *s, const char *reason);
/* The file the session records to now, or "". */
const char *pg_record_file(struct pg_session *s);
/* The session's picture changed there. */
void pg_record_damage(struct pg_session *s, const struct pg_rect *d, int n);
struct pg_viewer;
void pg_record_viewer(struct pg_viewer *v, bool joined);
void pg_record_key(struct pg_viewer *v, bool down, uint32_t keysym, uint32_t keycode);
void pg_record_pointer(struct pg_viewer *v, uint8_t mask, int x, int y);
void pg_record_clipboard(struct pg_viewer *v, const char *direction, bool allowed, const char *rule,
			 size_t bytes, const uint8_t *text, size_t len);
/* Every 100 ms: watermarks that copies moved go back in place once still. */
void pg_vmark_fix_moved(struct pg_relay *relay);
/* Create the folder when missing and check it: 0, or -1 with err. */
int pg_record_prepare(struct pg_relay *relay, char *err, size_t err_size);
/* Delete recordings older than [recording] max_age. */
void pg_record_sweep(struct pg_relay *relay);

/* Viewers (viewer.c) */
/* Accept a connection from a listener: the RFB one, or the web one (HTTPS). */
void pg_viewer_accept(struct pg_relay *relay, uv_stream_t *server, bool web);
/* A listener could not accept (out of descriptors, most likely): logged once a second. */
void pg_viewer_accept_failed(struct pg_relay *relay, int status);
/* At start: the soft limit on open files up to the hard one, with a warning when
 * even that is short of what max_viewers and max_handshakes may need. */
void pg_viewer_raise_fd_limit(struct pg_relay *relay);
/* Each second: close viewers that have left their output unread for send_timeout. */
void pg_viewer_check_stalled(struct pg_relay *relay);
const char *pg_viewer_user(const struct pg_viewer *v);
/* What /sessions shows of a viewer; strings point into it. */
struct pg_viewer_info {
	uint64_t id;
	const char *user, *peer; /* peer: address:port */
	int64_t since_unix;	 /* logged in */
	uint64_t bytes_sent, bytes_received, frames;
	uint64_t queued; /* bytes not yet written to its socket */
};
void pg_viewer_info(const struct pg_viewer *v, struct pg_viewer_info *out);
/* Whether a record about a connection that has not logged in may be written now
 * (see struct pg_preauth_audit); source is kept for the summary. */
bool pg_preauth_admit(struct pg_relay *relay, const char *event, const char *source);
/* Called by the session */
void pg_viewer_session_ready(struct pg_viewer *v);
void pg_viewer_session_failed(struct pg_viewer *v, const char *reason);
/* The answer to v's SetDesktopSize: RFB's status (0 done, 1 prohibited, 2 out of
 * resources, 3 invalid screen layout), sent with the current size. */
void pg_viewer_size_result(struct pg_viewer *v, int status);
/* Called by the broker: the host it chose for a held login (address), or a refusal
 * (address NULL, told for the viewer). */
void pg_handshake_route_done(struct pg_viewer *v, const char *address, const char *told);
/* The n rectangles of one update changed. */
void pg_viewer_damage(struct pg_viewer *v, const struct pg_rect *r, int n);
/* The session's pixels in dst were moved there from (src_x, src_y), before the damage of
 * the same update: the viewer gets a CopyRect when it can, else the pixels. */
void pg_viewer_copy(struct pg_viewer *v, const struct pg_rect *dst, int src_x, int src_y);
void pg_viewer_resized(struct pg_viewer *v);
void pg_viewer_cursor_changed(struct pg_viewer *v);
void pg_viewer_bell(struct pg_viewer *v);
void pg_viewer_close(struct pg_viewer *v, const char *reason);
/* Close every viewer (shutdown). */
void pg_viewer_close_all(struct pg_relay *relay, const char *reason);

uint64_t pg_now_ms(void);

/* guard.c */
/* Clipboard text from the browser host (UTF-8, LF line ends), for one viewer. */
void pg_guard_clip_from_host(struct pg_viewer *v, const uint8_t *utf8, size_t len,
			     const char *format);
/* The host offered what never crosses (too large, other formats, malformed). */
void pg_guard_clip_host_dropped(struct pg_viewer *v, const char *why, uint32_t bytes,
				uint32_t formats);
/* Each second: idle and duration limits, and their warnings. */
void pg_guard_tick(struct pg_relay *relay);
/* After a reload: users gone from the users file lose their session, the others take
 * their new groups. Then pg_guard_reload. */
void pg_guard_refresh_users(struct pg_relay *relay);
/* After a reload: every viewer takes the policy of the new config. */
void pg_guard_reload(struct pg_relay *relay);
/* SIGTERM: viewers still logging in are closed, the others see text in a banner
 * until they leave. */
void pg_guard_drain(struct pg_relay *relay, const char *text);

/* Sessions: the browser host's clipboard. */
bool pg_session_host_ext_clipboard(const struct pg_session *s);
/* Send checked text to the browser host. 0, or -1 when it is not connected. */
int pg_session_clip_to_host(struct pg_session *s, int format, const uint8_t *bytes, size_t len);

#endif
