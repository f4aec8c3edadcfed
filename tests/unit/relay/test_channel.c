/* The worker channel refuses any packet whose size does not match its type, and
 * closes descriptors that ride on anything but a resize. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay/channel.h"

static int sv[2];

static void setup(void)
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
}

static void teardown(void)
{
	close(sv[0]);
	close(sv[1]);
}

TestSuite(channel, .init = setup, .fini = teardown);

Test(channel, round_trip)
{
	struct pg_chan_msg m = {.type = PG_CHAN_DAMAGE}, r;
	m.u.rect = (struct pg_chan_rect){1, 2, 3, 4};
	int fd;
	cr_assert_eq(pg_chan_send(sv[0], &m, -1), 0);
	cr_assert_eq(pg_chan_recv(sv[1], &r, &fd), 1);
	cr_assert_eq(r.type, PG_CHAN_DAMAGE);
	cr_assert_eq(r.u.rect.w, 3);
	cr_assert_eq(fd, -1);
	cr_assert_eq(pg_chan_recv(sv[1], &r, &fd), -EAGAIN);
}

Test(channel, resize_carries_fd)
{
	struct pg_chan_msg m = {.type = PG_CHAN_RESIZE}, r;
	m.u.size = (struct pg_chan_size){640, 480};
	int p[2], fd;
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(pg_chan_send(sv[0], &m, p[0]), 0);
	cr_assert_eq(pg_chan_recv(sv[1], &r, &fd), 1);
	cr_assert_geq(fd, 0);
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	close(p[0]);
	close(p[1]);
}

Test(channel, fd_on_other_type_is_closed)
{
	struct pg_chan_msg m = {.type = PG_CHAN_BELL}, r;
	int p[2], fd;
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(pg_chan_send(sv[0], &m, p[0]), 0);
	close(p[0]);
	cr_assert_eq(pg_chan_recv(sv[1], &r, &fd), 1);
	cr_assert_eq(fd, -1);
	/* The received copy was closed: the pipe's read end is gone, writing fails. */
	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(write(p[1], "x", 1), -1);
	close(p[1]);
}

Test(channel, wrong_sizes_are_refused)
{
	struct pg_chan_msg r;
	int fd;
	uint8_t pkt[64] = {0};
	uint32_t t = PG_CHAN_DAMAGE;
	memcpy(pkt, &t, 4);
	/* A damage message one byte short, then one byte long, then an unknown type. */
	cr_assert_eq(send(sv[0], pkt, 4 + sizeof(struct pg_chan_rect) - 1, 0),
		     (ssize_t)(4 + sizeof(struct pg_chan_rect) - 1));
	cr_assert_eq(pg_chan_recv(sv[1], &r, &fd), -EPROTO);
	send(sv[0], pkt, 4 + sizeof(struct pg_chan_rect) + 1, 0);
	cr_assert_eq(pg_chan_recv(sv[1], &r, &fd), -EPROTO);
	t = 9999;
	memcpy(pkt, &t, 4);
	send(sv[0], pkt, 8, 0);
	cr_assert_eq(pg_chan_recv(sv[1], &r, &fd), -EPROTO);
	send(sv[0], pkt, 2, 0);
	cr_assert_eq(pg_chan_recv(sv[1], &r, &fd), -EPROTO);
}

Test(channel, oversized_packet_is_refused)
{
	static uint8_t big[sizeof(struct pg_chan_msg) + 100];
	struct pg_chan_msg r;
	int fd;
	uint32_t t = PG_CHAN_CURSOR;
	memcpy(big, &t, 4);
	cr_assert_eq(send(sv[0], big, sizeof(big), 0), (ssize_t)sizeof(big));
	cr_assert_eq(pg_chan_recv(sv[1], &r, &fd), -EPROTO);
}

Test(channel, end_of_stream)
{
	struct pg_chan_msg r;
	int fd;
	close(sv[0]);
	sv[0] = -1;
	cr_assert_eq(pg_chan_recv(sv[1], &r, &fd), 0);
}

/* Liveness and the worker's log lines have their own fixed sizes and names. */
Test(channel, ping_pong_and_log)
{
	struct pg_chan_msg m = {.type = PG_CHAN_PING, .u.ping.seq = 77}, r;
	int fd;
	cr_assert_eq(pg_chan_send(sv[0], &m, -1), 0);
	cr_assert_eq(pg_chan_recv(sv[1], &r, &fd), 1);
	cr_assert_eq(r.type, PG_CHAN_PING);
	cr_assert_eq(r.u.ping.seq, 77);
	m.type = PG_CHAN_PONG;
	cr_assert_eq(pg_chan_send(sv[1], &m, -1), 0);
	cr_assert_eq(pg_chan_recv(sv[0], &r, &fd), 1);
	cr_assert_eq(r.u.ping.seq, 77);
	m = (struct pg_chan_msg){.type = PG_CHAN_LOG};
	m.u.log.level = PG_CHAN_LOG_WARN;
	m.u.log.len = 5;
	memcpy(m.u.log.bytes, "hello", 5);
	cr_assert_eq(pg_chan_send(sv[0], &m, -1), 0);
	cr_assert_eq(pg_chan_recv(sv[1], &r, &fd), 1);
	cr_assert_eq(r.u.log.len, 5);
	cr_assert_eq(memcmp(r.u.log.bytes, "hello", 5), 0);
	cr_assert_str_eq(pg_chan_type_name(PG_CHAN_PING), "ping");
	cr_assert_str_eq(pg_chan_type_name(PG_CHAN_PONG), "pong");
	cr_assert_str_eq(pg_chan_type_name(PG_CHAN_LOG), "log");
	/* A ping one byte short is refused like any other type. */
	uint8_t pkt[16] = {0};
	uint32_t t = PG_CHAN_PING;
	memcpy(pkt, &t, 4);
	send(sv[0], pkt, 4 + sizeof(struct pg_chan_ping) - 1, 0);
	cr_assert_eq(pg_chan_recv(sv[1], &r, &fd), -EPROTO);
}
