#include "channel.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HDR offsetof(struct pg_chan_msg, u)

/* Payload size of each type: exact, so a short or long packet is refused whole. */
static size_t payload_size(uint32_t type)
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

const char *pg_chan_type_name(uint32_t type)
{
	static const char *const names[] = {
	    [PG_CHAN_START] = "start",
	    [PG_CHAN_KEY] = "key",
	    [PG_CHAN_POINTER] = "pointer",
	    [PG_CHAN_REFRESH] = "refresh",
	    [PG_CHAN_UPDATE_ACK] = "update-ack",
	    [PG_CHAN_CONNECTED] = "connected",
	    [PG_CHAN_RESIZE] = "resize",
	    [PG_CHAN_DAMAGE] = "damage",
	    [PG_CHAN_UPDATE_END] = "update-end",
	    [PG_CHAN_CURSOR] = "cursor",
	    [PG_CHAN_BELL] = "bell",
	    [PG_CHAN_NAME] = "name",
	    [PG_CHAN_ERROR] = "error",
	    [PG_CHAN_CLIP_TO_HOST] = "clip-to-host",
	    [PG_CHAN_CLIP_FROM_HOST] = "clip-from-host",
	    [PG_CHAN_CLIP_CAPS] = "clip-caps",
	    [PG_CHAN_CLIP_DROPPED] = "clip-dropped",
	    [PG_CHAN_PING] = "ping",
	    [PG_CHAN_PONG] = "pong",
	    [PG_CHAN_LOG] = "log",
	    [PG_CHAN_COPY] = "copy",
	    [PG_CHAN_SET_SIZE] = "set-size",
	    [PG_CHAN_SIZE_RESULT] = "size-result",
	};
	if (type < sizeof(names) / sizeof(names[0]) && names[type])
		return names[type];
	return "unknown";
}

int pg_chan_send(int sock, const struct pg_chan_msg *msg, int fd)
{
	size_t n = payload_size(msg->type);
	if (n == SIZE_MAX)
		return -EINVAL;
	struct iovec iov = {.iov_base = (void *)msg, .iov_len = HDR + n};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	for (;;) {
		ssize_t r = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (r >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int pg_chan_recv(int sock, struct pg_chan_msg *msg, int *fd)
{
	struct iovec iov = {.iov_base = msg, .iov_len = sizeof(*msg)};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr mh = {
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = ctl.buf,
	    .msg_controllen = sizeof(ctl.buf),
	};
	*fd = -1;
	ssize_t r;
	do
		r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	/* Every descriptor the kernel installed is ours to close unless it is the one
	 * a resize may carry. */
	int nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int f;
			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*fd < 0)
				*fd = f;
			else
				close(f);
			nfds++;
		}
	}
	if (r == 0) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return 0;
	}
	int bad = (size_t)r < HDR || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || nfds > 1 ||
		  payload_size(msg->type) != (size_t)r - HDR;
	/* Only a resize may carry a descriptor; any other is closed unseen. */
	if (*fd >= 0 && (bad || msg->type != PG_CHAN_RESIZE)) {
		close(*fd);
		*fd = -1;
	}
	if (bad)
		return -EPROTO;
	return 1;
}
