/* Helpers for the login tests: a scratch folder with a self-signed certificate, users,
 * audit and config files; the relay started with that config; a libvncclient viewer
 * that logs in with VeNCrypt (X509Plain or TLSPlain) and Plain credentials; readers of
 * the audit trail; and a raw VeNCrypt client that runs TLS with OpenSSL, for the
 * hostile cases libvncclient cannot produce. Loopback only, every wait bounded. */
#ifndef PG_IT_AUTH_UTIL_H
#define PG_IT_AUTH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness_util.h"

/* ---- scratch folder and files ---- */

struct au_env {
	char dir[64];
	char cert[128]; /* PEM certificate for 127.0.0.1 and localhost */
	char key[128];	/* its key, mode 0600 */
	char users[128];
	char audit[128];
	char config[128];
};

/* A new folder under /tmp with a self-signed certificate (when cert) in it. */
bool au_env_init(struct au_env *e, bool cert);
/* Remove the folder and everything in it. */
void au_env_free(struct au_env *e);
/* Write text to path with mode (created or truncated). */
bool au_write_file(const char *path, int mode, const char *text);
/* The scrypt hash of password as a users file stores it, made by pixelgate-passwd
 * with PIXELGATE_SCRYPT_LN=10 (the password goes through stdin). */
bool au_hash(struct au_env *e, const char *password, char *out, size_t size);
/* Write the config: [relay] with security = vencrypt, the certificate (when the env
 * has one), users_file and audit_file, then extra (more [relay] keys, then perhaps
 * other sections). */
bool au_write_config(struct au_env *e, const char *extra);
/* The relay in front of upstream_port with -c e->config --security vencrypt. */
struct it_relay *au_relay_start(struct au_env *e, int upstream_port);

/* ---- viewer logging in with VeNCrypt ---- */

struct au_login {
	const char *user;
	const char *password;
	const char *ca_file;   /* X509Plain: the certificate to trust */
	uint32_t subtype;      /* rfbVeNCryptX509Plain (262) or rfbVeNCryptTLSPlain (259) */
	const char *encodings; /* libvncclient's list, e.g. "copyrect raw"; NULL: "raw" */
};

struct au_viewer;

/* Connect to 127.0.0.1:port, log in and start pumping messages (32 bpp, Raw). NULL
 * when refused; *saw_init (may be NULL) tells whether the server ever sent ServerInit,
 * that is whether the viewer could have seen a single pixel. */
struct au_viewer *au_viewer_start(int port, const struct au_login *login, bool *saw_init);
void au_viewer_stop(struct au_viewer *v);
bool au_viewer_connected(struct au_viewer *v);
bool au_viewer_wait_disconnect(struct au_viewer *v, int timeout_ms);
/* Poll until the viewer's picture equals the host's exactly; NULL or a message
 * owned by v. */
const char *au_viewer_wait_match(struct au_viewer *v, struct it_host *host, int timeout_ms);
/* Poll until the viewer's picture is exactly px (w x h canonical pixels). */
const char *au_viewer_wait_pixels(struct au_viewer *v, const uint32_t *px, int w, int h,
				  int timeout_ms);
int au_viewer_updates(struct au_viewer *v);
/* Input from the logged-in viewer; false when it is not connected or the send failed. */
bool au_viewer_send_key(struct au_viewer *v, uint32_t key, bool down);
bool au_viewer_send_pointer(struct au_viewer *v, int x, int y, int buttons);

/* ---- the audit trail ---- */

/* The number of lines of path that contain every needle (NULL-terminated list). */
int au_audit_count(const char *path, ...) __attribute__((sentinel));
/* Wait until some line contains every needle; copy it to line (may be NULL). */
bool au_audit_wait(const char *path, char *line, size_t size, int timeout_ms, ...)
    __attribute__((sentinel));
/* Exit status of pixelgate-audit verify path (its output goes to stderr). */
int au_audit_verify(const char *path);
/* Lines of the relay's log (for flood bounds); -1 on error. */
long au_log_lines(struct it_relay *relay, const char *needle);

/* ---- raw VeNCrypt client ---- */

/* Open, speak RFB 3.8, choose VeNCrypt, version 0.2 and subtype; the returned socket
 * (5 s timeouts) is where TLS begins. -1 on failure. */
int au_vencrypt_open(int port, uint32_t subtype);

struct au_tls;

/* au_vencrypt_open with X509Plain, then a TLS handshake with OpenSSL (trusting
 * ca_file when not NULL). NULL on failure. */
struct au_tls *au_tls_open(int port, const char *ca_file);
/* Plain credentials with the given lengths (any bytes). 0 or -1. */
int au_tls_send_plain(struct au_tls *t, const char *user, size_t user_len, const char *password,
		      size_t password_len);
int au_tls_send(struct au_tls *t, const void *buf, size_t len);
/* Read until the relay closes (TLS close or TCP EOF); true if within timeout_ms.
 * The first size plaintext bytes go to buf (may be NULL); *got (may be NULL) gets the
 * number of plaintext bytes read in all. */
bool au_tls_wait_closed(struct au_tls *t, int timeout_ms, void *buf, size_t size, size_t *got);
void au_tls_free(struct au_tls *t);

#endif
