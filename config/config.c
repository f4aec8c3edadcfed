#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

void pg_config_error(struct pg_config_errors *err, const char *fmt, ...)
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
	cfg->routes = NULL;
	cfg->nroutes = 0;
	cfg->hosts = NULL;
	cfg->nhosts = 0;
	cfg->ldap_group_map = NULL;
	cfg->nldap_group_map = 0;
	pg_policy_init(&cfg->policy);
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
	free(cfg->routes);
	cfg->routes = NULL;
	cfg->nroutes = 0;
	free(cfg->hosts);
	cfg->hosts = NULL;
	cfg->nhosts = 0;
	for (int i = 0; i < cfg->nldap_group_map; i++)
		free(cfg->ldap_group_map[i]);
	free(cfg->ldap_group_map);
	cfg->ldap_group_map = NULL;
	cfg->nldap_group_map = 0;
	pg_policy_free(&cfg->policy);
}

static int add_group_map(struct pg_config *cfg, const char *value, const char *where,
			 struct pg_config_errors *err)
{
	const char *eq = strrchr(value, '=');
	if (!eq || eq == value || !pg_config_valid_name(eq + 1)) {
		pg_config_error(err,
				"%s: [ldap] group_map = '%s': expected LDAP-GROUP=pixelgate-group "
				"(a group DN or CN, '=', then a pixelgate group name)",
				where, value);
		return -1;
	}
	if (cfg->nldap_group_map == 256) {
		pg_config_error(err, "%s: [ldap] more than 256 group_map lines", where);
		return -1;
	}
	char **m = realloc(cfg->ldap_group_map, sizeof(*m) * (size_t)(cfg->nldap_group_map + 1));
	if (m)
		cfg->ldap_group_map = m;
	if (!m || !(m[cfg->nldap_group_map] = strdup(value))) {
		pg_config_error(err, "%s: out of memory", where);
		return -1;
	}
	cfg->nldap_group_map++;
	return 0;
}

bool pg_config_valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == '@'))
			return false;
	}
	return true;
}

static int set_route(struct pg_config *cfg, const char *key, const char *value, const char *where,
		     struct pg_config_errors *err)
{
	bool group = !strncmp(key, "group.", 6);
	const char *name = group ? key + 6 : !strncmp(key, "user.", 5) ? key + 5 : NULL;
	char host[256];
	int port;
	const char *why;
	if (!name || !pg_config_valid_name(name)) {
		pg_config_error(
		    err,
		    "%s: [routes] '%s': expected user.NAME or group.NAME (letters, digits, "
		    ". _ - @)",
		    where, key);
		return -1;
	}
	if (pg_config_parse_hostport(value, host, sizeof(host), &port, &why) < 0) {
		pg_config_error(err, "%s: [routes] %s = '%s': %s", where, key, value, why);
		return -1;
	}
	for (int i = 0; i < cfg->nroutes; i++) {
		if (cfg->routes[i].group == group && !strcmp(cfg->routes[i].name, name)) {
			pg_config_error(err, "%s: [routes] %s is given twice", where, key);
			return -1;
		}
	}
	if (cfg->nroutes == PG_CONFIG_MAX_ROUTES) {
		pg_config_error(err, "%s: [routes] more than %d routes", where,
				PG_CONFIG_MAX_ROUTES);
		return -1;
	}
	struct pg_route *r = realloc(cfg->routes, sizeof(*r) * (size_t)(cfg->nroutes + 1));
	if (!r) {
		pg_config_error(err, "%s: out of memory", where);
		return -1;
	}
	cfg->routes = r;
	r += cfg->nroutes++;
	r->group = group;
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->address, sizeof(r->address), "%s", value);
	return 0;
}

