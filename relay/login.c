/* Checking a viewer's credentials: brute-force backoff, the password (scrypt, on
 * the thread pool so a login never stalls the loop), the TOTP code typed after it,
 * and an audit record of every decision. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "auth/audit.h"
#include "auth/ldap.h"
#include "auth/lockout.h"
#include "auth/totp.h"
#include "auth/users.h"
#include "auth/vncauth.h"
#include "relay/log.h"
#include "relay/metrics.h"
#include "relay/relay.h"
#include "relay/viewer_impl.h"

struct login {
	uv_work_t work;
	struct pg_viewer *v;
	const struct pg_users *db;	   /* the users file, or NULL */
	const struct pg_ldap_config *ldap; /* set when the user is checked by LDAP */
	char groups[1024];		   /* from LDAP */
	char why[256];			   /* LDAP's precise reason */
	char user[PG_USERS_MAX_NAME + 1];
	char password[PG_USERS_MAX_PASSWORD + 1];
	size_t len;
	char code[PG_TOTP_DIGITS + 1]; /* empty: the user has no TOTP */
	bool code_missing;	       /* a TOTP user typed no code after the password */
	int rc;
};

static void login_run(uv_work_t *w)
{
	struct login *l = w->data;
	if (l->ldap)
		l->rc = pg_ldap_authenticate(l->ldap, l->user, l->password, l->len, l->groups,
					     sizeof(l->groups), l->why, sizeof(l->why));
	else if (l->db)
		l->rc = pg_users_verify_password(l->db, l->user, l->password, l->len);
	else
		l->rc = -ENOENT;
	OPENSSL_cleanse(l->password, sizeof(l->password));
}

static const char *reason_for(int rc)
{
	switch (rc) {
	case -ENOENT:
		return "unknown user";
	case -EACCES:
		return "wrong password";
	case -EPERM:
		return "user is locked";
	case -EINVAL:
		return "password too long or malformed";
	default:
		return "internal error";
	}
}

static void fail(struct pg_viewer *v, const char *user, const char *reason)
{
	struct pg_relay *relay = v->relay;
	uint64_t delay =
	    pg_lockout_record_failure(relay->lockout, user, v->addr, (uint64_t)time(NULL));
	pg_warn("viewer %llu %s: login of '%s' refused: %s", (unsigned long long)v->id, v->peer,
		user, reason);
	pg_metrics_auth_failure(relay->metrics, PG_AUTHF_CREDENTIALS);
	pg_audit(relay, "auth-failure", PG_AUDIT_S("user", user), PG_AUDIT_S("source", v->addr),
		 PG_AUDIT_S("reason", reason));
	if (delay) {
		pg_warn("viewer %llu %s: '%s' from %s must wait %llu s before the next try",
			(unsigned long long)v->id, v->peer, user, v->addr,
			(unsigned long long)delay);
		pg_audit(relay, "lockout", PG_AUDIT_S("user", user), PG_AUDIT_S("source", v->addr),
			 PG_AUDIT_U("seconds", delay));
	}
	pg_handshake_login_done(v, false);
}

static int check_totp(struct pg_relay *relay, const char *user, const char *code)
{
	uint8_t key[128];
	int n = pg_users_totp_key(relay->users, user, key, sizeof(key));
	if (n < 0)
		return n;
	const struct pg_user *u = pg_users_lookup(relay->users, user);
	uint64_t last = u ? pg_users_totp_last_step(u) : 0;
	int rc = pg_totp_verify(key, (size_t)n, code, strlen(code), (uint64_t)time(NULL), &last);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc == 0)
		pg_users_set_totp_last_step(relay->users, user, last);
	return rc;
}

/* Whether one of the user's groups is in [relay] totp_groups. */
static bool totp_required(const struct pg_relay *relay, const char *groups)
{
	if (!*relay->totp_groups)
		return false;
	if (!strcmp(relay->totp_groups, "*"))
		return true;
	for (const char *g = groups; *g;) {
		const char *end = strchr(g, ',');
		size_t len = end ? (size_t)(end - g) : strlen(g);
		if (pg_list_has(relay->totp_groups, g, len))
			return true;
		g += len + (end ? 1 : 0);
	}
	return false;
}

/* groups NULL: the user's groups in the users file, if any. */
static void succeed(struct pg_viewer *v, const char *user, const char *groups, const char *how,
		    bool second_factor)
{
	struct pg_relay *relay = v->relay;
	const struct pg_user *u = relay->users ? pg_users_lookup(relay->users, user) : NULL;
	pg_lockout_record_success(relay->lockout, user);
	snprintf(v->user, sizeof(v->user), "%s", user);
	snprintf(v->groups, sizeof(v->groups), "%s", groups ? groups : u ? pg_users_groups(u) : "");
	v->login_ms = pg_now_ms();
	v->ldap_login = !strcmp(how, "ldap");
	pg_info("viewer %llu %s: '%s' logged in (groups: %s)", (unsigned long long)v->id, v->peer,
		v->user, *v->groups ? v->groups : "none");
	pg_audit(relay, "auth-success", PG_AUDIT_S("user", v->user), PG_AUDIT_S("source", v->addr),
		 PG_AUDIT_S("groups", v->groups), PG_AUDIT_S("directory", how),
		 PG_AUDIT_B("second_factor", second_factor));
	pg_handshake_login_done(v, true);
}

