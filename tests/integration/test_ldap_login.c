/* LDAP logins through the relay, end to end: a real slapd on 127.0.0.1 over LDAPS
 * (tests/common/ldap_util.c: a test CA, users alice, bob and carol, groups with the
 * memberof overlay), the relay with security = vencrypt, its own throwaway self-signed
 * certificate, [ldap] search-then-bind with a service account, groups from memberOf
 * mapped by group_map, and [routes] group.NAME lines sending each group to its own
 * libvncserver host. Viewers are libvncclient with VeNCrypt X509Plain.
 *
 * Proves: the directory's password decides (right, wrong, unknown user), its groups
 * pick the browser host (alice -> staff -> host A, bob -> sales -> host B, carol with
 * no mapped group -> the default host), the audit trail says which directory checked
 * the user and with which groups and verifies, and a silent or stopped directory
 * refuses logins within [ldap] timeout while the relay keeps serving users-file
 * logins. Loopback only; every wait is bounded. */
#include <criterion/criterion.h>

#include <rfb/rfbclient.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth_util.h"
#include "harness_util.h"
#include "ldap_util.h"

#define W 96
#define H 64

#define SEED_A	     11 /* host A: group staff */
#define SEED_B	     22 /* host B: group sales */
#define SEED_DEFAULT 33 /* [upstream] address: users without a route */

/* [ldap] timeout; slapd on loopback answers in a few milliseconds. */
#define LDAP_TIMEOUT_MS 1500
#define WAIT_MS		10000

/* A users-file user, next to the directory: names the file knows never go to LDAP. */
#define PW_DAVE "dave's local password"

static struct lu_slapd slapd;
static struct au_env env;
static struct it_host *host_a, *host_b, *host_default;
static struct it_relay *relay;

static void teardown(void)
{
	relay_stop(relay);
	relay = NULL;
	host_free(host_a);
	host_free(host_b);
	host_free(host_default);
	host_a = host_b = host_default = NULL;
	if (slapd.pid > 0)
		kill(slapd.pid, SIGCONT); /* stopped by a test, so SIGTERM reaches it */
	lu_slapd_stop(&slapd);
	au_env_free(&env);
}

static struct it_host *painted_host(unsigned seed)
{
	struct it_host *h = host_start(W, H, NULL);

	cr_assert_not_null(h, "cannot start a libvncserver host");
	host_fill_pattern(h, seed);
	return h;
}

static void setup(void)
{
	char path[160], line[512], hash[256], conf[4096];

	if (it_direct_mode())
		cr_skip_test("logins are the relay's: nothing to test with PG_IT_DIRECT=1");
	lu_slapd_start(&slapd);
	/* The relay's certificate: openssl CLI, key mode 0600 (auth_util.c). */
	cr_assert(au_env_init(&env, true), "cannot make the scratch folder or certificate");
	host_a = painted_host(SEED_A);
	host_b = painted_host(SEED_B);
	host_default = painted_host(SEED_DEFAULT);

	snprintf(path, sizeof(path), "%s/ldap-bind-password", env.dir);
	cr_assert(au_write_file(path, 0600, LU_SVC_PW "\n"));
	cr_assert(au_hash(&env, PW_DAVE, hash, sizeof(hash)), "pixelgate-passwd failed");
	snprintf(line, sizeof(line), "dave::%s::\n", hash);
	cr_assert(au_write_file(env.users, 0600, line));

	snprintf(conf, sizeof(conf),
		 "[relay]\n"
		 "security = vencrypt\n"
		 "tls_cert = %s\n"
		 "tls_key = %s\n"
		 "users_file = %s\n"
		 "audit_file = %s\n"
		 "\n[ldap]\n"
		 "uri = %s\n"
		 "ca_file = %s\n"
		 "bind_dn = " LU_SVC_DN "\n"
		 "bind_password_file = %s\n"
		 "base_dn = " LU_PEOPLE "\n"
		 "user_filter = (&(objectClass=inetOrgPerson)(uid=%%s))\n"
		 "group_attr = memberOf\n"
		 "group_map = cn=staff," LU_GROUPS "=staff\n"
		 "group_map = sales=sales\n"
		 "timeout = %d\n"
		 "\n[routes]\n"
		 "group.staff = 127.0.0.1:%d\n"
		 "group.sales = 127.0.0.1:%d\n",
		 env.cert, env.key, env.users, env.audit, slapd.ldaps_uri, slapd.ca, path,
		 LDAP_TIMEOUT_MS, host_port(host_a), host_port(host_b));
	cr_assert(au_write_file(env.config, 0600, conf));
	relay = au_relay_start(&env, host_port(host_default));
	cr_assert_not_null(relay, "the relay did not start");
}

