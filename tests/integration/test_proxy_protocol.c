/* Viewers behind a load balancer ([relay] proxy_protocol_from): from a trusted
 * address, a connection starts with a PROXY v2 header, and the client it names is the
 * viewer's address for the log, the audit trail and the per-address caps. Anything
 * else from a trusted address is closed before a byte of RFB. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "auth_util.h"
#include "harness_util.h"

static struct au_env env;
static struct it_host *host;
static struct it_relay *relay;

static void setup(void)
{
	cr_assert(au_env_init(&env, true));
	cr_assert(au_write_file(env.users, 0600, "# nobody\n"));
	host = host_start(64, 48, NULL);
	cr_assert_not_null(host);
}

static void teardown(void)
{
	relay_stop(relay);
	relay = NULL;
	host_free(host);
	au_env_free(&env);
}

TestSuite(proxy_protocol, .init = setup, .fini = teardown, .timeout = 60);

static void start_relay(const char *extra)
{
	cr_assert(au_write_config(&env, extra));
	relay = au_relay_start(&env, host_port(host));
	cr_assert_not_null(relay, "the relay did not start");
}

static int connect_relay(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(relay_port(relay))};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fd >= 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "%s", strerror(errno));
	return fd;
}

static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* A PROXY v2 header for a TCP/IPv4 client src:port (dst 127.0.0.1:5900); cmd 1 is
 * PROXY, 0 LOCAL. Returns its length. */
static size_t header4(uint8_t *h, int cmd, const char *src, int port)
{
	memcpy(h, sig, 12);
	h[12] = (uint8_t)(0x20 | cmd);
	h[13] = 0x11;
	h[14] = 0;
	h[15] = 12;
	inet_pton(AF_INET, src, h + 16);
	inet_pton(AF_INET, "127.0.0.1", h + 20);
	h[24] = (uint8_t)(port >> 8);
	h[25] = (uint8_t)port;
	h[26] = 5900 >> 8;
	h[27] = 5900 & 0xff;
	return 28;
}

static size_t header6(uint8_t *h, const char *src, int port)
{
	memcpy(h, sig, 12);
	h[12] = 0x21;
	h[13] = 0x21;
	h[14] = 0;
	h[15] = 36;
	inet_pton(AF_INET6, src, h + 16);
	inet_pton(AF_INET6, "::1", h + 32);
	h[48] = (uint8_t)(port >> 8);
	h[49] = (uint8_t)port;
	h[50] = 5900 >> 8;
	h[51] = 5900 & 0xff;
	return 52;
}

/* Read what the relay sends within ms; true when it got the RFB banner. */
static bool got_banner(int fd, int ms)
{
	char buf[12];
	size_t got = 0;
	int64_t end = it_now_ms() + ms;
	while (got < sizeof(buf) && it_now_ms() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 50) <= 0)
			continue;
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return got == sizeof(buf) && !memcmp(buf, "RFB 003.008\n", 12);
}

/* True when the relay closes fd (EOF) within ms, having sent nothing but perhaps
 * a banner (never more than 12 bytes). */
static bool closed_within(int fd, int ms)
{
	char buf[64];
	int64_t end = it_now_ms() + ms;
	while (it_now_ms() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 50) <= 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return true;
	}
	return false;
}

Test(proxy_protocol, client_address_comes_from_the_header)
{
	start_relay("proxy_protocol_from = 127.0.0.0/8\nlog_level = debug\n");
	uint8_t h[64];
	int fd = connect_relay();
	/* Nothing is said before the header: the banner would reach the balancer. */
	cr_assert_not(got_banner(fd, 300), "the relay spoke before the PROXY header");
	size_t n = header4(h, 1, "10.9.8.7", 4444);
	/* A byte at a time: the header may come in any number of pieces. */
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(write(fd, h + i, 1), 1);
		it_sleep_ms(2);
	}
	cr_assert(got_banner(fd, 3000), "no RFB banner after the PROXY header");
	cr_assert(relay_log_wait(relay, "10.9.8.7:4444: new connection", 3000));
	cr_assert(
	    relay_log_contains(relay, "10.9.8.7:4444: through the load balancer at 127.0.0.1:"));
	close(fd);

	fd = connect_relay();
	n = header6(h, "2001:db8::5", 5555);
	cr_assert_eq(write(fd, h, n), (ssize_t)n);
	cr_assert(got_banner(fd, 3000));
	cr_assert(relay_log_wait(relay, "[2001:db8::5]:5555: new connection", 3000));
	close(fd);

	/* LOCAL (the balancer's own health check): its own address stands. */
	fd = connect_relay();
	n = header4(h, 0, "10.1.1.1", 1);
	cr_assert_eq(write(fd, h, n), (ssize_t)n);
	cr_assert(got_banner(fd, 3000));
	cr_assert_not(relay_log_contains(relay, "10.1.1.1"));
	close(fd);
}

