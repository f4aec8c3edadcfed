/* Helpers for the policy tests: a relay with security = none (loopback, no login),
 * an audit file, an admin control socket and the test's [policy] sections; the
 * admin's reload (pixelgate --reload, the control socket itself, SIGHUP); fields of
 * audit records; and a raw viewer that speaks the Extended Clipboard with
 * codec/clipboard.h. Every wait is bounded. */
#ifndef PG_IT_POLICY_UTIL_H
#define PG_IT_POLICY_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth_util.h"
#include "codec/clipboard.h"
#include "harness_util.h"

/* The control socket's path in the scratch folder. */
void pu_control_path(const struct au_env *e, char *out, size_t size);

/* Write e->config: [relay] security = none, audit_file, control_socket, then
 * relay_extra (more [relay] keys, may be NULL); [upstream] address 127.0.0.1:port;
 * then sections (for example "[policy]\nview_only = yes\n", may be NULL). */
bool pu_write_config(struct au_env *e, int upstream_port, const char *relay_extra,
		     const char *sections);
/* The relay in front of upstream_port with -c e->config; NULL when it did not start. */
struct it_relay *pu_relay_start(struct au_env *e, int upstream_port);

/* pixelgate -c e->config --reload: its exit status, stdout and stderr in out. */
int pu_reload_command(const struct au_env *e, char *out, size_t size);
/* One command on the control socket; the answer in out. 0, or -1 when the socket
 * could not be reached or gave no answer within 10 s. */
int pu_control(const char *path, const char *cmd, char *out, size_t size);

/* The n-th (0-based) audit record of event, copied to line; waits up to timeout_ms for
 * it to be written. False when it was not. */
bool pu_audit_nth(const char *path, const char *event, int n, char *line, size_t size,
		  int timeout_ms);
/* A field of an audit record: integer (false when absent) or string (copied
 * without its quotes, escapes left as they are). */
bool pu_field_int(const char *line, const char *key, long long *out);
bool pu_field_str(const char *line, const char *key, char *out, size_t size);

/* Poll fn(arg) until it returns at least n; true if it did within timeout_ms. */
bool pu_wait_count(int (*fn)(struct it_host *), struct it_host *host, int n, int timeout_ms);

/* ---- a raw viewer speaking the Extended Clipboard ---- */

/* Handshake (RFB 3.8, security None), then SetEncodings Raw and the Extended
 * Clipboard pseudo-encoding. -1 on failure. */
int pu_xclip_viewer(int port);
/* Read server messages until a ServerCutText arrives (others: Bell is skipped,
 * anything else fails) or timeout_ms pass. Returns 1 with an Extended Clipboard
 * message parsed into *m and its text (provide) in text (NUL-terminated, cut to
 * size - 1), 2 for legacy cut text (in text), 0 on timeout, -1 on EOF or error. */
int pu_xclip_read(int fd, int timeout_ms, struct pg_xclip_msg *m, char *text, size_t size);
/* Send an Extended Clipboard message built by codec/clipboard.h (to_viewer false):
 * caps (text; request, peek, notify, provide; max_text), notify (text), provide. */
int pu_xclip_send_caps(int fd, uint32_t max_text);
int pu_xclip_send_notify(int fd);
int pu_xclip_send_provide(int fd, const char *utf8);
/* Peek and wait for the relay's notify: everything sent before it (caps) has been
 * taken. 0, or -1 when no notify came within timeout_ms. */
int pu_xclip_sync(int fd, int timeout_ms);

#endif
