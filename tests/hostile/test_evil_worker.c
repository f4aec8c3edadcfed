/* A compromised upstream worker answers a viewer's SetDesktopSize with a status RFB
 * does not have: the main process must take it as a broken channel contract and kill
 * the worker, never pass the status on.
 *
 * The worker is this very program: PIXELGATE_WORKER names a symlink to it called
 * pg-evil-worker, and a constructor that sees that name in argv[0] plays the worker
 * (a sealed 64x48 framebuffer, CONNECTED, PONG to every PING, SIZE_RESULT 7 to every
 * SET_SIZE) instead of running the tests. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness_util.h"
#include "relay/channel.h"

#define EVIL_NAME "pg-evil-worker"
#define CHAN	  3
#define FW	  64
#define FH	  48

static void evil_send(const struct pg_chan_msg *m, int fd)
{
	if (pg_chan_send(CHAN, m, fd) < 0)
		_exit(1);
}

/* One message from the main process, waiting for it; false at the end. */
static bool evil_recv(struct pg_chan_msg *m)
{
	for (;;) {
		struct pollfd p = {.fd = CHAN, .events = POLLIN};
		int fd, rc;
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return false;
		rc = pg_chan_recv(CHAN, m, &fd);
		if (fd >= 0)
			close(fd);
		if (rc == -EAGAIN)
			continue;
		return rc == 1;
	}
}

static void evil_worker(void)
{
	static struct pg_chan_msg m;
	size_t bytes = (size_t)FW * FH * 4;
	int fd;

	if (!evil_recv(&m) || m.type != PG_CHAN_START)
		_exit(1);
	fd = memfd_create("pg-evil-fb", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		_exit(1);
	memset(&m, 0, sizeof(m));
	m.type = PG_CHAN_RESIZE;
	m.u.size = (struct pg_chan_size){FW, FH};
	evil_send(&m, fd);
	close(fd);
	m.type = PG_CHAN_DAMAGE;
	m.u.rect = (struct pg_chan_rect){0, 0, FW, FH};
	evil_send(&m, -1);
	m.type = PG_CHAN_UPDATE_END;
	evil_send(&m, -1);
	m.type = PG_CHAN_CONNECTED;
	evil_send(&m, -1);
	while (evil_recv(&m)) {
		if (m.type == PG_CHAN_PING) {
			m.type = PG_CHAN_PONG;
			evil_send(&m, -1);
		} else if (m.type == PG_CHAN_SET_SIZE) {
			memset(&m, 0, sizeof(m));
			m.type = PG_CHAN_SIZE_RESULT;
			m.u.size_result.status = 7;
			evil_send(&m, -1);
		}
	}
	_exit(0);
}

__attribute__((constructor)) static void maybe_evil(int argc, char **argv)
{
	if (argc >= 1 && argv && argv[0] && !strcmp(basename(argv[0]), EVIL_NAME))
		evil_worker();
}

static struct it_relay *relay;
static struct it_viewer *v;
static char link_dir[64];

static void teardown(void)
{
	char path[128];

	viewer_stop(v);
	relay_stop(relay);
	if (*link_dir) {
		snprintf(path, sizeof(path), "%s/%s", link_dir, EVIL_NAME);
		unlink(path);
		rmdir(link_dir);
	}
}

TestSuite(evil_worker, .fini = teardown, .timeout = 60);

Test(evil_worker, size_status_out_of_range_kills_it)
{
	static const struct it_viewer_opts o = {
	    .bpp = 32, .encodings = "raw", .compress = -1, .record = true};
	char self[PATH_MAX], path[128];
	ssize_t n;

	if (it_direct_mode())
		cr_skip_test("the relay's main process is under test");
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	cr_assert(n > 0);
	self[n] = '\0';
	strcpy(link_dir, "/tmp/pg-evil-worker-XXXXXX");
	cr_assert_not_null(mkdtemp(link_dir));
	snprintf(path, sizeof(path), "%s/%s", link_dir, EVIL_NAME);
	cr_assert_eq(symlink(self, path), 0);
	cr_assert_eq(setenv("PIXELGATE_WORKER", path, 1), 0);

	relay = relay_start(it_free_port(), NULL);
	cr_assert_not_null(relay, "relay did not start");
	v = viewer_start(relay_port(relay), &o);
	if (!v)
		relay_dump_log(relay, 4000);
	cr_assert_not_null(v, "viewer did not connect");
	/* The relay works with this worker: the viewer is told the size. */
	cr_assert(viewer_wait_ext_desktop_size(v, 0, 0, FW, FH, 15000),
		  "no ExtendedDesktopSize announcement");
	cr_assert(viewer_send_desktop_size(v, 100, 80));
	bool killed = relay_log_wait(relay,
				     "worker broke the channel protocol (SetDesktopSize status "
				     "out of range)",
				     15000);
	if (!killed)
		relay_dump_log(relay, 4000);
	cr_assert(killed, "the worker's status 7 was not taken as misbehaviour");
	cr_assert(!viewer_got_ext_desktop_size(v, 1, 7, FW, FH), "status 7 reached the viewer");
	cr_assert(relay_alive(relay));
}
