/* The session broker ([broker] mode = pool and spawn): users logged in with
 * VeNCrypt reach the host the documented rendezvous order names (computed here
 * independently, with OpenSSL), again on reconnect and through a second relay;
 * max_sessions_per_host sends a user on to their next host; health checks take a
 * stopped host out (host-down) and bring it back (host-up). Spawn mode runs
 * tests/integration/spawn_hook.sh, which starts pg-synth-host per user: start
 * and stop are called with the user, a failing, hanging or lying hook refuses
 * the login with an audit record. Loopback only; every wait is bounded. */
#include <criterion/criterion.h>

#include <rfb/rfbclient.h>

#include <openssl/evp.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth_util.h"
#include "harness_util.h"

#define W	160
#define H	120
#define PW	"correct horse battery"
#define WAIT_MS 10000
#define NHOSTS	3
#define NUSERS	8

static struct au_env env;
static struct it_host *hosts[NHOSTS];
static struct it_relay *relay, *relay2;
static struct au_viewer *viewers[4];
static char hook_dir[64];

static void kill_synth_hosts(void)
{
	char path[128], pid[32];
	for (int i = 0; i < NUSERS && *hook_dir; i++) {
		snprintf(path, sizeof(path), "%s/synth-u%d.pid", hook_dir, i);
		FILE *f = fopen(path, "r");
		if (f && fgets(pid, sizeof(pid), f) && atoi(pid) > 0)
			kill(atoi(pid), SIGKILL);
		if (f)
			fclose(f);
	}
}

static void teardown(void)
{
	for (size_t i = 0; i < sizeof(viewers) / sizeof(viewers[0]); i++) {
		au_viewer_stop(viewers[i]);
		viewers[i] = NULL;
	}
	relay_stop(relay);
	relay_stop(relay2);
	relay = relay2 = NULL;
	for (int i = 0; i < NHOSTS; i++) {
		host_free(hosts[i]);
		hosts[i] = NULL;
	}
	kill_synth_hosts();
	if (*hook_dir) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", hook_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", hook_dir);
		hook_dir[0] = '\0';
	}
	au_env_free(&env);
}

TestSuite(broker, .fini = teardown, .timeout = 90);

/* Users u0..u(NUSERS-1), all with password PW. */
static void setup(void)
{
	char text[8192] = "# broker test users\n", hash[256], line[512];
	if (it_direct_mode())
		cr_skip_test("the broker is the relay's: nothing to test with PG_IT_DIRECT=1");
	cr_assert(au_env_init(&env, true), "cannot make the scratch folder or certificate");
	cr_assert(au_hash(&env, PW, hash, sizeof(hash)), "pixelgate-passwd failed");
	for (int i = 0; i < NUSERS; i++) {
		snprintf(line, sizeof(line), "u%d:staff:%s::\n", i, hash);
		strncat(text, line, sizeof(text) - strlen(text) - 1);
	}
	cr_assert(au_write_file(env.users, 0600, text));
}

static void start_hosts(int n)
{
	for (int i = 0; i < n; i++) {
		hosts[i] = host_start(W, H, NULL);
		cr_assert_not_null(hosts[i], "cannot start host %d", i);
		host_fill_pattern(hosts[i], 10 + (unsigned)i);
	}
}

static struct it_relay *start_relay(const char *broker)
{
	char extra[2048];
	snprintf(extra, sizeof(extra), "\n[broker]\n%s", broker);
	cr_assert(au_write_config(&env, extra));
	struct it_relay *r = au_relay_start(&env, hosts[0] ? host_port(hosts[0]) : 1);
	cr_assert_not_null(r, "the relay did not start with the broker config");
	return r;
}

static void pool_config(char *out, size_t size, int n, const char *more)
{
	size_t o = (size_t)snprintf(out, size, "mode = pool\nhosts = ");
	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, size - o, "%s127.0.0.1:%d", i ? ", " : "",
				      host_port(hosts[i]));
	snprintf(out + o, size - o, "\n%s", more ? more : "");
}

/* docs/operations.md's order, computed here: SHA-256(user "\0" host:port), the first
 * 8 bytes big-endian, highest first. order[k] is the host index of choice k+1. */
static uint64_t score(const char *user, int port)
{
	char address[64];
	uint8_t md[32];
	unsigned int len = 0;
	uint64_t v = 0;
	snprintf(address, sizeof(address), "127.0.0.1:%d", port);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	cr_assert(ctx);
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, user, strlen(user) + 1);
	EVP_DigestUpdate(ctx, address, strlen(address));
	EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	for (int i = 0; i < 8; i++)
		v = v << 8 | md[i];
	return v;
}