static int set_host(struct pg_config *cfg, const char *address, const char *key, const char *value,
		    const char *where, struct pg_config_errors *err)
{
	char host[256];
	int port;
	const char *why;
	if (pg_config_parse_hostport(address, host, sizeof(host), &port, &why) < 0) {
		pg_config_error(err, "%s: [host %s]: %s (expected [host ADDRESS:PORT])", where,
				address, why);
		return -1;
	}
	struct pg_host_cfg *h = NULL;
	for (int i = 0; i < cfg->nhosts; i++)
		if (!strcmp(cfg->hosts[i].address, address))
			h = &cfg->hosts[i];
	if (!h) {
		if (cfg->nhosts == PG_CONFIG_MAX_HOSTS) {
			pg_config_error(err, "%s: more than %d [host] sections", where,
					PG_CONFIG_MAX_HOSTS);
			return -1;
		}
		h = realloc(cfg->hosts, sizeof(*h) * (size_t)(cfg->nhosts + 1));
		if (!h) {
			pg_config_error(err, "%s: out of memory", where);
			return -1;
		}
		cfg->hosts = h;
		h += cfg->nhosts++;
		memset(h, 0, sizeof(*h));
		snprintf(h->address, sizeof(h->address), "%s", address);
	}
	struct {
		const char *key;
		char *slot;
		size_t size;
	} keys[] = {
	    {"password_file", h->password_file, sizeof(h->password_file)},
	    {"tls", h->tls, sizeof(h->tls)},
	    {"ca_file", h->ca_file, sizeof(h->ca_file)},
	    {"pin_sha256", h->pin_sha256, sizeof(h->pin_sha256)},
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(key, keys[i].key))
			continue;
		if (strlen(value) >= keys[i].size) {
			pg_config_error(err, "%s: [host %s] %s is too long", where, address, key);
			return -1;
		}
		snprintf(keys[i].slot, keys[i].size, "%s", value);
		return 0;
	}
	pg_config_error(err,
			"%s: unknown key '%s' in [host %s] (known keys: password_file tls ca_file "
			"pin_sha256)",
			where, key, address);
	return -1;
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
		pg_config_error(err, "%s: [%s] %s = '%s' is not a whole number (expected %ld..%ld)",
				where, sec, key, value, min, max);
		return -1;
	}
	if (v < min || v > max) {
		pg_config_error(err, "%s: [%s] %s = %ld is out of range (expected %ld..%ld)", where,
				sec, key, v, min, max);
		return -1;
	}
	*slot = (int)v;
	return 0;
}

/* [broker] hosts given again adds to the list: long pools read better one host a
 * line. */
