/* [broker]: each mode's keys, checked together with file:line errors, and the
 * networks a spawn hook's address must lie in. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

static bool has_error(const struct pg_config_errors *e, const char *needle)
{
	for (int i = 0; i < e->count; i++)
		if (strstr(e->msg[i], needle))
			return true;
	return false;
}

/* A config with logins, as [broker] needs, and the given broker keys. */
static int check(struct pg_config *c, struct pg_config_errors *e, const char *const *kv)
{
	pg_config_init(c);
	pg_config_set(c, "relay", "users_file", "/dev/null", "x", e);
	pg_config_set(c, "relay", "tls_anon", "1", "x", e);
	for (int i = 0; kv[i]; i += 2)
		if (pg_config_set(c, "broker", kv[i], kv[i + 1], "test.conf:7", e) < 0)
			return -2;
	return pg_config_check(c, e);
}

Test(broker_config, defaults_are_static)
{
	struct pg_config c;
	pg_config_init(&c);
	cr_assert_str_eq(c.broker_mode, "static");
	cr_assert_eq(c.broker_max_sessions_per_host, 1);
	cr_assert_eq(c.broker_spawn_timeout, 60);
	cr_assert_eq(c.broker_linger, 60);
	cr_assert_str_eq(c.broker_spawn_networks, "127.0.0.0/8,::1/128");
	pg_config_free(&c);
}

Test(broker_config, pool_needs_no_upstream_address)
{
	struct pg_config c;
	struct pg_config_errors e = {0};
	const char *kv[] = {"mode", "pool", "hosts", "127.0.0.1:5901, 127.0.0.1:5902", NULL};
	cr_assert_eq(check(&c, &e, kv), 0, "%s", e.msg[0]);
	pg_config_free(&c);
}

Test(broker_config, pool_errors)
{
	struct pg_config c;
	struct pg_config_errors e = {0};
	const char *none[] = {"mode", "pool", NULL};
	cr_assert_eq(check(&c, &e, none), -1);
	cr_assert(has_error(&e, "[broker] mode = pool needs hosts"));
	pg_config_free(&c);

	struct pg_config_errors e2 = {0};
	const char *bad[] = {"mode", "pool", "hosts", "127.0.0.1:5901,nowhere", NULL};
	cr_assert_eq(check(&c, &e2, bad), -1);
	cr_assert(has_error(&e2, "[broker] hosts: 'nowhere': expected host:port"));
	pg_config_free(&c);

	struct pg_config_errors e3 = {0};
	const char *slow[] = {"mode",		"pool",		  "hosts",
			      "127.0.0.1:5901", "check_interval", "1",
			      "check_timeout",	"1000",		  NULL};
	cr_assert_eq(check(&c, &e3, slow), -1);
	cr_assert(has_error(&e3, "must be shorter than check_interval"));
	pg_config_free(&c);
}

Test(broker_config, bad_mode_and_range_name_the_line)
{
	struct pg_config c;
	struct pg_config_errors e = {0};
	const char *mode[] = {"mode", "dynamic", NULL};
	cr_assert_eq(check(&c, &e, mode), -1);
	cr_assert(has_error(&e, "[broker] mode = 'dynamic': expected static, pool or spawn"));
	pg_config_free(&c);

	struct pg_config_errors e2 = {0};
	const char *range[] = {"spawn_timeout", "0", NULL};
	cr_assert_eq(check(&c, &e2, range), -2);
	cr_assert(has_error(&e2, "test.conf:7: [broker] spawn_timeout = 0 is out of range"));
	pg_config_free(&c);
}

Test(broker_config, spawn_errors)
{
	struct pg_config c;
	struct pg_config_errors e = {0};
	const char *rel[] = {"mode", "spawn", "spawn_command", "pg-spawn-host", NULL};
	cr_assert_eq(check(&c, &e, rel), -1);
	cr_assert(has_error(&e, "spawn_command = an absolute path"));
	pg_config_free(&c);

	struct pg_config_errors e2 = {0};
	const char *missing[] = {"mode", "spawn", "spawn_command", "/nonexistent/hook", NULL};
	cr_assert_eq(check(&c, &e2, missing), -1);
	cr_assert(has_error(&e2, "'/nonexistent/hook': cannot run"));
	pg_config_free(&c);

	struct pg_config_errors e3 = {0};
	const char *nets[] = {
	    "mode", "spawn", "spawn_command", "/bin/true", "spawn_networks", "10.0.0.0/33", NULL};
	cr_assert_eq(check(&c, &e3, nets), -1);
	cr_assert(has_error(&e3, "spawn_networks = '10.0.0.0/33'"));
	pg_config_free(&c);

	struct pg_config_errors e4 = {0};
	const char *ok[] = {"mode", "spawn", "spawn_command", "/bin/true", NULL};
	cr_assert_eq(check(&c, &e4, ok), 0, "%s", e4.msg[0]);
	pg_config_free(&c);
}

