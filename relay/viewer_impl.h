/* The viewer's state, shared by the files that make up a viewer: viewer.c (I/O,
 * updates, messages), handshake.c (RFB handshake, VeNCrypt, TLS) and login.c
 * (checking credentials). Nothing outside those files includes this. */
#ifndef PG_RELAY_VIEWER_IMPL_H
#define PG_RELAY_VIEWER_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "auth/vencrypt.h"
#include "codec/buf.h"
#include "codec/encoder.h"
#include "codec/pixfmt.h"
#include "codec/rfb.h"
#include "relay/relay.h"

#define PG_VIEWER_MAX_PENDING 16
/* Encode the next update only when less than this is still queued for the viewer; fence
 * replies and the like wait (the viewer's input with them) while more is. */
#define PG_VIEWER_MAX_QUEUED (256u << 10)
/* Replies that wait for the update being encoded: a few fences' worth. */
#define PG_VIEWER_AFTER_JOB 512

enum pg_viewer_state {
	V_WEB_TLS,	/* web listener: the TLS handshake, first thing */
	V_HTTP,		/* web listener: waiting for the HTTP request */
	V_VERSION,	/* waiting for the viewer's ProtocolVersion */
	V_SECURITY,	/* waiting for its choice of security type */
	V_VENCRYPT,	/* VeNCrypt negotiation before TLS */
	V_TLS,		/* TLS handshake */
	V_CREDENTIALS,	/* waiting for VeNCrypt Plain user name and password */
	V_VNCAUTH,	/* waiting for the legacy VNC authentication response */
	V_LOGIN,	/* credentials being checked */
	V_WAIT_SESSION, /* logged in; waiting for the browser host */
	V_CLIENT_INIT,	/* waiting for ClientInit */
	V_NORMAL,
};

struct pg_tls;
struct pg_http_req;
struct pg_ws;
struct pg_policy;
struct pg_overlay;
struct pg_cmsg;

/* A warning drawn into the picture: shared by the viewer and the encoding jobs that
 * draw it, counted on the loop thread. */
struct pg_banner {
	int refs;
	struct pg_overlay *ov;
	int x, y; /* where it sits in the picture */
};

#define PG_GUARD_HELD_KEYS 8 /* key-downs dropped by the rate limit, whose ups are dropped too */

/* A token bucket for one kind of viewer input, and the run of drops it is in: a run
 * is audited once, and ends only after a second without drops, so a sustained flood
 * is one record, not one per refilled token. */
struct pg_rate {
	double tokens;
	uint64_t refill_ms;
	uint64_t last_drop_ms;
	uint64_t dropped;
	bool limited;
};

struct pg_viewer {
	uv_tcp_t tcp;
	uv_timer_t timer;      /* handshake deadline, then frame pacing */
	uv_timer_t read_timer; /* resumes reading a viewer over its input rate */
	struct pg_relay *relay;
	struct pg_session *session;    /* set once logged in */
	struct pg_viewer *next, *prev; /* in relay->viewer_list */
	uint64_t id;
	char peer[64]; /* address:port, for logs */
	char addr[48]; /* address only, for lockout and audit */
	enum pg_viewer_state state;
	int minor;
	uint32_t sec_type; /* the RFB security type chosen */
	struct pg_buf in;  /* plaintext from the viewer */
	struct pg_buf raw; /* ciphertext from the viewer, while TLS is on */
	struct pg_tls *tls;
	/* The web listener: TLS plaintext (an HTTP request, then WebSocket frames), the
	 * request, and the WebSocket once upgraded (web.c). */
	bool web;
	/* From a trusted load balancer: the PROXY v2 header comes first (http/proxy.h);
	 * until it has, nothing else is read, and proxy_web says which listener. */
	bool proxy_wait, proxy_web;
	struct pg_buf plain;
	struct pg_http_req *http;
	struct pg_ws *ws;
	struct pg_vencrypt_server venc;
	uint8_t challenge[16]; /* legacy VNC authentication */
	bool closing;
	bool input_held;    /* messages wait (flow.c: a fence's BlockAfter, or unread replies) */
	bool close_pending; /* closes once its output is written */
	char close_reason[300]; /* for close_pending */
	bool quiet_close;	/* refused in a flood: not logged one by one */
	bool in_process;	/* inside pg_viewer_process_input: do not re-enter it */
	int open_handles;
	int jobs; /* thread-pool jobs holding this viewer */

