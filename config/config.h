/* pixelgate's configuration: one table (PG_CONFIG_TABLE) describes every key, and
 * generates the struct, the defaults, the INI parser and the free. A new key is one
 * line. Errors name file:line, the key and what is wrong, with a hint. */
#ifndef PG_CONFIG_CONFIG_H
#define PG_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "config/policy.h"

/* S(section, key, default, help)   string
 * I(section, key, default, min, max, help)   integer in [min, max] */
#define PG_CONFIG_TABLE(S, I)                                                                      \
	S(relay, listen, "127.0.0.1:5900", "address:port that viewers connect to")                 \
	S(relay, security, "vencrypt",                                                             \
	  "vencrypt (TLS, user name and password) or none (loopback only, no login)")              \
	S(relay, tls_cert, "", "certificate chain (PEM) viewers see, for VeNCrypt X509Plain")      \
	S(relay, tls_key, "", "its private key (PEM); must not be readable by group or others")    \
	I(relay, tls_anon, 0, 0, 1, "also offer TLSPlain: anonymous TLS, no server certificate")   \
	S(relay, users_file, "", "the users file (see docs/users-file.md)")                        \
	S(relay, totp_groups, "",                                                                  \
	  "groups whose members must type a TOTP code after the password (comma-separated, * for " \
	  "all)")                                                                                  \
	S(relay, vnc_auth_user, "",                                                                \
	  "legacy VNC authentication (DES, no TLS) for this one user; off when empty")             \
	S(relay, vnc_auth_password_file, "", "that user's VNC password (vncpasswd or first line)") \
	S(relay, audit_file, "", "the audit trail, JSON Lines with a hash chain")                  \
	S(relay, audit_syslog, "", "also send audit records to syslog under this name")            \
	S(relay, session_share, "share",                                                           \
	  "a user's second viewer: share the session, or takeover (close the older one)")          \
	I(relay, auth_timeout, 30, 1, 600,                                                         \
	  "seconds a viewer has to finish the handshake and login")                                \
	I(relay, send_timeout, 60, 2, 3600,                                                        \
	  "seconds a viewer may leave what the relay sent it unread before it is closed")          \
	I(relay, max_fps, 60, 1, 240, "frame-rate cap per viewer, in updates per second")          \
	I(relay, max_bandwidth, 0, 0, 10000000, "bandwidth cap per viewer, in kbit/s (0: none)")   \
	I(relay, adaptive_quality, 1, 0, 1,                                                        \
	  "1: lower JPEG quality where the picture moves, and send JPEG areas again losslessly "   \
	  "once still")                                                                            \
	I(relay, refine_delay, 300, 50, 10000,                                                     \
	  "milliseconds a region must stay still before it is sent again losslessly")              \
	I(relay, max_viewers, 256, 1, 100000, "logged-in viewers at once, over all sessions")      \
	I(relay, max_handshakes, 256, 1, 100000, "connections still logging in, at once")          \
	I(relay, max_handshakes_per_source, 32, 1, 100000,                                         \
	  "connections still logging in from one address, at once")                                \
	S(relay, proxy_protocol_from, "",                                                          \
	  "CIDRs of load balancers whose connections start with a PROXY v2 header")                \
	S(relay, log_level, "info", "error, warn, info or debug")                                  \
	S(relay, log_format, "text", "text, or json: one JSON object a line (ts, level, msg)")     \
	S(relay, control_socket, "",                                                               \
	  "Unix socket for admin commands (pixelgate --reload); off when empty")                   \
	I(relay, audit_clipboard_text, 0, 0, 1,                                                    \
	  "1: clipboard text itself goes into audit records (0: sizes and rules only)")            \
	S(relay, font, "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",                   \
	  "font for warnings drawn into the picture (Japanese glyphs needed)")                     \
	I(relay, drain_timeout, 10, 0, 3600,                                                       \
	  "seconds SIGTERM lets viewers finish before the relay exits (0: at once)")               \
	S(web, listen, "",                                                                         \
	  "address:port of the HTTPS viewer page (browsers, noVNC); off when empty")               \
	S(web, root, "",                                                                           \
	  "folder of the viewer page (default: web/ next to the pixelgate binary, else the "       \
	  "installed share/pixelgate/web)")                                                        \
	S(web, origins, "",                                                                        \
	  "Origins allowed to open the viewer's WebSocket, comma-separated (default: https:// "    \
	  "and "                                                                                   \
	  "the Host the browser asked for)")                                                       \
	S(admin, listen, "",                                                                       \
	  "address:port of the admin HTTP listener (/healthz, /metrics, /sessions); off when "     \
	  "empty")                                                                                 \
	S(admin, allow_remote, "no", "yes: listen may be a non-loopback (management) address")     \
	S(admin, token_file, "",                                                                   \
	  "file whose one line is the bearer token admin requests need (32 characters or more)")   \
	S(recording, directory, "",                                                                \
	  "folder of session recordings, for groups whose policy says record = yes")               \
	I(recording, max_file_size, 1024, 1, 1048576,                                              \
	  "MiB one recording may grow to; there it stops (audited), the session goes on")          \
	I(recording, max_age, 90, 0, 36500,                                                        \
	  "days a finished recording is kept before the relay deletes it (0: kept for ever)")      \
	I(recording, fps, 5, 1, 30, "pictures a second a recording keeps, at most")                \
	I(recording, keyframe_interval, 60, 5, 3600,                                               \
	  "seconds between whole pictures in a recording (where playback can seek to)")            \
	I(recording, max_queue, 32, 1, 1024,                                                       \
	  "MiB of recording waiting for a slow disk; over it the recording stops (audited)")       \
	S(upstream, address, "", "host:port of the default browser host (see [routes])")           \
	S(upstream, password_file, "", "file whose first line is the browser host's VNC password") \
	S(upstream, tls, "none",                                                                   \
	  "none, or x509: VeNCrypt with a certificate checked by ca_file and/or pin_sha256")       \
	S(upstream, ca_file, "",                                                                   \
	  "CA certificates (PEM) that sign the browser hosts' certificates")                       \
	S(upstream, pin_sha256, "", "SHA-256 fingerprint of the browser host's certificate")       \
	S(upstream, encoding, "tight",                                                             \
	  "what the worker asks the browser host for: tight (lossless), zrle or raw (cheapest to " \
	  "decode, for a host on the same machine)")                                               \
	I(upstream, reconnect_max, 10, 1, 300, "longest wait between reconnects, in seconds")      \
	S(upstream, resize, "follow",                                                              \
	  "follow: a viewer alone in its session may resize the browser host's screen "            \
	  "(SetDesktopSize); off: never")                                                          \
	I(upstream, max_width, 3840, 16, 8192, "widest framebuffer a browser host may have")       \
	I(upstream, max_height, 2160, 16, 8192, "tallest framebuffer a browser host may have")     \
	I(upstream, update_timeout, 30, 1, 600,                                                    \
	  "seconds a browser host has to finish an update it began")                               \
	I(upstream, stall_timeout, 10, 2, 600,                                                     \
	  "seconds an upstream worker may leave the relay unanswered before it is killed")         \
	S(broker, mode, "static",                                                                  \
	  "how a user's browser host is chosen: static ([routes], [upstream] address), pool "      \
	  "(hosts, by rendezvous hashing) or spawn (spawn_command starts one per user)")           \
	S(broker, hosts, "", "pool: the browser hosts, host:port, comma-separated")                \
	I(broker, max_sessions_per_host, 1, 1, 1000,                                               \
	  "pool: users this relay sends to one host at once (they share its screen)")              \
	I(broker, check_interval, 5, 1, 3600, "pool: seconds between health checks of a host")     \
	I(broker, check_timeout, 2000, 100, 60000,                                                 \
	  "pool: milliseconds a host has to accept and send its RFB ProtocolVersion")              \
	I(broker, fail_after, 2, 1, 100, "pool: failed checks in a row that take a host out")      \
	I(broker, recover_after, 2, 1, 100, "pool: good checks in a row that bring it back")       \
	S(broker, spawn_command, "",                                                               \
	  "spawn: the hook program (absolute path, run without a shell; trusted like this file)")  \
	I(broker, spawn_timeout, 60, 1, 600, "spawn: seconds 'hook start' has to print host:port") \
	I(broker, stop_timeout, 30, 1, 600, "spawn: seconds 'hook stop' has to finish")            \
	S(broker, spawn_networks, "127.0.0.0/8,::1/128",                                           \
	  "spawn: networks (CIDR, comma-separated) the hook's host:port must lie in")              \
	I(broker, linger, 60, 0, 86400,                                                            \
	  "seconds a session without viewers keeps its browser host (then a spawned one stops)")   \
	S(sandbox, user, "nobody", "user the upstream workers run as when pixelgate runs as root") \
	I(sandbox, memory_limit, 1024, 256, 65536, "address space of one upstream worker, in MiB") \
	I(sandbox, cpu_limit, 28800, 60, 10000000,                                                 \
	  "CPU seconds one upstream worker may use; then it is replaced by a fresh one")           \
	S(ldap, uri, "",                                                                           \
	  "LDAP or Active Directory: ldaps://host:636, or ldap://host:389 with starttls")          \
	I(ldap, starttls, 0, 0, 1, "StartTLS on ldap:// URIs")                                     \
	I(ldap, allow_plain, 0, 0, 1, "ldap:// without TLS, only when every host is loopback")     \
	S(ldap, ca_file, "", "CA certificates (PEM) of the LDAP servers; required with TLS")       \
	S(ldap, bind_dn, "", "service account DN, for search-then-bind")                           \
	S(ldap, bind_password_file, "", "file whose first line is the service account's password") \
	S(ldap, user_dn_template, "",                                                              \
	  "direct bind instead: uid=%s,ou=people,... or %s@example.local")                         \
	S(ldap, base_dn, "", "where users are searched (with bind_dn)")                            \
	S(ldap, user_filter, "", "e.g. (&(objectClass=person)(uid=%s)) or (sAMAccountName=%s)")    \
	S(ldap, group_attr, "", "attribute listing the user's groups, usually memberOf")           \
	S(ldap, group_base_dn, "", "enables a group search under this DN")                         \
	S(ldap, group_filter, "", "group search filter, %s = the user's DN")                       \
	I(ldap, timeout, 5000, 1, 60000, "milliseconds for one whole LDAP check")