Test(broker_config, keys_of_another_mode_and_routes_are_refused)
{
	struct pg_config c;
	struct pg_config_errors e = {0};
	const char *kv[] = {"mode",	   "spawn", "spawn_command", "/bin/true", "hosts",
			    "127.0.0.1:1", NULL};
	cr_assert_eq(check(&c, &e, kv), -1);
	cr_assert(has_error(&e, "[broker] hosts is for mode = pool"));
	pg_config_free(&c);

	struct pg_config_errors e2 = {0};
	pg_config_init(&c);
	pg_config_set(&c, "relay", "users_file", "/dev/null", "x", &e2);
	pg_config_set(&c, "relay", "tls_anon", "1", "x", &e2);
	pg_config_set(&c, "routes", "user.alice", "127.0.0.1:5901", "x", &e2);
	pg_config_set(&c, "broker", "mode", "pool", "x", &e2);
	pg_config_set(&c, "broker", "hosts", "127.0.0.1:5902", "x", &e2);
	cr_assert_eq(pg_config_check(&c, &e2), -1);
	cr_assert(has_error(&e2, "[routes] is for [broker] mode = static"));
	pg_config_free(&c);

	struct pg_config_errors e3 = {0};
	pg_config_init(&c);
	pg_config_set(&c, "relay", "security", "none", "x", &e3);
	pg_config_set(&c, "broker", "mode", "pool", "x", &e3);
	pg_config_set(&c, "broker", "hosts", "127.0.0.1:5902", "x", &e3);
	cr_assert_eq(pg_config_check(&c, &e3), -1);
	cr_assert(has_error(&e3, "needs logins"));
	pg_config_free(&c);
}

Test(broker_config, networks)
{
	const char *nets = "127.0.0.0/8, ::1/128,10.96.0.0/12";
	cr_assert(pg_config_in_networks("127.0.0.1", nets));
	cr_assert(pg_config_in_networks("127.255.0.9", nets));
	cr_assert(pg_config_in_networks("::1", nets));
	cr_assert(pg_config_in_networks("10.96.0.1", nets));
	cr_assert(pg_config_in_networks("10.111.255.255", nets));
	cr_assert_not(pg_config_in_networks("10.112.0.0", nets));
	cr_assert_not(pg_config_in_networks("192.0.2.1", nets));
	cr_assert_not(pg_config_in_networks("::2", nets));
	cr_assert_not(pg_config_in_networks("localhost", nets), "names are never in a network");
	cr_assert(pg_config_in_networks("192.0.2.77", "192.0.2.77"));
	cr_assert(pg_config_in_networks("8.8.8.8", "0.0.0.0/0"));
	const char *why;
	cr_assert_eq(pg_config_check_networks(nets, &why), 0);
	cr_assert_eq(pg_config_check_networks("10.0.0.0/8,banana", &why), -1);
	cr_assert_eq(pg_config_check_networks("::/129", &why), -1);
	cr_assert_eq(pg_config_check_networks("10.0.0.0/", &why), -1);
}

Test(broker_config, repeated_hosts_add_up)
{
	struct pg_config c;
	struct pg_config_errors e = {0};
	pg_config_init(&c);
	cr_assert_eq(pg_config_set(&c, "broker", "hosts", "127.0.0.1:5901", "a:1", &e), 0);
	cr_assert_eq(
	    pg_config_set(&c, "broker", "hosts", "127.0.0.1:5902, 127.0.0.1:5903", "a:2", &e), 0);
	cr_assert_str_eq(c.broker_hosts, "127.0.0.1:5901, 127.0.0.1:5902, 127.0.0.1:5903");
	pg_config_free(&c);
}
