/* Viewer logins through pixelgate (issue 3, viewer side): VeNCrypt X509Plain and
 * TLSPlain with Plain credentials from libvncclient (Debian 0.9.14, GnuTLS), checked
 * against a users file with scrypt hashes and TOTP codes; refusals with their precise
 * reason in the log and the audit trail; per-user routes to browser hosts; shared and
 * taken-over sessions; and hostile clients: TLS garbage, oversized credentials inside
 * real TLS (OpenSSL), stalled handshakes and a flood of idle connections.
 *
 * Each test makes its own scratch folder (self-signed certificate for 127.0.0.1, users
 * file, audit file, config), starts libvncserver hosts and the relay with -c, and
 * checks the audit chain with pixelgate-audit verify at the end. Loopback only; every
 * wait is bounded. */
#include <criterion/criterion.h>

#include <rfb/rfbclient.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth/totp.h"
#include "auth_util.h"
#include "harness_util.h"

#define W 160
#define H 120

#define PW_ALICE "correct horse battery"
#define PW_BOB	 "staple-of-the-gate"
#define PW_CAROL "locked out for good"
#define PW_WRONG "not the password"
/* 20 bytes of key in base32. */
#define TOTP_SECRET "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

#define WAIT_MS 10000

static struct au_env env;
static struct it_host *host, *host_b, *host_c;
static struct it_relay *relay;
static struct au_viewer *viewers[4];

static void teardown(void)
{
	for (size_t i = 0; i < sizeof(viewers) / sizeof(viewers[0]); i++) {
		au_viewer_stop(viewers[i]);
		viewers[i] = NULL;
	}
	relay_stop(relay);
	relay = NULL;
	host_free(host);
	host_free(host_b);
	host_free(host_c);
	host = host_b = host_c = NULL;
	au_env_free(&env);
}

/* The scratch folder and a host; users and config written by the test. */
static void setup_env(bool cert)
{
	if (it_direct_mode())
		cr_skip_test("logins are the relay's: nothing to test with PG_IT_DIRECT=1");
	cr_assert(au_env_init(&env, cert), "cannot make the scratch folder or certificate");
	host = host_start(W, H, NULL);
	cr_assert_not_null(host, "cannot start the libvncserver host");
}

/* A users file line; the hash made now from password. */
static void user_line(char *out, size_t size, const char *name, const char *groups,
		      const char *password, const char *totp, const char *flags)
{
	char hash[256];

	cr_assert(au_hash(&env, password, hash, sizeof(hash)), "pixelgate-passwd failed");
	snprintf(out, size, "%s:%s:%s:%s:%s\n", name, groups, hash, totp, flags);
}

/* alice (staff), bob (sales), carol (staff, locked); extra_users appended. */
static void write_users(const char *extra_users)
{
	char a[512], b[512], c[512], text[4096];

	user_line(a, sizeof(a), "alice", "staff", PW_ALICE, "", "");
	user_line(b, sizeof(b), "bob", "sales", PW_BOB, "", "");
	user_line(c, sizeof(c), "carol", "staff", PW_CAROL, "", "locked");
	snprintf(text, sizeof(text), "# test users\n%s%s%s%s", a, b, c,
		 extra_users ? extra_users : "");
	cr_assert(au_write_file(env.users, 0600, text));
}

static void start_relay(const char *extra_config)
{
	cr_assert(au_write_config(&env, extra_config));
	relay = au_relay_start(&env, host_port(host));
	cr_assert_not_null(relay, "the relay did not start with the test config");
}

static struct au_login login_as(const char *user, const char *password)
{
	return (struct au_login){.user = user,
				 .password = password,
				 .ca_file = env.cert,
				 .subtype = rfbVeNCryptX509Plain};
}

/* A viewer that must get in and see the host's picture. */
static struct au_viewer *must_log_in(const char *user, const char *password, struct it_host *expect)
{
	struct au_login l = login_as(user, password);
	struct au_viewer *v = au_viewer_start(relay_port(relay), &l, NULL);
	const char *why;

