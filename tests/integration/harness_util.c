/* Common helpers, the relay launcher, the raw RFB client and the recording tap. */
#include "harness_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

bool it_direct_mode(void)
{
	const char *v = getenv("PG_IT_DIRECT");

	return v && strcmp(v, "1") == 0;
}

int64_t it_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void it_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int it_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int port = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static uint32_t mix(uint32_t v)
{
	v ^= v >> 16;
	v *= 0x7feb352du;
	v ^= v >> 15;
	v *= 0x846ca68bu;
	v ^= v >> 16;
	return v;
}

static uint32_t rgb(int r, int g, int b)
{
	return (uint32_t)(r & 255) << 16 | (uint32_t)(g & 255) << 8 | (uint32_t)(b & 255);
}

uint32_t it_pattern_pixel(unsigned seed, int x, int y, int w, int h)
{
	int qx = x * 2 / w, qy = y * 2 / h;
	uint32_t n = mix((uint32_t)x * 73856093u ^ (uint32_t)y * 19349663u ^ seed * 83492791u);

	if (qx == 0 && qy == 0)
		/* Smooth gradients: what JPEG and Tight's gradient filter are for. */
		return rgb(x * 256 / w + (int)seed * 41, y * 256 / h + (int)seed * 23,
			   (x + y) * 128 / (w + h) + (int)seed * 13);
	if (qx == 1 && qy == 0) {
		/* Sharp edges: one-pixel lines and a checkerboard, like text. */
		if ((unsigned)x % 13 == seed % 13)
			return rgb(255, 0, (int)seed * 7);
		return (((unsigned)x + seed) / 8 + (unsigned)y / 8) & 1 ? 0xffffff : 0x000000;
	}
	if (qx == 0 && qy == 1) {
		/* A small block of full noise (every colour differs: defeats palettes); around it
		 * low-amplitude noise on a gradient, like a photo, which JPEG still keeps close. */
		int bx = x, by = y - h / 2;

		if (bx < 32 && by < 32)
			return n & 0xffffff;
		return rgb(x * 200 / w + (int)(n & 7) + (int)seed * 5,
			   100 + (int)((n >> 3) & 7) + (int)seed * 3,
			   by * 200 / h + (int)((n >> 6) & 7));
	}
	/* Few-colour areas: a four-colour palette in blocks, as in a web page's flat layout. */
	{
		static const uint32_t pal[8] = {0x2060c0, 0xf0f0f0, 0xc02020, 0x208040,
						0xffd700, 0x404040, 0x00ffff, 0x800080};
		unsigned i = (((unsigned)x / 20) ^ ((unsigned)y / 15) ^ seed) & 3;

		return pal[(i + seed) & 7];
	}
}

bool it_memmem(const void *hay, size_t hay_len, const void *needle, size_t needle_len)
{
	if (needle_len == 0)
		return true;
	return hay && memmem(hay, hay_len, needle, needle_len) != NULL;
}

/* ---- sockets ---- */

static int connect_loopback(int port, int timeout_ms)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd;

	a.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* Loopback connects complete or fail at once, so a blocking connect is bounded. */
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	if (timeout_ms > 0) {
		struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	return fd;
}

