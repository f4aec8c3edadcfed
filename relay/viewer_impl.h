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
#include "relay/relay.h"

#define PG_VIEWER_MAX_PENDING 16

enum pg_viewer_state {
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

struct pg_viewer {
	uv_tcp_t tcp;
	uv_timer_t timer; /* handshake deadline, then frame pacing */
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
	struct pg_vencrypt_server venc;
	uint8_t challenge[16]; /* legacy VNC authentication */
	bool closing;
	bool quiet_close; /* refused in a flood: not logged one by one */
	bool in_process;  /* inside pg_viewer_process_input: do not re-enter it */
	int open_handles;
	int jobs; /* thread-pool jobs holding this viewer */

	char user[65];	   /* empty until logged in */
	char groups[1024]; /* comma-separated, from the users file or LDAP */
	uint64_t login_ms; /* when the login succeeded */

	struct pg_pixfmt pf;
	int32_t encoding;
	struct pg_enc_opts eopts;
	bool has_cursor, has_desktop_size, has_ext_desktop_size;
	bool enc_dirty;
	struct pg_encoder *enc;	 /* the one in use */
	struct pg_encoder *zrle; /* kept for the connection's lifetime once made */

	bool requested;
	struct pg_rect pending[PG_VIEWER_MAX_PENDING];
	int npending;
	bool pending_resize, pending_cursor, pending_size_reply;
	int vw, vh; /* the size this viewer was last told */
	bool job_running;
	struct pg_fb snap; /* pixels of the update being encoded (owned; reused) */
	uint64_t last_send_ms;
	uint64_t updates, bytes_out, bytes_in;
};

/* viewer.c */
void pg_viewer_send(struct pg_viewer *v, const void *p, size_t len);
void pg_viewer_process_input(struct pg_viewer *v);
/* A job on the thread pool holds the viewer; pg_viewer_unref after it ends frees a
 * closed viewer whose handles are closed. */
void pg_viewer_ref(struct pg_viewer *v);
void pg_viewer_unref(struct pg_viewer *v);

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
void pg_login_vncauth(struct pg_viewer *v, const uint8_t challenge[16], const uint8_t response[16]);

#endif