	if (!v)
		relay_dump_log(relay, 4000);
	cr_assert_not_null(v, "'%s' could not log in", user);
	why = au_viewer_wait_match(v, expect, WAIT_MS);
	cr_assert_null(why, "'%s' does not see the browser host's picture: %s", user, why);
	return v;
}

/* A login that must be refused before any pixel, for the reason given. */
static void must_be_refused(const char *user, const char *password, const char *reason)
{
	struct au_login l = login_as(user, password);
	bool saw_init = true;
	struct au_viewer *v = au_viewer_start(relay_port(relay), &l, &saw_init);
	char needle[512], user_field[128], reason_field[300];

	au_viewer_stop(v);
	cr_assert_null(v, "'%s' logged in but should be refused (%s)", user, reason);
	cr_assert_not(saw_init, "'%s' was refused only after ServerInit", user);
	snprintf(needle, sizeof(needle), "login of '%s' refused: %s", user, reason);
	if (!relay_log_wait(relay, needle, WAIT_MS))
		relay_dump_log(relay, 4000);
	cr_assert(relay_log_contains(relay, needle), "the log lacks \"%s\"", needle);
	snprintf(user_field, sizeof(user_field), "\"user\":\"%s\"", user);
	snprintf(reason_field, sizeof(reason_field), "\"reason\":\"%s", reason);
	cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"auth-failure\"",
				user_field, "\"source\":\"127.0.0.1\"", reason_field, NULL),
		  "no auth-failure record for '%s' with reason '%s'", user, reason);
}

static unsigned long long field_u(const char *line, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(line, k);
	cr_assert_not_null(p, "no %s in %s", key, line);
	return strtoull(p + strlen(k), NULL, 10);
}

/* Stop the relay (so session-end is written) and check the chain. */
static void verify_audit(void)
{
	relay_stop(relay);
	relay = NULL;
	cr_assert_eq(au_audit_verify(env.audit), 0, "pixelgate-audit verify failed on %s",
		     env.audit);
}

TestSuite(auth, .fini = teardown, .timeout = 40);

Test(auth, right_password_sees_the_host)
{
	char line[2048];

	setup_env(true);
	write_users(NULL);
	start_relay(NULL);
	viewers[0] = must_log_in("alice", PW_ALICE, host);
	cr_assert(relay_log_contains(relay, "'alice' logged in (groups: staff)"));
	cr_assert(au_audit_wait(env.audit, line, sizeof(line), WAIT_MS,
				"\"event\":\"auth-success\"", "\"user\":\"alice\"",
				"\"source\":\"127.0.0.1\"", "\"second_factor\":false", NULL),
		  "no auth-success record");
	cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"viewer-join\"",
				"\"user\":\"alice\"", "\"source\":\"127.0.0.1\"", NULL));
	/* A change reaches the viewer too. */
	host_change_region(host, 10, 10, 50, 40, 7);
	cr_assert_null(au_viewer_wait_match(viewers[0], host, WAIT_MS));

	au_viewer_stop(viewers[0]);
	viewers[0] = NULL;
	cr_assert(au_audit_wait(env.audit, line, sizeof(line), WAIT_MS,
				"\"event\":\"viewer-leave\"", "\"user\":\"alice\"",
				"\"source\":\"127.0.0.1\"", "\"duration_ms\":", NULL),
		  "no viewer-leave record");
	cr_assert_gt(field_u(line, "bytes_to_viewer"), (unsigned long long)W * H * 4,
		     "viewer-leave: %s", line);
	cr_assert_gt(field_u(line, "bytes_from_viewer"), 0, "viewer-leave: %s", line);
	cr_assert_geq(field_u(line, "frames"), 2, "viewer-leave: %s", line);
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"auth-failure\"", NULL), 0);
	verify_audit();
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"session-end\"", NULL), 1);
}