static void order_for(const char *user, int n, int *order)
{
	uint64_t s[NHOSTS];
	for (int i = 0; i < n; i++) {
		s[i] = score(user, host_port(hosts[i]));
		order[i] = i;
	}
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (s[order[j]] > s[order[i]]) {
				int t = order[i];
				order[i] = order[j];
				order[j] = t;
			}
}

static struct au_viewer *log_in(struct it_relay *r, const char *user, bool *saw_init)
{
	struct au_login l = {
	    .user = user, .password = PW, .ca_file = env.cert, .subtype = rfbVeNCryptX509Plain};
	return au_viewer_start(relay_port(r), &l, saw_init);
}

/* user must get in through r and see host i's picture. */
static struct au_viewer *must_reach(struct it_relay *r, const char *user, int i)
{
	struct au_viewer *v = log_in(r, user, NULL);
	if (!v)
		relay_dump_log(r, 4000);
	cr_assert_not_null(v, "'%s' could not log in", user);
	const char *why = au_viewer_wait_match(v, hosts[i], WAIT_MS);
	if (why)
		relay_dump_log(r, 4000);
	cr_assert_null(why, "'%s' does not see host %d: %s", user, i, why);
	return v;
}

static void must_be_refused(struct it_relay *r, const char *user)
{
	bool saw_init = true;
	struct au_viewer *v = log_in(r, user, &saw_init);
	au_viewer_stop(v);
	cr_assert_null(v, "'%s' logged in but should be refused", user);
	cr_assert_not(saw_init, "'%s' was refused only after ServerInit", user);
	cr_assert(relay_log_wait(r, "no browser host available", WAIT_MS));
}

static void verify_audit(void)
{
	relay_stop(relay);
	relay_stop(relay2);
	relay = relay2 = NULL;
	cr_assert_eq(au_audit_verify(env.audit), 0, "pixelgate-audit verify failed");
}

Test(broker, pool_is_sticky_and_the_same_on_every_relay)
{
	char cfg[1024], needle[128];
	int order[NHOSTS];
	setup();
	start_hosts(NHOSTS);
	pool_config(cfg, sizeof(cfg), NHOSTS, "max_sessions_per_host = 8\n");
	relay = start_relay(cfg);
	/* A second relay: the same config, but an audit trail of its own. */
	struct au_env first = env;
	snprintf(env.audit, sizeof(env.audit), "%s/audit2.jsonl", env.dir);
	snprintf(env.config, sizeof(env.config), "%s/relay2.conf", env.dir);
	relay2 = start_relay(cfg);
	env = first;
	/* Each user reaches the first host of their own order. */
	for (int u = 0; u < 3; u++) {
		char user[8];
		snprintf(user, sizeof(user), "u%d", u);
		order_for(user, NHOSTS, order);
		viewers[u] = must_reach(relay, user, order[0]);
		snprintf(needle, sizeof(needle), "\"browser_host\":\"127.0.0.1:%d\"",
			 host_port(hosts[order[0]]));
		cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"host-assign\"",
					needle, "\"choice\":1", NULL));
	}
	/* u0 again, on this relay (its session) and on the other (the same hashing). */
	order_for("u0", NHOSTS, order);
	au_viewer_stop(viewers[0]);
	viewers[0] = must_reach(relay, "u0", order[0]);
	cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"host-assign\"",
				"\"user\":\"u0\"",
				"\"reason\":\"the user's session on this relay\"", NULL));
	viewers[3] = must_reach(relay2, "u0", order[0]);
	verify_audit();
}

Test(broker, full_host_sends_the_next_user_on)
{
	char cfg[1024], needle[128];
	int order_a[NHOSTS], order_b[NHOSTS];
	char a[8] = "", b[8] = "";
	setup();
	start_hosts(NHOSTS);
	/* Two users whose first choice is the same host. */
	for (int i = 0; i < NUSERS && !*b; i++) {
		for (int j = i + 1; j < NUSERS && !*b; j++) {
			snprintf(a, sizeof(a), "u%d", i);
			snprintf(b, sizeof(b), "u%d", j);
			order_for(a, NHOSTS, order_a);
			order_for(b, NHOSTS, order_b);
			if (order_a[0] != order_b[0])
				b[0] = '\0';
		}
	}
	cr_assert(*b, "no two of %d users share a first choice of %d hosts", NUSERS, NHOSTS);
	pool_config(cfg, sizeof(cfg), NHOSTS, "max_sessions_per_host = 1\n");
	relay = start_relay(cfg);
	viewers[0] = must_reach(relay, a, order_a[0]);
	viewers[1] = must_reach(relay, b, order_b[1]);
	snprintf(needle, sizeof(needle), "\"skipped\":\"127.0.0.1:%d full\"",
		 host_port(hosts[order_b[0]]));
	cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"host-assign\"",
				"\"choice\":2", needle, NULL));
	cr_assert_eq(host_clients(hosts[order_a[0]]), 1, "two users share one pool host");
	verify_audit();
}

