/* The worker channel as the main process sees it: arbitrary packets sent by a
 * (compromised) worker over a SOCK_SEQPACKET socketpair, some carrying descriptors,
 * received with pg_chan_recv. An accepted message must have exactly its type's size
 * (the table below mirrors channel.h: a new type needs a line here), a known name,
 * and a descriptor only when it is a PG_CHAN_RESIZE that carried one; a refused one
 * must leave no descriptor behind. Accepted messages are sent back with pg_chan_send
 * and must arrive byte for byte.
 *
 * Input: records of one header byte h and its bytes.
 *   h & 3 == 0: a literal packet: u16 length (little endian), then that many bytes.
 *   h & 3 == 1: a packet of the exact size of the type in its first 4 bytes, give or
 *               take a delta: u16 length of bytes given, one byte delta (-4..+4 from
 *               (d % 9) - 4), then the bytes; the rest of the packet is zeros.
 *   h & 3 == 2: receive everything queued now.
 *   h & 3 == 3: a zero-length packet (so is a literal one of length 0).
 *   (h >> 2) & 3: descriptors attached in one SCM_RIGHTS message (0 to 3; the
 *               receiver's control buffer has room for 2 ints, so 3 truncate it).
 * Packets queue until a receive record or until the socket is full; everything is
 * received at the end. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay/channel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR	 offsetof(struct pg_chan_msg, u)
#define MAX_PKT	 (sizeof(struct pg_chan_msg) + 64)
#define MAX_PEND 64

/* The payload size of each type, from channel.h; SIZE_MAX for no such type. */
static size_t expected_size(uint32_t type)
{
	switch (type) {
	case PG_CHAN_START:
		return sizeof(struct pg_chan_start);
	case PG_CHAN_KEY:
		return sizeof(struct pg_chan_key);
	case PG_CHAN_POINTER:
		return sizeof(struct pg_chan_pointer);
	case PG_CHAN_RESIZE:
	case PG_CHAN_SET_SIZE:
		return sizeof(struct pg_chan_size);
	case PG_CHAN_SIZE_RESULT:
		return sizeof(struct pg_chan_size_result);
	case PG_CHAN_DAMAGE:
		return sizeof(struct pg_chan_rect);
	case PG_CHAN_COPY:
		return sizeof(struct pg_chan_copy);
	case PG_CHAN_CURSOR:
		return sizeof(struct pg_chan_cursor);
	case PG_CHAN_NAME:
	case PG_CHAN_ERROR:
		return sizeof(struct pg_chan_text);
	case PG_CHAN_CLIP_TO_HOST:
	case PG_CHAN_CLIP_FROM_HOST:
		return sizeof(struct pg_chan_clip);
	case PG_CHAN_CLIP_CAPS:
		return sizeof(struct pg_chan_clip_caps);
	case PG_CHAN_CLIP_DROPPED:
		return sizeof(struct pg_chan_clip_dropped);
	case PG_CHAN_PING:
	case PG_CHAN_PONG:
		return sizeof(struct pg_chan_ping);
	case PG_CHAN_LOG:
		return sizeof(struct pg_chan_log);
	case PG_CHAN_REFRESH:
	case PG_CHAN_UPDATE_ACK:
	case PG_CHAN_CONNECTED:
	case PG_CHAN_UPDATE_END:
	case PG_CHAN_BELL:
		return 0;
	default:
		return SIZE_MAX;
	}
}

struct pending {
	size_t len;
	int nfds;
};

static int sock[2] = {-1, -1};
static int memfd = -1;
static ino_t memfd_ino;
static struct pending pend[MAX_PEND];
static size_t npend;
static uint8_t pkt[MAX_PKT];
static struct pg_chan_msg msg, back;

static void setup(void)
{
	if (sock[0] >= 0)
		return;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sock))
		abort();
	/* Room for several of the largest messages at once. */
	int sz = 4 << 20;
	setsockopt(sock[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sock[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	memfd = memfd_create("pg-fuzz-channel", MFD_CLOEXEC);
	struct stat st;
	if (memfd < 0 || fstat(memfd, &st))
		abort();
	memfd_ino = st.st_ino;
}

/* The lowest free descriptor numbers: where received descriptors land. */
static void free_fds(int out[3])
{
	for (int i = 0; i < 3; i++)
		if ((out[i] = dup(sock[1])) < 0)
			abort();
	for (int i = 0; i < 3; i++)
		close(out[i]);
}

static bool is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* Send one raw packet from the worker's end. Returns false when the socket is full. */
static bool send_raw(const uint8_t *p, size_t len, int fds)
{
	struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(3 * sizeof(int))];
	} ctl;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fds) {
		const int three[3] = {memfd, memfd, memfd};
		int n = fds;
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), three, n * sizeof(int));
	}
	ssize_t r = sendmsg(sock[0], &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (r < 0 && (errno == EAGAIN || errno == ENOBUFS))
		return false;
	if (r != (ssize_t)len)
		abort();
	return true;
}