static bool read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int raw_connect(int port, int minor, int rcvbuf, struct it_raw_init *init)
{
	char version[13];
	uint8_t b[24], types[256];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {5, 0};

	if (fd < 0)
		return -1;
	/* SO_RCVBUF must be set before connect to limit the advertised window. */
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	a.sin_port = htons((uint16_t)port);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto fail;
	if (!read_full(fd, version, 12))
		goto fail;
	snprintf(version, sizeof(version), "RFB 003.%03d\n", minor);
	if (!write_full(fd, version, 12))
		goto fail;
	if (minor >= 7) {
		uint8_t count, one = 1;

		if (!read_full(fd, &count, 1) || count == 0 || !read_full(fd, types, count))
			goto fail;
		if (!memchr(types, 1, count) || !write_full(fd, &one, 1))
			goto fail;
	} else {
		if (!read_full(fd, b, 4) || be32(b) != 1)
			goto fail;
	}
	/* RFB 3.3 and 3.7 send no SecurityResult for None. */
	if (minor >= 8 && (!read_full(fd, b, 4) || be32(b) != 0))
		goto fail;
	b[0] = 1; /* shared */
	if (!write_full(fd, b, 1) || !read_full(fd, b, 24))
		goto fail;
	init->w = b[0] << 8 | b[1];
	init->h = b[2] << 8 | b[3];
	memcpy(init->pixfmt, b + 4, 16);
	init->name[0] = 0;
	{
		uint32_t name_len = be32(b + 20), kept = 0;
		char name[256];

		if (name_len > 1u << 20)
			goto fail;
		while (name_len > 0) {
			uint32_t n = name_len > sizeof(name) ? sizeof(name) : name_len;

			if (!read_full(fd, name, n))
				goto fail;
			for (uint32_t i = 0; i < n && kept + 1 < sizeof(init->name); i++)
				init->name[kept++] = name[i];
			init->name[kept] = 0;
			name_len -= n;
		}
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int raw_client_connect(int port, int minor, int rcvbuf, int *w, int *h)
{
	struct it_raw_init init;
	int fd = raw_connect(port, minor, rcvbuf, &init);

	if (fd >= 0) {
		*w = init.w;
		*h = init.h;
	}
	return fd;
}

int raw_client_connect_init(int port, int minor, struct it_raw_init *init)
{
	return raw_connect(port, minor, 0, init);
}

int raw_client_open(int port, char *version)
{
	char v[12];
	int fd = connect_loopback(port, 5000);

	if (fd < 0)
		return -1;
	if (!read_full(fd, version ? version : v, 12)) {
		close(fd);
		return -1;
	}
	return fd;
}

int raw_client_send(int fd, const void *buf, size_t len)
{
	return write_full(fd, buf, len) ? 0 : -1;
}

bool raw_client_read(int fd, void *buf, size_t len)
{
	return read_full(fd, buf, len);
}

bool raw_client_wait_closed(int fd, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	uint8_t buf[4096];

	for (;;) {
		int64_t left = deadline - it_now_ms();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (left <= 0)
			return false;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return true;
	}
}

bool raw_client_open_still(int fd)
{
	uint8_t b;
	ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);

	return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
}

int raw_client_local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	return ntohs(a.sin_port);
}

int raw_client_request(int fd, bool incremental, int x, int y, int w, int h)
{
	uint8_t m[10] = {3,
			 incremental ? 1 : 0,
			 (uint8_t)(x >> 8),
			 (uint8_t)x,
			 (uint8_t)(y >> 8),
			 (uint8_t)y,
			 (uint8_t)(w >> 8),
			 (uint8_t)w,
			 (uint8_t)(h >> 8),
			 (uint8_t)h};

	return write_full(fd, m, sizeof(m)) ? 0 : -1;
}

/* ---- tap ---- */

/* Bytes recorded per tap; past the cap the tap keeps forwarding but stops recording, and
 * tap_contains reports the truncation on stderr. */
#define TAP_CAP (256u << 20)

struct it_tap {
	int listen_fd, port, target_port;
	int stop_pipe[2];
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	uint8_t *buf;
	size_t len, cap;
	bool truncated;
};

static void tap_record(struct it_tap *tap, const uint8_t *p, size_t n)
{
	pthread_mutex_lock(&tap->lock);
	if (tap->len + n > TAP_CAP) {
		tap->truncated = true;
	} else {
		if (tap->len + n > tap->cap) {
			size_t cap = tap->cap ? tap->cap : 1 << 16;
			uint8_t *nb;

			while (cap < tap->len + n)
				cap *= 2;
			nb = realloc(tap->buf, cap);
			if (!nb) {
				tap->truncated = true;
				goto out;
			}
			tap->buf = nb;
			tap->cap = cap;
		}
		memcpy(tap->buf + tap->len, p, n);
		tap->len += n;
	}
out:
	pthread_mutex_unlock(&tap->lock);
}

