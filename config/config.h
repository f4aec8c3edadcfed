/* pixelgate's configuration: one table (PG_CONFIG_TABLE) describes every key, and
 * generates the struct, the defaults, the INI parser and the free. A new key is one
 * line. Errors name file:line, the key and what is wrong, with a hint. */
#ifndef PG_CONFIG_CONFIG_H
#define PG_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* S(section, key, default, help)   string
 * I(section, key, default, min, max, help)   integer in [min, max] */
#define PG_CONFIG_TABLE(S, I)                                                                      \
	S(relay, listen, "127.0.0.1:5900", "address:port that viewers connect to")                 \
	I(relay, max_fps, 30, 1, 240, "frame-rate cap per viewer, in updates per second")          \
	I(relay, max_viewers, 64, 1, 100000, "viewers connected at once, over all sessions")       \
	S(relay, log_level, "info", "error, warn, info or debug")                                  \
	S(upstream, address, "", "host:port of the browser host's VNC server")                     \
	S(upstream, password_file, "", "file whose first line is the browser host's VNC password") \
	I(upstream, reconnect_max, 10, 1, 300, "longest wait between reconnects, in seconds")

struct pg_config {
#define PG_CFG_S(sec, key, def, help)		char *sec##_##key;
#define PG_CFG_I(sec, key, def, min, max, help) int sec##_##key;
	PG_CONFIG_TABLE(PG_CFG_S, PG_CFG_I)
#undef PG_CFG_S
#undef PG_CFG_I
};

/* Error messages collected while loading; each is one line. */
struct pg_config_errors {
	char msg[16][512];
	int count;
};

void pg_config_init(struct pg_config *cfg);
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

#endif
