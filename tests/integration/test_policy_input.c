/* The [policy] input and session rules, enforced by the running relay between a
 * libvncclient viewer and a libvncserver browser host: view_only drops keys and
 * pointer (audited once); keys_per_second / keys_burst drop key-downs over the bucket
 * and the ups that belong to them, so no key sticks; idle_timeout draws a red warning
 * into the top of the picture warn_before seconds ahead, input removes it, and without
 * input the viewer is closed; max_session closes even a busy viewer; allowed_networks
 * refuses a loopback viewer before the browser host is ever contacted, or admits it;
 * and, with VeNCrypt logins, max_sessions_per_user and [policy GROUP] sections where
 * the most restrictive group wins. Every decision is checked in the audit trail.
 * Loopback only; every wait is bounded. */
#include <criterion/criterion.h>

#include <rfb/rfbclient.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_util.h"
#include "harness_util.h"
#include "policy_util.h"

#define W	320
#define H	240
#define WAIT_MS 10000

#define PW_ALICE "correct horse battery"
#define PW_BOB	 "staple-of-the-gate"
#define PW_CAROL "contractor and press"

static struct au_env env;
static struct it_host *host;
static struct it_relay *relay;
static struct it_viewer *viewer;
static struct au_viewer *logins[4];

static void teardown(void)
{
	for (size_t i = 0; i < sizeof(logins) / sizeof(logins[0]); i++) {
		au_viewer_stop(logins[i]);
		logins[i] = NULL;
	}
	viewer_stop(viewer);
	viewer = NULL;
	relay_stop(relay);
	relay = NULL;
	host_free(host);
	host = NULL;
	au_env_free(&env);
}

TestSuite(policy_input, .fini = teardown, .timeout = 40);

static void check(const char *err, const char *what)
{
	if (err)
		relay_dump_log(relay, 6000);
	cr_assert_null(err, "%s: %s", what, err);
}

/* Host, config (security = none) with these [policy] lines, relay. */
static void start(const char *policy)
{
	char sections[4096];

	if (it_direct_mode())
		cr_skip_test("the policy is the relay's: nothing to test with PG_IT_DIRECT=1");
	cr_assert(au_env_init(&env, false), "cannot make the scratch folder");
	host = host_start(W, H, NULL);
	cr_assert_not_null(host, "host did not start");
	snprintf(sections, sizeof(sections), "[policy]\n%s", policy);
	cr_assert(pu_write_config(&env, host_port(host), NULL, sections));
	relay = pu_relay_start(&env, host_port(host));
	cr_assert_not_null(relay, "relay did not start with the policy config");
}

/* A libvncclient viewer that sees the host's picture. */
static struct it_viewer *must_view(void)
{
	static const struct it_viewer_opts o = {.bpp = 32, .encodings = "raw", .compress = -1};
	struct it_viewer *v = viewer_start(relay_port(relay), &o);

	if (!v)
		relay_dump_log(relay, 4000);
	cr_assert_not_null(v, "viewer did not connect");
	check(viewer_wait_match(v, host, 15000, 0), "first picture");
	return v;
}

/* Wait for the audit record with needles a to d (NULL ones are left out). */
static void audit_must(char *line, size_t size, const char *what, const char *a, const char *b,
		       const char *c, const char *d)
{
	if (!au_audit_wait(env.audit, line, size, WAIT_MS, a, b ? b : a, c ? c : a, d ? d : a,
			   NULL)) {
		relay_dump_log(relay, 4000);
		cr_assert_fail("no audit record: %s", what);
	}
}

static bool wait_pointer_at(int x, int y, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	int px, py, pb;

	do {
		if (host_last_pointer(host, &px, &py, &pb) && px == x && py == y)
			return true;
		it_sleep_ms(10);
	} while (it_now_ms() < deadline);
	return false;
}