/* Receive one expected packet and check what pg_chan_recv made of it. */
static void recv_one(const struct pending *p)
{
	int lowest[3], fd = -2;
	free_fds(lowest);
	memset(&msg, 0xa5, sizeof(msg));
	int rc = pg_chan_recv(sock[1], &msg, &fd);
	if (p->len == 0) {
		/* A zero-length packet reads as the end of the stream (its descriptors,
		 * if any, must not stay open all the same). */
		if (rc != 0 || fd != -1)
			abort();
	} else if (rc == 1) {
		size_t want = expected_size(msg.type);
		if (want == SIZE_MAX || p->len != HDR + want)
			abort();
		const char *name = pg_chan_type_name(msg.type);
		if (!name || !strcmp(name, "unknown"))
			abort();
		if (fd >= 0) {
			struct stat st;
			if (msg.type != PG_CHAN_RESIZE || !p->nfds || fstat(fd, &st) ||
			    st.st_ino != memfd_ino)
				abort();
			close(fd);
		} else if (fd != -1 || (msg.type == PG_CHAN_RESIZE && p->nfds == 1)) {
			abort();
		}
		/* Back the other way: the same bytes arrive. */
		if (pg_chan_send(sock[1], &msg, -1))
			abort();
		int fd2 = -2;
		if (pg_chan_recv(sock[0], &back, &fd2) != 1 || fd2 != -1 ||
		    memcmp(&msg, &back, HDR + want))
			abort();
	} else if (rc == -EPROTO) {
		size_t want = p->len >= HDR ? expected_size(msg.type) : SIZE_MAX;
		/* A well-formed message with at most one descriptor is never refused. */
		if (p->len >= HDR && p->len <= sizeof(msg) && want != SIZE_MAX &&
		    p->len == HDR + want && p->nfds <= 1)
			abort();
		if (fd != -1)
			abort();
	} else {
		abort();
	}
	/* Nothing received may stay open unless it was handed over (and closed above). */
	for (int i = 0; i < 3; i++)
		if (is_open(lowest[i]))
			abort();
	(void)pg_chan_type_name(msg.type);
}

static void drain(void)
{
	for (size_t i = 0; i < npend; i++)
		recv_one(&pend[i]);
	npend = 0;
	int fd;
	if (pg_chan_recv(sock[1], &msg, &fd) != -EAGAIN || fd != -1)
		abort();
}

static void queue(size_t len, int nfds)
{
	if (npend == MAX_PEND)
		drain();
	for (int tries = 0;; tries++) {
		if (send_raw(pkt, len, nfds))
			break;
		if (tries || !npend)
			abort();
		drain();
	}
	pend[npend++] = (struct pending){.len = len, .nfds = nfds};
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	size_t off = 0;
	while (off < size) {
		uint8_t h = data[off++];
		int nfds = (h >> 2) & 3;
		size_t len = 0, given;
		switch (h & 3) {
		case 0:
		case 1:
			if (size - off < 2)
				goto out;
			given = data[off] | (size_t)data[off + 1] << 8;
			off += 2;
			int delta = 0;
			if ((h & 3) == 1) {
				if (off == size)
					goto out;
				delta = data[off++] % 9 - 4;
			}
			if (given > size - off)
				given = size - off;
			if (given > MAX_PKT)
				given = MAX_PKT;
			memcpy(pkt, data + off, given);
			off += given;
			len = given;
			if ((h & 3) == 1) {
				uint32_t type = 0;
				memcpy(&type, pkt, given < 4 ? given : 4);
				size_t want = expected_size(type);
				want = want == SIZE_MAX ? HDR : HDR + want;
				if ((ptrdiff_t)want + delta < 1)
					delta = 0;
				len = want + delta;
				if (len > MAX_PKT)
					len = MAX_PKT;
				if (len > given)
					memset(pkt + given, 0, len - given);
			}
			queue(len, nfds);
			break;
		case 2:
			drain();
			break;
		case 3:
			queue(0, nfds);
			break;
		}
	}
out:
	drain();
	return 0;
}
