/* Reloading the policy of a running relay: pixelgate -c CONF --reload (through the
 * admin control socket) and SIGHUP re-read the config and apply the new policy to
 * connected viewers at once, without disconnecting them (view_only flips, keys stop
 * and start reaching the browser host); a broken config is rejected with file:line,
 * the old policy stays and the viewer keeps working; a reload that no longer allows
 * a viewer's network ends that session; and a viewer that receives a stream of
 * updates while the relay reloads several times keeps its connection and its
 * updates. Each reload is checked in the audit trail. Loopback only; every wait is
 * bounded. */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_util.h"
#include "harness_util.h"
#include "policy_util.h"

#define W	320
#define H	240
#define WAIT_MS 10000

static struct au_env env;
static struct it_host *host;
static struct it_relay *relay;
static struct it_viewer *viewer;
static char control[160];
static unsigned seed = 1;

static void teardown(void)
{
	viewer_stop(viewer);
	viewer = NULL;
	relay_stop(relay);
	relay = NULL;
	host_free(host);
	host = NULL;
	au_env_free(&env);
}

TestSuite(policy_reload, .fini = teardown, .timeout = 40);

static void check(const char *err, const char *what)
{
	if (err)
		relay_dump_log(relay, 6000);
	cr_assert_null(err, "%s: %s", what, err);
}

static void write_policy(const char *policy)
{
	char sections[4096];

	snprintf(sections, sizeof(sections), "[policy]\n%s", policy);
	cr_assert(pu_write_config(&env, host_port(host), NULL, sections));
}

/* Host, config with these [policy] lines, relay, and a viewer that sees the host. */
static void start(const char *policy)
{
	static const struct it_viewer_opts o = {.bpp = 32, .encodings = "raw", .compress = -1};

	if (it_direct_mode())
		cr_skip_test("reloads are the relay's: nothing to test with PG_IT_DIRECT=1");
	cr_assert(au_env_init(&env, false), "cannot make the scratch folder");
	pu_control_path(&env, control, sizeof(control));
	host = host_start(W, H, NULL);
	cr_assert_not_null(host, "host did not start");
	write_policy(policy);
	relay = pu_relay_start(&env, host_port(host));
	cr_assert_not_null(relay, "relay did not start");
	viewer = viewer_start(relay_port(relay), &o);
	cr_assert_not_null(viewer, "viewer did not connect");
	check(viewer_wait_match(viewer, host, 15000, 0), "first picture");
}

/* The viewer presses and releases key; true when both reached the host. */
static bool key_crosses(uint32_t key)
{
	int before = host_key_count(host);

	if (!viewer_send_key(viewer, key, true) || !viewer_send_key(viewer, key, false))
		return false;
	return pu_wait_count(host_key_count, host, before + 2, 3000);
}

/* The viewer presses and releases key after a view-only reload: the relay records
 * the block (once per viewer), and the key does not reach the host. */
static void key_blocked(uint32_t key)
{
	int before = host_key_count(host);

	cr_assert(viewer_send_key(viewer, key, true));
	cr_assert(viewer_send_key(viewer, key, false));
	if (!au_audit_wait(env.audit, NULL, 0, WAIT_MS, "\"event\":\"input-blocked\"", NULL))
		relay_dump_log(relay, 4000);
	cr_assert(au_audit_wait(env.audit, NULL, 0, 0, "\"event\":\"input-blocked\"", NULL),
		  "no input-blocked record after view_only = yes was reloaded");
	it_sleep_ms(400);
	cr_assert_eq(host_key_count(host), before, "a key reached the host after view_only = yes");
}

static void still_following(const char *after)
{
	char what[128];

	cr_assert(viewer_connected(viewer), "the viewer was disconnected by %s", after);
	host_change_region(host, 30, 30, 120, 90, ++seed);
	snprintf(what, sizeof(what), "picture after %s", after);
	check(viewer_wait_match(viewer, host, WAIT_MS, 0), what);
}