Test(policy_input, view_only_drops_keys_and_pointer)
{
	char line[2048];

	start("view_only = yes\n");
	viewer = must_view();
	audit_must(line, sizeof(line), "policy-applied", "\"event\":\"policy-applied\"",
		   "\"user\":\"-\"", "\"source\":\"127.0.0.1\"", "\"view_only\":true");
	cr_assert(strstr(line, "\"policy\":\"policy\""), "policy-applied: %s", line);

	cr_assert(viewer_send_key(viewer, 0x61, true));
	cr_assert(viewer_send_key(viewer, 0x61, false));
	cr_assert(viewer_send_pointer(viewer, 10, 20, 1));
	cr_assert(viewer_send_pointer(viewer, 10, 20, 0));
	audit_must(line, sizeof(line), "input-blocked", "\"event\":\"input-blocked\"",
		   "\"user\":\"-\"", "\"input\":\"keyboard\"", "\"rule\":\"view_only = yes\"");
	cr_assert(strstr(line, "\"browser_host\":\"127.0.0.1:"), "input-blocked: %s", line);
	/* More of both, then time for anything that slipped through to arrive. */
	for (int i = 0; i < 20; i++) {
		cr_assert(viewer_send_key(viewer, 0xff0d, i % 2 == 0));
		cr_assert(viewer_send_pointer(viewer, i, i, i % 2));
	}
	it_sleep_ms(600);
	cr_assert_eq(host_key_count(host), 0, "a view-only viewer's key reached the host");
	cr_assert_eq(host_pointer_count(host), 0, "a view-only viewer's pointer reached the host");
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"input-blocked\"", NULL), 1,
		     "input-blocked is written once per viewer");
	/* Still a viewer: connected, and following the picture. */
	cr_assert(viewer_connected(viewer), "view-only viewer was disconnected");
	host_change_region(host, 20, 20, 100, 80, 9);
	check(viewer_wait_match(viewer, host, WAIT_MS, 0), "picture after blocked input");
}

/* Key events the host saw: downs, ups, and whether every up follows its own down. */
static void count_keys(int *downs, int *ups, bool *paired)
{
	int n = host_key_count(host);

	*downs = *ups = 0;
	*paired = true;
	for (int i = 0; i < n; i++) {
		uint32_t key, prev = 0;
		bool down, prev_down = false;

		cr_assert(host_key_at(host, i, &key, &down));
		if (down)
			(*downs)++;
		else
			(*ups)++;
		if (i > 0)
			cr_assert(host_key_at(host, i - 1, &prev, &prev_down));
		if (!down && (i == 0 || !prev_down || prev != key))
			*paired = false;
	}
}

Test(policy_input, keys_over_the_rate_are_dropped_with_their_ups)
{
	char line[2048];
	long long dropped;
	int downs, ups, before;
	bool paired;

	start("keys_per_second = 2\nkeys_burst = 5\n");
	viewer = must_view();
	/* 30 presses as fast as the viewer sends them, then a pointer event as a barrier:
	 * input crosses in order, so once the host has it every key was decided. */
	for (int i = 0; i < 30; i++) {
		cr_assert(viewer_send_key(viewer, 0x61 + i % 26, true));
		cr_assert(viewer_send_key(viewer, 0x61 + i % 26, false));
	}
	cr_assert(viewer_send_pointer(viewer, 7, 9, 0));
	if (!wait_pointer_at(7, 9, WAIT_MS))
		relay_dump_log(relay, 4000);
	cr_assert(wait_pointer_at(7, 9, 100), "the barrier pointer event did not arrive");
	count_keys(&downs, &ups, &paired);
	cr_assert(downs >= 5 && downs <= 7,
		  "host got %d key-downs of 30; the burst is 5 (plus at most 2 s of refill)",
		  downs);
	cr_assert_eq(ups, downs, "host got %d downs but %d ups: a key would stick", downs, ups);
	cr_assert(paired, "a key-up reached the host without its own key-down before it");

	audit_must(line, sizeof(line), "input-limited", "\"event\":\"input-limited\"",
		   "\"user\":\"-\"", "\"rule\":\"keys_per_second = 2, keys_burst = 5\"",
		   "\"policy\":\"policy\"");
	cr_assert(pu_field_int(line, "keys_dropped_so_far", &dropped) && dropped == 1,
		  "the first input-limited record counts 1 dropped key: %s", line);
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"input-limited\"", NULL), 1,
		     "one input-limited record per run of dropped keys");

	/* The bucket refills at 2 a second: after 1.2 s one press gets through again. */
	it_sleep_ms(1200);
	before = host_key_count(host);
	cr_assert(viewer_send_key(viewer, 0xff0d, true));
	cr_assert(viewer_send_key(viewer, 0xff0d, false));
	cr_assert(pu_wait_count(host_key_count, host, before + 2, WAIT_MS),
		  "a key after the refill did not reach the host");
	/* A new run of dropped keys is a new record, counting on. */
	for (int i = 0; i < 10; i++) {
		cr_assert(viewer_send_key(viewer, 0x30 + i, true));
		cr_assert(viewer_send_key(viewer, 0x30 + i, false));
	}
	cr_assert(viewer_send_pointer(viewer, 11, 13, 0));
	cr_assert(wait_pointer_at(11, 13, WAIT_MS), "the second barrier did not arrive");
	cr_assert(pu_audit_nth(env.audit, "input-limited", 1, line, sizeof(line), WAIT_MS),
		  "a second run of dropped keys was not recorded");
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"input-limited\"", NULL), 2,
		     "a second run of dropped keys was not recorded once");
	cr_assert(pu_field_int(line, "keys_dropped_so_far", &dropped) && dropped > 23,
		  "the second record counts on from the first run: %s", line);
	cr_assert(viewer_connected(viewer), "rate limiting disconnected the viewer");
	count_keys(&downs, &ups, &paired);
	cr_assert(ups == downs && paired, "after the second burst: %d downs, %d ups, %s", downs,
		  ups, paired ? "paired" : "an up without its down");
}