Test(broker, pool_full_everywhere_refuses)
{
	char cfg[1024];
	setup();
	start_hosts(1);
	pool_config(cfg, sizeof(cfg), 1, NULL);
	relay = start_relay(cfg);
	viewers[0] = must_reach(relay, "u0", 0);
	must_be_refused(relay, "u1");
	cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"session-refused\"",
				"\"user\":\"u1\"", "\"reason\":\"every pool host is down or full\"",
				NULL));
	verify_audit();
}

Test(broker, health_check_takes_a_dead_host_out_and_back)
{
	char cfg[1024], needle[128], skipped[128];
	int order[NHOSTS];
	setup();
	start_hosts(2);
	pool_config(cfg, sizeof(cfg), 2,
		    "check_interval = 1\ncheck_timeout = 500\nfail_after = 2\nrecover_after = "
		    "1\n");
	order_for("u0", 2, order);
	relay = start_relay(cfg);
	int dead = order[0], port = host_port(hosts[dead]);
	host_stop(hosts[dead]);
	snprintf(needle, sizeof(needle), "\"browser_host\":\"127.0.0.1:%d\"", port);
	/* Two failed checks a second apart, then the record. */
	cr_assert(au_audit_wait(env.audit, NULL, 0, 6000, "\"event\":\"host-down\"", needle, NULL),
		  "no host-down record within 6 s");
	cr_assert(relay_log_contains(relay, "is down"));
	/* u0's first choice is down: the second, and the record says why. */
	viewers[0] = must_reach(relay, "u0", order[1]);
	snprintf(skipped, sizeof(skipped), "\"skipped\":\"127.0.0.1:%d down\"", port);
	cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"host-assign\"",
				"\"user\":\"u0\"", "\"choice\":2", skipped, NULL));
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"host-down\"", NULL), 1,
		     "host-down is written once");
	cr_assert_eq(host_restart(hosts[dead]), 0);
	cr_assert(au_audit_wait(env.audit, NULL, 0, 6000, "\"event\":\"host-up\"", needle, NULL),
		  "no host-up record within 6 s");
	/* Back in the pool: a user whose first choice it is gets it. u0 keeps its
	 * session (sticky on this relay). */
	au_viewer_stop(viewers[0]);
	viewers[0] = must_reach(relay, "u0", order[1]);
	verify_audit();
}

/* ---- spawn ---- */

static void setup_hook(const char *mode)
{
	char synth[512];
	snprintf(hook_dir, sizeof(hook_dir), "/tmp/pg-it-hook-XXXXXX");
	cr_assert_not_null(mkdtemp(hook_dir));
	it_bin_path("pg-synth-host", synth, sizeof(synth));
	/* The relay passes its environment on to the hook. */
	setenv("PG_TEST_HOOK_DIR", hook_dir, 1);
	setenv("PG_TEST_HOOK_MODE", mode, 1);
	setenv("PG_TEST_SYNTH_HOST", synth, 1);
}

static struct it_relay *start_spawn_relay(const char *more)
{
	char cfg[1024];
	snprintf(cfg, sizeof(cfg),
		 "mode = spawn\nspawn_command = %s/tests/integration/spawn_hook.sh\n%s", PG_SRC_DIR,
		 more ? more : "");
	return start_relay(cfg);
}

/* Lines of the hook's call log that contain every needle. */
static int calls(const char *a, const char *b)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/calls", hook_dir);
	return au_audit_count(path, a, b, NULL);
}

static bool wait_calls(const char *a, const char *b, int n, int timeout_ms)
{
	int64_t end = it_now_ms() + timeout_ms;
	while (calls(a, b) < n && it_now_ms() < end)
		it_sleep_ms(50);
	return calls(a, b) >= n;
}

