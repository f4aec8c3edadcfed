/* Password check against an LDAP directory or Active Directory, and the mapping of
 * the user's LDAP groups to pixelgate group names (docs/ldap.md).
 *
 * Two ways to find the user:
 *  - search-then-bind: bind as a service account (bind_dn, bind_password), search
 *    base_dn for user_filter with the user name, then bind as the entry found;
 *  - direct bind: bind as user_dn_template with the user name ("uid=%s,ou=people,
 *    dc=example,dc=org", or Active Directory's "%s@example.local"), then, when
 *    base_dn and user_filter are set, read the user's own entry for its DN and groups.
 * Groups come from an attribute of the user entry (group_attr, "memberOf") and/or
 * from a search under group_base_dn for groups naming the user's DN (group_filter).
 *
 * Every call opens its own connection and closes it: no global state, safe from any
 * number of threads at once. Calls block (at most about timeout_ms in all): run them
 * on a worker thread. Nothing here logs. Nothing here copies a password; the caller
 * owns and wipes its buffers. */
#ifndef PG_AUTH_LDAP_H
#define PG_AUTH_LDAP_H

#include <stdbool.h>
#include <stddef.h>

#define PG_LDAP_MAX_USER	   256	/* bytes of a user name */
#define PG_LDAP_MAX_PASSWORD	   1024 /* bytes of a password */
#define PG_LDAP_MAX_DN		   1024 /* bytes of a DN, a template or a filter, expanded */
#define PG_LDAP_MAX_GROUP_VALUES   1024 /* group DNs read for one user, attribute or search */
#define PG_LDAP_MAX_MAP		   256	/* group_map entries */
#define PG_LDAP_MAX_GROUP_NAME	   64	/* bytes of a pixelgate group name */
#define PG_LDAP_MAX_GROUPS_OUT	   32	/* pixelgate groups returned for one user */
#define PG_LDAP_MAX_TIMEOUT_MS	   60000
#define PG_LDAP_DEFAULT_TIMEOUT_MS 5000

/* Used when group_base_dn is set and group_filter is NULL; %s is the user's DN. */
#define PG_LDAP_DEFAULT_GROUP_FILTER "(|(member=%s)(uniqueMember=%s))"

/* All strings are borrowed; NULL means unset. */
struct pg_ldap_config {
	/* One URI or several separated by spaces, tried in turn: ldaps://host[:636] or
	 * ldap://host[:389]. */
	const char *uri;
	/* StartTLS on ldap:// URIs. Plain ldap:// is refused unless allow_plain is set
	 * and every host is a loopback address (127.0.0.0/8, ::1, localhost). */
	bool starttls;
	bool allow_plain;
	/* PEM file of the CA(s) the server certificate must chain to; required with TLS.
	 * The certificate must also name the URI's host. */
	const char *ca_file;
	/* Service account for search-then-bind; both or neither. */
	const char *bind_dn;
	const char *bind_password;
	/* Direct bind: every %s becomes the user name (escaped per RFC 4514 when the
	 * template is a DN, i.e. contains '='). Exactly one of bind_dn and
	 * user_dn_template is set. */
	const char *user_dn_template;
	/* Where and how to find the user: every %s in user_filter becomes the user name
	 * escaped per RFC 4515. Required with bind_dn. */
	const char *base_dn;
	const char *user_filter;
	/* Attribute of the user entry listing its groups' DNs ("memberOf"), or NULL. */
	const char *group_attr;
	/* Group search, or NULL: subtree under group_base_dn, group_filter (default
	 * PG_LDAP_DEFAULT_GROUP_FILTER) with every %s the user's DN, RFC 4515-escaped. */
	const char *group_base_dn;
	const char *group_filter;
	/* group_map[0 .. group_map_count): "KEY=GROUP", split at the last '='. KEY is a
	 * group DN (compared after DN normalization, case-insensitively) or, without '=',
	 * a group CN (the value of a leading cn= RDN). GROUP is a pixelgate group name
	 * ([A-Za-z0-9._-]). LDAP groups not in the map are ignored. */
	const char *const *group_map;
	size_t group_map_count;
	/* Whole-call budget: connect, TLS, binds and searches together. 0 means
	 * PG_LDAP_DEFAULT_TIMEOUT_MS. */
	unsigned timeout_ms;
};

/* Check c without contacting a server: 0, or -EINVAL with err set to a sentence
 * naming the key ("ldap: ca_file: required with ldaps:// or starttls"). Call it
 * once on the main thread before the first pg_ldap_authenticate: it also runs
 * libldap's one-time initialization there. */
int pg_ldap_check_config(const struct pg_ldap_config *c, char *err, size_t err_size);

/* Authenticate user with password (len bytes, NUL bytes refused). On success returns
 * 0 and groups_out (may be NULL with groups_size 0) holds the mapped pixelgate groups,
 * comma-separated, in group_map order, without duplicates ("" for none). On failure returns a
 * negative errno and why holds the reason for the audit log (never the password); the viewer should
 * be told none of it: -EINVAL       bad config, empty password (an LDAP unauthenticated bind would
 *                 succeed), or a user name or password over the caps
 *   -ENOENT       unknown user (search-then-bind, or Active Directory's data 525)
 *   -EACCES       wrong password; with a direct bind to a server that does not say
 *                 which, "unknown user or wrong password"
 *   -EPERM        account disabled, locked or expired (Active Directory)
 *   -ENOTUNIQ     user_filter matched more than one entry
 *   -EHOSTUNREACH server unreachable (refused, no route, DNS)
 *   -EPROTO       TLS failure (certificate not trusted or not for this host, handshake)
 *   -ETIMEDOUT    timeout_ms elapsed
 *   -E2BIG        more groups than PG_LDAP_MAX_GROUP_VALUES, or groups_out too small
 *   -EIO          other LDAP errors (service account refused, server error)
 *   -ENOMEM */
int pg_ldap_authenticate(const struct pg_ldap_config *c, const char *user, const char *password,
			 size_t len, char *groups_out, size_t groups_size, char *why,
			 size_t why_size);

/* RFC 4515 escaping of a filter value: '*', '(', ')', '\' and NUL as \2a, \28, \29,
 * \5c, \00 (len bytes of in). Returns the length written (NUL-terminated) or -E2BIG. */
int pg_ldap_escape_filter(const char *in, size_t len, char *out, size_t size);

/* RFC 4514 escaping of an attribute value in a DN: ',', '+', '"', '\', '<', '>', ';',
 * '=' and a leading '#' or space or a trailing space with a backslash, NUL as \00.
 * Returns the length written (NUL-terminated) or -E2BIG. */
int pg_ldap_escape_dn(const char *in, size_t len, char *out, size_t size);

#endif