Test(auth, wrong_password_unknown_and_locked_users_are_refused)
{
	setup_env(true);
	write_users(NULL);
	start_relay(NULL);
	must_be_refused("alice", PW_WRONG, "wrong password");
	must_be_refused("mallory", PW_ALICE, "unknown user");
	must_be_refused("carol", PW_CAROL, "user is locked");
	/* Nobody joined a session, and the browser host never saw the relay. */
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"viewer-join\"", NULL), 0);
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"auth-success\"", NULL), 0);
	cr_assert_eq(host_clients(host), 0);
	/* No secret reaches the log or the audit trail. */
	cr_assert_not(relay_log_contains(relay, PW_WRONG));
	cr_assert_eq(au_audit_count(env.audit, PW_WRONG, NULL), 0);
	cr_assert_eq(au_audit_count(env.audit, PW_CAROL, NULL), 0);
	verify_audit();
}

/* What a refused viewer is told, read inside TLS: SecurityResult failed and the
 * generic reason, the same for a wrong password and an unknown user. */
static void told_generic_failure(const char *user, const char *password)
{
	static const uint8_t want[] = {0,   0,	 0,   1,   0,	0,   0,	  21,  'a', 'u',
				       't', 'h', 'e', 'n', 't', 'i', 'c', 'a', 't', 'i',
				       'o', 'n', ' ', 'f', 'a', 'i', 'l', 'e', 'd'};
	uint8_t got_bytes[64] = {0};
	size_t got = 0;
	struct au_tls *t = au_tls_open(relay_port(relay), env.cert);

	cr_assert_not_null(t, "TLS with the relay failed");
	cr_assert_eq(au_tls_send_plain(t, user, strlen(user), password, strlen(password)), 0);
	cr_assert(au_tls_wait_closed(t, WAIT_MS, got_bytes, sizeof(got_bytes), &got),
		  "the relay kept a refused viewer");
	au_tls_free(t);
	cr_assert_eq(got, sizeof(want), "'%s' was told %zu bytes", user, got);
	cr_assert_arr_eq(got_bytes, want, sizeof(want), "'%s' was not told the generic reason",
			 user);
}

Test(auth, refused_viewers_are_told_only_a_generic_reason)
{
	setup_env(true);
	write_users(NULL);
	start_relay(NULL);
	told_generic_failure("alice", PW_WRONG);
	told_generic_failure("nobody-here", PW_WRONG);
	cr_assert(relay_log_wait(relay, "login of 'alice' refused: wrong password", WAIT_MS));
	cr_assert(relay_log_wait(relay, "login of 'nobody-here' refused: unknown user", WAIT_MS));
	verify_audit();
}

Test(auth, viewer_distrusting_the_certificate_sends_nothing)
{
	struct au_env other;
	struct au_login l = login_as("alice", PW_ALICE);
	bool saw_init = true;
	struct au_viewer *v;

	setup_env(true);
	write_users(NULL);
	start_relay(NULL);
	/* The viewer trusts another self-signed certificate only. */
	cr_assert(au_env_init(&other, true));
	l.ca_file = other.cert;
	v = au_viewer_start(relay_port(relay), &l, &saw_init);
	au_viewer_stop(v);
	au_env_free(&other);
	cr_assert_null(v, "a viewer logged in through a certificate it does not trust");
	cr_assert_not(saw_init);
	/* It hung up in TLS (GnuTLS sends no alert: the relay sees a reset): no
	 * credentials crossed, so nothing was decided. */
	cr_assert(relay_log_wait(relay, "closed:", WAIT_MS));
	cr_assert_not(relay_log_contains(relay, "logged in"));
	cr_assert_not(relay_log_contains(relay, "login of"));
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"auth-", NULL), 0);
	verify_audit();
}

/* The 6-digit code of step for the test secret. */
static void totp_code(uint64_t step, char out[7])
{
	uint8_t key[64];
	uint32_t code;
	int n = pg_totp_base32_decode(TOTP_SECRET, strlen(TOTP_SECRET), key, sizeof(key));

	cr_assert_gt(n, 0);
	cr_assert_eq(pg_totp_hotp(key, (size_t)n, step, 6, &code), 0);
	snprintf(out, 7, "%06u", code);
}

