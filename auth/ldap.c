#include "auth/ldap.h"
#include "auth/ldap_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ldap.h>
#include <poll.h>

/* One authentication: the connection, the deadline and what has been learned. */
struct pg_ldap_call {
	const struct pg_ldap_config *c;
	LDAP *ld;
	struct ldap_conncb conncb;
	bool tcp_connected;  /* a TCP connection was made: a failure after it is TLS's */
	bool tls_on_connect; /* some URI is ldaps:// */
	int fd;
	struct timespec deadline;
	unsigned timeout_ms;
	char *why;
	size_t why_size;
	char user_dn[PG_LDAP_MAX_DN + 1];
	bool have_dn;
	size_t values;		   /* group DNs seen */
	char **keys;		   /* normalized map keys (DN) or NULL (CN key) */
	bool hit[PG_LDAP_MAX_MAP]; /* map entries matched */
};

/* ---- small helpers ---- */

static void set_why(struct pg_ldap_call *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_why(struct pg_ldap_call *k, const char *fmt, ...)
{
	va_list ap;
	if (!k->why || !k->why_size)
		return;
	va_start(ap, fmt);
	vsnprintf(k->why, k->why_size, fmt, ap);
	va_end(ap);
}

/* A server's diagnostic message goes to the audit log: printable ASCII only, short. */
static void clean_text(const char *in, char *out, size_t size)
{
	size_t n = 0;
	for (; in && *in && n + 1 < size && n < 160; in++)
		out[n++] = (*in >= 0x20 && *in < 0x7f) ? *in : '?';
	out[n] = '\0';
}

static long remaining_ms(const struct pg_ldap_call *k)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(k->deadline.tv_sec - now.tv_sec) * 1000 +
	       (k->deadline.tv_nsec - now.tv_nsec) / 1000000;
}

static struct timeval ms_tv(long ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	return tv;
}

/* ---- LDAP operations ---- */

static bool is_tls_text(const char *s)
{
	return s && (strstr(s, "TLS") || strstr(s, "SSL") || strstr(s, "certificate") ||
		     strstr(s, "Certificate") || strstr(s, "handshake"));
}