Test(broker, spawn_starts_a_host_per_user_and_stops_it)
{
	char line[2048];
	setup();
	setup_hook("ok");
	relay = start_spawn_relay("linger = 2\n");
	viewers[0] = log_in(relay, "u1", NULL);
	if (!viewers[0])
		relay_dump_log(relay, 4000);
	cr_assert_not_null(viewers[0], "u1 could not log in");
	cr_assert(wait_calls("start u1 ", "user=u1 ", 1, WAIT_MS),
		  "the hook was not started for u1");
	int64_t end = it_now_ms() + WAIT_MS;
	while (au_viewer_updates(viewers[0]) < 1 && it_now_ms() < end)
		it_sleep_ms(50);
	cr_assert_geq(au_viewer_updates(viewers[0]), 1, "u1 got no pixels from its host");
	cr_assert(au_audit_wait(env.audit, line, sizeof(line), WAIT_MS,
				"\"event\":\"host-spawned\"", "\"user\":\"u1\"",
				"\"browser_host\":\"127.0.0.1:", NULL));
	/* Back within the linger: the same host, no second start. */
	au_viewer_stop(viewers[0]);
	viewers[0] = log_in(relay, "u1", NULL);
	cr_assert_not_null(viewers[0], "u1 could not log in again");
	cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"host-assign\"",
				"\"user\":\"u1\"", "\"reason\":\"the user's host is running\"",
				NULL));
	cr_assert_eq(calls("start ", NULL), 1, "the hook was started twice for one user");
	/* Gone for longer than the linger: stopped, with the address it started. */
	au_viewer_stop(viewers[0]);
	viewers[0] = NULL;
	cr_assert(wait_calls("stop u1 ", "127.0.0.1:", 1, WAIT_MS), "the hook was not stopped");
	cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"host-stopped\"",
				"\"user\":\"u1\"", NULL));
	verify_audit();
}

Test(broker, spawn_failure_refuses_the_login)
{
	setup();
	setup_hook("fail");
	relay = start_spawn_relay(NULL);
	must_be_refused(relay, "u2");
	cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"host-spawn-failed\"",
				"\"user\":\"u2\"", "\"reason\":\"exited with status 3\"", NULL));
	cr_assert_eq(calls("stop", NULL), 0);
	verify_audit();
}

Test(broker, spawn_hook_that_hangs_times_out)
{
	setup();
	setup_hook("hang");
	relay = start_spawn_relay("spawn_timeout = 2\n");
	int64_t t0 = it_now_ms();
	must_be_refused(relay, "u3");
	cr_assert_lt(it_now_ms() - t0, 8000, "the hanging hook held the login past its timeout");
	cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"host-spawn-failed\"",
				"\"user\":\"u3\"", "\"reason\":\"timed out", NULL));
	verify_audit();
}

Test(broker, spawn_address_outside_the_networks_is_refused)
{
	setup();
	setup_hook("outside");
	relay = start_spawn_relay(NULL);
	must_be_refused(relay, "u4");
	cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"host-spawn-failed\"",
				"\"user\":\"u4\"", "outside [broker] spawn_networks", NULL));
	verify_audit();
}

Test(broker, spawned_host_with_its_own_password)
{
	setup();
	setup_hook("password");
	relay = start_spawn_relay(NULL);
	viewers[0] = log_in(relay, "u5", NULL);
	if (!viewers[0])
		relay_dump_log(relay, 4000);
	cr_assert_not_null(viewers[0], "u5 could not log in");
	/* The host refuses a worker without the password the hook printed the file of. */
	int64_t end = it_now_ms() + WAIT_MS;
	while (au_viewer_updates(viewers[0]) < 1 && it_now_ms() < end)
		it_sleep_ms(50);
	if (au_viewer_updates(viewers[0]) < 1)
		relay_dump_log(relay, 4000);
	cr_assert_geq(au_viewer_updates(viewers[0]), 1, "u5 got no pixels from its host");
	cr_assert_not(relay_log_contains(relay, "pw-"), "the host's password reached the log");
	verify_audit();
	cr_assert_eq(au_audit_count(env.audit, "pw-", NULL), 0, "the password reached the audit");
}

Test(broker, viewer_gone_while_its_host_starts)
{
	setup();
	setup_hook("slow");
	relay = start_spawn_relay("linger = 1\n");
	/* Credentials, then hang up while the hook is still starting the host. */
	struct au_tls *t = au_tls_open(relay_port(relay), env.cert);
	cr_assert_not_null(t);
	cr_assert_eq(au_tls_send_plain(t, "u6", 2, PW, strlen(PW)), 0);
	cr_assert(wait_calls("start u6 ", NULL, 1, WAIT_MS), "the hook was not started");
	au_tls_free(t);
	/* The host it started anyway is stopped once its session has lingered. */
	cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"host-spawned\"",
				"\"user\":\"u6\"", NULL));
	cr_assert(wait_calls("stop u6 ", "127.0.0.1:", 1, WAIT_MS),
		  "the host of a viewer that left was never stopped");
	cr_assert(relay_alive(relay));
	verify_audit();
}
