/* Helpers for the login tests; see auth_util.h. */
#include "auth_util.h"

#include <rfb/rfbclient.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* ---- scratch folder and files ---- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "auth_util: command failed (%d): %s\n", rc, cmd);
	return rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

bool au_env_init(struct au_env *e, bool cert)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/pg-it-auth-XXXXXX");
	if (!mkdtemp(e->dir)) {
		e->dir[0] = 0;
		return false;
	}
	snprintf(e->users, sizeof(e->users), "%s/users", e->dir);
	snprintf(e->audit, sizeof(e->audit), "%s/audit.jsonl", e->dir);
	snprintf(e->config, sizeof(e->config), "%s/pixelgate.conf", e->dir);
	if (!cert)
		return true;
	snprintf(e->cert, sizeof(e->cert), "%s/cert.pem", e->dir);
	snprintf(e->key, sizeof(e->key), "%s/key.pem", e->dir);
	/* No CA: the self-signed certificate is its own trust anchor. */
	return sh("umask 077 && openssl req -x509 -newkey ec "
		  "-pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 "
		  "-addext subjectAltName=IP:127.0.0.1,DNS:localhost "
		  "-keyout %s -out %s >/dev/null 2>&1 && chmod 600 %s && chmod 644 %s",
		  e->key, e->cert, e->key, e->cert) == 0;
}

void au_env_free(struct au_env *e)
{
	if (e->dir[0] && !getenv("PG_IT_KEEP"))
		sh("rm -rf -- %s", e->dir);
	e->dir[0] = 0;
}

bool au_write_file(const char *path, int mode, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	size_t len = strlen(text), off = 0;

	if (fd < 0)
		return false;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n <= 0) {
			close(fd);
			return false;
		}
		off += (size_t)n;
	}
	/* open() kept the mode of an existing file; the users file must be private. */
	fchmod(fd, (mode_t)mode);
	return close(fd) == 0;
}

bool au_hash(struct au_env *e, const char *password, char *out, size_t size)
{
	char path[160], cmd[1024], line[2048], bin[512];
	bool ok = false;
	FILE *p, *f;

	snprintf(path, sizeof(path), "%s/hash-scratch", e->dir);
	unlink(path);
	it_bin_path("pixelgate-passwd", bin, sizeof(bin));
	snprintf(cmd, sizeof(cmd), "PIXELGATE_SCRYPT_LN=10 %s -f %s add scratch >/dev/null", bin,
		 path);
	p = popen(cmd, "w");
	if (!p)
		return false;
	fprintf(p, "%s\n", password);
	if (pclose(p) != 0) {
		fprintf(stderr, "auth_util: pixelgate-passwd add failed\n");
		return false;
	}
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		char *hash, *end;

		if (strncmp(line, "scratch:", 8) != 0)
			continue;
		hash = strchr(line + 8, ':');
		if (!hash)
			break;
		hash++;
		end = strchr(hash, ':');
		if (!end || (size_t)(end - hash) >= size)
			break;
		memcpy(out, hash, (size_t)(end - hash));
		out[end - hash] = 0;
		ok = true;
		break;
	}
	fclose(f);
	unlink(path);
	return ok;
}

bool au_write_config(struct au_env *e, const char *extra)
{
	char text[8192];

	snprintf(text, sizeof(text),
		 "# written by the login tests\n"
		 "[relay]\n"
		 "security = vencrypt\n"
		 "%s%s%s%s%s"
		 "users_file = %s\n"
		 "audit_file = %s\n"
		 "%s\n",
		 e->cert[0] ? "tls_cert = " : "", e->cert, e->cert[0] ? "\ntls_key = " : "", e->key,
		 e->cert[0] ? "\n" : "", e->users, e->audit, extra ? extra : "");
	return au_write_file(e->config, 0600, text);
}

struct it_relay *au_relay_start(struct au_env *e, int upstream_port)
{
	const char *args[] = {"-c", e->config, "--security", "vencrypt", NULL};

	return relay_start(upstream_port, args);
}

/* ---- viewer logging in with VeNCrypt ---- */

