/* pg_ldap's configuration check, templates and RFC 4514/4515 escaping: the parts
 * that need no connection. */
#include "auth/ldap.h"
#include "auth/ldap_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>

static bool name_char_ok(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '_' || ch == '-';
}

static bool valid_group_name(const char *s, size_t len)
{
	if (len == 0 || len > PG_LDAP_MAX_GROUP_NAME)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!name_char_ok((unsigned char)s[i]))
			return false;
	return true;
}

/* Templates: every %s is the value, %% a percent sign, any other % an error. */
static bool template_ok(const char *t, bool need_s)
{
	bool has_s = false;
	for (const char *p = t; *p; p++) {
		if (*p != '%')
			continue;
		if (p[1] == 's')
			has_s = true;
		else if (p[1] != '%')
			return false;
		p++;
	}
	return has_s || !need_s;
}

int pg_ldap_expand(const char *t, const char *value, char *out, size_t size)
{
	size_t n = 0, vlen = strlen(value);
	for (const char *p = t; *p; p++) {
		const char *add = p;
		size_t alen = 1;
		if (*p == '%' && p[1] == 's') {
			add = value;
			alen = vlen;
			p++;
		} else if (*p == '%' && p[1] == '%') {
			p++;
		}
		if (n + alen >= size)
			return -E2BIG;
		memcpy(out + n, add, alen);
		n += alen;
	}
	out[n] = '\0';
	return (int)n;
}

/* ---- escaping ---- */

int pg_ldap_escape_filter(const char *in, size_t len, char *out, size_t size)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];
		bool esc = ch == '*' || ch == '(' || ch == ')' || ch == '\\' || ch == '\0';
		size_t need = esc ? 3 : 1;
		if (n + need >= size)
			return -E2BIG;
		if (esc) {
			snprintf(out + n, 4, "\\%02x", ch);
		} else {
			out[n] = (char)ch;
		}
		n += need;
	}
	if (n >= size)
		return -E2BIG;
	out[n] = '\0';
	return (int)n;
}

int pg_ldap_escape_dn(const char *in, size_t len, char *out, size_t size)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];
		bool special = strchr(",+\"\\<>;=", ch) && ch != '\0';
		bool edge = (i == 0 && (ch == '#' || ch == ' ')) || (i + 1 == len && ch == ' ');
		size_t need = ch == '\0' ? 3 : (special || edge) ? 2 : 1;
		if (n + need >= size)
			return -E2BIG;
		if (ch == '\0') {
			memcpy(out + n, "\\00", 3);
		} else if (special || edge) {
			out[n] = '\\';
			out[n + 1] = (char)ch;
		} else {
			out[n] = (char)ch;
		}
		n += need;
	}
	if (n >= size)
		return -E2BIG;
	out[n] = '\0';
	return (int)n;
}

/* ---- configuration ---- */

static bool host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (!host || !*host)
		return false;
	if (!strcasecmp(host, "localhost"))
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

static int fail_cfg(char *err, size_t size, const char *msg)
{
	if (err && size)
		snprintf(err, size, "ldap: %s", msg);
	return -EINVAL;
}

/* Checks each URI of the list; *uses_tls tells whether any connection uses TLS. */
static int check_uris(const struct pg_ldap_config *c, bool *uses_tls, char *err, size_t size)
{
	char buf[PG_LDAP_MAX_DN + 1];
	if (!c->uri || !*c->uri)
		return fail_cfg(err, size, "uri: missing");
	if (strlen(c->uri) > PG_LDAP_MAX_DN)
		return fail_cfg(err, size, "uri: too long");
	strcpy(buf, c->uri);
	*uses_tls = c->starttls;
	size_t count = 0;
	char *save = NULL;
	for (char *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		LDAPURLDesc *lud = NULL;
		if (ldap_url_parse(tok, &lud) != LDAP_URL_SUCCESS)
			return fail_cfg(err, size,
					"uri: not an LDAP URL (ldaps://host:636 or "
					"ldap://host:389)");
		bool ldaps = !strcasecmp(lud->lud_scheme, "ldaps");
		bool plain = !strcasecmp(lud->lud_scheme, "ldap");
		bool loop = host_is_loopback(lud->lud_host);
		bool has_host = lud->lud_host && *lud->lud_host;
		ldap_free_urldesc(lud);
		count++;
		if (!ldaps && !plain)
			return fail_cfg(err, size, "uri: only ldaps:// and ldap:// are supported");
		if (!has_host)
			return fail_cfg(err, size, "uri: a host name is required");
		if (ldaps && c->starttls)
			return fail_cfg(err, size,
					"starttls: not with ldaps:// (already TLS); use one or the "
					"other");
		if (ldaps)
			*uses_tls = true;
		if (plain && !c->starttls && !(c->allow_plain && loop))
			return fail_cfg(err, size,
					"uri: ldap:// sends passwords in clear: set starttls, use "
					"ldaps://, or (loopback hosts only) allow_plain");
	}
	if (count == 0)
		return fail_cfg(err, size, "uri: missing");
	return 0;
}

