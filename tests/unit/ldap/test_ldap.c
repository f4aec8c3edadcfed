/* pg_ldap against a real slapd on 127.0.0.1 (tests/common/ldap_util.c), plus the escaping and
 * config checks that need no server. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/ldap.h"
#include "ldap_util.h"

static struct lu_slapd srv;

static void start(void)
{
	lu_slapd_start(&srv);
}

static void stop(void)
{
	lu_slapd_stop(&srv);
}

static const char *const map[] = {
    "cn=staff,ou=groups,dc=example,dc=org=staff",     /* by DN */
    "CN=IT, OU=Groups, DC=example, DC=org=it-admins", /* DN, other spelling */
    "visitors=guests",				      /* by CN */
    "cn=nobody,ou=groups,dc=example,dc=org=never",
};

/* Search-then-bind over LDAPS with the service account, groups from memberOf. */
static struct pg_ldap_config search_cfg(void)
{
	struct pg_ldap_config c = {
	    .uri = srv.ldaps_uri,
	    .ca_file = srv.ca,
	    .bind_dn = LU_SVC_DN,
	    .bind_password = LU_SVC_PW,
	    .base_dn = LU_BASE,
	    .user_filter = "(&(objectClass=person)(uid=%s))",
	    .group_attr = "memberOf",
	    .group_map = map,
	    .group_map_count = sizeof(map) / sizeof(map[0]),
	    .timeout_ms = 3000,
	};
	return c;
}

static int auth(const struct pg_ldap_config *c, const char *user, const char *pw, char *groups,
		char *why)
{
	return pg_ldap_authenticate(c, user, pw, pw ? strlen(pw) : 0, groups, 256, why, 256);
}

/* ---- no server ---- */

Test(ldap_escape, filter)
{
	char out[64];
	cr_assert_eq(pg_ldap_escape_filter("*)(uid=*", 8, out, sizeof(out)), 16);
	cr_assert_str_eq(out, "\\2a\\29\\28uid=\\2a");
	cr_assert_eq(pg_ldap_escape_filter("a\\b\0c", 5, out, sizeof(out)), 9);
	cr_assert_str_eq(out, "a\\5cb\\00c");
	cr_assert_eq(pg_ldap_escape_filter("田中", strlen("田中"), out, sizeof(out)), 6);
	cr_assert_eq(pg_ldap_escape_filter("****", 4, out, 12), -E2BIG);
	cr_assert_eq(pg_ldap_escape_filter("****", 4, out, 13), 12);
}

