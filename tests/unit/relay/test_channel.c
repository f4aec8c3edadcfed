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
	uint8_t pkt[4 + sizeof(struct pg_chan_ping)] = {0};
	uint32_t t = PG_CHAN_PING;
	memcpy(pkt, &t, 4);
	send(sv[0], pkt, 4 + sizeof(struct pg_chan_ping) - 1, 0);
	cr_assert_eq(pg_chan_recv(sv[1], &r, &fd), -EPROTO);
}

static int open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/* Send a packet of len bytes (the first 4 the type) with nfds descriptors in one
 * SCM_RIGHTS message. */
static void send_with_fds(uint32_t type, size_t len, int nfds)
{
	uint8_t pkt[64] = {0};
	memcpy(pkt, &type, 4);
	int fds[3];
	for (int i = 0; i < nfds; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(3 * sizeof(int))];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = {.iov_base = pkt, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = CMSG_SPACE(nfds * sizeof(int))};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	cr_assert_eq(sendmsg(sv[0], &mh, 0), (ssize_t)len);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
}

/* A worker cannot make the main process hold descriptors: extra ones in a packet,
 * and one on an empty packet, are closed (found by tools/fuzz/fuzz_channel). */
Test(channel, extra_descriptors_are_closed)
{
	struct pg_chan_msg r;
	int fd, before = open_fds();
	send_with_fds(PG_CHAN_RESIZE, 4 + sizeof(struct pg_chan_size), 2);
	cr_assert_eq(pg_chan_recv(sv[1], &r, &fd), -EPROTO, "two descriptors were accepted");
	cr_assert_eq(fd, -1);
	send_with_fds(PG_CHAN_RESIZE, 4 + sizeof(struct pg_chan_size), 3);
	cr_assert_eq(pg_chan_recv(sv[1], &r, &fd), -EPROTO);
	send_with_fds(PG_CHAN_BELL, 0, 1);
	cr_assert_eq(pg_chan_recv(sv[1], &r, &fd), 0);
	cr_assert_eq(fd, -1);
	cr_assert_eq(open_fds(), before, "descriptors leaked: %d open, %d before", open_fds(),
		     before);
}