struct au_viewer {
	pthread_mutex_t lock;
	rfbClient *client;
	pthread_t thread;
	volatile bool stop;
	bool running;
	bool connected;
	bool saw_init;
	int updates;
	const struct au_login *login;
	uint32_t schemes[2];
	char msg[512];
};

static int au_viewer_tag;

static void au_quiet_log(const char *format, ...)
{
	va_list ap;

	if (!getenv("PG_IT_VERBOSE"))
		return;
	va_start(ap, format);
	vfprintf(stderr, format, ap);
	va_end(ap);
}

static struct au_viewer *au_viewer_of(rfbClient *client)
{
	return rfbClientGetClientData(client, &au_viewer_tag);
}

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

/* libvncclient frees what this returns, strings included. */
static rfbCredential *au_get_credential(rfbClient *client, int type)
{
	struct au_viewer *v = au_viewer_of(client);
	rfbCredential *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (type == rfbCredentialTypeX509) {
		c->x509Credential.x509CACertFile =
		    v->login->ca_file ? strdup(v->login->ca_file) : NULL;
		c->x509Credential.x509CrlVerifyMode = rfbX509CrlVerifyNone;
	} else if (type == rfbCredentialTypeUser) {
		c->userCredential.username = dup_or_empty(v->login->user);
		c->userCredential.password = dup_or_empty(v->login->password);
	} else {
		free(c);
		return NULL;
	}
	return c;
}

static rfbBool (*au_default_malloc_fb)(rfbClient *client);

static rfbBool au_on_malloc_fb(rfbClient *client)
{
	au_viewer_of(client)->saw_init = true;
	return au_default_malloc_fb(client);
}

static void au_on_update(rfbClient *client)
{
	au_viewer_of(client)->updates++;
}

static void *au_pump(void *arg)
{
	struct au_viewer *v = arg;
	rfbClient *client = v->client;

	while (!v->stop) {
		int n = WaitForMessage(client, 100000);
		rfbBool ok;

		if (n < 0)
			break;
		if (n == 0 && client->buffered == 0)
			continue;
		pthread_mutex_lock(&v->lock);
		ok = HandleRFBServerMessage(client);
		pthread_mutex_unlock(&v->lock);
		if (!ok)
			break;
	}
	pthread_mutex_lock(&v->lock);
	v->connected = false;
	pthread_mutex_unlock(&v->lock);
	return NULL;
}

struct au_viewer *au_viewer_start(int port, const struct au_login *login, bool *saw_init)
{
	struct au_viewer *v = calloc(1, sizeof(*v));
	char *argv[] = {"pg-it-auth-viewer", NULL};
	int argc = 1;
	rfbClient *client;

	if (saw_init)
		*saw_init = false;
	if (!v)
		return NULL;
	signal(SIGPIPE, SIG_IGN);
	rfbClientLog = au_quiet_log;
	rfbClientErr = au_quiet_log;
	pthread_mutex_init(&v->lock, NULL);
	v->login = login;
	client = rfbGetClient(8, 3, 4);
	if (!client)
		goto fail;
	rfbClientSetClientData(client, &au_viewer_tag, v);
	au_default_malloc_fb = client->MallocFrameBuffer;
	client->MallocFrameBuffer = au_on_malloc_fb;
	client->FinishedFrameBufferUpdate = au_on_update;
	client->GetCredential = au_get_credential;
	client->canHandleNewFBSize = TRUE;
	client->connectTimeout = 5;
	client->readTimeout = 10;
	client->appData.encodingsString = login->encodings ? login->encodings : "raw";
	client->appData.compressLevel = -1;
	client->appData.qualityLevel = -1;
	/* Only VeNCrypt, and only the subtype the test asks for. */
	v->schemes[0] = rfbVeNCrypt;
	v->schemes[1] = login->subtype ? login->subtype : rfbVeNCryptX509Plain;
	SetClientAuthSchemes(client, v->schemes, 2);
	client->serverHost = strdup("127.0.0.1");
	client->serverPort = port;
	/* rfbInitClient frees the client when it fails. */
	if (!rfbInitClient(client, &argc, argv)) {
		if (saw_init)
			*saw_init = v->saw_init;
		goto fail;
	}
	if (saw_init)
		*saw_init = v->saw_init;
	v->client = client;
	v->connected = true;
	if (pthread_create(&v->thread, NULL, au_pump, v) != 0)
		goto fail;
	v->running = true;
	return v;
fail:
	au_viewer_stop(v);
	return NULL;
}