Test(auth, totp_code_after_the_password)
{
	char dave[512], pw[128], code[7], wrong[7], c[7];
	uint64_t step;

	setup_env(true);
	user_line(dave, sizeof(dave), "dave", "staff", PW_ALICE, TOTP_SECRET, "");
	write_users(dave);
	start_relay(NULL);

	/* The password alone. */
	must_be_refused("dave", PW_ALICE, "TOTP code missing after the password");
	/* A code valid at no step near now. */
	step = pg_totp_step((uint64_t)time(NULL));
	totp_code(step, code);
	for (unsigned k = 1;; k++) {
		bool clash = false;

		snprintf(wrong, sizeof(wrong), "%06u", (unsigned)(atoi(code) + 1000 * k) % 1000000);
		for (int d = -2; d <= 2; d++) {
			totp_code(step + (uint64_t)d, c);
			clash |= !strcmp(c, wrong);
		}
		if (!clash)
			break;
	}
	snprintf(pw, sizeof(pw), "%s%s", PW_ALICE, wrong);
	must_be_refused("dave", pw, "wrong or reused TOTP code");
	/* An expired code: from two minutes ago, outside the one-step window. */
	step = pg_totp_step((uint64_t)time(NULL));
	totp_code(step - 4, wrong);
	for (int d = -1; d <= 2; d++) {
		totp_code(step + (uint64_t)d, c);
		if (!strcmp(c, wrong))
			totp_code(step - 5, wrong);
	}
	snprintf(pw, sizeof(pw), "%s%s", PW_ALICE, wrong);
	must_be_refused("dave", pw, "wrong or reused TOTP code");
	/* The right code, typed right after the password. */
	step = pg_totp_step((uint64_t)time(NULL));
	totp_code(step, code);
	snprintf(pw, sizeof(pw), "%s%s", PW_ALICE, code);
	viewers[0] = must_log_in("dave", pw, host);
	cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"auth-success\"",
				"\"user\":\"dave\"", "\"second_factor\":true", NULL));
	/* The same code once more: a replay (the fourth failure from this address,
	 * one short of the lockout). */
	must_be_refused("dave", pw, "wrong or reused TOTP code");
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"auth-failure\"", "\"user\":\"dave\"",
				    "wrong or reused TOTP code", NULL),
		     3);
	cr_assert(au_viewer_connected(viewers[0]), "the refused replay hurt the first viewer");
	cr_assert_eq(au_audit_count(env.audit, code, NULL), 0, "the code is in the audit trail");
	verify_audit();
}

Test(auth, totp_groups_require_a_second_factor)
{
	setup_env(true);
	write_users(NULL);
	start_relay("totp_groups = staff\n");
	/* alice is in staff and has no TOTP secret; bob (sales) needs none. */
	must_be_refused("alice", PW_ALICE,
			"TOTP is required for the user's group but not enrolled");
	viewers[0] = must_log_in("bob", PW_BOB, host);
	verify_audit();
}

Test(auth, lockout_after_five_failures)
{
	char line[1024];
	struct timespec ts;

	setup_env(true);
	write_users(NULL);
	start_relay(NULL);
	/* The first delay is one second: do all six tries within one wall-clock second,
	 * starting right after it begins. */
	clock_gettime(CLOCK_REALTIME, &ts);
	it_sleep_ms((int)(1000 - ts.tv_nsec / 1000000) + 5);
	int64_t t0 = it_now_ms();
	for (int i = 0; i < 5; i++) {
		struct au_login l = login_as("alice", PW_WRONG);
		struct au_viewer *v = au_viewer_start(relay_port(relay), &l, NULL);

		au_viewer_stop(v);
		cr_assert_null(v, "a wrong password got in");
	}
	must_be_refused("alice", PW_ALICE, "too many failures");
	int64_t took = it_now_ms() - t0;
	cr_assert_lt(took, 1000, "six tries took %lld ms, over the lockout", (long long)took);
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"auth-failure\"",
				    "\"reason\":\"wrong password\"", NULL),
		     5);
	cr_assert(au_audit_wait(env.audit, line, sizeof(line), WAIT_MS, "\"event\":\"lockout\"",
				"\"user\":\"alice\"", "\"source\":\"127.0.0.1\"", NULL));
	cr_assert_geq(field_u(line, "seconds"), 1, "%s", line);
	cr_assert(relay_log_contains(relay, "must wait"));
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"auth-success\"", NULL), 0);
	verify_audit();
}