/* Maps a client-side or transport error (rc from libldap) to an errno and a reason. */
static int transport_error(struct pg_ldap_call *k, int rc, const char *during)
{
	char *diag = NULL;
	char text[200] = "";
	ldap_get_option(k->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	clean_text(diag, text, sizeof(text));
	ldap_memfree(diag);
	if (rc == LDAP_TIMEOUT || remaining_ms(k) <= 0) {
		set_why(k, "LDAP timeout: no answer within %u ms (%s)", k->timeout_ms, during);
		return -ETIMEDOUT;
	}
	/* libldap's TLS errors are vague ("Can't contact LDAP server", GnuTLS's "unknown
	 * error code"): a failure after TCP connected on a TLS connection is TLS's. */
	if (is_tls_text(text) || rc == LDAP_CONNECT_ERROR ||
	    (k->tcp_connected && k->tls_on_connect && !strcmp(during, "connect"))) {
		set_why(k, "LDAP TLS failure (%s): %s%s%s", during, ldap_err2string(rc),
			*text ? ": " : "", text);
		return -EPROTO;
	}
	if (rc == LDAP_SERVER_DOWN || rc == LDAP_UNAVAILABLE) {
		set_why(k, "LDAP server unreachable (%s): %s%s%s", during, ldap_err2string(rc),
			*text ? ": " : "", text);
		return -EHOSTUNREACH;
	}
	if (rc == LDAP_NO_MEMORY) {
		set_why(k, "out of memory (%s)", during);
		return -ENOMEM;
	}
	set_why(k, "LDAP error (%s): %s%s%s", during, ldap_err2string(rc), *text ? ": " : "", text);
	return -EIO;
}

/* Waits for the answer to msgid until the deadline. 0 with *res set, or an errno. */
static int wait_result(struct pg_ldap_call *k, int msgid, int all, LDAPMessage **res,
		       const char *during)
{
	long ms = remaining_ms(k);
	if (ms <= 0)
		return transport_error(k, LDAP_TIMEOUT, during);
	struct timeval tv = ms_tv(ms);
	int t = ldap_result(k->ld, msgid, all, &tv, res);
	if (t == 0) {
		ldap_abandon_ext(k->ld, msgid, NULL, NULL);
		return transport_error(k, LDAP_TIMEOUT, during);
	}
	if (t < 0) {
		int rc = LDAP_OTHER;
		ldap_get_option(k->ld, LDAP_OPT_RESULT_CODE, &rc);
		return transport_error(k, rc, during);
	}
	return 0;
}

static int set_timeouts(struct pg_ldap_call *k)
{
	long ms = remaining_ms(k);
	if (ms <= 0)
		return transport_error(k, LDAP_TIMEOUT, "connect");
	struct timeval tv = ms_tv(ms);
	if (ldap_set_option(k->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(k->ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS)
		return transport_error(k, LDAP_OTHER, "setting timeouts");
	return 0;
}

/* libldap 2.5 with GnuTLS spins on a non-blocking socket during the TLS handshake
 * (read, EAGAIN, read ...) without looking at LDAP_OPT_NETWORK_TIMEOUT: a server
 * that accepts and stays silent would hold the thread at 100 % CPU forever. This
 * layer, under TLS and above TCP, waits in poll() until the call's deadline, then
 * fails the read with ETIMEDOUT, which ends the handshake. */
static int deadline_setup(Sockbuf_IO_Desc *sbiod, void *arg)
{
	sbiod->sbiod_pvt = arg;
	return 0;
}

static int deadline_remove(Sockbuf_IO_Desc *sbiod)
{
	return 0;
}

static int deadline_ctrl(Sockbuf_IO_Desc *sbiod, int opt, void *arg)
{
	return LBER_SBIOD_CTRL_NEXT(sbiod, opt, arg);
}

static int deadline_wait(struct pg_ldap_call *k, short events)
{
	for (;;) {
		long ms = remaining_ms(k);
		struct pollfd p = {.fd = k->fd, .events = events};
		if (ms <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		int n = poll(&p, 1, (int)ms);
		if (n > 0 || (n < 0 && errno != EINTR))
			return 0; /* ready, or an error the read itself will report */
	}
}

static ber_slen_t deadline_read(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	if (deadline_wait(sbiod->sbiod_pvt, POLLIN) < 0)
		return -1;
	return LBER_SBIOD_READ_NEXT(sbiod, buf, len);
}

static ber_slen_t deadline_write(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	if (deadline_wait(sbiod->sbiod_pvt, POLLOUT) < 0)
		return -1;
	return LBER_SBIOD_WRITE_NEXT(sbiod, buf, len);
}

static Sockbuf_IO deadline_io = {
    .sbi_setup = deadline_setup,
    .sbi_remove = deadline_remove,
    .sbi_ctrl = deadline_ctrl,
    .sbi_read = deadline_read,
    .sbi_write = deadline_write,
};

/* Called by libldap once TCP is connected, before any TLS handshake. */
static int on_connect(LDAP *ld, Sockbuf *sb, LDAPURLDesc *srv, struct sockaddr *addr,
		      struct ldap_conncb *ctx)
{
	struct pg_ldap_call *k = ctx->lc_arg;
	k->tcp_connected = true;
	if (!k->c->ca_file)
		return 0;
	if (ber_sockbuf_ctrl(sb, LBER_SB_OPT_GET_FD, &k->fd) != 1 || k->fd < 0)
		return -1;
	/* libldap adds its TCP layer at LEVEL_PROVIDER after this callback, and TLS at
	 * LEVEL_TRANSPORT later: one level up from the former is between the two. */
	return ber_sockbuf_add_io(sb, &deadline_io, LBER_SBIOD_LEVEL_PROVIDER + 1, k);
}

static void on_close(LDAP *ld, Sockbuf *sb, struct ldap_conncb *ctx)
{
}

static int open_connection(struct pg_ldap_call *k)
{
	const struct pg_ldap_config *c = k->c;
	int rc = ldap_initialize(&k->ld, c->uri);
	if (rc != LDAP_SUCCESS || !k->ld) {
		set_why(k, "LDAP: bad uri: %s", ldap_err2string(rc));
		return -EINVAL;
	}
	int v3 = LDAP_VERSION3, never = LDAP_DEREF_NEVER, limit = PG_LDAP_MAX_GROUP_VALUES;
	int demand = LDAP_OPT_X_TLS_DEMAND, min = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2, server = 0;
	/* Every option is set on this handle: libldap's global defaults come from
	 * ldap.conf, ldaprc and LDAPTLS_* variables, which must not weaken this. */
	if (ldap_set_option(k->ld, LDAP_OPT_PROTOCOL_VERSION, &v3) ||
	    ldap_set_option(k->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) ||
	    ldap_set_option(k->ld, LDAP_OPT_RESTART, LDAP_OPT_ON) ||
	    ldap_set_option(k->ld, LDAP_OPT_DEREF, &never) ||
	    ldap_set_option(k->ld, LDAP_OPT_SIZELIMIT, &limit))
		return transport_error(k, LDAP_OTHER, "setting options");
	k->conncb.lc_add = on_connect;
	k->conncb.lc_del = on_close;
	k->conncb.lc_arg = k;
	if (ldap_set_option(k->ld, LDAP_OPT_CONNECT_CB, &k->conncb) != LDAP_OPT_SUCCESS)
		return transport_error(k, LDAP_OTHER, "setting options");
	rc = set_timeouts(k);
	if (rc)
		return rc;
	if (c->ca_file) {
		if (ldap_set_option(k->ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) ||
		    ldap_set_option(k->ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &min) ||
		    ldap_set_option(k->ld, LDAP_OPT_X_TLS_CACERTFILE, c->ca_file) ||
		    ldap_set_option(k->ld, LDAP_OPT_X_TLS_CACERTDIR, NULL)) {
			set_why(k, "LDAP TLS failure: cannot set TLS options");
			return -EPROTO;
		}
		/* The options above take effect only in a context made for this handle. */
		rc = ldap_set_option(k->ld, LDAP_OPT_X_TLS_NEWCTX, &server);
		if (rc != LDAP_OPT_SUCCESS) {
			set_why(k, "LDAP TLS failure: cannot load ca_file %s", c->ca_file);
			return -EPROTO;
		}
	}
	k->tls_on_connect = strcasestr(c->uri, "ldaps://") != NULL;
	rc = ldap_connect(k->ld);
	if (rc != LDAP_SUCCESS)
		return transport_error(k, rc, "connect");
	if (!c->starttls)
		return 0;

	int msgid;
	LDAPMessage *res = NULL;
	rc = ldap_start_tls(k->ld, NULL, NULL, &msgid);
	if (rc != LDAP_SUCCESS)
		return transport_error(k, rc, "StartTLS");
	rc = wait_result(k, msgid, LDAP_MSG_ALL, &res, "StartTLS");
	if (rc)
		return rc;
	int err = LDAP_OTHER;
	rc = ldap_parse_result(k->ld, res, &err, NULL, NULL, NULL, NULL, 1);
	if (rc != LDAP_SUCCESS || err != LDAP_SUCCESS) {
		set_why(k, "LDAP TLS failure: server refused StartTLS: %s",
			ldap_err2string(rc != LDAP_SUCCESS ? rc : err));
		return -EPROTO;
	}
	rc = set_timeouts(k);
	if (rc)
		return rc;
	rc = ldap_install_tls(k->ld);
	if (rc != LDAP_SUCCESS) {
		int trc = transport_error(k, rc, "StartTLS handshake");
		/* Whatever libldap said, a failed handshake after StartTLS is TLS. */
		if (trc != -ETIMEDOUT && trc != -ENOMEM && trc != -EPROTO) {
			char *diag = NULL;
			char text[200] = "";
			ldap_get_option(k->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
			clean_text(diag, text, sizeof(text));
			ldap_memfree(diag);
			set_why(k, "LDAP TLS failure (StartTLS handshake): %s%s%s",
				ldap_err2string(rc), *text ? ": " : "", text);
			trc = -EPROTO;
		}
		return trc;
	}
	return 0;
}

/* Active Directory says why a bind failed in its diagnostic message: "... data 52e". */
static int ad_reason(const char *diag, const char **reason)
{
	const char *d = diag ? strstr(diag, "data ") : NULL;
	if (!d)
		return 0;
	unsigned long code = strtoul(d + 5, NULL, 16);
	switch (code) {
	case 0x525:
		*reason = "unknown user";
		return -ENOENT;
	case 0x52e:
		*reason = "wrong password";
		return -EACCES;
	case 0x530:
		*reason = "account not allowed to log on at this time";
		return -EPERM;
	case 0x531:
		*reason = "account not allowed to log on from this workstation";
		return -EPERM;
	case 0x532:
		*reason = "password expired";
		return -EPERM;
	case 0x533:
		*reason = "account disabled";
		return -EPERM;
	case 0x701:
		*reason = "account expired";
		return -EPERM;
	case 0x773:
		*reason = "password must be reset";
		return -EPERM;
	case 0x775:
		*reason = "account locked out";
		return -EPERM;
	default:
		return 0;
	}
}

/* Simple bind. is_user: an invalid-credentials answer is the user's fault. */
static int do_bind(struct pg_ldap_call *k, const char *dn, const char *pw, size_t len, bool is_user,
		   bool direct)
{
	struct berval cred = {.bv_len = len, .bv_val = (char *)pw};
	int msgid, rc, err = LDAP_OTHER;
	LDAPMessage *res = NULL;
	char *diag = NULL;
	const char *during = is_user ? "user bind" : "service account bind";

	rc = ldap_sasl_bind(k->ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, &msgid);
	if (rc != LDAP_SUCCESS)
		return transport_error(k, rc, during);
	rc = wait_result(k, msgid, LDAP_MSG_ALL, &res, during);
	if (rc)
		return rc;
	rc = ldap_parse_result(k->ld, res, &err, NULL, &diag, NULL, NULL, 1);
	if (rc != LDAP_SUCCESS) {
		ldap_memfree(diag);
		return transport_error(k, rc, during);
	}
	char text[200] = "";
	clean_text(diag, text, sizeof(text));
	ldap_memfree(diag);
	if (err == LDAP_SUCCESS)
		return 0;
	if (!is_user) {
		set_why(k, "LDAP service account bind failed: %s%s%s", ldap_err2string(err),
			*text ? ": " : "", text);
		return -EIO;
	}
	if (err == LDAP_INVALID_CREDENTIALS) {
		const char *reason = NULL;
		int ad = ad_reason(text, &reason);
		if (ad) {
			set_why(k, "LDAP: %s (%s)", reason, text);
			return ad;
		}
		if (direct)
			set_why(k, "LDAP: invalid credentials (unknown user or wrong password)");
		else
			set_why(k, "LDAP: wrong password");
		return -EACCES;
	}
	set_why(k, "LDAP user bind failed: %s%s%s", ldap_err2string(err), *text ? ": " : "", text);
	return err == LDAP_UNWILLING_TO_PERFORM || err == LDAP_INAPPROPRIATE_AUTH ? -EPERM : -EIO;
}

/* ---- groups ---- */

static void free_keys(struct pg_ldap_call *k)
{
	if (!k->keys)
		return;
	for (size_t i = 0; i < k->c->group_map_count; i++)
		ldap_memfree(k->keys[i]);
	free(k->keys);
	k->keys = NULL;
}

static int load_keys(struct pg_ldap_call *k)
{
	const struct pg_ldap_config *c = k->c;
	if (!c->group_map_count)
		return 0;
	k->keys = calloc(c->group_map_count, sizeof(*k->keys));
	if (!k->keys)
		return -ENOMEM;
	for (size_t i = 0; i < c->group_map_count; i++) {
		char key[PG_LDAP_MAX_DN + 1];
		const char *eq = strrchr(c->group_map[i], '=');
		size_t klen = (size_t)(eq - c->group_map[i]);
		memcpy(key, c->group_map[i], klen);
		key[klen] = '\0';
		if (!strchr(key, '='))
			continue; /* a CN */
		if (ldap_dn_normalize(key, LDAP_DN_FORMAT_LDAP, &k->keys[i],
				      LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS) {
			set_why(k, "LDAP: group_map: \"%.80s\" is not a valid DN", key);
			return -EINVAL;
		}
	}
	return 0;
}

/* The value of the group's leading cn= RDN, when it has one. */
static bool leading_cn(const char *dn, const char *cn, size_t cnlen)
{
	LDAPDN parsed = NULL;
	bool match = false;
	if (ldap_str2dn(dn, &parsed, LDAP_DN_FORMAT_LDAP) != LDAP_SUCCESS || !parsed)
		return false;
	LDAPRDN rdn = parsed[0];
	if (rdn && rdn[0] && !rdn[1]) {
		LDAPAVA *ava = rdn[0];
		match = ava->la_attr.bv_len == 2 && !strncasecmp(ava->la_attr.bv_val, "cn", 2) &&
			ava->la_value.bv_len == cnlen &&
			!strncasecmp(ava->la_value.bv_val, cn, cnlen);
	}
	ldap_dnfree(parsed);
	return match;
}

/* One group DN from the user entry or the group search. */
static int add_group(struct pg_ldap_call *k, const char *dn, size_t len)
{
	const struct pg_ldap_config *c = k->c;
	if (++k->values > PG_LDAP_MAX_GROUP_VALUES) {
		set_why(k, "LDAP: user is in more than %d groups", PG_LDAP_MAX_GROUP_VALUES);
		return -E2BIG;
	}
	if (len == 0 || len > PG_LDAP_MAX_DN || memchr(dn, '\0', len))
		return 0; /* no group DN, no match */
	char *norm = NULL;
	if (ldap_dn_normalize(dn, LDAP_DN_FORMAT_LDAP, &norm, LDAP_DN_FORMAT_LDAPV3) !=
	    LDAP_SUCCESS)
		return 0;
	for (size_t i = 0; i < c->group_map_count; i++) {
		if (k->hit[i])
			continue;
		if (k->keys[i]) {
			k->hit[i] = !strcasecmp(k->keys[i], norm);
		} else {
			const char *e = c->group_map[i];
			k->hit[i] = leading_cn(norm, e, (size_t)(strrchr(e, '=') - e));
		}
	}
	ldap_memfree(norm);
	return 0;
}

/* Runs a subtree search and hands each entry to fn; at most max entries. */
static int search(struct pg_ldap_call *k, const char *base, const char *filter, char **attrs,
		  int max, const char *during,
		  int (*fn)(struct pg_ldap_call *k, LDAPMessage *e, int n))
{
	long ms = remaining_ms(k);
	if (ms <= 0)
		return transport_error(k, LDAP_TIMEOUT, during);
	struct timeval tv = ms_tv(ms);
	int msgid, n = 0, rc;
	rc = ldap_search_ext(k->ld, base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL,
			     tv.tv_sec ? &tv : NULL, max + 1, &msgid);
	if (rc != LDAP_SUCCESS)
		return transport_error(k, rc, during);
	for (;;) {
		LDAPMessage *res = NULL;
		rc = wait_result(k, msgid, LDAP_MSG_ONE, &res, during);
		if (rc)
			return rc;
		int type = ldap_msgtype(res);
		if (type == LDAP_RES_SEARCH_ENTRY) {
			if (++n > max) {
				ldap_msgfree(res);
				ldap_abandon_ext(k->ld, msgid, NULL, NULL);
				return fn(k, NULL, n);
			}
			rc = fn(k, ldap_first_entry(k->ld, res), n);
			ldap_msgfree(res);
			if (rc) {
				ldap_abandon_ext(k->ld, msgid, NULL, NULL);
				return rc;
			}
		} else if (type == LDAP_RES_SEARCH_RESULT) {
			int err = LDAP_OTHER;
			char *diag = NULL;
			rc = ldap_parse_result(k->ld, res, &err, NULL, &diag, NULL, NULL, 1);
			char text[200] = "";
			clean_text(diag, text, sizeof(text));
			ldap_memfree(diag);
			if (rc != LDAP_SUCCESS)
				return transport_error(k, rc, during);
			if (err == LDAP_SIZELIMIT_EXCEEDED)
				return fn(k, NULL, max + 1);
			if (err != LDAP_SUCCESS && err != LDAP_NO_SUCH_OBJECT) {
				set_why(k, "LDAP %s failed: %s%s%s", during, ldap_err2string(err),
					*text ? ": " : "", text);
				return err == LDAP_TIMELIMIT_EXCEEDED ? -ETIMEDOUT : -EIO;
			}
			return 0;
		} else {
			ldap_msgfree(res); /* references (AD's continuation referrals) */
		}
	}
}

static int read_group_attr(struct pg_ldap_call *k, LDAPMessage *e)
{
	if (!k->c->group_attr)
		return 0;
	struct berval **vals = ldap_get_values_len(k->ld, e, k->c->group_attr);
	int rc = 0;
	for (size_t i = 0; vals && vals[i] && !rc; i++) {
		char dn[PG_LDAP_MAX_DN + 1];
		if (vals[i]->bv_len > PG_LDAP_MAX_DN) {
			rc = add_group(k, "", 0);
			continue;
		}
		memcpy(dn, vals[i]->bv_val, vals[i]->bv_len);
		dn[vals[i]->bv_len] = '\0';
		rc = add_group(k, dn, vals[i]->bv_len);
	}
	ldap_value_free_len(vals);
	return rc;
}

static int on_user(struct pg_ldap_call *k, LDAPMessage *e, int n)
{
	if (n > 1) {
		set_why(k, "LDAP: user_filter matches more than one entry");
		return -ENOTUNIQ;
	}
	char *dn = ldap_get_dn(k->ld, e);
	if (!dn || strlen(dn) > PG_LDAP_MAX_DN || !*dn) {
		ldap_memfree(dn);
		set_why(k, "LDAP: user entry without a usable DN");
		return -EIO;
	}
	strcpy(k->user_dn, dn);
	ldap_memfree(dn);
	k->have_dn = true;
	/* Group values are kept for after the password check; see authenticate. */
	return read_group_attr(k, e);
}

static int on_group(struct pg_ldap_call *k, LDAPMessage *e, int n)
{
	if (n > PG_LDAP_MAX_GROUP_VALUES) {
		set_why(k, "LDAP: group search finds more than %d groups",
			PG_LDAP_MAX_GROUP_VALUES);
		return -E2BIG;
	}
	char *dn = ldap_get_dn(k->ld, e);
	if (!dn)
		return 0;
	int rc = add_group(k, dn, strlen(dn));
	ldap_memfree(dn);
	return rc;
}

static int find_user(struct pg_ldap_call *k, const char *user, size_t ulen)
{
	const struct pg_ldap_config *c = k->c;
	char esc[3 * PG_LDAP_MAX_USER + 1], filter[PG_LDAP_MAX_DN + 1];
	char *attrs[] = {(char *)(c->group_attr ? c->group_attr : LDAP_NO_ATTRS), NULL};
	if (pg_ldap_escape_filter(user, ulen, esc, sizeof(esc)) < 0 ||
	    pg_ldap_expand(c->user_filter, esc, filter, sizeof(filter)) < 0) {
		set_why(k, "LDAP: user name too long for user_filter");
		return -EINVAL;
	}
	k->have_dn = false;
	int rc = search(k, c->base_dn, filter, attrs, 1, "user search", on_user);
	if (rc)
		return rc;
	if (!k->have_dn) {
		set_why(k, "LDAP: unknown user (no entry matches user_filter under base_dn)");
		return -ENOENT;
	}
	return 0;
}

static int search_groups(struct pg_ldap_call *k)
{
	const struct pg_ldap_config *c = k->c;
	char esc[3 * PG_LDAP_MAX_DN + 1], filter[2 * PG_LDAP_MAX_DN + 1];
	char *attrs[] = {LDAP_NO_ATTRS, NULL};
	if (!c->group_base_dn)
		return 0;
	if (!k->have_dn) {
		set_why(k, "LDAP: user's DN unknown, cannot search groups");
		return -EIO;
	}
	if (pg_ldap_escape_filter(k->user_dn, strlen(k->user_dn), esc, sizeof(esc)) < 0 ||
	    pg_ldap_expand(c->group_filter ? c->group_filter : PG_LDAP_DEFAULT_GROUP_FILTER, esc,
			   filter, sizeof(filter)) < 0) {
		set_why(k, "LDAP: user DN too long for group_filter");
		return -E2BIG;
	}
	return search(k, c->group_base_dn, filter, attrs, PG_LDAP_MAX_GROUP_VALUES, "group search",
		      on_group);
}

static int write_groups(struct pg_ldap_call *k, char *out, size_t size)
{
	const struct pg_ldap_config *c = k->c;
	size_t n = 0, count = 0;
	if (!out || !size)
		return 0; /* the caller does not want them */
	out[0] = '\0';
	for (size_t i = 0; i < c->group_map_count; i++) {
		if (!k->hit[i])
			continue;
		const char *g = strrchr(c->group_map[i], '=') + 1;
		size_t glen = strlen(g);
		bool dup = false;
		/* Two LDAP groups may map to one pixelgate group. */
		for (const char *p = out; *p && !dup;) {
			const char *end = strchr(p, ',');
			size_t plen = end ? (size_t)(end - p) : strlen(p);
			dup = plen == glen && !memcmp(p, g, glen);
			p = end ? end + 1 : p + plen;
		}
		if (dup)
			continue;
		if (++count > PG_LDAP_MAX_GROUPS_OUT || n + glen + 2 > size) {
			out[0] = '\0';
			set_why(k, "LDAP: too many mapped groups for the output");
			return -E2BIG;
		}
		if (n)
			out[n++] = ',';
		memcpy(out + n, g, glen);
		n += glen;
		out[n] = '\0';
	}
	return 0;
}

static int check_user(struct pg_ldap_call *k, const char *user, size_t *ulen)
{
	const char *tmpl = k->c->user_dn_template;
	*ulen = user ? strnlen(user, PG_LDAP_MAX_USER + 1) : 0;
	if (*ulen == 0 || *ulen > PG_LDAP_MAX_USER) {
		set_why(k, "LDAP: user name empty or over %d bytes", PG_LDAP_MAX_USER);
		return -EINVAL;
	}
	for (size_t i = 0; i < *ulen; i++) {
		unsigned char ch = (unsigned char)user[i];
		if (ch < 0x20 || ch == 0x7f) {
			set_why(k, "LDAP: control character in user name");
			return -EINVAL;
		}
		/* A user principal name is not a DN: nothing to escape, so refuse what could
		 * change its meaning. */
		if (tmpl && !strchr(tmpl, '=') && strchr(",+\"\\<>;=@#*()/ ", ch)) {
			set_why(k, "LDAP: character '%c' not allowed in a user principal name", ch);
			return -EINVAL;
		}
	}
	return 0;
}

int pg_ldap_authenticate(const struct pg_ldap_config *c, const char *user, const char *password,
			 size_t len, char *groups_out, size_t groups_size, char *why,
			 size_t why_size)
{
	struct pg_ldap_call k = {.c = c, .why = why, .why_size = why_size, .fd = -1};
	char err[256];
	size_t ulen;
	int rc;

	if (why && why_size)
		why[0] = '\0';
	if (groups_out && groups_size)
		groups_out[0] = '\0';
	if (pg_ldap_check_config(c, err, sizeof(err))) {
		set_why(&k, "%s", err);
		return -EINVAL;
	}
	rc = check_user(&k, user, &ulen);
	if (rc)
		return rc;
	/* A simple bind with a DN and no password is an "unauthenticated bind" that many
	 * servers answer with success: it must never reach one. */
	if (!password || len == 0) {
		set_why(&k, "LDAP: empty password refused");
		return -EINVAL;
	}
	if (len > PG_LDAP_MAX_PASSWORD || memchr(password, '\0', len)) {
		set_why(&k, "LDAP: password over %d bytes or with a NUL byte",
			PG_LDAP_MAX_PASSWORD);
		return -EINVAL;
	}
	k.timeout_ms = c->timeout_ms ? c->timeout_ms : PG_LDAP_DEFAULT_TIMEOUT_MS;
	clock_gettime(CLOCK_MONOTONIC, &k.deadline);
	k.deadline.tv_sec += k.timeout_ms / 1000;
	k.deadline.tv_nsec += (long)(k.timeout_ms % 1000) * 1000000;
	if (k.deadline.tv_nsec >= 1000000000) {
		k.deadline.tv_sec++;
		k.deadline.tv_nsec -= 1000000000;
	}
	rc = load_keys(&k);
	if (rc)
		goto out;
	rc = open_connection(&k);
	if (rc)
		goto out;

	if (c->bind_dn) {
		rc = do_bind(&k, c->bind_dn, c->bind_password, strlen(c->bind_password), false,
			     false);
		if (!rc)
			rc = find_user(&k, user, ulen);
		if (rc)
			goto out;
		/* Groups read from the entry stay unused unless the password is right. */
		rc = do_bind(&k, k.user_dn, password, len, true, false);
		if (rc)
			goto out;
		/* Group search with the service account, whose rights are known. */
		if (c->group_base_dn)
			rc = do_bind(&k, c->bind_dn, c->bind_password, strlen(c->bind_password),
				     false, false);
	} else {
		char esc[3 * PG_LDAP_MAX_USER + 1];
		const char *name = user;
		if (strchr(c->user_dn_template, '=')) {
			if (pg_ldap_escape_dn(user, ulen, esc, sizeof(esc)) < 0) {
				rc = -EINVAL;
				set_why(&k, "LDAP: user name too long");
				goto out;
			}
			name = esc;
		}
		if (pg_ldap_expand(c->user_dn_template, name, k.user_dn, sizeof(k.user_dn)) < 0) {
			rc = -EINVAL;
			set_why(&k, "LDAP: user name too long for user_dn_template");
			goto out;
		}
		k.have_dn = strchr(c->user_dn_template, '=') != NULL;
		rc = do_bind(&k, k.user_dn, password, len, true, true);
		/* Bound as the user: read its own entry for its DN and groups. */
		if (!rc && c->base_dn) {
			rc = find_user(&k, user, ulen);
			if (rc == -ENOENT)
				set_why(&k, "LDAP: bind succeeded but user_filter under base_dn "
					    "finds no entry for the user");
		}
	}
	if (!rc)
		rc = search_groups(&k);
	if (!rc)
		rc = write_groups(&k, groups_out, groups_size);
out:
	if (rc && groups_out && groups_size)
		groups_out[0] = '\0';
	free_keys(&k);
	if (k.ld)
		ldap_unbind_ext_s(k.ld, NULL, NULL);
	return rc;
}
