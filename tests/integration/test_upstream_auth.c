/* A browser host with VNC authentication: the relay logs in with the password from
 * --upstream-password-file, and viewers (security None) still get the picture. */
#include <criterion/criterion.h>

#include "harness_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct it_host *host;
static struct it_relay *relay;
static struct it_viewer *viewer;
static char pw_path[64];

static void teardown(void)
{
	viewer_stop(viewer);
	relay_stop(relay);
	host_free(host);
	if (pw_path[0])
		unlink(pw_path);
}

TestSuite(upstream_auth, .fini = teardown, .timeout = 60);

Test(upstream_auth, relay_logs_in_with_password_file)
{
	static const struct it_viewer_opts o = {
	    .bpp = 32, .encodings = "copyrect zrle", .compress = -1};
	const char *args[] = {"--upstream-password-file", pw_path, NULL};
	const char *err;
	int fd, port;

	if (it_direct_mode())
		cr_skip_test("direct mode: the viewers have no password to give");
	host = host_start(320, 240, &(struct it_host_opts){.password = "pg-it-pw"});
	cr_assert_not_null(host, "host did not start");
	snprintf(pw_path, sizeof(pw_path), "/tmp/pg-it-pw-XXXXXX");
	fd = mkstemp(pw_path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "pg-it-pw\n", 9), 9);
	close(fd);
	port = it_front_port(host, &relay, args);
	cr_assert(port > 0, "relay did not start");
	viewer = viewer_start(port, &o);
	cr_assert_not_null(viewer, "viewer did not connect");
	err = viewer_wait_match(viewer, host, 15000, 0);
	if (err)
		relay_dump_log(relay, 6000);
	cr_assert_null(err, "%s", err);
}

/* A [host] section's password wins over [upstream]'s for that browser host: the
 * [upstream] password is wrong for this host, so only the section's lets the
 * worker in. */
Test(upstream_auth, host_section_overrides_upstream)
{
	static const struct it_viewer_opts o = {.bpp = 32, .encodings = "raw", .compress = -1};
	char cfg_path[64], wrong_pw[64], text[1024];
	const char *args[] = {"-c", cfg_path, NULL};
	int fd;

	if (it_direct_mode())
		cr_skip_test("direct mode: the viewers have no password to give");
	host = host_start(320, 240, &(struct it_host_opts){.password = "pw-right"});
	cr_assert_not_null(host, "host did not start");
	snprintf(pw_path, sizeof(pw_path), "/tmp/pg-it-pw-XXXXXX");
	snprintf(wrong_pw, sizeof(wrong_pw), "/tmp/pg-it-pw-XXXXXX");
	snprintf(cfg_path, sizeof(cfg_path), "/tmp/pg-it-cfg-XXXXXX");
	fd = mkstemp(pw_path);
	cr_assert(fd >= 0 && write(fd, "pw-right\n", 9) == 9);
	close(fd);
	fd = mkstemp(wrong_pw);
	cr_assert(fd >= 0 && write(fd, "pw-wrong\n", 9) == 9);
	close(fd);
	snprintf(text, sizeof(text),
		 "[upstream]\npassword_file = %s\n[host 127.0.0.1:%d]\npassword_file = %s\n",
		 wrong_pw, host_port(host), pw_path);
	fd = mkstemp(cfg_path);
	cr_assert(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	relay = relay_start(host_port(host), args);
	cr_assert_not_null(relay, "relay did not start");
	viewer = viewer_start(relay_port(relay), &o);
	cr_assert_not_null(viewer, "viewer did not connect");
	const char *err = viewer_wait_match(viewer, host, 15000, 0);
	if (err)
		relay_dump_log(relay, 6000);
	cr_assert_null(err, "%s", err);
	unlink(wrong_pw);
	unlink(cfg_path);
}