void au_viewer_stop(struct au_viewer *v)
{
	if (!v)
		return;
	v->stop = true;
	if (v->running)
		pthread_join(v->thread, NULL);
	if (v->client) {
		uint8_t *fb = v->client->frameBuffer;

		rfbClientCleanup(v->client);
		free(fb);
	}
	pthread_mutex_destroy(&v->lock);
	free(v);
}

bool au_viewer_connected(struct au_viewer *v)
{
	bool c;

	pthread_mutex_lock(&v->lock);
	c = v->connected;
	pthread_mutex_unlock(&v->lock);
	return c;
}

bool au_viewer_wait_disconnect(struct au_viewer *v, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;

	do {
		if (!au_viewer_connected(v))
			return true;
		it_sleep_ms(20);
	} while (it_now_ms() < deadline);
	return false;
}

int au_viewer_updates(struct au_viewer *v)
{
	int n;

	pthread_mutex_lock(&v->lock);
	n = v->updates;
	pthread_mutex_unlock(&v->lock);
	return n;
}

bool au_viewer_send_key(struct au_viewer *v, uint32_t key, bool down)
{
	rfbBool ok;

	pthread_mutex_lock(&v->lock);
	ok = v->connected && SendKeyEvent(v->client, key, down);
	pthread_mutex_unlock(&v->lock);
	return ok;
}

bool au_viewer_send_pointer(struct au_viewer *v, int x, int y, int buttons)
{
	rfbBool ok;

	pthread_mutex_lock(&v->lock);
	ok = v->connected && SendPointerEvent(v->client, x, y, buttons);
	pthread_mutex_unlock(&v->lock);
	return ok;
}

/* With v->lock held: the number of pixels that differ, and the first in v->msg. */
static long au_compare(struct au_viewer *v, const uint32_t *px, int w, int h)
{
	const rfbClient *c = v->client;
	const rfbPixelFormat *f = &c->format;
	const uint8_t *fb = c->frameBuffer;
	long bad = 0;

	if (!fb || c->width != w || c->height != h) {
		snprintf(v->msg, sizeof(v->msg), "viewer is %dx%d, host is %dx%d", c->width,
			 c->height, w, h);
		return -1;
	}
	for (int i = 0; i < w * h; i++) {
		const uint8_t *p = fb + (size_t)i * 4;
		uint32_t word =
		    p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		uint32_t rgb = ((word >> f->redShift) & 255) << 16 |
			       ((word >> f->greenShift) & 255) << 8 |
			       ((word >> f->blueShift) & 255);

		if (rgb != px[i] && bad++ == 0)
			snprintf(v->msg, sizeof(v->msg),
				 "first difference at (%d,%d): host #%06x, "
				 "viewer #%06x",
				 i % w, i / w, px[i], rgb);
	}
	return bad;
}

/* Poll until the viewer's picture equals what want() gives (a fresh malloc'd w x h
 * picture each time, or NULL when out of memory). */
static const char *au_wait_pixels(struct au_viewer *v, uint32_t *(*want)(void *, int *, int *),
				  void *arg, int timeout_ms)
{
	int64_t start = it_now_ms(), deadline = start + timeout_ms;

	for (;;) {
		int w, h;
		uint32_t *snap = want(arg, &w, &h);
		long bad;
		bool connected;
		char detail[512];

		if (!snap)
			return "out of memory";
		pthread_mutex_lock(&v->lock);
		connected = v->connected;
		bad = au_compare(v, snap, w, h);
		memcpy(detail, v->msg, sizeof(detail));
		pthread_mutex_unlock(&v->lock);
		free(snap);
		if (bad == 0)
			return NULL;
		if (!connected || it_now_ms() >= deadline) {
			snprintf(v->msg, sizeof(v->msg),
				 "no match after %lld ms (%s, %d updates, "
				 "%ld pixels differ): %.300s",
				 (long long)(it_now_ms() - start),
				 connected ? "connected" : "disconnected", au_viewer_updates(v),
				 bad, detail);
			return v->msg;
		}
		it_sleep_ms(50);
	}
}