	struct sockaddr_storage sa; /* the viewer's address, for allowed_networks */
	char user[65];		    /* empty until logged in */
	char groups[1024];	    /* comma-separated, from the users file or LDAP */
	uint64_t login_ms;	    /* when the login succeeded */
	bool ldap_login;	    /* checked by the directory, not the users file */

	/* The policy in force (guard.c): resolved when the viewer joins a session and
	 * again on every reload. */
	struct pg_policy *policy;
	uint64_t last_input_ms;		   /* idle_timeout counts from here */
	double key_tokens;		   /* keystroke rate limit: a token bucket */
	uint64_t key_refill_ms;		   /* when key_tokens was last topped up */
	uint32_t held[PG_GUARD_HELD_KEYS]; /* dropped key-downs (keysym, or keycode | 1 << 31) */
	uint64_t keys_dropped, pointer_dropped;
	bool keys_limited;	   /* in a run of dropped keys (audited once a run) */
	uint64_t key_last_drop_ms; /* the run ends a second after its last drop */
	/* Pointer events beyond the bucket are coalesced: the newest one waits and goes
	 * when a token comes (at the end of the input read, or on the guard's tick). */
	struct pg_rate ptr_rate;
	bool ptr_pending;
	uint8_t ptr_mask, ptr_sent_mask;
	uint16_t ptr_x, ptr_y;
	struct pg_rate clip_rate; /* ClientCutText messages, each a policy check and audit */
	bool input_blocked;	  /* view_only audited already */
	/* Clipboard: the Extended Clipboard when the viewer speaks it, legacy else. */
	bool has_ext_clip, clip_caps_sent, clip_caps_known;
	uint32_t clip_actions;	/* the viewer's caps: PG_XCLIP_* actions it accepts */
	uint32_t clip_text_max; /* its limit for unsolicited text, 0: none */
	uint8_t *clip_pending;	/* checked text (LF) waiting for the viewer's request */
	size_t clip_pending_len;
	uint64_t clip_last_ms[2];  /* last allowed transfer per direction (enum pg_clip_dir) */
	uint64_t clip_count[2][2]; /* [direction][allowed] */
	/* A warning in the picture before the session ends. */
	/* The watermark drawn into its pixels (watermark.c), and the invisible code:
	 * NULL when its policy has neither. */
	struct pg_vmark *mark;
	uint32_t mark_code;
	bool mark_code_set;
	/* Where copies moved a mark that covers the picture, drawn again once the
	 * picture has been still for [relay] refine_delay (pg_vmark_tick). */
	struct pg_rect mark_moved;
	bool mark_moved_pending;
	uint64_t mark_moved_ms;
	/* Its part in the session's recording (record.c). */
	bool rec_joined;
	uint8_t rec_mask;
	uint64_t rec_move_ms;
	struct pg_banner *banner;
	int banner_secs;	  /* the countdown it shows */
	int banner_kind;	  /* 0 none, else guard.c's BANNER_* */
	uint64_t notice_until_ms; /* a notice banner goes then */

	struct pg_pixfmt pf;
	int32_t encoding;
	struct pg_enc_opts eopts;
	bool has_cursor, has_desktop_size, has_ext_desktop_size;
	/* QEMU Extended Key Event: acknowledged once, in the first update after the
	 * viewer listed it; from then on its keys may come with keycodes. */
	bool qemu_key_acked, pending_qemu_ack, qemu_key_seen;
	uint32_t unknown_enc_hash; /* the unknown encodings last audited */
	int unknown_enc_audits;	   /* encodings-ignored records written for this viewer */
	uint32_t enc_outcome;	   /* what SetEncodings last chose, for the debug log */
	bool enc_dirty;
	struct pg_encoder *enc;	 /* the one in use */
	struct pg_encoder *zrle; /* kept for the connection's lifetime once made */
	struct pg_encoder *enc2; /* Tight's second lane: large updates in two parts */
	bool has_copyrect;
	/* The session's pixels moved (update.c): a CopyRect in the next update. */
	bool copy_pending;
	struct pg_rect copy_dst;
	int copy_sx, copy_sy;
	uint64_t copies;
	/* Adaptive quality (update.c), per 64x64 tile: when it last changed, how often
	 * lately, and whether the viewer holds it below its quality. */
	int q_target; /* the JPEG quality the viewer asked for, -1 for none */
	int tcols, trows;
	uint32_t *t_changed;
	uint8_t *t_heat, *t_lossy;
	bool refining; /* the pending rectangles include refinements */