Test(auth, routes_send_each_user_to_their_host)
{
	char extra[512], erin[512];

	setup_env(true);
	host_b = host_start(W, H, NULL);
	host_c = host_start(W, H, NULL);
	cr_assert(host_b && host_c);
	host_fill_pattern(host_b, 2);
	host_fill_pattern(host_c, 3);
	user_line(erin, sizeof(erin), "erin", "", PW_ALICE, "", "");
	write_users(erin);
	/* The command line's upstream (host) is the default for users without a route. */
	snprintf(extra, sizeof(extra),
		 "[routes]\nuser.alice = 127.0.0.1:%d\ngroup.sales = 127.0.0.1:%d\n",
		 host_port(host_b), host_port(host_c));
	start_relay(extra);
	viewers[0] = must_log_in("alice", PW_ALICE, host_b);
	viewers[1] = must_log_in("bob", PW_BOB, host_c);
	viewers[2] = must_log_in("erin", PW_ALICE, host);
	cr_assert_eq(host_clients(host_b), 1);
	cr_assert_eq(host_clients(host_c), 1);
	char needle[128];
	snprintf(needle, sizeof(needle), "\"browser_host\":\"127.0.0.1:%d\"", host_port(host_b));
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"viewer-join\"", "\"user\":\"alice\"",
				    needle, NULL),
		     1);
	snprintf(needle, sizeof(needle), "\"browser_host\":\"127.0.0.1:%d\"", host_port(host_c));
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"viewer-join\"", "\"user\":\"bob\"",
				    needle, NULL),
		     1);
	verify_audit();
}

Test(auth, share_two_viewers_of_one_user)
{
	setup_env(true);
	write_users(NULL);
	start_relay("session_share = share\n");
	viewers[0] = must_log_in("alice", PW_ALICE, host);
	viewers[1] = must_log_in("alice", PW_ALICE, host);
	host_fill_pattern(host, 4);
	cr_assert_null(au_viewer_wait_match(viewers[0], host, WAIT_MS));
	cr_assert_null(au_viewer_wait_match(viewers[1], host, WAIT_MS));
	cr_assert(au_viewer_connected(viewers[0]) && au_viewer_connected(viewers[1]));
	cr_assert_eq(host_clients(host), 1, "a shared session uses one upstream connection");
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"viewer-join\"", NULL), 2);
	verify_audit();
}

Test(auth, takeover_closes_the_older_viewer)
{
	setup_env(true);
	write_users(NULL);
	start_relay("session_share = takeover\n");
	viewers[0] = must_log_in("alice", PW_ALICE, host);
	/* bob shares the host (no route) but is another user: untouched. */
	viewers[2] = must_log_in("bob", PW_BOB, host);
	viewers[1] = must_log_in("alice", PW_ALICE, host);
	cr_assert(au_viewer_wait_disconnect(viewers[0], WAIT_MS),
		  "the older viewer of alice is still connected");
	cr_assert(relay_log_wait(relay, "taken over", WAIT_MS));
	cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"viewer-leave\"",
				"\"user\":\"alice\"", "\"reason\":\"taken over", NULL));
	host_fill_pattern(host, 5);
	cr_assert_null(au_viewer_wait_match(viewers[1], host, WAIT_MS));
	cr_assert_null(au_viewer_wait_match(viewers[2], host, WAIT_MS));
	verify_audit();
}

Test(auth, tls_plain_anonymous)
{
	struct au_login l = {.user = "alice", .password = PW_ALICE, .subtype = rfbVeNCryptTLSPlain};
	const char *why;

	setup_env(false);
	write_users(NULL);
	start_relay("tls_anon = 1\n");
	cr_assert(relay_log_contains(relay, "tls_anon = 1"));
	viewers[0] = au_viewer_start(relay_port(relay), &l, NULL);
	if (!viewers[0]) {
		relay_dump_log(relay, 3000);
		cr_skip_test("libvncclient could not log in with TLSPlain (anonymous DH)");
	}
	why = au_viewer_wait_match(viewers[0], host, WAIT_MS);
	cr_assert_null(why, "%s", why);
	cr_assert(relay_log_wait(relay, "VeNCrypt TLSPlain", 1000));
	/* And a wrong password over TLSPlain is refused the same way. */
	l.password = PW_WRONG;
	struct au_viewer *bad = au_viewer_start(relay_port(relay), &l, NULL);
	au_viewer_stop(bad);
	cr_assert_null(bad);
	cr_assert(relay_log_wait(relay, "login of 'alice' refused: wrong password", WAIT_MS));
	verify_audit();
}