/* The number of the first line of the config that contains needle. */
static int config_line_of(const char *needle)
{
	char buf[1024];
	int n = 0, found = -1;
	FILE *f = fopen(env.config, "r");

	cr_assert_not_null(f);
	while (found < 0 && fgets(buf, sizeof(buf), f)) {
		n++;
		if (strstr(buf, needle))
			found = n;
	}
	fclose(f);
	cr_assert(found > 0, "'%s' is not in the config", needle);
	return found;
}

Test(policy_reload, control_socket_reload_applies_view_only_at_once)
{
	char out[4096], line[2048];

	start("view_only = no\n");
	cr_assert(key_crosses(0x61), "a key did not reach the host before the reload");

	write_policy("view_only = yes\n");
	cr_assert_eq(pu_reload_command(&env, out, sizeof(out)), 0, "pixelgate --reload: %s", out);
	cr_assert(strstr(out, "ok: configuration applied to 1 viewers"), "pixelgate --reload: %s",
		  out);
	cr_assert(au_audit_wait(env.audit, line, sizeof(line), WAIT_MS,
				"\"event\":\"config-reload\"", "\"result\":\"applied\"",
				"\"trigger\":\"control socket\"", "\"viewers\":1", NULL),
		  "no config-reload record");
	cr_assert(au_audit_wait(env.audit, line, sizeof(line), WAIT_MS,
				"\"event\":\"policy-applied\"", "\"reason\":\"reload\"",
				"\"previous\":\"policy\"", "\"user\":\"-\"", NULL),
		  "no policy-applied record for the connected viewer");
	key_blocked(0x62);
	still_following("the reload to view_only = yes");

	/* And back: input crosses again, same connection. */
	write_policy("view_only = no\n");
	cr_assert_eq(pu_reload_command(&env, out, sizeof(out)), 0, "pixelgate --reload: %s", out);
	cr_assert(key_crosses(0x63), "a key did not reach the host after view_only = no");
	still_following("the reload to view_only = no");
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"config-reload\"",
				    "\"result\":\"applied\"", NULL),
		     2);
	cr_assert_eq(pu_control(control, "status", out, sizeof(out)), 0, "status: no answer");
	cr_assert(strncmp(out, "ok:", 3) == 0 && strstr(out, "2 reloads"), "status: %s", out);
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"viewer-leave\"", NULL), 0);
}

Test(policy_reload, broken_config_is_rejected_with_file_and_line)
{
	char out[4096], line[2048], where[256];
	int lineno;

	start("view_only = no\n");
	cr_assert(key_crosses(0x61));

	write_policy("keys_per_second = 5\nview_only = maybe\n");
	lineno = config_line_of("view_only = maybe");
	snprintf(where, sizeof(where), "%s:%d:", env.config, lineno);

	/* The admin's command: refused with file:line, exit status 1. */
	cr_assert_eq(pu_reload_command(&env, out, sizeof(out)), 1,
		     "pixelgate --reload of a broken config: %s", out);
	cr_assert(strstr(out, where), "pixelgate --reload does not name %s: %s", where, out);

	/* The relay itself, asked on its socket, rejects it the same way and keeps the
	 * running configuration. */
	cr_assert_eq(pu_control(control, "reload", out, sizeof(out)), 0, "no answer to reload");
	cr_assert(strstr(out, where) && strstr(out, "rejected"), "the relay's answer: %s", out);
	cr_assert(au_audit_wait(env.audit, line, sizeof(line), WAIT_MS,
				"\"event\":\"config-reload\"", "\"result\":\"rejected\"",
				"\"trigger\":\"control socket\"", NULL),
		  "no config-reload rejected record");
	cr_assert(strstr(line, where), "the audit record does not name %s: %s", where, line);
	cr_assert(relay_log_contains(relay, where), "the relay's log does not name %s", where);
	cr_assert_eq(au_audit_count(env.audit, "\"reason\":\"reload\"", NULL), 0,
		     "a rejected config was applied to the viewer");

	/* The old policy holds, and the viewer never noticed. */
	cr_assert(key_crosses(0x62), "a key did not reach the host after the rejected reload");
	still_following("a rejected reload");
	cr_assert(relay_alive(relay));
}

