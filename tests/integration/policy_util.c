/* Helpers for the policy tests; see policy_util.h. */
#include "policy_util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec/buf.h"

void pu_control_path(const struct au_env *e, char *out, size_t size)
{
	snprintf(out, size, "%s/control.sock", e->dir);
}

bool pu_write_config(struct au_env *e, int upstream_port, const char *relay_extra,
		     const char *sections)
{
	char text[16384], control[160];

	pu_control_path(e, control, sizeof(control));
	snprintf(text, sizeof(text),
		 "# written by the policy tests\n"
		 "[relay]\n"
		 "security = none\n"
		 "audit_file = %s\n"
		 "control_socket = %s\n"
		 "%s"
		 "\n[upstream]\n"
		 "address = 127.0.0.1:%d\n"
		 "\n%s",
		 e->audit, control, relay_extra ? relay_extra : "", upstream_port,
		 sections ? sections : "");
	return au_write_file(e->config, 0600, text);
}

struct it_relay *pu_relay_start(struct au_env *e, int upstream_port)
{
	const char *args[] = {"-c", e->config, NULL};

	return relay_start(upstream_port, args);
}

int pu_reload_command(const struct au_env *e, char *out, size_t size)
{
	char cmd[1024], bin[512];
	size_t n = 0;
	FILE *p;
	int rc;

	it_bin_path("pixelgate", bin, sizeof(bin));
	snprintf(cmd, sizeof(cmd), "timeout 20 %s -c %s --reload 2>&1", bin, e->config);
	out[0] = 0;
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (n + 1 < size) {
		size_t got = fread(out + n, 1, size - 1 - n, p);

		if (got == 0)
			break;
		n += got;
	}
	out[n] = 0;
	rc = pclose(p);
	return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

int pu_control(const char *path, const char *cmd, char *out, size_t size)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int64_t deadline = it_now_ms() + 10000;
	size_t n = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	out[0] = 0;
	if (fd < 0)
		return -1;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		close(fd);
		return -1;
	}
	/* The answer ends when the relay closes the connection. */
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int left = (int)(deadline - it_now_ms());
		ssize_t got;

		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
		got = recv(fd, out + n, size - 1 - n, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
		if (n + 1 >= size)
			break;
	}
	out[n] = 0;
	close(fd);
	return n > 0 ? 0 : -1;
}

static bool audit_nth_once(const char *path, const char *needle, int n, char *line, size_t size)
{
	char buf[8192];
	bool found = false;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	while (!found && fgets(buf, sizeof(buf), f)) {
		if (!strstr(buf, needle) || n-- > 0)
			continue;
		buf[strcspn(buf, "\n")] = 0;
		snprintf(line, size, "%s", buf);
		found = true;
	}
	fclose(f);
	return found;
}

bool pu_audit_nth(const char *path, const char *event, int n, char *line, size_t size,
		  int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	char needle[96];

	snprintf(needle, sizeof(needle), "\"event\":\"%s\"", event);
	for (;;) {
		if (audit_nth_once(path, needle, n, line, size))
			return true;
		if (it_now_ms() >= deadline)
			return false;
		it_sleep_ms(20);
	}
}

static const char *field_start(const char *line, const char *key)
{
	char k[80];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(line, k);
	return p ? p + strlen(k) : NULL;
}

bool pu_field_int(const char *line, const char *key, long long *out)
{
	const char *p = field_start(line, key);
	char *end;

	if (!p)
		return false;
	*out = strtoll(p, &end, 10);
	return end != p;
}

bool pu_field_str(const char *line, const char *key, char *out, size_t size)
{
	const char *p = field_start(line, key);
	size_t n = 0;

	if (!p || *p != '"')
		return false;
	for (p++; *p && *p != '"' && n + 1 < size; p++) {
		if (*p == '\\' && p[1])
			out[n++] = *p++;
		out[n++] = *p;
	}
	out[n] = 0;
	return true;
}

bool pu_wait_count(int (*fn)(struct it_host *), struct it_host *host, int n, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;

	do {
		if (fn(host) >= n)
			return true;
		it_sleep_ms(20);
	} while (it_now_ms() < deadline);
	return false;
}