Test(auth, tls_garbage_is_refused)
{
	static const char junk[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n\x16\x03\x01\xff\xff";
	int fd;

	setup_env(true);
	write_users(NULL);
	start_relay(NULL);
	fd = au_vencrypt_open(relay_port(relay), rfbVeNCryptX509Plain);
	cr_assert_geq(fd, 0, "VeNCrypt negotiation failed");
	raw_client_send(fd, junk, sizeof(junk) - 1);
	cr_assert(raw_client_wait_closed(fd, WAIT_MS), "the relay kept a TLS-garbage client");
	close(fd);
	cr_assert(relay_log_wait(relay, "TLS handshake failed", WAIT_MS));
	cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"tls-failure\"",
				"\"source\":\"127.0.0.1\"", NULL));
	/* The relay still serves. */
	viewers[0] = must_log_in("alice", PW_ALICE, host);
	verify_audit();
}

Test(auth, oversized_credentials_are_refused)
{
	static const char limit[] = "VeNCrypt Plain: user name or password over its limit";
	char user[300], password[2000];
	struct au_tls *t;
	size_t got = 0;

	memset(user, 'u', sizeof(user));
	memset(password, 'p', sizeof(password));
	setup_env(true);
	write_users(NULL);
	start_relay(NULL);

	/* Sanity: this client gets in with sane credentials (SecurityResult 0). */
	t = au_tls_open(relay_port(relay), env.cert);
	cr_assert_not_null(t, "TLS with the relay failed");
	cr_assert_eq(au_tls_send_plain(t, "alice", 5, PW_ALICE, strlen(PW_ALICE)), 0);
	cr_assert(relay_log_wait(relay, "'alice' logged in", WAIT_MS));
	au_tls_free(t);

	t = au_tls_open(relay_port(relay), env.cert);
	cr_assert_not_null(t);
	cr_assert_eq(au_tls_send_plain(t, user, sizeof(user), "password", 8), 0);
	cr_assert(au_tls_wait_closed(t, WAIT_MS, NULL, 0, &got), "a 300-byte user name was kept");
	au_tls_free(t);
	cr_assert(relay_log_wait(relay, limit, WAIT_MS));

	t = au_tls_open(relay_port(relay), env.cert);
	cr_assert_not_null(t);
	cr_assert_eq(au_tls_send_plain(t, "alice", 5, password, sizeof(password)), 0);
	cr_assert(au_tls_wait_closed(t, WAIT_MS, NULL, 0, &got), "a 2000-byte password was kept");
	au_tls_free(t);
	cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"auth-failure\"",
				"\"reason\":\"VeNCrypt Plain: user name or password over", NULL));
	cr_assert_eq(
	    au_audit_count(env.audit, "\"event\":\"auth-failure\"", "over its limit", NULL), 2);
	cr_assert_eq(au_log_lines(relay, limit), 2);
	verify_audit();
}

Test(auth, stalled_handshakes_time_out)
{
	int early, in_tls;
	int64_t t0;

	setup_env(true);
	write_users(NULL);
	start_relay("auth_timeout = 2\n");
	/* One stops after the ProtocolVersion, one after VeNCrypt, before any TLS. */
	early = raw_client_open(relay_port(relay), NULL);
	cr_assert_geq(early, 0);
	raw_client_send(early, "RFB 003.008\n", 12);
	in_tls = au_vencrypt_open(relay_port(relay), rfbVeNCryptX509Plain);
	cr_assert_geq(in_tls, 0);
	t0 = it_now_ms();
	cr_assert(raw_client_wait_closed(early, 6000), "a stalled viewer was kept");
	cr_assert(raw_client_wait_closed(in_tls, 6000), "a viewer stalled in TLS was kept");
	int64_t took = it_now_ms() - t0;
	close(early);
	close(in_tls);
	cr_assert_geq(took, 1000, "closed after %lld ms, before the deadline", (long long)took);
	cr_assert_lt(took, 4000, "closed after %lld ms", (long long)took);
	cr_assert_eq(au_log_lines(relay, "handshake not finished in time"), 2);
	verify_audit();
}