static uint32_t *au_host_picture(void *host, int *w, int *h)
{
	return host_snapshot(host, w, h);
}

const char *au_viewer_wait_match(struct au_viewer *v, struct it_host *host, int timeout_ms)
{
	return au_wait_pixels(v, au_host_picture, host, timeout_ms);
}

struct au_fixed {
	const uint32_t *px;
	int w, h;
};

static uint32_t *au_fixed_picture(void *arg, int *w, int *h)
{
	const struct au_fixed *f = arg;
	size_t n = (size_t)f->w * (size_t)f->h;
	uint32_t *copy = malloc(n * sizeof(*copy));
	if (copy)
		memcpy(copy, f->px, n * sizeof(*copy));
	*w = f->w;
	*h = f->h;
	return copy;
}

const char *au_viewer_wait_pixels(struct au_viewer *v, const uint32_t *px, int w, int h,
				  int timeout_ms)
{
	struct au_fixed f = {px, w, h};
	return au_wait_pixels(v, au_fixed_picture, &f, timeout_ms);
}

/* ---- the audit trail ---- */

static char *au_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap = cap * 2 + 8192);

			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, 4096, f);

		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

/* Lines with every needle; the last one copied to line. */
static int au_audit_scan(const char *path, char *line, size_t size, va_list ap)
{
	const char *needles[16];
	int nn = 0, count = 0;
	char *text = au_slurp(path, NULL);

	if (!text)
		return 0;
	while (nn < 16 && (needles[nn] = va_arg(ap, const char *)) != NULL)
		nn++;
	for (char *l = text; *l;) {
		char *end = strchr(l, '\n');
		bool all = true;

		if (end)
			*end = 0;
		for (int i = 0; i < nn && all; i++)
			all = strstr(l, needles[i]) != NULL;
		if (all) {
			count++;
			if (line)
				snprintf(line, size, "%s", l);
		}
		if (!end)
			break;
		l = end + 1;
	}
	free(text);
	return count;
}

int au_audit_count(const char *path, ...)
{
	va_list ap;
	int n;

	va_start(ap, path);
	n = au_audit_scan(path, NULL, 0, ap);
	va_end(ap);
	return n;
}

bool au_audit_wait(const char *path, char *line, size_t size, int timeout_ms, ...)
{
	int64_t deadline = it_now_ms() + timeout_ms;

	for (;;) {
		va_list ap;
		int n;

		va_start(ap, timeout_ms);
		n = au_audit_scan(path, line, size, ap);
		va_end(ap);
		if (n > 0)
			return true;
		if (it_now_ms() >= deadline)
			return false;
		it_sleep_ms(25);
	}
}

int au_audit_verify(const char *path)
{
	char bin[512];
	it_bin_path("pixelgate-audit", bin, sizeof(bin));
	return sh("%s verify %s >&2", bin, path);
}

long au_log_lines(struct it_relay *relay, const char *needle)
{
	char link[64], path[PATH_MAX];
	ssize_t n;
	long count = 0;
	char *text;

	/* The harness sends the relay's stderr to its log file. */
	snprintf(link, sizeof(link), "/proc/%d/fd/2", (int)relay_pid(relay));
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return -1;
	path[n] = 0;
	text = au_slurp(path, NULL);
	if (!text)
		return -1;
	for (char *l = text; *l;) {
		char *end = strchr(l, '\n');

		if (end)
			*end = 0;
		if (!needle || strstr(l, needle))
			count++;
		if (!end)
			break;
		l = end + 1;
	}
	free(text);
	return count;
}

/* ---- raw VeNCrypt client ---- */