/* The per-address cap counts the clients, not the balancer: two clients pass, the
 * same client twice is refused, and the audit trail names it. */
Test(proxy_protocol, caps_count_the_real_client)
{
	start_relay("proxy_protocol_from = 127.0.0.1/32\nmax_handshakes_per_source = 1\n");
	uint8_t h[64];
	int a = connect_relay(), b = connect_relay(), c = connect_relay();
	size_t n = header4(h, 1, "10.0.0.1", 1000);
	cr_assert_eq(write(a, h, n), (ssize_t)n);
	cr_assert(got_banner(a, 3000));
	n = header4(h, 1, "10.0.0.2", 1000);
	cr_assert_eq(write(b, h, n), (ssize_t)n);
	cr_assert(got_banner(b, 3000), "a second client behind the same balancer was refused");
	n = header4(h, 1, "10.0.0.1", 1001);
	cr_assert_eq(write(c, h, n), (ssize_t)n);
	cr_assert(closed_within(c, 3000), "the same client twice was let in");
	cr_assert(au_audit_wait(env.audit, NULL, 0, 3000, "\"event\":\"connection-refused\"",
				"\"source\":\"10.0.0.1\"", "max_handshakes_per_source", NULL));
	close(a);
	close(b);
	close(c);
}

/* Send n bytes of h from the balancer's address: the relay must close the
 * connection and log why. */
static void expect_closed(const uint8_t *h, size_t n, const char *why)
{
	int fd = connect_relay();
	cr_assert_eq(write(fd, h, n), (ssize_t)n);
	cr_assert(closed_within(fd, 3000), "not closed: %s", why);
	cr_assert(relay_log_wait(relay, why, 3000), "no '%s' in the log", why);
	close(fd);
}

Test(proxy_protocol, anything_else_from_a_balancer_is_closed)
{
	start_relay("proxy_protocol_from = 127.0.0.1/32\nauth_timeout = 2\n");
	uint8_t h[64];
	/* A viewer's own bytes where the header belongs. */
	expect_closed((const uint8_t *)"RFB 003.008\n", 12,
		      "closed: proxy: no PROXY protocol v2 header");
	/* Version 1 in the version nibble, a length past the bound, UDP. */
	size_t n = header4(h, 1, "10.0.0.1", 1);
	h[12] = 0x11;
	expect_closed(h, n, "PROXY protocol version is not 2");
	n = header4(h, 1, "10.0.0.1", 1);
	h[14] = 0x10;
	expect_closed(h, n, "PROXY header longer than 512 bytes");
	n = header4(h, 1, "10.0.0.1", 1);
	h[13] = 0x12;
	expect_closed(h, n, "for a transport other than TCP");
	/* Half a header, then silence: the login deadline. */
	int fd = connect_relay();
	cr_assert_eq(write(fd, h, 10), 10);
	int64_t t0 = it_now_ms();
	cr_assert(closed_within(fd, 5000));
	cr_assert_geq(it_now_ms() - t0, 1000);
	cr_assert(relay_log_wait(relay, "no PROXY protocol header in time", 3000));
	close(fd);
}

/* Without proxy_protocol_from (the default), a header is just bad RFB. */
Test(proxy_protocol, off_by_default)
{
	start_relay(NULL);
	uint8_t h[64];
	int fd = connect_relay();
	cr_assert(got_banner(fd, 3000), "the relay waited for a header it was not told of");
	size_t n = header4(h, 1, "10.9.8.7", 4444);
	cr_assert_eq(write(fd, h, n), (ssize_t)n);
	cr_assert(closed_within(fd, 3000));
	cr_assert_not(relay_log_contains(relay, "10.9.8.7"));
	close(fd);
}