/* The warning banner: a row near the top of the viewer's picture (the banner may keep
 * clear of the very edge) whose centre is mostly the banner's red (0xb00020 at 90 %)
 * where the host's own pixel is not red. */
static bool banner_red(uint32_t px)
{
	int r = px >> 16 & 255, g = px >> 8 & 255, b = px & 255;

	return r >= 0x90 && g <= 0x40 && b <= 0x50;
}

#define BANNER_BAND 48 /* rows from the top where the banner must begin */

static bool banner_shown(void)
{
	int w, h, hw, hh;
	uint32_t *v = viewer_snapshot(viewer, &w, &h), *s = host_snapshot(host, &hw, &hh);
	bool shown = false;

	if (v && s && w == hw && h == hh) {
		for (int y = 0; y < BANNER_BAND && y < h && !shown; y++) {
			int red = 0, total = 0;

			for (int x = w / 2 - 30; x < w / 2 + 30; x++) {
				if (banner_red(s[y * w + x]))
					continue;
				total++;
				red += banner_red(v[y * w + x]);
			}
			shown = total > 0 && red * 10 >= total * 9;
		}
	}
	free(v);
	free(s);
	return shown;
}

static bool wait_banner(int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;

	do {
		if (banner_shown())
			return true;
		it_sleep_ms(50);
	} while (it_now_ms() < deadline);
	return false;
}

Test(policy_input, idle_warning_then_disconnect)
{
	char line[2048];
	long long secs;
	int64_t joined;

	start("idle_timeout = 4s\nwarn_before = 2s\n");
	/* Seed 5: greyish green and black and white at the top centre, nothing red. */
	host_fill_pattern(host, 5);
	viewer = must_view();
	joined = it_now_ms();
	audit_must(line, sizeof(line), "policy-applied", "\"event\":\"policy-applied\"",
		   "\"idle_timeout\":4", "\"user\":\"-\"", NULL);
	/* From 2 s before the end, the warning is in the picture. */
	if (!wait_banner(5000))
		relay_dump_log(relay, 4000);
	cr_assert(banner_shown(), "no red warning at the top of the picture before the idle end");
	cr_assert(viewer_connected(viewer), "closed before the idle end");
	/* No input: closed at the idle end. */
	if (!viewer_wait_disconnect(viewer, 6000))
		relay_dump_log(relay, 4000);
	cr_assert_not(viewer_connected(viewer), "an idle viewer was not disconnected");
	cr_assert_geq(it_now_ms() - joined, 3000,
		      "closed %lld ms after joining; idle_timeout is 4 s",
		      (long long)(it_now_ms() - joined));
	audit_must(line, sizeof(line), "session-limit", "\"event\":\"session-limit\"",
		   "\"rule\":\"idle_timeout\"", "\"user\":\"-\"", "\"source\":\"127.0.0.1\"");
	cr_assert(pu_field_int(line, "seconds", &secs) && secs == 4, "session-limit: %s", line);
	cr_assert(strstr(line, "\"browser_host\":\"127.0.0.1:"), "session-limit: %s", line);
	cr_assert(relay_log_contains(relay, "idle too long"), "the log does not say why");
	cr_assert(relay_alive(relay));
}

/* The update that removes the warning must not draw it again (a regression seen while
 * the relay was written: the banner was cleared only after its rectangle had been
 * damaged, and the update starting at once took the banner with it). */
Test(policy_input, input_removes_the_idle_warning)
{
	int64_t input_at;

	start("idle_timeout = 4s\nwarn_before = 2s\n");
	host_fill_pattern(host, 5);
	viewer = must_view();
	if (!wait_banner(5000))
		relay_dump_log(relay, 4000);
	cr_assert(banner_shown(), "no red warning at the top of the picture before the idle end");
	/* Input: the warning goes (the picture is the host's again, exactly) and the session
	 * outlives its first idle end. */
	input_at = it_now_ms();
	cr_assert(viewer_send_pointer(viewer, 50, 60, 0));
	check(viewer_wait_match(viewer, host, 1800, 0), "picture after input (warning gone)");
	while (it_now_ms() - input_at < 2500 && viewer_connected(viewer))
		it_sleep_ms(50);
	cr_assert(viewer_connected(viewer), "input did not keep the session");
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"session-limit\"", NULL), 0);
}

