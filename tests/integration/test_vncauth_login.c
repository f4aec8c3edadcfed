/* Legacy VNC authentication toward viewers, off by default: with vnc_auth_user set,
 * a viewer may answer a DES challenge (computed here with libvncserver's own
 * rfbEncryptBytes, an implementation pixelgate did not write) and logs in as that
 * user; a wrong answer is refused with the generic message and audited. Without the
 * setting the type is never offered. */
#include <criterion/criterion.h>

#include <rfb/rfb.h>

#include <string.h>
#include <unistd.h>

#include "auth_util.h"
#include "harness_util.h"

#define VNC_PW "vncpass1"

static struct au_env env;
static struct it_host *host;
static struct it_relay *relay;

static void teardown(void)
{
	relay_stop(relay);
	relay = NULL;
	host_free(host);
	host = NULL;
	au_env_free(&env);
}

static void start(bool vnc_auth)
{
	char users[512], hash[256], extra[512], pwfile[160];
	if (it_direct_mode())
		cr_skip_test("logins are the relay's: nothing to test with PG_IT_DIRECT=1");
	cr_assert(au_env_init(&env, true));
	host = host_start(64, 48, NULL);
	cr_assert_not_null(host);
	cr_assert(au_hash(&env, "a long enough password", hash, sizeof(hash)));
	snprintf(users, sizeof(users), "alice:staff:%s::\n", hash);
	cr_assert(au_write_file(env.users, 0600, users));
	snprintf(pwfile, sizeof(pwfile), "%s/vncpw", env.dir);
	cr_assert(au_write_file(pwfile, 0600, VNC_PW "\n"));
	snprintf(extra, sizeof(extra), "vnc_auth_user = alice\nvnc_auth_password_file = %s\n",
		 pwfile);
	cr_assert(au_write_config(&env, vnc_auth ? extra : ""));
	relay = au_relay_start(&env, host_port(host));
	cr_assert_not_null(relay);
}

/* RFB 3.8 up to the security type list; returns the socket, the list in types. */
static int open_and_list(uint8_t *types, uint8_t *n)
{
	int fd = raw_client_open(relay_port(relay), NULL);
	cr_assert_geq(fd, 0);
	cr_assert_eq(raw_client_send(fd, "RFB 003.008\n", 12), 0);
	cr_assert(raw_client_read(fd, n, 1));
	cr_assert(*n > 0 && *n < 8);
	cr_assert(raw_client_read(fd, types, *n));
	return fd;
}

static uint32_t answer(int fd, const char *password)
{
	uint8_t type = rfbVncAuth, challenge[16], result[4];
	cr_assert_eq(raw_client_send(fd, &type, 1), 0);
	cr_assert(raw_client_read(fd, challenge, 16));
	rfbEncryptBytes(challenge, (char *)password);
	cr_assert_eq(raw_client_send(fd, challenge, 16), 0);
	cr_assert(raw_client_read(fd, result, 4), "no SecurityResult");
	return (uint32_t)result[0] << 24 | result[1] << 16 | result[2] << 8 | result[3];
}

Test(vncauth_login, right_password_logs_in, .fini = teardown, .timeout = 60)
{
	uint8_t types[8], n, shared = 1, init[24];
	start(true);
	int fd = open_and_list(types, &n);
	cr_assert(n == 2 && types[0] == 19 && types[1] == rfbVncAuth, "offered %u types", n);
	cr_assert_eq(answer(fd, VNC_PW), 0, "the right VNC password was refused");
	cr_assert_eq(raw_client_send(fd, &shared, 1), 0);
	cr_assert(raw_client_read(fd, init, sizeof(init)), "no ServerInit");
	cr_assert_eq(init[0] << 8 | init[1], 64);
	cr_assert(au_audit_wait(env.audit, NULL, 0, 5000, "\"auth-success\"", "\"user\":\"alice\"",
				"\"directory\":\"vnc-password\"", NULL));
	cr_assert(relay_log_contains(relay, "legacy VNC authentication is on"));
	close(fd);
	cr_assert_eq(au_audit_verify(env.audit), 0);
}

Test(vncauth_login, wrong_password_refused, .fini = teardown, .timeout = 60)
{
	uint8_t types[8], n, reason_len[4], reason[64];
	start(true);
	int fd = open_and_list(types, &n);
	cr_assert_eq(answer(fd, "guessing"), 1);
	cr_assert(raw_client_read(fd, reason_len, 4));
	cr_assert_eq(reason_len[3], strlen("authentication failed"));
	cr_assert(raw_client_read(fd, reason, reason_len[3]));
	cr_assert(!memcmp(reason, "authentication failed", reason_len[3]));
	cr_assert(au_audit_wait(env.audit, NULL, 0, 5000, "\"auth-failure\"", "\"user\":\"alice\"",
				"wrong VNC password", NULL));
	cr_assert(raw_client_wait_closed(fd, 5000));
	close(fd);
}

Test(vncauth_login, not_offered_by_default, .fini = teardown, .timeout = 60)
{
	uint8_t types[8], n, type = rfbVncAuth;
	start(false);
	int fd = open_and_list(types, &n);
	cr_assert(n == 1 && types[0] == 19, "only VeNCrypt is offered");
	cr_assert_eq(raw_client_send(fd, &type, 1), 0);
	cr_assert(raw_client_wait_closed(fd, 5000), "choosing VNC auth must close the connection");
	cr_assert(relay_log_wait(relay, "viewer chose a security type that was not offered", 5000));
	close(fd);
}