/* Legacy VNC authentication: one configured user, a DES challenge. No user name
 * travels, so the name is the configured one; the backoff still applies. */
void pg_login_vncauth(struct pg_viewer *v, const uint8_t challenge[16], const uint8_t response[16])
{
	struct pg_relay *relay = v->relay;
	const char *user = relay->vnc_auth_user;
	uint64_t wait = 0;
	uint8_t want[16];
	if (pg_lockout_check(relay->lockout, user, v->addr, (uint64_t)time(NULL), &wait) < 0) {
		char reason[96];
		snprintf(reason, sizeof(reason), "too many failures; next try allowed in %llu s",
			 (unsigned long long)wait);
		pg_metrics_auth_failure(relay->metrics, PG_AUTHF_LOCKED_OUT);
		pg_audit(relay, "auth-failure", PG_AUDIT_S("user", user),
			 PG_AUDIT_S("source", v->addr), PG_AUDIT_S("reason", reason));
		pg_handshake_login_refused(v, reason);
		return;
	}
	bool ok = pg_vncauth_response(relay->vnc_auth_password, challenge, want) == 0 &&
		  CRYPTO_memcmp(want, response, 16) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	if (!ok)
		fail(v, user, "wrong VNC password (legacy VNC authentication)");
	else
		succeed(v, user, NULL, "vnc-password", false);
}

static const char *user_groups(const struct login *l)
{
	if (l->ldap)
		return l->groups;
	const struct pg_user *u = l->db ? pg_users_lookup(l->db, l->user) : NULL;
	return u ? pg_users_groups(u) : "";
}

static void login_done(uv_work_t *w, int status)
{
	struct login *l = w->data;
	struct pg_viewer *v = l->v;
	struct pg_relay *relay = v->relay;
	if (!v->closing) {
		if (status < 0 || l->rc < 0) {
			fail(v, l->user,
			     status < 0		  ? "login cancelled"
			     : l->ldap && *l->why ? l->why
						  : reason_for(l->rc));
		} else if (!*l->code && !l->code_missing && totp_required(relay, user_groups(l))) {
			fail(v, l->user, "TOTP is required for the user's group but not enrolled");
		} else if (l->code_missing) {
			fail(v, l->user, "TOTP code missing after the password");
		} else if (*l->code && check_totp(relay, l->user, l->code) < 0) {
			fail(v, l->user, "wrong or reused TOTP code");
		} else {
			succeed(v, l->user, l->ldap ? l->groups : NULL,
				l->ldap ? "ldap" : "users-file", *l->code != '\0');
		}
	}
	OPENSSL_cleanse(l, sizeof(*l));
	free(l);
	relay->login_jobs--;
	pg_viewer_unref(v);
}

void pg_login_start(struct pg_viewer *v, const char *user, const char *password, size_t len)
{
	struct pg_relay *relay = v->relay;
	uint64_t wait = 0;
	if (pg_lockout_check(relay->lockout, user, v->addr, (uint64_t)time(NULL), &wait) < 0) {
		char reason[96];
		/* Refused without checking, and not counted: the backoff is what limits
		 * guessing, and this attempt made no guess. */
		snprintf(reason, sizeof(reason), "too many failures; next try allowed in %llu s",
			 (unsigned long long)wait);
		pg_warn("viewer %llu %s: login of '%s' refused: %s", (unsigned long long)v->id,
			v->peer, user, reason);
		pg_metrics_auth_failure(relay->metrics, PG_AUTHF_LOCKED_OUT);
		pg_audit(relay, "auth-failure", PG_AUDIT_S("user", user),
			 PG_AUDIT_S("source", v->addr), PG_AUDIT_S("reason", reason));
		pg_handshake_login_refused(v, reason);
		return;
	}
	struct login *l = calloc(1, sizeof(*l));
	if (!l || len > PG_USERS_MAX_PASSWORD) {
		free(l);
		fail(v, user, l ? "password too long" : "out of memory");
		return;
	}
	l->v = v;
	l->db = relay->users;
	l->work.data = l;
	snprintf(l->user, sizeof(l->user), "%s", user);
	const struct pg_user *u = relay->users ? pg_users_lookup(relay->users, user) : NULL;
	/* The users file first; a name it does not know goes to the directory. */
	if (!u && relay->ldap)
		l->ldap = relay->ldap;
	if (u && pg_users_has_totp(u)) {
		/* One password box: the code is typed right after the password. */
		size_t pw_len;
		const char *code;
		if (pg_auth_split_password_code(password, len, &pw_len, &code) < 0) {
			/* Still check the password, so a missing code costs the same
			 * time as a wrong one. */
			l->code_missing = true;
		} else {
			memcpy(l->code, code, PG_TOTP_DIGITS);
			len = pw_len;
		}
	}
	memcpy(l->password, password, len);
	l->len = len;
	pg_viewer_ref(v);
	relay->login_jobs++;
	if (uv_queue_work(relay->loop, &l->work, login_run, login_done) < 0) {
		OPENSSL_cleanse(l, sizeof(*l));
		free(l);
		relay->login_jobs--;
		pg_viewer_unref(v);
		fail(v, user, "cannot queue the login");
	}
}
