/* The admin control socket (see control.h). Bounded everywhere: one short command
 * line per connection, a deadline to send it, a few connections at once. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "relay/control.h"
#include "relay/log.h"

#define MAX_CONNECTIONS 8

struct conn {
	uv_pipe_t pipe;
	uv_timer_t timer;
	struct pg_control *ctl;
	char line[PG_CONTROL_MAX_COMMAND + 1];
	size_t len;
	char *answer;
	int open_handles;
	bool done;
};

struct pg_control {
	uv_pipe_t listener;
	pg_control_fn fn;
	void *ud;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int conns;
};

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	if (--c->open_handles == 0) {
		c->ctl->conns--;
		free(c->answer);
		free(c);
	}
}

static void conn_close(struct conn *c)
{
	if (uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_written(uv_write_t *req, int status)
{
	struct conn *c = req->data;
	free(req);
	conn_close(c);
}

static void answer(struct conn *c, const char *text)
{
	uv_write_t *req = malloc(sizeof(*req));
	size_t n = strlen(text);
	if (!req || !(c->answer = malloc(n + 1))) {
		free(req);
		conn_close(c);
		return;
	}
	memcpy(c->answer, text, n + 1);
	req->data = c;
	uv_buf_t b = uv_buf_init(c->answer, (unsigned)n);
	if (uv_write(req, (uv_stream_t *)&c->pipe, &b, 1, on_written) < 0) {
		free(req);
		conn_close(c);
	}
}

static void run(struct conn *c)
{
	static char out[PG_CONTROL_MAX_ANSWER];
	c->done = true;
	uv_read_stop((uv_stream_t *)&c->pipe);
	uv_timer_stop(&c->timer);
	c->line[c->len] = '\0';
	c->line[strcspn(c->line, "\r\n")] = '\0';
	out[0] = '\0';
	pg_info("control socket: command '%s'", c->line);
	c->ctl->fn(c->ctl->ud, c->line, out, sizeof(out));
	answer(c, out);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;
	*buf = uv_buf_init(c->line + c->len, (unsigned)(PG_CONTROL_MAX_COMMAND - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	if (c->done)
		return;
	if (n < 0) {
		if (n == UV_EOF && c->len)
			run(c);
		else
			conn_close(c);
		return;
	}
	c->len += (size_t)n;
	if (memchr(c->line, '\n', c->len)) {
		run(c);
	} else if (c->len == PG_CONTROL_MAX_COMMAND) {
		c->done = true;
		uv_read_stop(s);
		answer(c, "error: command too long\n");
	}
}

static void on_timeout(uv_timer_t *t)
{
	conn_close(t->data);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct pg_control *ctl = server->data;
	if (status < 0)
		return;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->ctl = ctl;
	uv_pipe_init(server->loop, &c->pipe, 0);
	uv_timer_init(server->loop, &c->timer);
	c->pipe.data = c->timer.data = c;
	c->open_handles = 2;
	ctl->conns++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0 || ctl->conns > MAX_CONNECTIONS) {
		conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_timeout, PG_CONTROL_TIMEOUT_MS, 0);
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

struct pg_control *pg_control_start(uv_loop_t *loop, const char *path, pg_control_fn fn, void *ud,
				    char *err, size_t err_size)
{
	struct stat st;
	struct pg_control *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	size_t len = strlen(path);
	if (len >= sizeof(c->path)) {
		snprintf(err, err_size, "'%s' is longer than a Unix socket path may be", path);
		free(c);
		return NULL;
	}
	memcpy(c->path, path, len + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, err_size, "'%s' exists and is not a socket", path);
			free(c);
			return NULL;
		}
		unlink(path); /* left by a relay that did not stop cleanly */
	}
	c->fn = fn;
	c->ud = ud;
	uv_pipe_init(loop, &c->listener, 0);
	c->listener.data = c;
	/* Created without permissions for group and others, then listened on. */
	mode_t old = umask(0177);
	int rc = uv_pipe_bind(&c->listener, path);
	umask(old);
	if (!rc)
		rc = chmod(path, 0600) < 0 ? uv_translate_sys_error(errno) : 0;
	if (!rc)
		rc = uv_listen((uv_stream_t *)&c->listener, 8, on_connection);
	if (rc < 0) {
		snprintf(err, err_size, "cannot listen on '%s': %s", path, uv_strerror(rc));
		uv_close((uv_handle_t *)&c->listener, (uv_close_cb)free);
		return NULL;
	}
	return c;
}

static void on_listener_closed(uv_handle_t *h)
{
	free(h->data);
}

void pg_control_stop(struct pg_control *c)
{
	if (!c)
		return;
	unlink(c->path);
	uv_close((uv_handle_t *)&c->listener, on_listener_closed);
}

int pg_control_request(const char *path, const char *cmd, FILE *out, FILE *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (!*path) {
		fprintf(err,
			"pixelgate: [relay] control_socket is not set in this configuration\n");
		return -1;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(err, "pixelgate: control socket path too long: %s\n", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(err, "pixelgate: cannot connect to %s: %s (is the relay running?)\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	char line[PG_CONTROL_MAX_COMMAND + 2];
	int n = snprintf(line, sizeof(line), "%s\n", cmd);
	if (n < 0 || (size_t)n >= sizeof(line) || write(fd, line, (size_t)n) != n) {
		fprintf(err, "pixelgate: cannot send the command: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	static char buf[PG_CONTROL_MAX_ANSWER + 1];
	size_t len = 0;
	/* A reload loads the users file and may ask nothing slow; a minute is plenty. */
	for (int waited = 0; len < PG_CONTROL_MAX_ANSWER && waited < 60000;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, 1000);
		if (r == 0) {
			waited += 1000;
			continue;
		}
		ssize_t got = r < 0 ? -1 : read(fd, buf + len, PG_CONTROL_MAX_ANSWER - len);
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	buf[len] = '\0';
	fputs(buf, out);
	/* The verdict is the last line. */
	char *last = buf;
	for (char *p = buf; *p; p++)
		if (p[0] == '\n' && p[1])
			last = p + 1;
	if (!len) {
		fprintf(err, "pixelgate: no answer from the relay\n");
		return -1;
	}
	return strncmp(last, "ok", 2) ? -1 : 0;
}