#define PG_CONFIG_MAX_ROUTES 1024

/* [routes] user.NAME = host:port or group.NAME = host:port: which browser host a
 * user reaches. A user's own entry wins, then the first of their groups listed in
 * the file, then [upstream] address. */
struct pg_route {
	bool group;
	char name[65];
	char address[300];
};

/* [host 10.1.2.11:5901]: this browser host's own login, instead of [upstream]'s.
 * Unset keys (empty strings) fall back to [upstream]. */
struct pg_host_cfg {
	char address[300];
	char password_file[1024];
	char tls[16];
	char ca_file[1024];
	char pin_sha256[128];
};

#define PG_CONFIG_MAX_HOSTS 1024

struct pg_config {
#define PG_CFG_S(sec, key, def, help)		char *sec##_##key;
#define PG_CFG_I(sec, key, def, min, max, help) int sec##_##key;
	PG_CONFIG_TABLE(PG_CFG_S, PG_CFG_I)
#undef PG_CFG_S
#undef PG_CFG_I
	struct pg_route *routes;
	int nroutes;
	/* [host ADDRESS] sections: how to log in to one browser host */
	struct pg_host_cfg *hosts;
	int nhosts;
	/* [ldap] group_map = LDAP-GROUP=pixelgate-group, repeated */
	char **ldap_group_map;
	int nldap_group_map;
	/* [policy] and [policy GROUP] sections (config/policy.h) */
	struct pg_policy_config policy;
};