#define FLOOD 1000

static bool fd_closed_by_peer(int fd)
{
	char b[64];
	ssize_t n;

	for (;;) {
		n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (n > 0)
			continue;
		return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
	}
}

Test(auth, idle_connection_flood, .timeout = 60)
{
	static int fds[FLOOD];
	struct sockaddr_in sa = {.sin_family = AF_INET};
	long rss0, rss1, lines0, lines1;
	int closed = 0, opened = 0;
	int64_t t0;
	const char *why;

	setup_env(true);
	write_users(NULL);
	start_relay(NULL);
	viewers[0] = must_log_in("alice", PW_ALICE, host);
	rss0 = it_rss_kib(relay_pid(relay));
	lines0 = au_log_lines(relay, NULL);
	cr_assert_gt(rss0, 0);

	sa.sin_port = htons((uint16_t)relay_port(relay));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t0 = it_now_ms();
	for (int i = 0; i < FLOOD; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		cr_assert_geq(fds[i], 0, "socket: %s", strerror(errno));
		if (connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
		    errno == EINPROGRESS)
			opened++;
	}
	/* Meanwhile the logged-in viewer keeps up with a changing picture. */
	host_fill_pattern(host, 6);
	why = au_viewer_wait_match(viewers[0], host, WAIT_MS);
	cr_assert_null(why, "during the flood: %s", why);

	/* Most are refused (closed by the relay) quickly; the rest wait to log in. */
	while (it_now_ms() - t0 < 15000) {
		closed = 0;
		for (int i = 0; i < FLOOD; i++)
			closed += fd_closed_by_peer(fds[i]);
		if (closed >= FLOOD - 32)
			break;
		it_sleep_ms(100);
	}
	int64_t took = it_now_ms() - t0;
	/* A few may still sit in the listen backlog when the relay runs slowly (under
	 * a sanitizer): most, not all, must be refused by now. */
	cr_assert_geq(closed, FLOOD - 32 - 100, "only %d of %d (%d connected) refused in %lld ms",
		      closed, FLOOD, opened, (long long)took);
	cr_assert_leq(closed, FLOOD - 32, "more than the per-source limit were refused");
	cr_assert(relay_log_contains(relay, "relay.max_handshakes_per_source"));

	host_fill_pattern(host, 8);
	why = au_viewer_wait_match(viewers[0], host, WAIT_MS);
	cr_assert_null(why, "after the flood: %s", why);

	/* A refusal more than a second later reports the quiet ones in one line. */
	it_sleep_ms(1100);
	int extra = raw_client_open(relay_port(relay), NULL);
	if (extra >= 0) {
		raw_client_wait_closed(extra, 3000);
		close(extra);
	}
	cr_assert(relay_log_wait(relay, "more connections refused in the last second", WAIT_MS));
	rss1 = it_rss_kib(relay_pid(relay));
	lines1 = au_log_lines(relay, NULL);
	cr_assert_lt(rss1 - rss0, 64 * 1024, "RSS grew from %ld to %ld KiB", rss0, rss1);
	/* 32 accepted connections log a few lines each; the refused ones hardly any. */
	cr_assert_lt(lines1 - lines0, 400, "the flood wrote %ld log lines", lines1 - lines0);
	cr_log_info("flood: %d of %d refused in %lld ms, RSS %ld -> %ld KiB, %ld log lines", closed,
		    FLOOD, (long long)took, rss0, rss1, lines1 - lines0);

	for (int i = 0; i < FLOOD; i++)
		close(fds[i]);
	cr_assert(au_viewer_connected(viewers[0]));
	verify_audit();
}