	bool requested;
	struct pg_rect pending[PG_VIEWER_MAX_PENDING];
	int npending;
	/* ContinuousUpdates (flow.c, update.c): while on, the viewer has always asked for
	 * cu_rect; damage outside it is held until a request or a new area covers it. */
	bool cu_announced, cu_on;
	struct pg_rect cu_rect;
	struct pg_rect outside[PG_VIEWER_MAX_PENDING];
	int noutside;
	/* Fence (flow.c): replies and EndOfContinuousUpdates that go after the update being
	 * encoded, so they stay in order with it; a SyncNext request whose reply waits for
	 * the message after it. */
	bool has_fence, fence_announced;
	uint8_t after_job[PG_VIEWER_AFTER_JOB];
	size_t after_len;
	uint32_t replies_unread; /* written while the viewer left much unread */
	bool sync_pending, sync_armed;
	uint32_t sync_flags;
	uint8_t sync_len, sync_data[PG_RFB_MAX_FENCE];
	/* Round trips, from the relay's own fence requests (one out at a time): smoothed,
	 * the least seen, and the least of the last two windows (what pacing uses). */
	bool ping_out;
	uint32_t ping_seq;
	uint64_t ping_ms;
	size_t ping_ahead; /* bytes queued but not yet on the wire when it went */
	uint64_t rtt_samples;
	double rtt_ms;
	uint32_t rtt_min_ms, rtt_base_ms, rtt_win_min[2];
	uint64_t rtt_win_ms;
	bool pending_resize, pending_cursor, pending_size_reply;
	uint8_t size_status;	    /* what pending_size_reply says: RFB's 0..3 */
	bool size_refusal_logged;   /* a refused SetDesktopSize said why, once */
	bool ext_desktop_announced; /* ExtendedDesktopSize sent once it was listed */
	int vw, vh;		    /* the size this viewer was last told */
	bool job_running;
	struct pg_fb snap; /* pixels of the update being encoded (owned; reused) */
	double fps_tokens; /* the frame-rate cap's bucket (update.c) */
	uint64_t fps_ms;   /* when it was last filled */
	/* The last progress (pg_viewer_check_stalled): bytes acknowledged, no output
	 * waiting, or, where TCP does not say, a write completed. */
	uint64_t out_progress_ms;
	uint64_t acked; /* bytes the viewer acknowledged, when acked_known */
	bool acked_known;
	/* Bytes it may send: a viewer sending faster is read more slowly (TCP pushes
	 * back), so no one connection can keep the loop busy parsing. */
	double read_tokens;
	uint64_t read_refill_ms, read_paused_ms;
	bool read_limited; /* in a run of pauses (logged and audited once a run) */
	uint64_t updates, bytes_out, bytes_in;
	uint64_t shared_updates; /* of updates: bytes another viewer's job encoded */
	/* The link (update.c): throughput measured while data was in flight, and the
	 * bandwidth cap's bucket. */
	double est_Bps;
	uint64_t est_ms, est_acked;
	bool est_busy;
	double bw_tokens;
	uint64_t bw_refill_ms;
};

/* viewer.c */
/* Queue data (taking ownership of the malloc'd bytes), through TLS and WebSocket
 * framing when they are on. */
void pg_viewer_send_owned(struct pg_viewer *v, uint8_t *data, size_t len);
/* pg_audit for a viewer that has not logged in: rate-limited (see relay.h), and
 * without a sync of its own; the next synced record (a login, a summary) makes it
 * durable. */