Test(policy_input, max_session_ends_a_busy_session)
{
	char line[2048];
	int64_t start_ms;

	start("max_session = 3s\nwarn_before = 1s\nidle_timeout = 1h\n");
	viewer = must_view();
	start_ms = it_now_ms();
	/* Input all along: idleness is not what ends it. */
	for (int i = 0; viewer_connected(viewer) && it_now_ms() - start_ms < 6000; i++) {
		viewer_send_pointer(viewer, i % W, 5, 0);
		it_sleep_ms(100);
	}
	cr_assert_not(viewer_connected(viewer), "max_session = 3s did not end the session");
	audit_must(line, sizeof(line), "session-limit", "\"event\":\"session-limit\"",
		   "\"rule\":\"max_session\"", "\"seconds\":3", NULL);
	cr_assert_eq(au_audit_count(env.audit, "\"rule\":\"idle_timeout\"", NULL), 0);
}

Test(policy_input, allowed_networks_refuses_loopback_outside_the_list)
{
	static const struct it_viewer_opts o = {.bpp = 32, .encodings = "raw", .compress = -1};
	char line[2048];

	start("allowed_networks = 10.0.0.0/8\n");
	viewer = viewer_start(relay_port(relay), &o);
	cr_assert_null(viewer, "a viewer from 127.0.0.1 got in with allowed_networks = 10.0.0.0/8");
	audit_must(line, sizeof(line), "session-refused", "\"event\":\"session-refused\"",
		   "\"rule\":\"allowed_networks\"", "\"user\":\"-\"", "\"source\":\"127.0.0.1\"");
	cr_assert(strstr(line, "\"policy\":\"policy\""), "session-refused: %s", line);
	/* Refused before a session: the browser host never saw the relay. */
	it_sleep_ms(300);
	cr_assert_eq(host_clients(host), 0, "the relay connected to the host for a refused viewer");
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"policy-applied\"", NULL), 0);
}

Test(policy_input, allowed_networks_admits_loopback_inside_the_list)
{
	start("allowed_networks = 10.0.0.0/8, 127.0.0.0/8\n");
	viewer = must_view();
	cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"policy-applied\"",
				"\"source\":\"127.0.0.1\"", NULL));
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"session-refused\"", NULL), 0);
}

/* ---- with logins: per-user and per-group rules ---- */

static void start_logins(const char *policy)
{
	char a[512], b[512], c[512], hash[256], text[4096];

	if (it_direct_mode())
		cr_skip_test("the policy is the relay's: nothing to test with PG_IT_DIRECT=1");
	cr_assert(au_env_init(&env, true), "cannot make the scratch folder or certificate");
	host = host_start(W, H, NULL);
	cr_assert_not_null(host, "host did not start");
	cr_assert(au_hash(&env, PW_ALICE, hash, sizeof(hash)));
	snprintf(a, sizeof(a), "alice:staff:%s::\n", hash);
	cr_assert(au_hash(&env, PW_BOB, hash, sizeof(hash)));
	snprintf(b, sizeof(b), "bob:staff:%s::\n", hash);
	cr_assert(au_hash(&env, PW_CAROL, hash, sizeof(hash)));
	snprintf(c, sizeof(c), "carol:koho,itaku:%s::\n", hash);
	snprintf(text, sizeof(text), "# policy test users\n%s%s%s", a, b, c);
	cr_assert(au_write_file(env.users, 0600, text));
	cr_assert(au_write_config(&env, policy));
	relay = au_relay_start(&env, host_port(host));
	cr_assert_not_null(relay, "relay did not start with the login config");
}

static struct au_login login_as(const char *user, const char *password)
{
	return (struct au_login){.user = user,
				 .password = password,
				 .ca_file = env.cert,
				 .subtype = rfbVeNCryptX509Plain};
}

static struct au_viewer *must_log_in(const char *user, const char *password)
{
	struct au_login l = login_as(user, password);
	struct au_viewer *v = au_viewer_start(relay_port(relay), &l, NULL);
	const char *why;

	if (!v)
		relay_dump_log(relay, 4000);
	cr_assert_not_null(v, "'%s' could not log in", user);
	why = au_viewer_wait_match(v, host, WAIT_MS);
	cr_assert_null(why, "'%s' does not see the host: %s", user, why);
	return v;
}