/* ---- a raw viewer speaking the Extended Clipboard ---- */

int pu_xclip_viewer(int port)
{
	/* SetEncodings: Raw, then the Extended Clipboard pseudo-encoding. */
	static const uint8_t enc[] = {2, 0, 0, 2, 0, 0, 0, 0, 0xc0, 0xa1, 0xe5, 0xce};
	struct it_raw_init init;
	int fd = raw_client_connect_init(port, 8, &init);

	if (fd < 0)
		return -1;
	if (raw_client_send(fd, enc, sizeof(enc)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int pu_xclip_read(int fd, int timeout_ms, struct pg_xclip_msg *m, char *text, size_t size)
{
	int64_t deadline = it_now_ms() + timeout_ms;

	memset(m, 0, sizeof(*m));
	text[0] = 0;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int left = (int)(deadline - it_now_ms());
		uint8_t type, hdr[7];

		if (left <= 0)
			return 0;
		if (poll(&p, 1, left) <= 0)
			continue;
		if (!raw_client_read(fd, &type, 1))
			return -1;
		if (type == 2) /* Bell */
			continue;
		if (type != 3) {
			fprintf(stderr, "policy_util: server message type %u, not ServerCutText\n",
				type);
			return -1;
		}
		if (!raw_client_read(fd, hdr, 7))
			return -1;
		int32_t len = (int32_t)rd32(hdr + 3);
		size_t n = len < 0 ? (size_t)(-(int64_t)len) : (size_t)len;
		uint8_t *body;

		if (n > (1u << 20))
			return -1;
		body = malloc(n ? n : 1);
		if (!body || !raw_client_read(fd, body, n)) {
			free(body);
			return -1;
		}
		if (len >= 0) {
			size_t k = n < size - 1 ? n : size - 1;

			memcpy(text, body, k);
			text[k] = 0;
			free(body);
			return 2;
		}
		uint8_t *tb = malloc(PG_XCLIP_MAX_TEXT + 1);
		const char *why = NULL;
		int rc = tb ? pg_xclip_parse(body, n, PG_XCLIP_MAX_TEXT, m, tb,
					     PG_XCLIP_MAX_TEXT + 1, &why)
			    : -1;

		if (rc == 0 && m->action == PG_XCLIP_A_PROVIDE) {
			size_t k = m->text_len < size - 1 ? m->text_len : size - 1;

			memcpy(text, tb, k);
			text[k] = 0;
		}
		if (rc < 0)
			fprintf(stderr,
				"policy_util: Extended Clipboard message did not parse: %s\n",
				why ? why : "?");
		free(tb);
		free(body);
		return rc == 0 ? 1 : -1;
	}
}

static int send_built(int fd, int rc, struct pg_buf *b)
{
	if (rc == 0)
		rc = raw_client_send(fd, b->data, b->len);
	pg_buf_free(b);
	return rc == 0 ? 0 : -1;
}

int pu_xclip_send_caps(int fd, uint32_t max_text)
{
	struct pg_buf b;

	pg_buf_init(&b, 4096);
	return send_built(fd, pg_xclip_build_caps(&b, false, PG_XCLIP_ACTIONS, max_text), &b);
}

int pu_xclip_send_notify(int fd)
{
	struct pg_buf b;

	pg_buf_init(&b, 4096);
	return send_built(fd, pg_xclip_build_notify(&b, false, true), &b);
}

int pu_xclip_send_provide(int fd, const char *utf8)
{
	struct pg_buf b;

	pg_buf_init(&b, (size_t)PG_XCLIP_MAX_TEXT * 2);
	return send_built(
	    fd, pg_xclip_build_provide(&b, false, (const uint8_t *)utf8, strlen(utf8)), &b);
}

int pu_xclip_sync(int fd, int timeout_ms)
{
	struct pg_xclip_msg m;
	char text[16];
	struct pg_buf b;

	pg_buf_init(&b, 4096);
	if (send_built(fd, pg_xclip_build_peek(&b, false), &b) < 0)
		return -1;
	return pu_xclip_read(fd, timeout_ms, &m, text, sizeof(text)) == 1 &&
		       m.action == PG_XCLIP_A_NOTIFY
		   ? 0
		   : -1;
}