TestSuite(ldap_login, .init = setup, .fini = teardown, .timeout = 60);

/* Log in with X509Plain, trusting the relay's own certificate; NULL when refused. */
static struct au_viewer *login(const char *user, const char *password, bool *saw_init)
{
	struct au_login l = {
	    .user = user,
	    .password = password,
	    .ca_file = env.cert,
	    .subtype = rfbVeNCryptX509Plain,
	};

	return au_viewer_start(relay_port(relay), &l, saw_init);
}

/* user logs in, sees exactly host's picture and is audited as checked by LDAP with
 * groups. */
static void expect_picture(const char *user, const char *password, struct it_host *host,
			   const char *groups)
{
	char user_kv[64], groups_kv[64], host_kv[64], line[1024];
	struct au_viewer *v = login(user, password, NULL);
	const char *err;

	if (!v)
		relay_dump_log(relay, 4096);
	cr_assert_not_null(v, "%s was refused", user);
	err = au_viewer_wait_match(v, host, WAIT_MS);
	cr_assert_null(err, "%s: %s", user, err);
	au_viewer_stop(v);

	snprintf(user_kv, sizeof(user_kv), "\"user\":\"%s\"", user);
	snprintf(groups_kv, sizeof(groups_kv), "\"groups\":\"%s\"", groups);
	cr_assert(au_audit_wait(env.audit, line, sizeof(line), WAIT_MS,
				"\"event\":\"auth-success\"", user_kv, NULL),
		  "no auth-success for %s", user);
	cr_assert(strstr(line, "\"directory\":\"ldap\""), "%s", line);
	cr_assert(strstr(line, groups_kv), "%s", line);
	/* The session is the route's host. */
	snprintf(host_kv, sizeof(host_kv), "\"browser_host\":\"127.0.0.1:%d\"", host_port(host));
	cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"viewer-join\"", user_kv,
				host_kv, NULL),
		  "no viewer-join of %s to %s", user, host_kv);
}

/* user is refused before ServerInit (no pixel), and the audit's auth-failure for the
 * user carries reason; the line goes to out. */
static void expect_refused(const char *user, const char *password, const char *reason, char *out,
			   size_t size)
{
	char user_kv[64];
	bool saw_init = true;
	struct au_viewer *v = login(user, password, &saw_init);

	if (v)
		au_viewer_stop(v);
	cr_assert_null(v, "%s logged in with a password LDAP should refuse", user);
	cr_assert_not(saw_init, "%s was sent ServerInit", user);
	snprintf(user_kv, sizeof(user_kv), "\"user\":\"%s\"", user);
	cr_assert(au_audit_wait(env.audit, out, size, WAIT_MS, "\"event\":\"auth-failure\"",
				user_kv, reason, NULL),
		  "no auth-failure for %s with '%s'", user, reason);
}

static void expect_audit_verifies(void)
{
	cr_assert_eq(au_audit_verify(env.audit), 0, "pixelgate-audit verify failed");
}

Test(ldap_login, groups_pick_the_host)
{
	expect_picture("alice", LU_ALICE_PW, host_a, "staff");
	expect_picture("bob", LU_BOB_PW, host_b, "sales");
	/* carol is in no mapped group: [upstream] address. */
	expect_picture("carol", LU_CAROL_PW, host_default, "");
	/* alice is also in cn=it, which group_map does not name: staff only. */
	cr_assert_eq(au_audit_count(env.audit, "\"user\":\"alice\"", "\"groups\":\"staff\"",
				    "\"directory\":\"ldap\"", NULL),
		     1);
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"auth-failure\"", NULL), 0);
	cr_assert(relay_log_contains(relay, "'alice' logged in (groups: staff)"));
	cr_assert(relay_log_contains(relay, "'bob' logged in (groups: sales)"));
	expect_audit_verifies();
}