static void au_wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t au_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int au_vencrypt_open(int port, uint32_t subtype)
{
	char version[13] = {0};
	uint8_t b[64];
	int fd = raw_client_open(port, version);
	bool offered = false;

	if (fd < 0)
		return -1;
	if (raw_client_send(fd, "RFB 003.008\n", 12) < 0 || !raw_client_read(fd, b, 1) ||
	    b[0] == 0 || !raw_client_read(fd, b + 1, b[0]))
		goto fail;
	for (int i = 0; i < b[0]; i++)
		offered |= b[1 + i] == rfbVeNCrypt;
	if (!offered) {
		fprintf(stderr, "auth_util: the relay does not offer VeNCrypt\n");
		goto fail;
	}
	b[0] = rfbVeNCrypt;
	if (raw_client_send(fd, b, 1) < 0 || !raw_client_read(fd, b, 2) || b[0] != 0 || b[1] != 2)
		goto fail;
	/* Version 0.2; then the ack and the subtype list. */
	if (raw_client_send(fd, b, 2) < 0 || !raw_client_read(fd, b, 2) || b[0] != 0 || b[1] == 0 ||
	    b[1] > 8 || !raw_client_read(fd, b + 2, (size_t)b[1] * 4))
		goto fail;
	offered = false;
	for (int i = 0; i < b[1]; i++)
		offered |= au_rd32(b + 2 + 4 * i) == subtype;
	if (!offered) {
		fprintf(stderr, "auth_util: the relay does not offer VeNCrypt subtype %u\n",
			subtype);
		goto fail;
	}
	au_wr32(b, subtype);
	if (raw_client_send(fd, b, 4) < 0 || !raw_client_read(fd, b, 1) || b[0] != 1)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

struct au_tls {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
};

void au_tls_free(struct au_tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	SSL_CTX_free(t->ctx);
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

struct au_tls *au_tls_open(int port, const char *ca_file)
{
	struct au_tls *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->fd = au_vencrypt_open(port, rfbVeNCryptX509Plain);
	if (t->fd < 0)
		goto fail;
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (!t->ctx)
		goto fail;
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	if (ca_file) {
		if (SSL_CTX_load_verify_locations(t->ctx, ca_file, NULL) != 1)
			goto fail;
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	}
	t->ssl = SSL_new(t->ctx);
	if (!t->ssl || SSL_set_fd(t->ssl, t->fd) != 1)
		goto fail;
	/* The socket has 5 s timeouts, so this cannot hang. */
	if (SSL_connect(t->ssl) != 1) {
		fprintf(stderr, "auth_util: TLS handshake with the relay failed: %s\n",
			ERR_error_string(ERR_get_error(), NULL));
		goto fail;
	}
	return t;
fail:
	au_tls_free(t);
	return NULL;
}

int au_tls_send(struct au_tls *t, const void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		size_t done = 0;

		if (SSL_write_ex(t->ssl, (const char *)buf + off, len - off, &done) != 1)
			return -1;
		off += done;
	}
	return 0;
}

int au_tls_send_plain(struct au_tls *t, const char *user, size_t user_len, const char *password,
		      size_t password_len)
{
	size_t len = 8 + user_len + password_len;
	uint8_t *b = malloc(len);
	int rc;

	if (!b)
		return -1;
	au_wr32(b, (uint32_t)user_len);
	au_wr32(b + 4, (uint32_t)password_len);
	memcpy(b + 8, user, user_len);
	memcpy(b + 8 + user_len, password, password_len);
	rc = au_tls_send(t, b, len);
	free(b);
	return rc;
}

bool au_tls_wait_closed(struct au_tls *t, int timeout_ms, void *out, size_t size, size_t *got)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	size_t total = 0;

	for (;;) {
		char buf[4096];
		size_t n = 0;
		struct pollfd pfd = {.fd = t->fd, .events = POLLIN};
		int left = (int)(deadline - it_now_ms());

		if (SSL_pending(t->ssl) == 0) {
			if (left <= 0)
				break;
			if (poll(&pfd, 1, left) <= 0)
				break;
		}
		if (SSL_read_ex(t->ssl, buf, sizeof(buf), &n) != 1) {
			int err = SSL_get_error(t->ssl, 0);

			if (err == SSL_ERROR_WANT_READ ||
			    (err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)))
				continue;
			if (got)
				*got = total;
			return true; /* close_notify, EOF or reset */
		}
		if (out && total < size)
			memcpy((char *)out + total, buf, n < size - total ? n : size - total);
		total += n;
	}
	if (got)
		*got = total;
	return false;
}