#define pg_audit_preauth(v, event, ...)                                                            \
	do {                                                                                       \
		if ((v)->relay->audit && pg_viewer_preauth_admit((v), (event))) {                  \
			enum pg_audit_sync sync_ = pg_audit_get_sync((v)->relay->audit);           \
			pg_audit_set_sync((v)->relay->audit, PG_AUDIT_SYNC_NONE);                  \
			pg_relay_audit_result(                                                     \
			    PG_AUDIT_EVENT((v)->relay->audit, (event), __VA_ARGS__), (event));     \
			pg_audit_set_sync((v)->relay->audit, sync_);                               \
		}                                                                                  \
	} while (0)
bool pg_viewer_preauth_admit(struct pg_viewer *v, const char *event);
void pg_viewer_send(struct pg_viewer *v, const void *p, size_t len);
/* Through TLS (when on) but never WebSocket framing; takes the malloc'd bytes. */
void pg_viewer_send_tls(struct pg_viewer *v, uint8_t *data, size_t len);
/* Stop reading and close once the queued output is written (at most 10 s). */
void pg_viewer_close_after_send(struct pg_viewer *v, const char *reason);
void pg_viewer_process_input(struct pg_viewer *v);
/* Stop taking the viewer's messages (they wait in its buffers, and reading stops), and
 * take them again. */
void pg_viewer_hold_input(struct pg_viewer *v);
void pg_viewer_release_input(struct pg_viewer *v);
/* A job on the thread pool holds the viewer; pg_viewer_unref after it ends frees a
 * closed viewer whose handles are closed. */
void pg_viewer_ref(struct pg_viewer *v);
void pg_viewer_unref(struct pg_viewer *v);

/* update.c: the update scheduler. */
/* The viewer lacks r (clipped to its picture). */
void pg_update_add(struct pg_viewer *v, struct pg_rect r);
/* Start encoding an update if the viewer asked, and its caps and link allow. */
void pg_update_maybe_send(struct pg_viewer *v);
/* Damage held outside the continuous-updates area is pending again. */
void pg_update_unhold(struct pg_viewer *v);
void pg_update_free(struct pg_viewer *v);

/* Bytes handed to the socket and not yet acknowledged (SIOCOUTQ), or not yet sent
 * (SIOCOUTQNSD, with unsent true). */
size_t pg_update_kernel_queued(struct pg_viewer *v, bool unsent);

/* flow.c: ContinuousUpdates and Fence. */
/* SetEncodings listed (or not) the Fence and ContinuousUpdates pseudo-encodings: each
 * is announced once a connection (a fence request, EndOfContinuousUpdates). */
void pg_flow_encodings(struct pg_viewer *v, bool fence, bool cu);
/* A Fence from the viewer: a request is answered in order (after the update being
 * encoded), a reply may be a round trip. Returns 0, or 1 when the message must wait
 * (the caller keeps it and stops; input is held until it can go). */
int pg_flow_fence(struct pg_viewer *v, const struct pg_cmsg *m);
/* EnableContinuousUpdates, from a viewer that was told of them: 0, or 1 as for a
 * fence. */
int pg_flow_enable_cu(struct pg_viewer *v, const struct pg_cmsg *m);
/* After each message handled: the reply to a SyncNext fence follows the message after
 * it. */
void pg_flow_after_msg(struct pg_viewer *v);
/* An update was queued: what waited for it follows, then a round-trip fence. */
void pg_flow_update_sent(struct pg_viewer *v);
/* Output was written: held input may go again. */
void pg_flow_output_drained(struct pg_viewer *v);

/* handshake.c: the states before V_NORMAL. Returns bytes consumed, 0 for more, or a
 * negative code with *why. */
ssize_t pg_handshake_input(struct pg_viewer *v, const uint8_t *p, size_t len, const char **why);
void pg_handshake_start(struct pg_viewer *v);
/* Ciphertext arrived while the TLS handshake runs. */
void pg_handshake_tls_progress(struct pg_viewer *v);
void pg_handshake_server_init(struct pg_viewer *v);