Test(ldap_login, wrong_password_and_unknown_user)
{
	char line[1024];

	expect_refused("alice", "not-alices-password", "\"reason\":\"LDAP: wrong password\"", line,
		       sizeof(line));
	/* bob's password is right for bob only. */
	expect_refused("alice", LU_BOB_PW, "\"reason\":\"LDAP: wrong password\"", line,
		       sizeof(line));
	expect_refused("mallory", "whatever",
		       "\"reason\":\"LDAP: unknown user (no entry matches user_filter under "
		       "base_dn)\"",
		       line, sizeof(line));
	/* A filter injection finds nobody either. */
	expect_refused("*)(uid=*", LU_ALICE_PW, "LDAP: unknown user", line, sizeof(line));
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"auth-success\"", NULL), 0);
	/* No password ever reaches the audit trail or the log. */
	cr_assert_eq(au_audit_count(env.audit, "not-alices-password", NULL), 0);
	cr_assert_eq(au_audit_count(env.audit, LU_ALICE_PW, NULL), 0);
	cr_assert_not(relay_log_contains(relay, "not-alices-password"));
	cr_assert_not(relay_log_contains(relay, LU_ALICE_PW));
	/* The right password still works after the refusals (under the lockout's free
	 * failures). */
	expect_picture("alice", LU_ALICE_PW, host_a, "staff");
	cr_assert(relay_alive(relay));
	expect_audit_verifies();
}

/* A users-file name is checked by the file, never by the directory. */
Test(ldap_login, users_file_first)
{
	struct au_viewer *v = login("dave", PW_DAVE, NULL);
	char line[1024];
	const char *err;

	cr_assert_not_null(v, "dave (users file) was refused");
	err = au_viewer_wait_match(v, host_default, WAIT_MS);
	cr_assert_null(err, "dave: %s", err);
	au_viewer_stop(v);
	cr_assert(au_audit_wait(env.audit, line, sizeof(line), WAIT_MS,
				"\"event\":\"auth-success\"", "\"user\":\"dave\"", NULL));
	cr_assert(strstr(line, "\"directory\":\"users-file\""), "%s", line);
	expect_audit_verifies();
}

/* Login of alice while the directory cannot answer: refused with reason, in
 * [ldap] timeout plus the viewer's own handshake. Returns the milliseconds taken. */
static long refused_while_down(const char *reason)
{
	char line[1024];
	int64_t t0 = it_now_ms();
	long took;

	expect_refused("alice", LU_ALICE_PW, reason, line, sizeof(line));
	took = (long)(it_now_ms() - t0);
	cr_assert_lt(took, LDAP_TIMEOUT_MS + 2000, "refused after %ld ms: %s", took, line);
	cr_assert(relay_alive(relay), "the relay died");
	return took;
}

Test(ldap_login, directory_down)
{
	char line[1024];
	long took;

	expect_picture("alice", LU_ALICE_PW, host_a, "staff");

	/* Silent: slapd stopped with SIGSTOP, the kernel still accepts connections. */
	cr_assert_eq(kill(slapd.pid, SIGSTOP), 0);
	took = refused_while_down("LDAP timeout: no answer within 1500 ms");
	cr_assert_geq(took, LDAP_TIMEOUT_MS - 100, "refused after only %ld ms", took);
	/* Back again: the next login goes through (one connection per login). */
	cr_assert_eq(kill(slapd.pid, SIGCONT), 0);
	expect_picture("bob", LU_BOB_PW, host_b, "sales");

	/* Gone: the port refuses connections. */
	cr_assert_eq(kill(slapd.pid, SIGTERM), 0);
	cr_assert_eq(waitpid(slapd.pid, NULL, 0), slapd.pid);
	slapd.pid = 0;
	refused_while_down("LDAP server unreachable");
	cr_assert(au_audit_wait(env.audit, line, sizeof(line), WAIT_MS,
				"\"event\":\"auth-failure\"", "LDAP server unreachable", NULL));

	/* The relay still serves users-file logins. */
	struct au_viewer *v = login("dave", PW_DAVE, NULL);
	cr_assert_not_null(v, "dave (users file) was refused while LDAP is down");
	const char *err = au_viewer_wait_match(v, host_default, WAIT_MS);
	cr_assert_null(err, "dave: %s", err);
	au_viewer_stop(v);
	cr_assert(relay_alive(relay));
	expect_audit_verifies();
}