static int append_hosts(struct pg_config *cfg, const char *value, const char *where,
			struct pg_config_errors *err)
{
	size_t len = strlen(cfg->broker_hosts) + strlen(value) + 3;
	char *joined = malloc(len);
	if (!joined) {
		pg_config_error(err, "%s: out of memory", where);
		return -1;
	}
	snprintf(joined, len, "%s, %s", cfg->broker_hosts, value);
	free(cfg->broker_hosts);
	cfg->broker_hosts = joined;
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
	if (!strcmp(section, "routes"))
		return set_route(cfg, key, value, where, err);
	if (!strncmp(section, "host ", 5))
		return set_host(cfg, section + 5, key, value, where, err);
	if (!strcmp(section, "policy") || !strncmp(section, "policy ", 7))
		return pg_policy_set(&cfg->policy, section, key, value, where, err);
	if (!strcmp(section, "ldap") && !strcmp(key, "group_map"))
		return add_group_map(cfg, value, where, err);
	if (!strcmp(section, "broker") && !strcmp(key, "hosts") && *cfg->broker_hosts && *value)
		return append_hosts(cfg, value, where, err);
#define PG_CFG_S(sec, k, def, help)                                                                \
	if (!strcmp(section, #sec) && !strcmp(key, #k)) {                                          \
		if (set_string(&cfg->sec##_##k, value) < 0) {                                      \
			pg_config_error(err, "%s: out of memory", where);                          \
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
	pg_config_error(err, "%s: unknown key '%s' in [%s] (known keys: %s)", where, key, section,
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
		pg_config_error(lr->err,
				"%s: key '%s' is outside any [section] (hint: put it under "
				"[relay], [upstream] or [routes])",
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
		pg_config_error(err, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	int rc = ini_parse_stream(read_line, &lr, on_key, &lr);
	fclose(lr.file);
	if (rc > 0) {
		pg_config_error(err,
				"%s:%d: not an INI line (expected 'key = value', '[section]' or a "
				"comment starting with ';' or '#')",
				path, rc);
		return -1;
	}
	if (rc < 0) {
		pg_config_error(err, "%s: cannot read", path);
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

/* One CIDR ("10.0.0.0/8", "::1/128", or an address alone for all its bits) into
 * its bytes, family size (4 or 16) and prefix length. */
static int parse_cidr(const char *s, size_t len, uint8_t addr[16], int *alen, int *bits)
{
	char buf[64];
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1)
		*alen = 4;
	else if (inet_pton(AF_INET6, buf, addr) == 1)
		*alen = 16;
	else
		return -1;
	*bits = *alen * 8;
	if (slash) {
		char *end;
		errno = 0;
		long b = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || errno || b < 0 || b > *alen * 8)
			return -1;
		*bits = (int)b;
	}
	return 0;
}

static bool prefix_match(const uint8_t *a, const uint8_t *net, int bits)
{
	int full = bits / 8, rest = bits % 8;
	if (memcmp(a, net, (size_t)full))
		return false;
	return !rest || ((a[full] ^ net[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

int pg_config_check_networks(const char *networks, const char **why)
{
	uint8_t net[16];
	int alen, bits;
	for (const char *p = networks; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t len = strcspn(p, ", ");
		if (len && parse_cidr(p, len, net, &alen, &bits) < 0) {
			*why = "expected networks such as 127.0.0.0/8,::1/128 (address/prefix, "
			       "comma-separated)";
			return -1;
		}
		p += len;
	}
	return 0;
}

bool pg_config_in_networks(const char *host, const char *networks)
{
	uint8_t a[16], net[16];
	int hlen, alen, bits;
	if (inet_pton(AF_INET, host, a) == 1)
		hlen = 4;
	else if (inet_pton(AF_INET6, host, a) == 1)
		hlen = 16;
	else
		return false; /* names are not allowed: what they resolve to can change */
	for (const char *p = networks; *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t len = strcspn(p, ", ");
		if (len && parse_cidr(p, len, net, &alen, &bits) == 0 && alen == hlen &&
		    prefix_match(a, net, bits))
			return true;
		p += len;
	}
	return false;
}

/* [broker]: the mode's own keys, and only those that make sense together. */
static int check_broker(const struct pg_config *cfg, struct pg_config_errors *err)
{
	int rc = 0;
	char host[256];
	int port;
	const char *why;
	const char *mode = cfg->broker_mode;
	if (strcmp(mode, "static") && strcmp(mode, "pool") && strcmp(mode, "spawn")) {
		pg_config_error(err, "[broker] mode = '%s': expected static, pool or spawn", mode);
		return -1;
	}
	if (strcmp(mode, "static") && !strcmp(cfg->relay_security, "none")) {
		pg_config_error(err,
				"[broker] mode = %s needs logins (a user to choose a host "
				"for): set [relay] security = vencrypt",
				mode);
		rc = -1;
	}
	if (!strcmp(mode, "pool")) {
		int n = 0;
		for (const char *p = cfg->broker_hosts; *p;) {
			while (*p == ' ' || *p == ',')
				p++;
			size_t len = strcspn(p, ", ");
			if (!len)
				break;
			char one[300];
			if (len >= sizeof(one) ||
			    (memcpy(one, p, len), one[len] = '\0',
			     pg_config_parse_hostport(one, host, sizeof(host), &port, &why) < 0)) {
				pg_config_error(err, "[broker] hosts: '%.*s': %s", (int)len, p,
						len >= sizeof(one) ? "too long" : why);
				rc = -1;
			}
			n++;
			p += len;
		}
		if (!n) {
			pg_config_error(err, "[broker] mode = pool needs hosts = host:port, "
					     "host:port, ...");
			rc = -1;
		} else if (n > PG_CONFIG_MAX_HOSTS) {
			pg_config_error(err, "[broker] hosts: more than %d", PG_CONFIG_MAX_HOSTS);
			rc = -1;
		}
		if (cfg->broker_check_timeout >= cfg->broker_check_interval * 1000) {
			pg_config_error(err,
					"[broker] check_timeout = %d ms must be shorter than "
					"check_interval = %d s",
					cfg->broker_check_timeout, cfg->broker_check_interval);
			rc = -1;
		}
	} else if (*cfg->broker_hosts) {
		pg_config_error(err, "[broker] hosts is for mode = pool (mode is %s)", mode);
		rc = -1;
	}
	if (!strcmp(mode, "spawn")) {
		if (*cfg->broker_spawn_command != '/') {
			pg_config_error(err,
					"[broker] mode = spawn needs spawn_command = an absolute "
					"path (it runs without a shell)");
			rc = -1;
		} else if (access(cfg->broker_spawn_command, X_OK) < 0) {
			pg_config_error(err, "[broker] spawn_command = '%s': cannot run: %s",
					cfg->broker_spawn_command, strerror(errno));
			rc = -1;
		}
		if (pg_config_check_networks(cfg->broker_spawn_networks, &why) < 0 ||
		    !*cfg->broker_spawn_networks) {
			pg_config_error(err, "[broker] spawn_networks = '%s': %s",
					cfg->broker_spawn_networks,
					*cfg->broker_spawn_networks ? why : "must not be empty");
			rc = -1;
		}
	} else if (*cfg->broker_spawn_command) {
		pg_config_error(err, "[broker] spawn_command is for mode = spawn (mode is %s)",
				mode);
		rc = -1;
	}
	if (strcmp(mode, "static") && cfg->nroutes) {
		pg_config_error(err,
				"[routes] is for [broker] mode = static: with mode = %s the "
				"broker chooses every user's host",
				mode);
		rc = -1;
	}
	return rc;
}

static bool one_of(const char *v, const char *a, const char *b)
{
	return !strcmp(v, a) || !strcmp(v, b);
}

int pg_config_check(const struct pg_config *cfg, struct pg_config_errors *err)
{
	int rc = 0;
	char host[256];
	int port;
	const char *why;
	bool none = !strcmp(cfg->relay_security, "none");
	if (pg_config_parse_hostport(cfg->relay_listen, host, sizeof(host), &port, &why) < 0) {
		pg_config_error(err, "[relay] listen = '%s': %s", cfg->relay_listen, why);
		rc = -1;
	} else if (!pg_config_is_loopback(host)) {
		/* No login must never face a network. */
		if (none) {
			pg_config_error(
			    err,
			    "[relay] listen = '%s': security = none (no login) is allowed "
			    "only on loopback (127.0.0.0/8, ::1); use security = vencrypt",
			    cfg->relay_listen);
			rc = -1;
		}
	}
	if (!one_of(cfg->relay_security, "vencrypt", "none")) {
		pg_config_error(err, "[relay] security = '%s': expected vencrypt or none",
				cfg->relay_security);
		rc = -1;
	} else if (!none) {
		if (!*cfg->relay_users_file && !*cfg->ldap_uri) {
			pg_config_error(
			    err, "[relay] security = vencrypt needs users_file or [ldap] uri "
				 "(hint: create a users file with pixelgate-passwd -f FILE add "
				 "NAME)");
			rc = -1;
		}
		if (!*cfg->relay_tls_cert != !*cfg->relay_tls_key) {
			pg_config_error(
			    err, "[relay] tls_cert and tls_key go together: set both or neither");
			rc = -1;
		} else if (!*cfg->relay_tls_cert && !cfg->relay_tls_anon) {
			pg_config_error(
			    err, "[relay] security = vencrypt needs tls_cert and tls_key (or, "
				 "weaker, tls_anon = 1)");
			rc = -1;
		}
	}
	if (*cfg->web_listen) {
		if (pg_config_parse_hostport(cfg->web_listen, host, sizeof(host), &port, &why) <
		    0) {
			pg_config_error(err, "[web] listen = '%s': %s", cfg->web_listen, why);
			rc = -1;
		} else if (none && !pg_config_is_loopback(host)) {
			pg_config_error(
			    err,
			    "[web] listen = '%s': security = none (no login) is allowed "
			    "only on loopback; use security = vencrypt",
			    cfg->web_listen);
			rc = -1;
		}
		if (!*cfg->relay_tls_cert || !*cfg->relay_tls_key) {
			pg_config_error(err, "[web] listen needs [relay] tls_cert and tls_key: "
					     "browsers speak HTTPS only to a certificate");
			rc = -1;
		}
	}
	if (!one_of(cfg->admin_allow_remote, "yes", "no")) {
		pg_config_error(err, "[admin] allow_remote = '%s': expected yes or no",
				cfg->admin_allow_remote);
		rc = -1;
	}
	if (*cfg->admin_listen) {
		if (pg_config_parse_hostport(cfg->admin_listen, host, sizeof(host), &port, &why) <
		    0) {
			pg_config_error(err, "[admin] listen = '%s': %s", cfg->admin_listen, why);
			rc = -1;
		} else if (!pg_config_is_loopback(host) && strcmp(cfg->admin_allow_remote, "yes")) {
			pg_config_error(
			    err,
			    "[admin] listen = '%s' is not a loopback address: the admin listener "
			    "speaks plain HTTP; set allow_remote = yes only for a management "
			    "network",
			    cfg->admin_listen);
			rc = -1;
		}
		if (!*cfg->admin_token_file) {
			pg_config_error(err,
					"[admin] listen needs token_file: a file whose one line "
					"is the bearer token (hint: openssl rand -hex 32 > FILE)");
			rc = -1;
		}
	}
	if (!*cfg->relay_vnc_auth_user != !*cfg->relay_vnc_auth_password_file) {
		pg_config_error(err,
				"[relay] vnc_auth_user and vnc_auth_password_file go together");
		rc = -1;
	}
	if (!one_of(cfg->relay_session_share, "share", "takeover")) {
		pg_config_error(err, "[relay] session_share = '%s': expected share or takeover",
				cfg->relay_session_share);
		rc = -1;
	}
	if (pg_policy_records(&cfg->policy) && !*cfg->recording_directory) {
		pg_config_error(err, "a [policy] section says record = yes, but [recording] "
				     "directory is not set (hint: directory = "
				     "/var/lib/pixelgate/recordings)");
		rc = -1;
	}
	if (*cfg->recording_directory && *cfg->recording_directory != '/') {
		pg_config_error(err, "[recording] directory = '%s': expected an absolute path",
				cfg->recording_directory);
		rc = -1;
	}
	if (check_broker(cfg, err) < 0)
		rc = -1;
	if (!*cfg->upstream_address && !cfg->nroutes && !strcmp(cfg->broker_mode, "static")) {
		pg_config_error(
		    err, "[upstream] address is not set and [routes] is empty (hint: --upstream "
			 "127.0.0.1:5901)");
		rc = -1;
	} else if (*cfg->upstream_address &&
		   pg_config_parse_hostport(cfg->upstream_address, host, sizeof(host), &port,
					    &why) < 0) {
		pg_config_error(err, "[upstream] address = '%s': %s", cfg->upstream_address, why);
		rc = -1;
	}
	if (!one_of(cfg->upstream_encoding, "tight", "zrle") &&
	    strcmp(cfg->upstream_encoding, "raw")) {
		pg_config_error(err, "[upstream] encoding = '%s': expected tight, zrle or raw",
				cfg->upstream_encoding);
		rc = -1;
	}
	if (!one_of(cfg->upstream_resize, "follow", "off")) {
		pg_config_error(err, "[upstream] resize = '%s': expected follow or off",
				cfg->upstream_resize);
		rc = -1;
	}
	if (!one_of(cfg->upstream_tls, "none", "x509")) {
		pg_config_error(err, "[upstream] tls = '%s': expected none or x509",
				cfg->upstream_tls);
		rc = -1;
	} else if (!strcmp(cfg->upstream_tls, "x509") && !*cfg->upstream_ca_file &&
		   !*cfg->upstream_pin_sha256) {
		pg_config_error(
		    err, "[upstream] tls = x509 needs ca_file or pin_sha256 (or both) to check "
			 "the browser host's certificate");
		rc = -1;
	}
	for (int i = 0; i < cfg->nhosts; i++) {
		const struct pg_host_cfg *h = &cfg->hosts[i];
		const char *tls = *h->tls ? h->tls : cfg->upstream_tls;
		if (!one_of(tls, "none", "x509")) {
			pg_config_error(err, "[host %s] tls = '%s': expected none or x509",
					h->address, tls);
			rc = -1;
		} else if (!strcmp(tls, "x509") && !*h->ca_file && !*h->pin_sha256 &&
			   !*cfg->upstream_ca_file && !*cfg->upstream_pin_sha256) {
			pg_config_error(err, "[host %s] tls = x509 needs ca_file or pin_sha256",
					h->address);
			rc = -1;
		}
		const char *hf[] = {h->password_file, h->ca_file};
		for (size_t k = 0; k < 2; k++) {
			if (*hf[k] && access(hf[k], R_OK) < 0) {
				pg_config_error(err, "[host %s] '%s': cannot read: %s", h->address,
						hf[k], strerror(errno));
				rc = -1;
			}
		}
	}
	const char *files[][2] = {
	    {"[relay] tls_cert", cfg->relay_tls_cert},
	    {"[relay] users_file", cfg->relay_users_file},
	    {"[upstream] ca_file", cfg->upstream_ca_file},
	    {"[upstream] password_file", cfg->upstream_password_file},
	    {"[ldap] ca_file", cfg->ldap_ca_file},
	    {"[relay] vnc_auth_password_file", cfg->relay_vnc_auth_password_file},
	    {"[ldap] bind_password_file", cfg->ldap_bind_password_file},
	    {"[admin] token_file", cfg->admin_token_file},
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (*files[i][1] && access(files[i][1], R_OK) < 0) {
			pg_config_error(err, "%s = '%s': cannot read: %s", files[i][0], files[i][1],
					strerror(errno));
			rc = -1;
		}
	}
	static const char *const levels[] = {"error", "warn", "info", "debug"};
	bool level_ok = false;
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		level_ok |= !strcmp(cfg->relay_log_level, levels[i]);
	if (!level_ok) {
		pg_config_error(err,
				"[relay] log_level = '%s': expected error, warn, info or debug",
				cfg->relay_log_level);
		rc = -1;
	}
	if (strcmp(cfg->relay_log_format, "text") && strcmp(cfg->relay_log_format, "json")) {
		pg_config_error(err, "[relay] log_format = '%s': expected text or json",
				cfg->relay_log_format);
		rc = -1;
	}
	if (pg_policy_check(&cfg->policy, err) < 0)
		rc = -1;
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
	for (int i = 0; i < cfg->nldap_group_map; i++)
		fprintf(f, "group_map = %s\n", cfg->ldap_group_map[i]);
	for (int i = 0; i < cfg->nhosts; i++) {
		const struct pg_host_cfg *h = &cfg->hosts[i];
		fprintf(f, "\n[host %s]\n", h->address);
		if (*h->password_file)
			fprintf(f, "password_file = %s\n", h->password_file);
		if (*h->tls)
			fprintf(f, "tls = %s\n", h->tls);
		if (*h->ca_file)
			fprintf(f, "ca_file = %s\n", h->ca_file);
		if (*h->pin_sha256)
			fprintf(f, "pin_sha256 = %s\n", h->pin_sha256);
	}
	if (cfg->nroutes)
		fprintf(f, "\n[routes]\n");
	for (int i = 0; i < cfg->nroutes; i++)
		fprintf(f, "%s.%s = %s\n", cfg->routes[i].group ? "group" : "user",
			cfg->routes[i].name, cfg->routes[i].address);
	pg_policy_print_config(&cfg->policy, f);
}
