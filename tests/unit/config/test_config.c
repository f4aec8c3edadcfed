/* The config file and command-line keys: defaults, every kind of bad value, and
 * that each error names file:line and a hint. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

static char path[64];

static void write_file(const char *text)
{
	strcpy(path, "/tmp/pg-config-XXXXXX");
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static bool has_error(const struct pg_config_errors *e, const char *needle)
{
	for (int i = 0; i < e->count; i++)
		if (strstr(e->msg[i], needle))
			return true;
	return false;
}

Test(config, defaults)
{
	struct pg_config c;
	pg_config_init(&c);
	cr_assert_str_eq(c.relay_listen, "127.0.0.1:5900");
	cr_assert_eq(c.relay_max_fps, 60);
	cr_assert_str_eq(c.upstream_address, "");
	pg_config_free(&c);
}

Test(config, reads_a_good_file)
{
	struct pg_config c;
	struct pg_config_errors e = {0};
	write_file(
	    "; a comment\n[relay]\nlisten = 127.0.0.2:6000\nsecurity = none\nmax_fps = 45\n\n"
	    "[upstream]\naddress = 127.0.0.1:5901\n");
	pg_config_init(&c);
	cr_assert_eq(pg_config_load(&c, path, &e), 0, "%s", e.msg[0]);
	cr_assert_str_eq(c.relay_listen, "127.0.0.2:6000");
	cr_assert_eq(c.relay_max_fps, 45);
	cr_assert_eq(pg_config_check(&c, &e), 0, "%s", e.msg[0]);
	pg_config_free(&c);
	unlink(path);
}

Test(config, unknown_key_names_file_and_line)
{
	struct pg_config c;
	struct pg_config_errors e = {0};
	write_file("[relay]\nlisten = 127.0.0.1:5900\nmax_fsp = 30\n");
	pg_config_init(&c);
	cr_assert_eq(pg_config_load(&c, path, &e), -1);
	char want[160];
	snprintf(want, sizeof(want), "%s:3: unknown key 'max_fsp' in [relay]", path);
	cr_assert(has_error(&e, want), "got: %s", e.msg[0]);
	cr_assert(has_error(&e, "relay.max_fps"), "the hint lists known keys: %s", e.msg[0]);
	pg_config_free(&c);
	unlink(path);
}

Test(config, bad_values_are_each_reported)
{
	struct pg_config c;
	struct pg_config_errors e = {0};
	write_file("[relay]\nmax_fps = fast\nmax_viewers = 0\n[nosuch]\nx = 1\nlonely line\n");
	pg_config_init(&c);
	cr_assert_eq(pg_config_load(&c, path, &e), -1);
	cr_assert(has_error(&e, ":2: [relay] max_fps = 'fast' is not a whole number"));
	cr_assert(
	    has_error(&e, ":3: [relay] max_viewers = 0 is out of range (expected 1..100000)"));
	cr_assert(has_error(&e, ":5: unknown key 'x' in [nosuch]"));
	cr_assert(has_error(&e, ":6: not an INI line"));
	pg_config_free(&c);
	unlink(path);
}

Test(config, key_outside_section)
{
	struct pg_config c;
	struct pg_config_errors e = {0};
	write_file("listen = 127.0.0.1:5900\n");
	pg_config_init(&c);
	cr_assert_eq(pg_config_load(&c, path, &e), -1);
	cr_assert(has_error(&e, ":1: key 'listen' is outside any [section]"));
	pg_config_free(&c);
	unlink(path);
}

Test(config, missing_file)
{
	struct pg_config c;
	struct pg_config_errors e = {0};
	pg_config_init(&c);
	cr_assert_eq(pg_config_load(&c, "/nonexistent/pixelgate.conf", &e), -1);
	cr_assert(has_error(&e, "/nonexistent/pixelgate.conf: cannot open"));
	pg_config_free(&c);
}

Test(config, check_refuses_none_security_off_loopback)
{
	struct pg_config c;
	struct pg_config_errors e = {0};
	pg_config_init(&c);
	cr_assert_eq(pg_config_set(&c, "relay", "listen", "0.0.0.0:5900", "command line", &e), 0);
	cr_assert_eq(pg_config_set(&c, "relay", "security", "none", "command line", &e), 0);
	cr_assert_eq(pg_config_set(&c, "upstream", "address", "127.0.0.1:5901", "x", &e), 0);
	cr_assert_eq(pg_config_check(&c, &e), -1);
	cr_assert(has_error(&e, "security = none (no login) is allowed only on loopback"));
	pg_config_free(&c);
}

Test(config, check_requires_upstream)
{
	struct pg_config c;
	struct pg_config_errors e = {0};
	pg_config_init(&c);
	cr_assert_eq(pg_config_check(&c, &e), -1);
	cr_assert(has_error(&e, "[upstream] address is not set"));
	pg_config_free(&c);
}

Test(config, hostport)
{
	char host[64];
	int port;
	const char *why;
	cr_assert_eq(pg_config_parse_hostport("127.0.0.1:5900", host, sizeof(host), &port, &why),
		     0);
	cr_assert_str_eq(host, "127.0.0.1");
	cr_assert_eq(port, 5900);
	cr_assert_eq(pg_config_parse_hostport("[::1]:5901", host, sizeof(host), &port, &why), 0);
	cr_assert_str_eq(host, "::1");
	cr_assert_eq(port, 5901);
	cr_assert_eq(pg_config_parse_hostport("::1:5901", host, sizeof(host), &port, &why), -1);
	cr_assert_eq(pg_config_parse_hostport("host:0", host, sizeof(host), &port, &why), -1);
	cr_assert_eq(pg_config_parse_hostport("host:65536", host, sizeof(host), &port, &why), -1);
	cr_assert_eq(pg_config_parse_hostport(":80", host, sizeof(host), &port, &why), -1);
	cr_assert_eq(pg_config_parse_hostport("host", host, sizeof(host), &port, &why), -1);
	cr_assert(pg_config_is_loopback("127.3.4.5"));
	cr_assert(pg_config_is_loopback("::1"));
	cr_assert(pg_config_is_loopback("localhost"));
	cr_assert_not(pg_config_is_loopback("10.0.0.1"));
	cr_assert_not(pg_config_is_loopback("::"));
}

Test(config, routes_and_group_map)
{
	struct pg_config c;
	struct pg_config_errors e = {0};
	write_file("[routes]\nuser.alice = 127.0.0.1:5901\ngroup.staff = [::1]:5902\n"
		   "user.alice = 127.0.0.1:5903\ngroup.x y = 127.0.0.1:1\nuser.bob = nowhere\n"
		   "[ldap]\ngroup_map = cn=staff,ou=groups,dc=example,dc=org=staff\n"
		   "group_map = kokuho=kokuho\ngroup_map = nogroup\n");
	pg_config_init(&c);
	cr_assert_eq(pg_config_load(&c, path, &e), -1);
	cr_assert_eq(c.nroutes, 2);
	cr_assert(c.routes[1].group && !strcmp(c.routes[1].name, "staff"));
	cr_assert(has_error(&e, ":4: [routes] user.alice is given twice"));
	cr_assert(has_error(&e, ":5: [routes] 'group.x y': expected user.NAME or group.NAME"));
	cr_assert(has_error(&e, ":6: [routes] user.bob = 'nowhere': expected host:port"));
	cr_assert_eq(c.nldap_group_map, 2);
	cr_assert(has_error(&e, ":10: [ldap] group_map = 'nogroup'"));
	pg_config_free(&c);
	unlink(path);
}

Test(config, vencrypt_needs_users_and_certificate)
{
	struct pg_config c;
	struct pg_config_errors e = {0};
	pg_config_init(&c);
	cr_assert_eq(pg_config_set(&c, "upstream", "address", "127.0.0.1:5901", "x", &e), 0);
	cr_assert_eq(pg_config_check(&c, &e), -1);
	cr_assert(has_error(&e, "security = vencrypt needs users_file or [ldap] uri"));
	cr_assert(has_error(&e, "security = vencrypt needs tls_cert and tls_key"));
	pg_config_free(&c);
}

Test(config, admin_listener_checks)
{
	struct pg_config c;
	struct pg_config_errors e = {0};
	write_file("[relay]\nsecurity = none\ndrain_timeout = 5\n[upstream]\naddress = "
		   "127.0.0.1:5901\n[admin]\nlisten = 10.0.0.5:9180\nallow_remote = perhaps\n"
		   "bogus = 1\n");
	pg_config_init(&c);
	cr_assert_eq(c.relay_drain_timeout, 10);
	cr_assert_str_eq(c.admin_listen, "");
	cr_assert_eq(pg_config_load(&c, path, &e), -1);
	cr_assert(has_error(&e, ":9: unknown key 'bogus' in [admin]"), "%s", e.msg[0]);
	cr_assert_eq(c.relay_drain_timeout, 5);
	cr_assert_eq(pg_config_check(&c, &e), -1);
	cr_assert(has_error(&e, "[admin] allow_remote = 'perhaps': expected yes or no"));
	cr_assert(has_error(&e, "is not a loopback address"));
	cr_assert(has_error(&e, "[admin] listen needs token_file"));
	pg_config_free(&c);

	e.count = 0;
	write_file("[relay]\nsecurity = none\n[upstream]\naddress = 127.0.0.1:5901\n[admin]\n"
		   "listen = 10.0.0.5:9180\nallow_remote = yes\ntoken_file = /nonexistent/token\n");
	pg_config_init(&c);
	cr_assert_eq(pg_config_load(&c, path, &e), 0, "%s", e.msg[0]);
	cr_assert_eq(pg_config_check(&c, &e), -1);
	cr_assert(has_error(&e, "[admin] token_file = '/nonexistent/token': cannot read"), "%s",
		  e.msg[0]);
	cr_assert(!has_error(&e, "loopback"));
	pg_config_free(&c);
	unlink(path);
}

Test(config, upstream_resize)
{
	struct pg_config c;
	struct pg_config_errors e = {0};
	pg_config_init(&c);
	cr_assert_str_eq(c.upstream_resize, "follow");
	cr_assert_eq(pg_config_set(&c, "relay", "security", "none", "command line", &e), 0);
	cr_assert_eq(pg_config_set(&c, "upstream", "address", "127.0.0.1:5901", "x", &e), 0);
	cr_assert_eq(pg_config_set(&c, "upstream", "resize", "off", "x", &e), 0);
	cr_assert_eq(pg_config_check(&c, &e), 0, "%s", e.msg[0]);
	cr_assert_eq(pg_config_set(&c, "upstream", "resize", "yes", "x", &e), 0);
	cr_assert_eq(pg_config_check(&c, &e), -1);
	cr_assert(has_error(&e, "[upstream] resize = 'yes': expected follow or off"));
	pg_config_free(&c);
}