/* Error messages collected while loading; each is one line. */
struct pg_config_errors {
	char msg[16][512];
	int count;
};

void pg_config_init(struct pg_config *cfg);
/* A user or group name as routes and policy sections spell it: 1 to 64 of
 * letters, digits and . _ - @. */
bool pg_config_valid_name(const char *s);
/* Add one error line (file:line first, in the config's style). */
void pg_config_error(struct pg_config_errors *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void pg_config_free(struct pg_config *cfg);

/* Read an INI file over the current values. Returns 0, or -1 with errors added. */
int pg_config_load(struct pg_config *cfg, const char *path, struct pg_config_errors *err);
/* Set one key from elsewhere (the command line): where names the source in errors.
 * Returns 0 or -1 with an error added. */
int pg_config_set(struct pg_config *cfg, const char *section, const char *key, const char *value,
		  const char *where, struct pg_config_errors *err);
/* Check the values together (addresses parse, required keys present, files readable).
 * Returns 0 or -1 with errors added. */
int pg_config_check(const struct pg_config *cfg, struct pg_config_errors *err);
/* Print every key with its value and help, as an INI file. */
void pg_config_print(const struct pg_config *cfg, void *file);

/* Split "host:port", "[v6]:port" or "port". host_out gets at most host_size-1
 * bytes. Returns 0, or -1 with *why. */
int pg_config_parse_hostport(const char *s, char *host_out, size_t host_size, int *port,
			     const char **why);
/* True when host is a loopback address literal or "localhost". */
bool pg_config_is_loopback(const char *host);
/* True when host is an address literal inside one of networks (comma-separated
 * CIDRs such as 127.0.0.0/8,::1/128). */
bool pg_config_in_networks(const char *host, const char *networks);
/* Check a comma-separated CIDR list. Returns 0, or -1 with *why. */
int pg_config_check_networks(const char *networks, const char **why);

#endif