static void *tap_run(void *arg)
{
	struct it_tap *tap = arg;
	struct pollfd a[2] = {{.fd = tap->listen_fd, .events = POLLIN},
			      {.fd = tap->stop_pipe[0], .events = POLLIN}};
	int client = -1, server = -1;
	uint8_t *buf = malloc(1 << 16);

	if (!buf)
		return NULL;
	if (poll(a, 2, 30000) <= 0 || !(a[0].revents & POLLIN))
		goto out;
	client = accept4(tap->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (client < 0)
		goto out;
	server = connect_loopback(tap->target_port, 0);
	if (server < 0)
		goto out;
	for (;;) {
		struct pollfd p[3] = {{.fd = client, .events = POLLIN},
				      {.fd = server, .events = POLLIN},
				      {.fd = tap->stop_pipe[0], .events = POLLIN}};
		ssize_t n;

		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[2].revents)
			break;
		if (p[0].revents) {
			n = read(client, buf, 1 << 16);
			if (n <= 0 || !write_full(server, buf, (size_t)n))
				break;
		}
		if (p[1].revents) {
			n = read(server, buf, 1 << 16);
			if (n <= 0)
				break;
			tap_record(tap, buf, (size_t)n);
			if (!write_full(client, buf, (size_t)n))
				break;
		}
	}
out:
	if (client >= 0)
		close(client);
	if (server >= 0)
		close(server);
	free(buf);
	return NULL;
}

struct it_tap *tap_start(int target_port)
{
	struct it_tap *tap = calloc(1, sizeof(*tap));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);

	if (!tap)
		return NULL;
	pthread_mutex_init(&tap->lock, NULL);
	tap->target_port = target_port;
	tap->stop_pipe[0] = tap->stop_pipe[1] = -1;
	tap->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (tap->listen_fd < 0 || bind(tap->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(tap->listen_fd, 1) < 0 ||
	    getsockname(tap->listen_fd, (struct sockaddr *)&a, &alen) < 0 ||
	    pipe2(tap->stop_pipe, O_CLOEXEC) < 0)
		goto fail;
	tap->port = ntohs(a.sin_port);
	if (pthread_create(&tap->thread, NULL, tap_run, tap) != 0)
		goto fail;
	tap->running = true;
	return tap;
fail:
	tap_stop(tap);
	return NULL;
}

int tap_port(const struct it_tap *tap)
{
	return tap->port;
}

bool tap_contains(struct it_tap *tap, const void *needle, size_t len)
{
	bool found;

	pthread_mutex_lock(&tap->lock);
	found = it_memmem(tap->buf, tap->len, needle, len);
	if (tap->truncated)
		fprintf(stderr, "tap: recording truncated at %zu bytes\n", tap->len);
	pthread_mutex_unlock(&tap->lock);
	return found;
}

size_t tap_bytes(struct it_tap *tap)
{
	size_t n;

	pthread_mutex_lock(&tap->lock);
	n = tap->len;
	pthread_mutex_unlock(&tap->lock);
	return n;
}

void tap_stop(struct it_tap *tap)
{
	if (!tap)
		return;
	if (tap->running) {
		if (write(tap->stop_pipe[1], "x", 1) < 0)
			perror("tap: stop");
		pthread_join(tap->thread, NULL);
	}
	if (tap->listen_fd >= 0)
		close(tap->listen_fd);
	if (tap->stop_pipe[0] >= 0) {
		close(tap->stop_pipe[0]);
		close(tap->stop_pipe[1]);
	}
	pthread_mutex_destroy(&tap->lock);
	free(tap->buf);
	free(tap);
}

/* ---- relay ---- */

struct it_relay {
	pid_t pid;
	int port;
	char log_path[64];
	bool reaped, stopping;
	int status; /* waitpid's, once reaped */
};