Test(policy_input, max_sessions_per_user_with_logins)
{
	struct au_login l;
	bool saw_init = true;
	char line[2048];

	start_logins("[policy]\nmax_sessions_per_user = 1\n");
	logins[0] = must_log_in("alice", PW_ALICE);
	/* A second session of alice: the password is right, the policy says no. */
	l = login_as("alice", PW_ALICE);
	logins[1] = au_viewer_start(relay_port(relay), &l, &saw_init);
	cr_assert_null(logins[1], "alice got a second session with max_sessions_per_user = 1");
	cr_assert_not(saw_init, "the refused session saw ServerInit");
	audit_must(line, sizeof(line), "session-refused", "\"event\":\"session-refused\"",
		   "\"user\":\"alice\"", "\"rule\":\"max_sessions_per_user\"",
		   "\"source\":\"127.0.0.1\"");
	cr_assert(au_viewer_connected(logins[0]), "the refusal disturbed alice's first session");
	/* Another user is not counted against alice. */
	logins[2] = must_log_in("bob", PW_BOB);
	/* Once alice's first session has ended, she may log in again. */
	au_viewer_stop(logins[0]);
	logins[0] = NULL;
	cr_assert(au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"viewer-leave\"",
				"\"user\":\"alice\"", NULL));
	logins[1] = must_log_in("alice", PW_ALICE);
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"session-refused\"", NULL), 1);
	cr_assert_eq(au_audit_verify(env.audit), 0, "the audit chain does not verify");
}

Test(policy_input, group_sections_most_restrictive_wins)
{
	char line[2048];
	int n;

	/* carol is in koho (which says view_only = no) and itaku (view_only = yes);
	 * alice is in staff, which has no section: [policy]. */
	start_logins("[policy]\nview_only = no\n"
		     "[policy koho]\nview_only = no\nkeys_per_second = 100\nkeys_burst = 200\n"
		     "[policy itaku]\nview_only = yes\n");
	logins[0] = must_log_in("carol", PW_CAROL);
	logins[1] = must_log_in("alice", PW_ALICE);
	audit_must(line, sizeof(line), "carol's policy", "\"event\":\"policy-applied\"",
		   "\"user\":\"carol\"", "\"view_only\":true", NULL);
	cr_assert(strstr(line, "policy itaku") && strstr(line, "policy koho"),
		  "carol's policy does not name both sections: %s", line);
	audit_must(line, sizeof(line), "alice's policy", "\"event\":\"policy-applied\"",
		   "\"user\":\"alice\"", "\"view_only\":false", "\"policy\":\"policy\"");

	/* carol's keys and clicks never reach the host; alice's do (and her pointer event,
	 * sent last, is the barrier for carol's, sent before it). */
	cr_assert(au_viewer_send_key(logins[0], 0x63, true));
	cr_assert(au_viewer_send_key(logins[0], 0x63, false));
	cr_assert(au_viewer_send_pointer(logins[0], 30, 40, 1));
	audit_must(line, sizeof(line), "carol's input-blocked", "\"event\":\"input-blocked\"",
		   "\"user\":\"carol\"", "\"rule\":\"view_only = yes\"", NULL);
	cr_assert(strstr(line, "policy itaku"), "input-blocked: %s", line);
	cr_assert(au_viewer_send_key(logins[1], 0x61, true));
	cr_assert(au_viewer_send_key(logins[1], 0x61, false));
	cr_assert(au_viewer_send_pointer(logins[1], 77, 88, 0));
	cr_assert(wait_pointer_at(77, 88, WAIT_MS), "alice's pointer did not reach the host");
	cr_assert(pu_wait_count(host_key_count, host, 2, WAIT_MS), "alice's keys did not arrive");
	it_sleep_ms(200);
	n = host_key_count(host);
	cr_assert_eq(n, 2, "the host got %d key events; only alice's 2 may arrive", n);
	for (int i = 0; i < n; i++) {
		uint32_t key;
		bool down;

		cr_assert(host_key_at(host, i, &key, &down));
		cr_assert_eq(key, 0x61, "carol's key 0x%x reached the host", key);
	}
	cr_assert_eq(host_pointer_count(host), 1, "carol's pointer event reached the host");
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"input-blocked\"", NULL), 1);
	cr_assert(au_viewer_connected(logins[0]) && au_viewer_connected(logins[1]));
	cr_assert_eq(au_audit_verify(env.audit), 0, "the audit chain does not verify");
}
