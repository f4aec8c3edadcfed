#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

static void add_error(struct pg_config_errors *err, const char *fmt, ...)
{
	if (!err || err->count >= (int)(sizeof(err->msg) / sizeof(err->msg[0])))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg[err->count++], sizeof(err->msg[0]), fmt, ap);
	va_end(ap);
}

void pg_config_init(struct pg_config *cfg)
{
#define PG_CFG_S(sec, key, def, help)		cfg->sec##_##key = strdup(def);
#define PG_CFG_I(sec, key, def, min, max, help) cfg->sec##_##key = def;
	PG_CONFIG_TABLE(PG_CFG_S, PG_CFG_I)
#undef PG_CFG_S
#undef PG_CFG_I
}

void pg_config_free(struct pg_config *cfg)
{
#define PG_CFG_S(sec, key, def, help)                                                              \
	free(cfg->sec##_##key);                                                                    \
	cfg->sec##_##key = NULL;
#define PG_CFG_I(sec, key, def, min, max, help)
	PG_CONFIG_TABLE(PG_CFG_S, PG_CFG_I)
#undef PG_CFG_S
#undef PG_CFG_I
}

static int set_string(char **slot, const char *value)
{
	char *copy = strdup(value);
	if (!copy)
		return -1;
	free(*slot);
	*slot = copy;
	return 0;
}

static int set_int(int *slot, const char *value, long min, long max, const char *where,
		   const char *sec, const char *key, struct pg_config_errors *err)
{
	char *end;
	errno = 0;
	long v = strtol(value, &end, 10);
	if (!*value || *end || errno) {
		add_error(err, "%s: [%s] %s = '%s' is not a whole number (expected %ld..%ld)",
			  where, sec, key, value, min, max);
		return -1;
	}
	if (v < min || v > max) {
		add_error(err, "%s: [%s] %s = %ld is out of range (expected %ld..%ld)", where, sec,
			  key, v, min, max);
		return -1;
	}
	*slot = (int)v;
	return 0;
}

static const char *known_keys(const char *section)
{
#define PG_CFG_S(sec, key, def, help)		#sec "." #key " "
#define PG_CFG_I(sec, key, def, min, max, help) #sec "." #key " "
	static const char all[] = PG_CONFIG_TABLE(PG_CFG_S, PG_CFG_I);
#undef PG_CFG_S
#undef PG_CFG_I
	(void)section;
	return all;
}

int pg_config_set(struct pg_config *cfg, const char *section, const char *key, const char *value,
		  const char *where, struct pg_config_errors *err)
{
#define PG_CFG_S(sec, k, def, help)                                                                \
	if (!strcmp(section, #sec) && !strcmp(key, #k)) {                                          \
		if (set_string(&cfg->sec##_##k, value) < 0) {                                      \
			add_error(err, "%s: out of memory", where);                                \
			return -1;                                                                 \
		}                                                                                  \
		return 0;                                                                          \
	}
#define PG_CFG_I(sec, k, def, min, max, help)                                                      \
	if (!strcmp(section, #sec) && !strcmp(key, #k))                                            \
		return set_int(&cfg->sec##_##k, value, min, max, where, section, key, err);
	PG_CONFIG_TABLE(PG_CFG_S, PG_CFG_I)
#undef PG_CFG_S
#undef PG_CFG_I
	add_error(err, "%s: unknown key '%s' in [%s] (known keys: %s)", where, key, section,
		  known_keys(section));
	return -1;
}

/* Debian builds inih without line numbers in the handler, so a reader that counts
 * lines tells the handler where it is: inih calls the handler right after reading
 * the line that holds the key. */
struct line_reader {
	FILE *file;
	int line;
	const char *path;
	struct pg_config *cfg;
	struct pg_config_errors *err;
	int failed;
};

static char *read_line(char *str, int num, void *stream)
{
	struct line_reader *lr = stream;
	char *s = fgets(str, num, lr->file);
	if (s)
		lr->line++;
	return s;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct line_reader *lr = user;
	char where[PATH_MAX + 32];
	snprintf(where, sizeof(where), "%s:%d", lr->path, lr->line);
	if (!*section) {
		add_error(lr->err,
			  "%s: key '%s' is outside any [section] (hint: put it under "
			  "[relay] or [upstream])",
			  where, name);
		lr->failed = 1;
		return 1;
	}
	if (pg_config_set(lr->cfg, section, name, value, where, lr->err) < 0)
		lr->failed = 1;
	return 1; /* keep going: report every bad line at once */
}

int pg_config_load(struct pg_config *cfg, const char *path, struct pg_config_errors *err)
{
	struct line_reader lr = {.path = path, .cfg = cfg, .err = err};
	lr.file = fopen(path, "r");
	if (!lr.file) {
		add_error(err, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	int rc = ini_parse_stream(read_line, &lr, on_key, &lr);
	fclose(lr.file);
	if (rc > 0) {
		add_error(err,
			  "%s:%d: not an INI line (expected 'key = value', '[section]' or a "
			  "comment starting with ';' or '#')",
			  path, rc);
		return -1;
	}
	if (rc < 0) {
		add_error(err, "%s: cannot read", path);
		return -1;
	}
	return lr.failed ? -1 : 0;
}

int pg_config_parse_hostport(const char *s, char *host_out, size_t host_size, int *port,
			     const char **why)
{
	const char *colon;
	const char *host = s;
	size_t host_len;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':') {
			*why = "an IPv6 address must be written [addr]:port";
			return -1;
		}
		host = s + 1;
		host_len = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			*why = "expected host:port";
			return -1;
		}
		if (memchr(s, ':', (size_t)(colon - s))) {
			*why = "an IPv6 address must be written [addr]:port";
			return -1;
		}
		host_len = (size_t)(colon - s);
	}
	if (host_len == 0 || host_len >= host_size) {
		*why = host_len ? "host name too long" : "host is empty";
		return -1;
	}
	char *end;
	errno = 0;
	long p = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || p < 1 || p > 65535) {
		*why = "port must be a number from 1 to 65535";
		return -1;
	}
	memcpy(host_out, host, host_len);
	host_out[host_len] = '\0';
	*port = (int)p;
	return 0;
}

bool pg_config_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (!strcmp(host, "localhost"))
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

int pg_config_check(const struct pg_config *cfg, struct pg_config_errors *err)
{
	int rc = 0;
	char host[256];
	int port;
	const char *why;
	if (pg_config_parse_hostport(cfg->relay_listen, host, sizeof(host), &port, &why) < 0) {
		add_error(err, "[relay] listen = '%s': %s", cfg->relay_listen, why);
		rc = -1;
	} else if (!pg_config_is_loopback(host)) {
		/* Until viewer authentication exists, the only security type is None, and
		 * None must never face a network. */
		add_error(err,
			  "[relay] listen = '%s': viewers are not authenticated yet (security "
			  "type None), so pixelgate listens only on loopback (127.0.0.0/8, ::1)",
			  cfg->relay_listen);
		rc = -1;
	}
	if (!*cfg->upstream_address) {
		add_error(err, "[upstream] address is not set (hint: --upstream 127.0.0.1:5901)");
		rc = -1;
	} else if (pg_config_parse_hostport(cfg->upstream_address, host, sizeof(host), &port,
					    &why) < 0) {
		add_error(err, "[upstream] address = '%s': %s", cfg->upstream_address, why);
		rc = -1;
	}
	if (*cfg->upstream_password_file && access(cfg->upstream_password_file, R_OK) < 0) {
		add_error(err, "[upstream] password_file = '%s': cannot read: %s",
			  cfg->upstream_password_file, strerror(errno));
		rc = -1;
	}
	static const char *const levels[] = {"error", "warn", "info", "debug"};
	bool level_ok = false;
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		level_ok |= !strcmp(cfg->relay_log_level, levels[i]);
	if (!level_ok) {
		add_error(err, "[relay] log_level = '%s': expected error, warn, info or debug",
			  cfg->relay_log_level);
		rc = -1;
	}
	return rc;
}

void pg_config_print(const struct pg_config *cfg, void *file)
{
	FILE *f = file;
	const char *last = "";
#define PG_CFG_S(sec, key, def, help)                                                              \
	if (strcmp(last, #sec))                                                                    \
		fprintf(f, "%s[%s]\n", *last ? "\n" : "", #sec);                                   \
	last = #sec;                                                                               \
	fprintf(f, "; %s\n%s = %s\n", help, #key, cfg->sec##_##key);
#define PG_CFG_I(sec, key, def, min, max, help)                                                    \
	if (strcmp(last, #sec))                                                                    \
		fprintf(f, "%s[%s]\n", *last ? "\n" : "", #sec);                                   \
	last = #sec;                                                                               \
	fprintf(f, "; %s (%d..%d)\n%s = %d\n", help, min, max, #key, cfg->sec##_##key);
	PG_CONFIG_TABLE(PG_CFG_S, PG_CFG_I)
#undef PG_CFG_S
#undef PG_CFG_I
}