/* Whether something listens on 127.0.0.1:port, read from the kernel's table rather than
 * by connecting, which the relay would log as a viewer that came and went. */
static bool port_listening(int port)
{
	char line[256], want[16];
	bool found = false;
	FILE *f = fopen("/proc/net/tcp", "r");

	if (!f)
		return false;
	snprintf(want, sizeof(want), "0100007F:%04X", port);
	while (!found && fgets(line, sizeof(line), f)) {
		char local[64], remote[64], state[8];

		if (sscanf(line, "%*d: %63s %63s %7s", local, remote, state) == 3)
			found = strcmp(local, want) == 0 && strcmp(state, "0A") == 0;
	}
	fclose(f);
	return found;
}

bool relay_alive(struct it_relay *relay)
{
	int status;

	if (!relay || relay->reaped)
		return false;
	if (waitpid(relay->pid, &status, WNOHANG) == relay->pid) {
		relay->reaped = true;
		relay->status = status;
		if (!relay->stopping)
			fprintf(stderr, "relay: exited (%s %d)\n",
				WIFEXITED(status) ? "status" : "signal",
				WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return false;
	}
	return true;
}

bool it_relay_slow(void)
{
	const char *dir = getenv("PG_IT_BIN_DIR");
	return dir && *dir;
}

bool it_relay_instrumented(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return true;
#else
	return it_relay_slow();
#endif
}

void it_bin_path(const char *name, char *out, size_t size)
{
	const char *dir = getenv("PG_IT_BIN_DIR");
	if (dir && *dir) {
		snprintf(out, size, "%s/%s", dir, name);
		if (access(out, X_OK) == 0)
			return;
	}
	snprintf(out, size, "%s/%s", PG_BIN_DIR, name);
}

struct it_relay *relay_start(int upstream_port, const char *const *extra_args)
{
	char bin[512];
	struct it_relay *relay = calloc(1, sizeof(*relay));
	char listen_arg[32], upstream_arg[32];
	const char *argv[64];
	int argc = 0, log_fd;
	int64_t deadline;

	if (!relay)
		return NULL;
	it_bin_path("pixelgate", bin, sizeof(bin));
	if (access(bin, X_OK) != 0) {
		fprintf(stderr, "relay: %s is not built\n", bin);
		free(relay);
		return NULL;
	}
	relay->port = it_free_port();
	snprintf(relay->log_path, sizeof(relay->log_path), "/tmp/pg-it-relay-XXXXXX");
	log_fd = mkstemp(relay->log_path);
	if (relay->port < 0 || log_fd < 0) {
		free(relay);
		return NULL;
	}
	snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%d", relay->port);
	snprintf(upstream_arg, sizeof(upstream_arg), "127.0.0.1:%d", upstream_port);
	argv[argc++] = bin;
	argv[argc++] = "--listen";
	argv[argc++] = listen_arg;
	argv[argc++] = "--upstream";
	argv[argc++] = upstream_arg;
	argv[argc++] = "--log-level";
	argv[argc++] = "debug";
	/* No login unless a test asks for one: extra arguments come later and win. */
	argv[argc++] = "--security";
	argv[argc++] = "none";
	for (int i = 0; extra_args && extra_args[i] && argc < 63; i++)
		argv[argc++] = extra_args[i];
	argv[argc] = NULL;

	relay->pid = fork();
	if (relay->pid == 0) {
		/* Own process group, so relay_stop also reaches the workers; and die with the
		 * test process, so a test killed by its timeout leaves nothing behind. */
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(log_fd, STDERR_FILENO);
		dup2(log_fd, STDOUT_FILENO);
		/* libvncserver's sockets are not close-on-exec: a relay holding the host's
		 * listening socket would keep its port bound after host_stop. */
		close_range(3, ~0u, 0);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(log_fd);
	if (relay->pid < 0) {
		unlink(relay->log_path);
		free(relay);
		return NULL;
	}
	setpgid(relay->pid, relay->pid);
	deadline = it_now_ms() + 10000;
	while (it_now_ms() < deadline) {
		if (!relay_alive(relay))
			break;
		if (port_listening(relay->port))
			return relay;
		it_sleep_ms(20);
	}
	fprintf(stderr, "relay: did not accept connections on port %d\n", relay->port);
	relay_dump_log(relay, 8192);
	relay_stop(relay);
	return NULL;
}

void relay_stop(struct it_relay *relay)
{
	if (!relay)
		return;
	if (!relay->reaped) {
		int64_t deadline = it_now_ms() + 5000;

		relay->stopping = true;
		/* SIGINT stops at once; SIGTERM would drain for [relay] drain_timeout. */
		kill(relay->pid, SIGINT);
		while (relay_alive(relay) && it_now_ms() < deadline)
			it_sleep_ms(20);
		if (!relay->reaped) {
			fprintf(stderr, "relay: no exit 5 s after SIGINT, killing\n");
			kill(-relay->pid, SIGKILL);
			waitpid(relay->pid, NULL, 0);
			relay->reaped = true;
		}
	}
	/* Workers left behind by a relay that exited are in its group. */
	kill(-relay->pid, SIGKILL);
	if (getenv("PG_IT_KEEP_LOGS"))
		fprintf(stderr, "relay: log kept in %s\n", relay->log_path);
	else
		unlink(relay->log_path);
	free(relay);
}

int relay_exit_status(struct it_relay *relay, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	while (relay_alive(relay) && it_now_ms() < deadline)
		it_sleep_ms(20);
	if (!relay->reaped)
		return -1;
	return WIFEXITED(relay->status) ? WEXITSTATUS(relay->status)
					: 128 + WTERMSIG(relay->status);
}

int relay_port(const struct it_relay *relay)
{
	return relay->port;
}

pid_t relay_pid(const struct it_relay *relay)
{
	return relay->pid;
}

static char *read_log(struct it_relay *relay, size_t *len)
{
	FILE *f = fopen(relay->log_path, "rb");
	char *buf = NULL;
	size_t cap = 0;

	*len = 0;
	if (!f)
		return NULL;
	for (;;) {
		char *nb;
		size_t n;

		if (*len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (!nb)
				break;
			buf = nb;
		}
		n = fread(buf + *len, 1, cap - *len - 1, f);
		if (n == 0)
			break;
		*len += n;
	}
	fclose(f);
	if (buf)
		buf[*len] = 0;
	return buf;
}

bool relay_log_contains(struct it_relay *relay, const char *needle)
{
	size_t len;
	char *log = read_log(relay, &len);
	bool found = it_memmem(log, len, needle, strlen(needle));

	free(log);
	return found;
}

bool relay_log_wait(struct it_relay *relay, const char *needle, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;

	do {
		if (relay_log_contains(relay, needle))
			return true;
		it_sleep_ms(50);
	} while (it_now_ms() < deadline);
	return false;
}

void relay_dump_log(struct it_relay *relay, size_t max_bytes)
{
	size_t len;
	char *log;

	if (!relay)
		return;
	log = read_log(relay, &len);
	if (!log)
		return;
	fprintf(stderr, "---- relay log (last %zu of %zu bytes) ----\n",
		len < max_bytes ? len : max_bytes, len);
	fwrite(len > max_bytes ? log + len - max_bytes : log, 1, len < max_bytes ? len : max_bytes,
	       stderr);
	fprintf(stderr, "---- end of relay log ----\n");
	free(log);
}

long it_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int it_front_port_for(int upstream_port, struct it_relay **relay, const char *const *extra_args)
{
	*relay = NULL;
	if (it_direct_mode())
		return upstream_port;
	*relay = relay_start(upstream_port, extra_args);
	return *relay ? relay_port(*relay) : -1;
}

int it_front_port(struct it_host *host, struct it_relay **relay, const char *const *extra_args)
{
	return it_front_port_for(host_port(host), relay, extra_args);
}