Test(ldap_escape, dn)
{
	char out[64];
	cr_assert_gt(pg_ldap_escape_dn("a,ou=x+y", 8, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "a\\,ou\\=x\\+y");
	cr_assert_gt(pg_ldap_escape_dn("#a b ", 5, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "\\#a b\\ ");
	cr_assert_gt(pg_ldap_escape_dn(" \"<>;\\", 6, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "\\ \\\"\\<\\>\\;\\\\");
	cr_assert_eq(pg_ldap_escape_dn("a\0b", 3, out, sizeof(out)), 5);
	cr_assert_str_eq(out, "a\\00b");
	cr_assert_eq(pg_ldap_escape_dn(",,", 2, out, 4), -E2BIG);
}

Test(ldap_config, checks)
{
	char err[256];
	struct pg_ldap_config ok = {.uri = "ldaps://ldap.example.org",
				    .ca_file = "ca.pem",
				    .user_dn_template = "uid=%s,ou=people,dc=example,dc=org"};
	cr_assert_eq(pg_ldap_check_config(&ok, err, sizeof(err)), 0, "%s", err);

	struct pg_ldap_config c = ok;
	c.uri = "ldap://ldap.example.org";
	cr_assert_eq(pg_ldap_check_config(&c, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "starttls"), "%s", err);
	c.allow_plain = true; /* not a loopback host */
	cr_assert_eq(pg_ldap_check_config(&c, err, sizeof(err)), -EINVAL);
	c.uri = "ldap://127.0.0.1:389 ldap://[::1]";
	cr_assert_eq(pg_ldap_check_config(&c, err, sizeof(err)), 0, "%s", err);
	c.uri = "ldap://127.0.0.1 ldap://10.0.0.1";
	cr_assert_eq(pg_ldap_check_config(&c, err, sizeof(err)), -EINVAL);
	c = ok;
	c.uri = "ldap://ldap.example.org";
	c.starttls = true;
	cr_assert_eq(pg_ldap_check_config(&c, err, sizeof(err)), 0, "%s", err);
	c.ca_file = NULL;
	cr_assert_eq(pg_ldap_check_config(&c, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "ca_file"), "%s", err);

	c = ok;
	c.bind_dn = "cn=svc,dc=example,dc=org";
	cr_assert_eq(pg_ldap_check_config(&c, err, sizeof(err)), -EINVAL); /* both modes */
	c.user_dn_template = NULL;
	c.bind_password = "";
	c.base_dn = "dc=example,dc=org";
	c.user_filter = "(uid=%s)";
	cr_assert_eq(pg_ldap_check_config(&c, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "bind_password"), "%s", err);
	c.bind_password = "x";
	cr_assert_eq(pg_ldap_check_config(&c, err, sizeof(err)), 0, "%s", err);
	c.user_filter = "uid=%s";
	cr_assert_eq(pg_ldap_check_config(&c, err, sizeof(err)), -EINVAL);
	c.user_filter = "(uid=%d)";
	cr_assert_eq(pg_ldap_check_config(&c, err, sizeof(err)), -EINVAL);

	c = ok;
	c.user_dn_template = "%s";
	cr_assert_eq(pg_ldap_check_config(&c, err, sizeof(err)), -EINVAL);
	c.user_dn_template = "%s@example.local";
	cr_assert_eq(pg_ldap_check_config(&c, err, sizeof(err)), 0, "%s", err);

	const char *bad_map[] = {"cn=staff,dc=example,dc=org=sta ff"};
	c.group_map = bad_map;
	c.group_map_count = 1;
	cr_assert_eq(pg_ldap_check_config(&c, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "group_map"), "%s", err);
	const char *bad_map2[] = {"staff"};
	c.group_map = bad_map2;
	cr_assert_eq(pg_ldap_check_config(&c, err, sizeof(err)), -EINVAL);
}

Test(ldap_config, refuses_before_any_connection)
{
	/* Nothing listens on port 1: these must fail on input alone, not "unreachable". */
	struct pg_ldap_config c = {.uri = "ldap://127.0.0.1:1",
				   .allow_plain = true,
				   .user_dn_template = "uid=%s,ou=people,dc=example,dc=org"};
	char groups[256], why[256];
	cr_assert_eq(auth(&c, "alice", "", groups, why), -EINVAL);
	cr_assert(strstr(why, "empty password"), "%s", why);
	cr_assert_eq(pg_ldap_authenticate(&c, "alice", NULL, 0, groups, 256, why, 256), -EINVAL);
	cr_assert_eq(pg_ldap_authenticate(&c, "alice", "a\0b", 3, groups, 256, why, 256), -EINVAL);
	cr_assert_eq(auth(&c, "", "pw", groups, why), -EINVAL);
	cr_assert_eq(auth(&c, "al\nice", "pw", groups, why), -EINVAL);
	c.user_dn_template = "%s@example.local";
	cr_assert_eq(auth(&c, "alice@evil.example", "pw", groups, why), -EINVAL);
	cr_assert_eq(auth(&c, "a,cn=x", "pw", groups, why), -EINVAL);
}

/* ---- against slapd ---- */

TestSuite(ldap, .init = start, .fini = stop, .timeout = 30);

Test(ldap, search_bind_ldaps_memberof)
{
	struct pg_ldap_config c = search_cfg();
	char groups[256], why[256];
	int rc = auth(&c, "alice", LU_ALICE_PW, groups, why);
	cr_assert_eq(rc, 0, "%d %s", rc, why);
	/* staff by DN, it by a differently spelled DN; map order, no duplicates. */
	cr_assert_str_eq(groups, "staff,it-admins");

	rc = auth(&c, "carol", LU_CAROL_PW, groups, why);
	cr_assert_eq(rc, 0, "%d %s", rc, why);
	cr_assert_str_eq(groups, "");
}

Test(ldap, group_search_unique_member)
{
	/* bob's group is a groupOfUniqueNames, which memberof ignores: only the group
	 * search finds it, and it is mapped by CN. */
	struct pg_ldap_config c = search_cfg();
	char groups[256], why[256];
	c.group_attr = NULL;
	c.group_base_dn = LU_GROUPS;
	int rc = auth(&c, "bob", LU_BOB_PW, groups, why);
	cr_assert_eq(rc, 0, "%d %s", rc, why);
	cr_assert_str_eq(groups, "guests");
	rc = auth(&c, "alice", LU_ALICE_PW, groups, why);
	cr_assert_eq(rc, 0, "%d %s", rc, why);
	cr_assert_str_eq(groups, "staff,it-admins");
	/* Both sources together. */
	c.group_attr = "memberOf";
	rc = auth(&c, "alice", LU_ALICE_PW, groups, why);
	cr_assert_eq(rc, 0, "%d %s", rc, why);
	cr_assert_str_eq(groups, "staff,it-admins");
}

Test(ldap, wrong_password_unknown_user_empty_password)
{
	struct pg_ldap_config c = search_cfg();
	char groups[256], why[256];
	strcpy(groups, "junk");
	cr_assert_eq(auth(&c, "alice", "not-her-password", groups, why), -EACCES);
	cr_assert(strstr(why, "wrong password"), "%s", why);
	cr_assert_str_eq(groups, "");
	cr_assert_eq(auth(&c, "alice", LU_BOB_PW, groups, why), -EACCES);
	cr_assert_eq(auth(&c, "mallory", "whatever", groups, why), -ENOENT);
	cr_assert(strstr(why, "unknown user"), "%s", why);
	cr_assert_eq(auth(&c, "alice", "", groups, why), -EINVAL);
	cr_assert(strstr(why, "empty password"), "%s", why);
}

Test(ldap, filter_injection)
{
	struct pg_ldap_config c = search_cfg();
	char groups[256], why[256];
	/* Unescaped, each of these filters would match alice (or everyone). */
	const char *names[] = {"*)(uid=*", "*", "ali*", "alice)(|(uid=*", "*)(objectClass=*"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int rc = auth(&c, names[i], LU_ALICE_PW, groups, why);
		cr_assert_eq(rc, -ENOENT, "%s: %d %s", names[i], rc, why);
		cr_assert_str_eq(groups, "");
	}
}

Test(ldap, dn_injection_direct_bind)
{
	struct pg_ldap_config c = {
	    .uri = srv.ldap_uri, .allow_plain = true, .user_dn_template = "uid=%s," LU_PEOPLE};
	char groups[256], why[256];
	int rc = auth(&c, "alice", LU_ALICE_PW, groups, why);
	cr_assert_eq(rc, 0, "%d %s", rc, why);
	/* Unescaped, this would be the DN of the service account. */
	c.user_dn_template = "cn=%s,ou=services,dc=example,dc=org";
	rc = auth(&c, "x,cn=pixelgate", LU_SVC_PW, groups, why);
	cr_assert_eq(rc, -EACCES, "%d %s", rc, why);
	rc = auth(&c, "pixelgate", LU_SVC_PW, groups, why);
	cr_assert_eq(rc, 0, "%d %s", rc, why);
}

Test(ldap, direct_bind_starttls)
{
	struct pg_ldap_config c = {
	    .uri = srv.ldap_uri,
	    .starttls = true,
	    .ca_file = srv.ca,
	    .user_dn_template = "uid=%s," LU_PEOPLE,
	    .base_dn = LU_BASE,
	    .user_filter = "(uid=%s)",
	    .group_attr = "memberOf",
	    .group_map = map,
	    .group_map_count = sizeof(map) / sizeof(map[0]),
	    .timeout_ms = 3000,
	};
	char groups[256], why[256];
	int rc = auth(&c, "alice", LU_ALICE_PW, groups, why);
	cr_assert_eq(rc, 0, "%d %s", rc, why);
	cr_assert_str_eq(groups, "staff,it-admins");
	/* A direct bind cannot tell an unknown user from a wrong password. */
	rc = auth(&c, "alice", "nope", groups, why);
	cr_assert_eq(rc, -EACCES, "%d %s", rc, why);
	cr_assert(strstr(why, "unknown user or wrong password"), "%s", why);
	rc = auth(&c, "mallory", "nope", groups, why);
	cr_assert_eq(rc, -EACCES, "%d %s", rc, why);

	c.ca_file = srv.wrong_ca;
	rc = auth(&c, "alice", LU_ALICE_PW, groups, why);
	cr_assert_eq(rc, -EPROTO, "%d %s", rc, why);
	cr_assert(strstr(why, "TLS"), "%s", why);
}

Test(ldap, ldaps_wrong_ca_refused)
{
	struct pg_ldap_config c = search_cfg();
	char groups[256], why[256];
	c.ca_file = srv.wrong_ca;
	long t0 = lu_now_ms();
	int rc = auth(&c, "alice", LU_ALICE_PW, groups, why);
	cr_assert_eq(rc, -EPROTO, "%d %s", rc, why);
	cr_assert(strstr(why, "TLS"), "%s", why);
	cr_assert_lt(lu_now_ms() - t0, 2000);
	cr_assert_str_eq(groups, "");
}

Test(ldap, service_account_refused)
{
	struct pg_ldap_config c = search_cfg();
	char groups[256], why[256];
	c.bind_password = "not-the-service-password";
	int rc = auth(&c, "alice", LU_ALICE_PW, groups, why);
	cr_assert_eq(rc, -EIO, "%d %s", rc, why);
	cr_assert(strstr(why, "service account"), "%s", why);
}

struct worker {
	pthread_t t;
	int rc;
	char groups[256], why[256];
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct pg_ldap_config c = search_cfg();
	w->rc = auth(&c, "alice", LU_ALICE_PW, w->groups, w->why);
	return NULL;
}

Test(ldap, concurrent_calls)
{
	struct worker w[8];
	for (int i = 0; i < 8; i++)
		cr_assert_eq(pthread_create(&w[i].t, NULL, work, &w[i]), 0);
	for (int i = 0; i < 8; i++) {
		pthread_join(w[i].t, NULL);
		cr_assert_eq(w[i].rc, 0, "%d %s", w[i].rc, w[i].why);
		cr_assert_str_eq(w[i].groups, "staff,it-admins");
	}
}

/* ---- unreachable and silent servers (no slapd, only a CA file) ---- */

static void pki(void)
{
	lu_pki(&srv);
}

TestSuite(ldap_net, .init = pki, .fini = stop, .timeout = 30);

Test(ldap_net, server_down_unreachable)
{
	char uri[64], groups[256], why[256];
	snprintf(uri, sizeof(uri), "ldap://127.0.0.1:%d", lu_free_port());
	struct pg_ldap_config c = {.uri = uri,
				   .allow_plain = true,
				   .user_dn_template = "uid=%s,dc=example,dc=org",
				   .timeout_ms = 1000};
	long t0 = lu_now_ms();
	int rc = auth(&c, "alice", "pw", groups, why);
	cr_assert_eq(rc, -EHOSTUNREACH, "%d %s", rc, why);
	cr_assert(strstr(why, "unreachable"), "%s", why);
	cr_assert_lt(lu_now_ms() - t0, 1000);
}

static void silent(const char *scheme, bool starttls)
{
	int port, fd = lu_silent_listener(&port);
	char uri[64], groups[256], why[256];
	snprintf(uri, sizeof(uri), "%s://127.0.0.1:%d", scheme, port);
	struct pg_ldap_config c = {.uri = uri,
				   .allow_plain = true,
				   .starttls = starttls,
				   .ca_file = srv.ca,
				   .user_dn_template = "uid=%s,dc=example,dc=org",
				   .timeout_ms = 700};
	if (!starttls && !strcmp(scheme, "ldap"))
		c.ca_file = NULL;
	long t0 = lu_now_ms();
	int rc = auth(&c, "alice", "pw", groups, why);
	long took = lu_now_ms() - t0;
	cr_assert_eq(rc, -ETIMEDOUT, "%s: %d %s", uri, rc, why);
	cr_assert(strstr(why, "timeout"), "%s", why);
	cr_assert_geq(took, 600, "%s took %ld ms", uri, took);
	cr_assert_leq(took, 1200, "%s took %ld ms", uri, took);
	close(fd);
}

Test(ldap_net, silent_server_plain_times_out)
{
	silent("ldap", false);
}

Test(ldap_net, silent_server_starttls_times_out)
{
	silent("ldap", true);
}

Test(ldap_net, silent_server_ldaps_times_out)
{
	silent("ldaps", false);
}

/* A server that accepts StartTLS, then says nothing: the TLS handshake itself must
 * end at the deadline (libldap 2.5 with GnuTLS would spin there forever). */
static void *starttls_then_silent(void *arg)
{
	int lfd = *(int *)arg, fd = accept(lfd, NULL, NULL);
	unsigned char req[256];
	/* ExtendedResponse, messageID 1, success, empty matchedDN and message. */
	static const unsigned char ok[] = {0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07,
					   0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00};
	if (fd < 0)
		return NULL;
	if (read(fd, req, sizeof(req)) > 0 && write(fd, ok, sizeof(ok)) == sizeof(ok))
		while (read(fd, req, sizeof(req)) > 0)
			; /* the ClientHello, unanswered, until the client gives up */
	close(fd);
	return NULL;
}

Test(ldap_net, starttls_accepted_then_silent_times_out)
{
	int port, fd = lu_silent_listener(&port);
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, starttls_then_silent, &fd), 0);
	char uri[64], groups[256], why[256];
	snprintf(uri, sizeof(uri), "ldap://127.0.0.1:%d", port);
	struct pg_ldap_config c = {.uri = uri,
				   .starttls = true,
				   .ca_file = srv.ca,
				   .user_dn_template = "uid=%s,dc=example,dc=org",
				   .timeout_ms = 700};
	long t0 = lu_now_ms();
	int rc = auth(&c, "alice", "pw", groups, why);
	long took = lu_now_ms() - t0;
	cr_assert_eq(rc, -ETIMEDOUT, "%d %s", rc, why);
	cr_assert_geq(took, 600, "took %ld ms", took);
	cr_assert_leq(took, 1200, "took %ld ms", took);
	pthread_join(t, NULL);
	close(fd);
}

/* A fake Active Directory: answers each bind with invalidCredentials and AD's
 * diagnostic message, whose "data" sub-code says why. */
struct fake_ad {
	int fd;
	const char *const *diags;
	size_t count;
};

static void *fake_ad_serve(void *arg)
{
	struct fake_ad *f = arg;
	for (size_t i = 0; i < f->count; i++) {
		int fd = accept(f->fd, NULL, NULL);
		unsigned char buf[512], resp[256];
		size_t d = strlen(f->diags[i]);
		if (fd < 0)
			return NULL;
		/* LDAPMessage { messageID 1, BindResponse { 49, "", diag } } */
		unsigned char head[] = {0x30,
					(unsigned char)(12 + d),
					0x02,
					0x01,
					0x01,
					0x61,
					(unsigned char)(7 + d),
					0x0a,
					0x01,
					0x31,
					0x04,
					0x00,
					0x04,
					(unsigned char)d};
		memcpy(resp, head, sizeof(head));
		memcpy(resp + sizeof(head), f->diags[i], d);
		if (read(fd, buf, sizeof(buf)) > 0 &&
		    write(fd, resp, sizeof(head) + d) == (ssize_t)(sizeof(head) + d))
			while (read(fd, buf, sizeof(buf)) > 0)
				;
		close(fd);
	}
	return NULL;
}

Test(ldap_net, active_directory_reasons)
{
	static const char *const diags[] = {
	    "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, "
	    "v4563",
	    "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 525, "
	    "v4563",
	    "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 775, "
	    "v4563",
	    "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 533, "
	    "v4563",
	};
	static const int want[] = {-EACCES, -ENOENT, -EPERM, -EPERM};
	static const char *const reason[] = {"wrong password", "unknown user", "locked out",
					     "disabled"};
	int port;
	struct fake_ad f = {.fd = lu_silent_listener(&port), .diags = diags, .count = 4};
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, fake_ad_serve, &f), 0);
	char uri[64], groups[256], why[256];
	snprintf(uri, sizeof(uri), "ldap://127.0.0.1:%d", port);
	struct pg_ldap_config c = {.uri = uri,
				   .allow_plain = true,
				   .user_dn_template = "%s@example.local",
				   .timeout_ms = 2000};
	for (size_t i = 0; i < 4; i++) {
		int rc = auth(&c, "taro.yamada", "pw", groups, why);
		cr_assert_eq(rc, want[i], "%zu: %d %s", i, rc, why);
		cr_assert(strstr(why, reason[i]), "%zu: %s", i, why);
	}
	pthread_join(t, NULL);
	close(f.fd);
}