Test(policy_reload, sighup_reloads_and_keeps_the_audit_chain)
{
	char line[2048];

	start("");
	cr_assert(key_crosses(0x61));
	write_policy("view_only = yes\n");
	cr_assert_eq(kill(relay_pid(relay), SIGHUP), 0);
	if (!au_audit_wait(env.audit, line, sizeof(line), WAIT_MS, "\"event\":\"config-reload\"",
			   "\"trigger\":\"SIGHUP\"", NULL))
		relay_dump_log(relay, 4000);
	cr_assert(au_audit_wait(env.audit, line, sizeof(line), 0, "\"event\":\"config-reload\"",
				"\"result\":\"applied\"", "\"trigger\":\"SIGHUP\"", NULL),
		  "no config-reload applied record for SIGHUP");
	key_blocked(0x62);
	still_following("SIGHUP");
	relay_stop(relay);
	relay = NULL;
	cr_assert_eq(au_audit_verify(env.audit), 0, "the audit chain broke across SIGHUP");
}

Test(policy_reload, reload_that_excludes_the_network_ends_the_session)
{
	char out[4096], line[2048];

	start("allowed_networks = 127.0.0.0/8\n");
	write_policy("allowed_networks = 10.0.0.0/8\n");
	cr_assert_eq(pu_reload_command(&env, out, sizeof(out)), 0, "pixelgate --reload: %s", out);
	cr_assert(viewer_wait_disconnect(viewer, WAIT_MS),
		  "a viewer outside the reloaded allowed_networks kept its session");
	cr_assert(au_audit_wait(env.audit, line, sizeof(line), WAIT_MS,
				"\"event\":\"session-limit\"", "\"rule\":\"allowed_networks\"",
				"\"source\":\"127.0.0.1\"", NULL),
		  "no session-limit record");
}

Test(policy_reload, reloads_under_a_stream_of_updates)
{
	char out[4096];
	int64_t next_reload;
	int reloads = 0, updates;

	start("keys_per_second = 20\n");
	/* The host changes all the time; five reloads come meanwhile. */
	next_reload = it_now_ms() + 200;
	while (reloads < 5) {
		seed++;
		host_change_region(host, (int)(seed * 37 % 200), (int)(seed * 53 % 150), 120, 90,
				   seed);
		it_sleep_ms(15);
		if (it_now_ms() < next_reload)
			continue;
		updates = viewer_updates(viewer);
		write_policy(reloads % 2 ? "keys_per_second = 20\n" : "keys_per_second = 30\n");
		cr_assert_eq(pu_control(control, "reload", out, sizeof(out)), 0,
			     "reload %d: no answer", reloads + 1);
		cr_assert(strncmp(out, "ok:", 3) == 0, "reload %d: %s", reloads + 1, out);
		reloads++;
		/* Updates keep coming after each reload. */
		for (int64_t end = it_now_ms() + 3000;
		     viewer_updates(viewer) < updates + 3 && it_now_ms() < end;) {
			host_change_region(host, 0, 0, 60, 40, ++seed);
			it_sleep_ms(15);
		}
		cr_assert_geq(viewer_updates(viewer), updates + 3,
			      "updates stopped around reload %d (%d before, %d after)", reloads,
			      updates, viewer_updates(viewer));
		cr_assert(viewer_connected(viewer), "the viewer was disconnected by reload %d",
			  reloads);
		next_reload = it_now_ms() + 150;
	}
	still_following("five reloads under load");
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"config-reload\"",
				    "\"result\":\"applied\"", NULL),
		     5);
	cr_assert_eq(au_audit_count(env.audit, "\"event\":\"policy-applied\"",
				    "\"reason\":\"reload\"", NULL),
		     5);
	cr_assert(key_crosses(0x61), "input does not cross after the reloads");
	cr_assert(relay_alive(relay));
}