/* login.c: check the credentials (copied; the caller wipes its own), then call
 * pg_handshake_login_done on the loop thread. */
void pg_login_start(struct pg_viewer *v, const char *user, const char *password, size_t len);
void pg_handshake_login_done(struct pg_viewer *v, bool ok);
/* Refused before any check, with a reason the viewer may see (the backoff: it is
 * the same for every name, so it tells nothing about which names exist). */
void pg_handshake_login_refused(struct pg_viewer *v, const char *told);
void pg_login_vncauth(struct pg_viewer *v, const uint8_t challenge[16], const uint8_t response[16]);

/* web.c: the web listener's viewers. */
void pg_web_start(struct pg_viewer *v);
void pg_web_tls_progress(struct pg_viewer *v);
void pg_web_input(struct pg_viewer *v);
/* RFB out, in WebSocket messages; -1 when framing failed. */
int pg_web_send(struct pg_viewer *v, const uint8_t *data, size_t len);
int pg_web_flush(struct pg_viewer *v);
void pg_web_free(struct pg_viewer *v);
/* Before the relay closes a web viewer: a WebSocket close frame with the reason. */
void pg_web_goodbye(struct pg_viewer *v, const char *reason);

/* guard.c: the policy, applied to one viewer. */
/* Resolve the viewer's policy and check it may have a session now (allowed_networks,
 * max_sessions_per_user). Returns 0, or -1 with *told for the viewer and *logged. */
int pg_guard_admit(struct pg_viewer *v, const char **told, char *logged, size_t logged_size);
/* A key from a KeyEvent (keycode 0) or a QEMU extended key event (keycode in
 * 1..PG_RFB_MAX_KEYCODE, keysym possibly 0). */
void pg_guard_key(struct pg_viewer *v, bool down, uint32_t keysym, uint32_t keycode);
void pg_guard_pointer(struct pg_viewer *v, uint8_t mask, int x, int y);
/* After a read's messages: the newest coalesced pointer event, if a token allows. */
void pg_guard_input_done(struct pg_viewer *v);
/* ClientCutText, legacy or extended. Returns 0, or -1 when the viewer was closed. */
int pg_guard_cut_text(struct pg_viewer *v, const struct pg_cmsg *m);
/* SetEncodings listed the Extended Clipboard: announce ours (once). */
void pg_guard_ext_clipboard(struct pg_viewer *v);
/* The viewer is going: audit its counts, free what the guard holds. */
void pg_guard_leave(struct pg_viewer *v);
void pg_banner_unref(struct pg_banner *b);

/* The viewer's watermark and invisible code (vmark.c). */
struct pg_vmark;
void pg_vmark_free(struct pg_viewer *v);
/* Render the marks v's policy asks for (again, when they changed), and redraw its
 * picture. session_id names the session before v->session is set (NULL: v's).
 * 0, or -1 with why when a watermark the policy requires cannot be drawn. */
int pg_vmark_refresh(struct pg_viewer *v, const char *session_id, char *why, size_t why_size);
/* Each second: marks showing the time follow the clock. */
void pg_vmark_tick(struct pg_relay *relay);
/* Where v's marks lie in a w x h picture; false for none. */
bool pg_vmark_bounds(const struct pg_viewer *v, int w, int h, struct pg_rect *out);
/* True when its marks cover the picture (tiled, invisible code): a CopyRect moves
 * them with the pixels, and pg_vmark_moved notes where. */
bool pg_vmark_moves_badly(const struct pg_viewer *v);
/* A copy moved v's marks into dst: drawn again in place once the copies stop. */
void pg_vmark_moved(struct pg_viewer *v, const struct pg_rect *dst);
/* Blend v's marks over fb inside clip (loop thread or any, read-only). */
void pg_vmark_draw(const struct pg_viewer *v, struct pg_fb *fb, const struct pg_rect *clip);
/* Unknown encodings a viewer asked for: audited (a few times a connection at most),
 * never acted on. */
void pg_guard_unknown_encodings(struct pg_viewer *v, const int32_t *list, int n);
/* A client message type's name, for the audit (file transfer dialects named). */
const char *pg_guard_message_name(uint8_t type);

#endif