static int check_map(const struct pg_ldap_config *c, char *err, size_t size)
{
	if (c->group_map_count > PG_LDAP_MAX_MAP)
		return fail_cfg(err, size, "group_map: too many entries");
	if (c->group_map_count && !c->group_map)
		return fail_cfg(err, size, "group_map: missing");
	for (size_t i = 0; i < c->group_map_count; i++) {
		const char *e = c->group_map[i];
		const char *eq = e ? strrchr(e, '=') : NULL;
		if (!eq || eq == e || strlen(e) > PG_LDAP_MAX_DN) {
			if (err && size)
				snprintf(
				    err, size,
				    "ldap: group_map: \"%.80s\": expected LDAP-GROUP=GROUP, an "
				    "LDAP group DN or CN, '=' and a pixelgate group name",
				    e ? e : "");
			return -EINVAL;
		}
		if (!valid_group_name(eq + 1, strlen(eq + 1))) {
			if (err && size)
				snprintf(
				    err, size,
				    "ldap: group_map: \"%.80s\": the group name after the last "
				    "'=' must be 1-%d of [A-Za-z0-9._-]",
				    e, PG_LDAP_MAX_GROUP_NAME);
			return -EINVAL;
		}
	}
	return 0;
}

int pg_ldap_check_config(const struct pg_ldap_config *c, char *err, size_t size)
{
	bool tls = false;
	int version;
	/* libldap fills its global defaults on first use; reading one here, on the
	 * thread that loads the config, keeps that first use off the worker threads. */
	ldap_get_option(NULL, LDAP_OPT_PROTOCOL_VERSION, &version);
	int rc = check_uris(c, &tls, err, size);
	if (rc)
		return rc;
	if (tls && (!c->ca_file || !*c->ca_file))
		return fail_cfg(err, size, "ca_file: required with ldaps:// or starttls");
	if (!!c->bind_dn == !!c->user_dn_template)
		return fail_cfg(err, size,
				"set either bind_dn and bind_password (search then bind) or "
				"user_dn_template (direct bind), not both");
	if (c->bind_dn && (!c->bind_password || !*c->bind_password))
		return fail_cfg(err, size,
				"bind_password: required with bind_dn (an empty password would be "
				"an unauthenticated bind)");
	if (c->bind_dn && (!*c->bind_dn || strlen(c->bind_dn) > PG_LDAP_MAX_DN))
		return fail_cfg(err, size, "bind_dn: empty or too long");
	if (c->user_dn_template) {
		const char *t = c->user_dn_template;
		if (strlen(t) > PG_LDAP_MAX_DN / 2 || !template_ok(t, true))
			return fail_cfg(
			    err, size,
			    "user_dn_template: needs %s for the user name (and no other "
			    "% than %%)");
		if (!strchr(t, '=') && !strchr(t, '@'))
			return fail_cfg(
			    err, size,
			    "user_dn_template: neither a DN (uid=%s,ou=people,...) nor a "
			    "user principal name (%s@example.local)");
	}
	if (c->bind_dn && (!c->base_dn || !c->user_filter))
		return fail_cfg(err, size, "base_dn and user_filter: required with bind_dn");
	if (!!c->base_dn != !!c->user_filter)
		return fail_cfg(err, size, "base_dn and user_filter: set both or neither");
	if (c->base_dn && strlen(c->base_dn) > PG_LDAP_MAX_DN)
		return fail_cfg(err, size, "base_dn: too long");
	if (c->user_filter &&
	    (c->user_filter[0] != '(' || strlen(c->user_filter) > PG_LDAP_MAX_DN / 4 ||
	     !template_ok(c->user_filter, true)))
		return fail_cfg(err, size,
				"user_filter: must be a filter in parentheses with %s for the user "
				"name, e.g. (&(objectClass=person)(uid=%s))");
	if (c->group_attr && (!*c->group_attr || strlen(c->group_attr) > 64))
		return fail_cfg(err, size, "group_attr: empty or too long");
	if (c->group_attr && !c->base_dn)
		return fail_cfg(err, size, "group_attr: needs base_dn and user_filter");
	if (c->group_base_dn && strlen(c->group_base_dn) > PG_LDAP_MAX_DN)
		return fail_cfg(err, size, "group_base_dn: too long");
	if (c->group_filter && !c->group_base_dn)
		return fail_cfg(err, size, "group_filter: needs group_base_dn");
	if (c->group_filter && (c->group_filter[0] != '(' || strlen(c->group_filter) > 256 ||
				!template_ok(c->group_filter, true)))
		return fail_cfg(err, size,
				"group_filter: must be a filter in parentheses with %s for the "
				"user's DN, e.g. (member=%s)");
	if (c->group_base_dn && c->user_dn_template && !strchr(c->user_dn_template, '=') &&
	    !c->base_dn)
		return fail_cfg(err, size,
				"group_base_dn: with a user principal name template, base_dn and "
				"user_filter are needed to learn the user's DN");
	if (c->timeout_ms > PG_LDAP_MAX_TIMEOUT_MS)
		return fail_cfg(err, size, "timeout: at most 60 s");
	return check_map(c, err, size);
}
