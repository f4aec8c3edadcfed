/*
 * pg-bench-viewer: a measuring RFB viewer for tools/bench/pg-bench. It speaks
 * RFB through pixelgate's own client and decoders (codec/rfb_client.h), with
 * security None, VNC authentication or VeNCrypt Plain (TLS, for logins
 * through the relay), asks for the encodings a real viewer asks for, and
 * prints one JSON object: updates, bytes and its own CPU over a measured
 * window, the CPU of other processes over the same window, and, as asked,
 * latencies read from pg-synth-host's time stamp, 1x1 round trips, key to
 * update latencies, and a TurboJPEG reference on the last picture.
 *
 * Loopback benchmarking only: the relay's TLS certificate is not checked.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <turbojpeg.h>

#include "auth/vncauth.h"
#include "codec/rfb.h"
#include "codec/rfb_client.h"
#include "../synth_draw.h"

#define PROG	    "pg-bench-viewer"
#define MAX_PIDS    16
#define MAX_SAMPLES 200000
#define READ_CHUNK  (256 * 1024)

struct watch {
	const char *name;
	int pid;
	bool children; /* sum the children of pid (the relay's workers) */
	double cpu0;
};

struct opts {
	const char *host;
	int port;
	const char *password_file; /* VNC authentication */
	const char *user;	   /* VeNCrypt Plain */
	const char *user_password_file;
	const char *encodings;
	int quality, compress;
	bool cursor; /* ask for cursor shapes: the host leaves the pointer out */
	double warmup, duration;
	double first_timeout; /* seconds to the first picture */
	bool stamp;
	int rtt;
	int rtt_x, rtt_y;
	int rtt_gap_ms; /* pause before each request */
	int tj_ref;
	int tj_quality;
	double wheel_hz;
	double key_hz;
	uint32_t key_sym;
	int pointer_x, pointer_y;
	bool pointer_set; /* --pointer given: the pointer goes there first */
	int type_n;
	int click_x, click_y;
	struct pg_rect watch_rect;
	const char *dump;
	double settle; /* seconds between the window and the dump */
	uint32_t start_key;
	struct watch pids[MAX_PIDS];
	int npids;
};

struct samples {
	double *v;
	int n;
};

struct viewer {
	struct opts o;
	int fd;
	SSL_CTX *ssl_ctx;
	SSL *ssl;
	struct pg_rfb_client *rfb;
	struct pg_fb fb;
	uint8_t *rbuf;
	size_t rlen; /* bytes in rbuf not yet fed */
	uint64_t bytes_in;
	long updates;
	bool stamp_damaged;
	uint64_t last_stamp;
	long stamp_new; /* updates that showed a new stamp */
	bool any_damage;
	long rects;
	struct samples stamp_lat, rtt, key_lat;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, PROG ": ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double cpu_self_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + ru.ru_stime.tv_sec * 1e3 +
	       ru.ru_stime.tv_usec / 1e3;
}

/* utime + stime of pid from /proc/PID/stat, in ms; -1 when gone. */
static double cpu_pid_ms(int pid)
{
	char path[64], buf[1024];
	FILE *f;
	size_t n;
	unsigned long long ut, st;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	/* After ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt
	 * cmajflt utime stime: utime is the 12th field after the name. */
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

static double cpu_children_ms(int pid)
{
	char path[96], buf[4096];
	double sum = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fscanf(f, "%4095s", buf) == 1) {
		double c = cpu_pid_ms(atoi(buf));

		if (c > 0)
			sum += c;
	}
	fclose(f);
	return sum;
}

static double watch_cpu(const struct watch *w)
{
	return w->children ? cpu_children_ms(w->pid) : cpu_pid_ms(w->pid);
}

static void sample_add(struct samples *s, double v)
{
	if (!s->v)
		s->v = calloc(MAX_SAMPLES, sizeof(double));
	if (s->v && s->n < MAX_SAMPLES)
		s->v[s->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(struct samples *s, double p)
{
	if (!s->n)
		return -1;
	qsort(s->v, s->n, sizeof(double), cmp_double);
	return s->v[(int)(p * (s->n - 1) + 0.5)];
}

/* Transport ---------------------------------------------------------------- */

static void write_all(struct viewer *v, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w;

		if (v->ssl) {
			int r = SSL_write(v->ssl, p, (int)n);

			if (r <= 0)
				die("TLS write failed%s", "");
			w = r;
		} else {
			w = write(v->fd, p, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				die("write: %s", strerror(errno));
		}
		p += w;
		n -= (size_t)w;
	}
}

static void flush_out(struct viewer *v)
{
	struct pg_buf *out = pg_rfb_client_output(v->rfb);

	/* While VeNCrypt runs, only the chosen type's byte goes, in clear. */
	if (out->len) {
		write_all(v, out->data, out->len);
		pg_buf_consume(out, out->len);
	}
}

/* Reads what is there into rbuf, waiting up to timeout_ms. 0 on timeout. */
static int read_some(struct viewer *v, int timeout_ms)
{
	ssize_t n;

	if (v->rlen == READ_CHUNK)
		return 1;
	if (!(v->ssl && SSL_pending(v->ssl))) {
		struct pollfd p = {.fd = v->fd, .events = POLLIN};
		int r = poll(&p, 1, timeout_ms);

		if (r < 0 && errno == EINTR)
			return 0;
		if (r <= 0)
			return 0;
	}
	if (v->ssl) {
		int r = SSL_read(v->ssl, v->rbuf + v->rlen, (int)(READ_CHUNK - v->rlen));

		if (r <= 0) {
			int e = SSL_get_error(v->ssl, r);

			if (e == SSL_ERROR_WANT_READ)
				return 0;
			die("connection closed (TLS)%s", "");
		}
		n = r;
	} else {
		n = read(v->fd, v->rbuf + v->rlen, READ_CHUNK - v->rlen);
		if (n < 0 && errno == EINTR)
			return 0;
		if (n <= 0)
			die("connection closed: %s", n ? strerror(errno) : "EOF");
	}
	v->rlen += (size_t)n;
	v->bytes_in += (uint64_t)n;
	return 1;
}

/* Exactly n bytes before RFB resumes (VeNCrypt), taking leftovers first. */
static void read_exact(struct viewer *v, uint8_t *p, size_t n)
{
	while (v->rlen < n)
		if (!read_some(v, 10000))
			die("timed out in the VeNCrypt handshake%s", "");
	memcpy(p, v->rbuf, n);
	memmove(v->rbuf, v->rbuf + n, v->rlen - n);
	v->rlen -= n;
}

static void feed(struct viewer *v)
{
	size_t off = 0;

	while (off < v->rlen && !pg_rfb_client_external(v->rfb)) {
		ssize_t used = pg_rfb_client_feed(v->rfb, v->rbuf + off, v->rlen - off);

		if (used < 0)
			die("RFB: %s", pg_rfb_client_error(v->rfb));
		if (used == 0)
			break;
		off += (size_t)used;
	}
	memmove(v->rbuf, v->rbuf + off, v->rlen - off);
	v->rlen -= off;
	flush_out(v);
}

static char *read_line_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[256];

	if (!f)
		die("cannot open '%s'", path);
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	buf[strcspn(buf, "\r\n")] = 0;
	return strdup(buf);
}

/* VeNCrypt 0.2 with X509Plain or TLSPlain: version, subtype, TLS, Plain. */
static void run_vencrypt(struct viewer *v)
{
	uint8_t b[4], n, types[255 * 4];
	uint32_t pick = 0;
	char *pw = read_line_file(v->o.user_password_file);
	struct pg_buf plain;

	flush_out(v); /* the type byte 19 */
	read_exact(v, b, 2);
	if (b[0] != 0 || b[1] < 2)
		die("VeNCrypt: server version is not 0.2%s", "");
	write_all(v, (const uint8_t *)"\0\2", 2);
	read_exact(v, b, 1);
	if (b[0])
		die("VeNCrypt: version refused%s", "");
	read_exact(v, &n, 1);
	read_exact(v, types, (size_t)n * 4);
	for (int i = 0; i < n; i++) {
		uint32_t t = pg_rd32(types + 4 * i);

		if (t == 262 || (t == 259 && !pick))
			pick = t; /* X509Plain, else TLSPlain */
	}
	if (!pick)
		die("VeNCrypt: the server offers no Plain subtype%s", "");
	pg_wr32(b, pick);
	write_all(v, b, 4);
	read_exact(v, b, 1);
	if (b[0] != 1)
		die("VeNCrypt: subtype refused%s", "");
	v->ssl_ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(v->ssl_ctx, SSL_VERIFY_NONE, NULL);
	if (pick == 259)
		SSL_CTX_set_cipher_list(v->ssl_ctx, "aNULL:@SECLEVEL=0");
	v->ssl = SSL_new(v->ssl_ctx);
	SSL_set_fd(v->ssl, v->fd);
	if (v->rlen)
		die("VeNCrypt: unexpected bytes before TLS%s", "");
	if (SSL_connect(v->ssl) != 1) {
		ERR_print_errors_fp(stderr);
		die("TLS handshake failed%s", "");
	}
	pg_buf_init(&plain, 4096);
	pg_buf_put_u32(&plain, (uint32_t)strlen(v->o.user));
	pg_buf_put_u32(&plain, (uint32_t)strlen(pw));
	pg_buf_append(&plain, v->o.user, strlen(v->o.user));
	pg_buf_append(&plain, pw, strlen(pw));
	write_all(v, plain.data, plain.len);
	pg_buf_free(&plain);
	explicit_bzero(pw, strlen(pw));
	free(pw);
	if (pg_rfb_client_external_done(v->rfb, 0))
		die("RFB: external_done failed%s", "");
	flush_out(v);
}

/* RFB callbacks ------------------------------------------------------------- */

static int cb_resize(void *ud, int w, int h, struct pg_fb *fb)
{
	struct viewer *v = ud;

	pg_fb_free(&v->fb);
	if (pg_fb_alloc(&v->fb, w, h) < 0)
		return -1;
	*fb = v->fb;
	return 0;
}

static void note(struct viewer *v, const struct pg_rect *r)
{
	struct pg_rect st = {PG_SYNTH_STAMP_X, PG_SYNTH_STAMP_Y,
			     PG_SYNTH_STAMP_COLS * PG_SYNTH_STAMP_BLOCK,
			     PG_SYNTH_STAMP_ROWS * PG_SYNTH_STAMP_BLOCK};
	struct pg_rect in = pg_rect_intersect(*r, st);

	v->rects++;
	v->any_damage = true;
	if (!pg_rect_empty(&in))
		v->stamp_damaged = true;
}

static void cb_damage(void *ud, const struct pg_rect *r)
{
	note(ud, r);
}

static void cb_copy(void *ud, const struct pg_rect *dst, int sx, int sy)
{
	(void)sx;
	(void)sy;
	note(ud, dst);
}

static bool measuring;

static void cb_update_end(void *ud)
{
	struct viewer *v = ud;
	int64_t t = now_us();

	v->updates++;
	if (v->o.stamp && v->stamp_damaged && measuring && v->fb.w >= 256 && v->fb.h >= 64) {
		uint64_t s = pg_synth_read_stamp(v->fb.px, v->fb.stride, 16, 8, 0);
		int64_t d = t - (int64_t)s;

		/* Only a new stamp counts: a relay may send the same picture again
		 * (a sharper refresh), which shows nothing new. */
		if (s != v->last_stamp && d >= 0 && d < 10000000) {
			sample_add(&v->stamp_lat, d / 1000.0);
			v->stamp_new++;
		}
		v->last_stamp = s;
	}
	v->stamp_damaged = false;
}

static int cb_vnc_auth(void *ud, const uint8_t challenge[16], uint8_t response[16]);

static int cb_security(void *ud, const uint8_t *types, size_t n)
{
	struct viewer *v = ud;

	for (size_t i = 0; i < n; i++)
		if (v->o.user && types[i] == PG_RFB_SEC_VENCRYPT)
			return PG_RFB_SEC_VENCRYPT;
	return 0;
}

/* Waiting ---------------------------------------------------------------------- */

/* Runs the connection until deadline (us) or until *flag turns true. */
static void pump_until(struct viewer *v, int64_t deadline, const bool *flag)
{
	while (!stop_requested && (!flag || !*flag)) {
		int64_t left = deadline - now_us();

		if (left <= 0)
			return;
		if (read_some(v, (int)(left / 1000) + 1))
			feed(v);
	}
}

static uint64_t region_sum(const struct viewer *v, const struct pg_rect *r)
{
	uint64_t h = 1469598103934665603ull;
	struct pg_rect c = pg_rect_intersect(*r, (struct pg_rect){0, 0, v->fb.w, v->fb.h});

	for (int y = c.y; y < c.y + c.h; y++)
		for (int x = c.x; x < c.x + c.w; x++)
			h = (h ^ v->fb.px[(size_t)y * v->fb.stride + x]) * 1099511628211ull;
	return h;
}

/* Pumps until an update ends; true when one did before deadline. */
static bool wait_update(struct viewer *v, int64_t deadline)
{
	long u = v->updates;

	while (!stop_requested && v->updates == u && now_us() < deadline)
		if (read_some(v, 5))
			feed(v);
	return v->updates != u;
}

static void send_request_1x1(struct viewer *v, int x, int y)
{
	struct pg_buf *out = pg_rfb_client_output(v->rfb);

	pg_buf_put_u8(out, 3);
	pg_buf_put_u8(out, 0);
	pg_buf_put_u16(out, (uint16_t)x);
	pg_buf_put_u16(out, (uint16_t)y);
	pg_buf_put_u16(out, 1);
	pg_buf_put_u16(out, 1);
	flush_out(v);
}

static void run_rtt(struct viewer *v)
{
	for (int i = 0; i < v->o.rtt && !stop_requested; i++) {
		int64_t t0;

		/* Let any update in flight finish first, and keep the requests further
		 * apart than the relay's frame-rate cap (30 a second by default), so the
		 * cap's pacing is not what is timed. */
		pump_until(v, now_us() + (int64_t)v->o.rtt_gap_ms * 1000, NULL);
		t0 = now_us();
		send_request_1x1(v, v->o.rtt_x, v->o.rtt_y);
		if (wait_update(v, t0 + 2000000))
			sample_add(&v->rtt, (now_us() - t0) / 1000.0);
	}
}

/* Types type_n characters, each timed until the watched region changes. */
static void run_typing(struct viewer *v)
{
	static const char word[] = "pixelgatebenchmark";

	if (v->o.click_x >= 0) {
		pg_rfb_client_pointer(v->rfb, 1, v->o.click_x, v->o.click_y);
		pg_rfb_client_pointer(v->rfb, 0, v->o.click_x, v->o.click_y);
		flush_out(v);
		pump_until(v, now_us() + 500000, NULL);
	}
	for (int i = 0; i < v->o.type_n && !stop_requested; i++) {
		uint32_t ks = (uint32_t)word[i % (sizeof(word) - 1)];
		uint64_t before;
		int64_t t0, deadline;

		pump_until(v, now_us() + 150000 + (i % 7) * 10000, NULL);
		before = region_sum(v, &v->o.watch_rect);
		t0 = now_us();
		deadline = t0 + 2000000;
		pg_rfb_client_key(v->rfb, 1, ks);
		pg_rfb_client_key(v->rfb, 0, ks);
		flush_out(v);
		while (now_us() < deadline && !stop_requested) {
			if (!wait_update(v, deadline))
				break;
			if (region_sum(v, &v->o.watch_rect) != before) {
				sample_add(&v->key_lat, (now_us() - t0) / 1000.0);
				break;
			}
		}
	}
	/* Clear the field again (BackSpace), untimed. */
	for (int i = 0; i < v->o.type_n; i++) {
		pg_rfb_client_key(v->rfb, 1, 0xff08);
		pg_rfb_client_key(v->rfb, 0, 0xff08);
	}
	flush_out(v);
}

/* The measured window: updates, bytes, and input at a fixed pace. */
static void run_window(struct viewer *v, int64_t end)
{
	int64_t period_w = v->o.wheel_hz > 0 ? (int64_t)(1e6 / v->o.wheel_hz) : 0;
	int64_t period_k = v->o.key_hz > 0 ? (int64_t)(1e6 / v->o.key_hz) : 0;
	int64_t next_w = now_us(), next_k = now_us();

	while (!stop_requested && now_us() < end) {
		int64_t t = now_us(), next = end;

		if (period_w && t >= next_w) {
			pg_rfb_client_pointer(v->rfb, 1 << 4, v->o.pointer_x, v->o.pointer_y);
			pg_rfb_client_pointer(v->rfb, 0, v->o.pointer_x, v->o.pointer_y);
			flush_out(v);
			next_w += period_w;
		}
		if (period_k && t >= next_k) {
			pg_rfb_client_key(v->rfb, 1, v->o.key_sym);
			pg_rfb_client_key(v->rfb, 0, v->o.key_sym);
			flush_out(v);
			next_k += period_k;
		}
		if (period_w && next_w < next)
			next = next_w;
		if (period_k && next_k < next)
			next = next_k;
		if (read_some(v, (int)((next - now_us()) / 1000) + 1))
			feed(v);
	}
}

/* TurboJPEG alone on the last picture: compress at the viewer's quality as
 * TigerVNC maps levels, then decompress; medians in ms. */
static void tj_reference(struct viewer *v, double *enc_ms, double *dec_ms, unsigned long *jbytes)
{
	static const struct {
		int q, samp;
	} levels[10] = {
	    {15, TJSAMP_420}, {29, TJSAMP_420},	 {41, TJSAMP_420}, {42, TJSAMP_422},
	    {62, TJSAMP_422}, {77, TJSAMP_422},	 {79, TJSAMP_444}, {86, TJSAMP_444},
	    {92, TJSAMP_444}, {100, TJSAMP_444},
	};
	int lvl = v->o.quality >= 0 && v->o.quality <= 9 ? v->o.quality : 8;
	tjhandle c = tjInitCompress(), d = tjInitDecompress();
	struct samples se = {0}, sd = {0};
	uint8_t *out = malloc((size_t)v->fb.w * v->fb.h * 4);

	for (int i = 0; i < v->o.tj_ref && out; i++) {
		unsigned char *j = NULL;
		unsigned long len = 0;
		int64_t t0 = now_us(), t1;

		if (tjCompress2(c, (const unsigned char *)v->fb.px, v->fb.w, v->fb.stride * 4,
				v->fb.h, TJPF_BGRX, &j, &len, levels[lvl].samp, levels[lvl].q,
				TJFLAG_FASTDCT) == 0) {
			t1 = now_us();
			tjDecompress2(d, j, len, out, v->fb.w, v->fb.w * 4, v->fb.h, TJPF_BGRX,
				      TJFLAG_FASTDCT);
			sample_add(&se, (t1 - t0) / 1000.0);
			sample_add(&sd, (now_us() - t1) / 1000.0);
			*jbytes = len;
		}
		tjFree(j);
	}
	*enc_ms = pct(&se, 0.5);
	*dec_ms = pct(&sd, 0.5);
	free(se.v);
	free(sd.v);
	free(out);
	tjDestroy(c);
	tjDestroy(d);
}

static void dump_ppm(const struct viewer *v, const char *path)
{
	FILE *f = fopen(path, "wb");

	if (!f)
		die("cannot write '%s'", path);
	fprintf(f, "P6\n%d %d\n255\n", v->fb.w, v->fb.h);
	for (int y = 0; y < v->fb.h; y++)
		for (int x = 0; x < v->fb.w; x++) {
			uint32_t p = v->fb.px[(size_t)y * v->fb.stride + x];

			fputc((p >> 16) & 0xff, f);
			fputc((p >> 8) & 0xff, f);
			fputc(p & 0xff, f);
		}
	fclose(f);
}

/* Options ------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " --connect HOST:PORT [options]\n"
		   "  --password-file F      VNC authentication with F's first line\n"
		   "  --user U --user-password-file F\n"
		   "                         VeNCrypt Plain (X509Plain or TLSPlain) as U\n"
		   "  --encodings LIST       of tight,zrle,raw,copyrect,hextile,rre (default\n"
		   "                         tight,copyrect,zrle,raw: TigerVNC's order)\n"
		   "  --quality N            JPEG quality level 0..9, -1 none (default 8)\n"
		   "  --compress N           compress level 0..9 (default 2)\n"
		   "  --cursor               ask for cursor shapes (the Cursor pseudo-encoding),\n"
		   "                         so the host does not draw the pointer into pixels\n"
		   "                         (Xtigervnc: only once the viewer put the pointer\n"
		   "                         where it is, see --pointer)\n"
		   "  --warmup S --duration S  seconds before and of the measured window\n"
		   "  --stamp                read pg-synth-host's time stamp on each update\n"
		   "  --rtt N [--rtt-at X,Y] [--rtt-gap MS]\n"
		   "                         N 1x1 FramebufferUpdateRequest round trips, MS\n"
		   "                         apart (default 50)\n"
		   "  --type N --watch X,Y,W,H [--click X,Y]\n"
		   "                         type N keys, each timed until the region changes\n"
		   "  --wheel HZ | --key HZ:KEYSYM [--pointer X,Y]\n"
		   "                         wheel down (button 5) or a key, at a fixed pace\n"
		   "  --tj-ref N             TurboJPEG encode+decode of the last picture, N times\n"
		   "  --cpu NAME=PID         CPU of PID over the window; NAME+=PID: its children\n"
		   "  --dump FILE [--settle S]  the picture S seconds after the window, as PPM\n"
		   "  --first-timeout S      seconds to wait for the first picture (default 20)\n"
		   "  --start-key KEYSYM     press this key before the warm-up (0xff50: Home)\n"
		   "Prints one JSON object on stdout.\n");
}

static void parse_xy(const char *a, int *x, int *y)
{
	if (sscanf(a, "%d,%d", x, y) != 2)
		die("want X,Y, not '%s'", a);
}

static void parse_options(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"connect", 1, NULL, 'c'},	 {"password-file", 1, NULL, 'p'},
	    {"user", 1, NULL, 'u'},	 {"user-password-file", 1, NULL, 'P'},
	    {"encodings", 1, NULL, 'e'}, {"quality", 1, NULL, 'q'},
	    {"compress", 1, NULL, 'z'},	 {"warmup", 1, NULL, 'W'},
	    {"duration", 1, NULL, 'd'},	 {"stamp", 0, NULL, 's'},
	    {"rtt", 1, NULL, 'r'},	 {"rtt-gap", 1, NULL, 'G'},
	    {"rtt-at", 1, NULL, 'R'},	 {"type", 1, NULL, 't'},
	    {"watch", 1, NULL, 'w'},	 {"click", 1, NULL, 'C'},
	    {"wheel", 1, NULL, 'H'},	 {"key", 1, NULL, 'K'},
	    {"pointer", 1, NULL, 'X'},	 {"tj-ref", 1, NULL, 'j'},
	    {"cpu", 1, NULL, 'U'},	 {"dump", 1, NULL, 'D'},
	    {"settle", 1, NULL, 'S'},	 {"first-timeout", 1, NULL, 'F'},
	    {"start-key", 1, NULL, 'k'}, {"cursor", 0, NULL, 'M'},
	    {"help", 0, NULL, 'h'},	 {NULL, 0, NULL, 0},
	};
	int c;
	char *colon;

	*o = (struct opts){.encodings = "tight,copyrect,zrle,raw",
			   .quality = 8,
			   .compress = 2,
			   .warmup = 1,
			   .first_timeout = 20,
			   .rtt_gap_ms = 50,
			   .duration = 5,
			   .click_x = -1,
			   .pointer_x = 400,
			   .pointer_y = 400};
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'c':
			colon = strrchr(optarg, ':');
			if (!colon)
				die("--connect wants HOST:PORT, not '%s'", optarg);
			*colon = 0;
			o->host = optarg;
			o->port = atoi(colon + 1);
			break;
		case 'p':
			o->password_file = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case 'P':
			o->user_password_file = optarg;
			break;
		case 'e':
			o->encodings = optarg;
			break;
		case 'q':
			o->quality = atoi(optarg);
			break;
		case 'z':
			o->compress = atoi(optarg);
			break;
		case 'M':
			o->cursor = true;
			break;
		case 'W':
			o->warmup = atof(optarg);
			break;
		case 'd':
			o->duration = atof(optarg);
			break;
		case 's':
			o->stamp = true;
			break;
		case 'r':
			o->rtt = atoi(optarg);
			break;
		case 'R':
			parse_xy(optarg, &o->rtt_x, &o->rtt_y);
			break;
		case 'G':
			o->rtt_gap_ms = atoi(optarg);
			break;
		case 't':
			o->type_n = atoi(optarg);
			break;
		case 'w':
			if (sscanf(optarg, "%d,%d,%d,%d", &o->watch_rect.x, &o->watch_rect.y,
				   &o->watch_rect.w, &o->watch_rect.h) != 4)
				die("--watch wants X,Y,W,H, not '%s'", optarg);
			break;
		case 'C':
			parse_xy(optarg, &o->click_x, &o->click_y);
			break;
		case 'H':
			o->wheel_hz = atof(optarg);
			break;
		case 'K':
			if (sscanf(optarg, "%lf:%i", &o->key_hz, (int *)&o->key_sym) != 2)
				die("--key wants HZ:KEYSYM, not '%s'", optarg);
			break;
		case 'X':
			parse_xy(optarg, &o->pointer_x, &o->pointer_y);
			o->pointer_set = true;
			break;
		case 'j':
			o->tj_ref = atoi(optarg);
			break;
		case 'U': {
			char *eq = strchr(optarg, '=');
			struct watch *w = &o->pids[o->npids];

			if (!eq || o->npids == MAX_PIDS)
				die("--cpu wants NAME=PID or NAME+=PID, not '%s'", optarg);
			w->children = eq > optarg && eq[-1] == '+';
			*(w->children ? eq - 1 : eq) = 0;
			w->name = optarg;
			w->pid = atoi(eq + 1);
			o->npids++;
			break;
		}
		case 'D':
			o->dump = optarg;
			break;
		case 'S':
			o->settle = atof(optarg);
			break;
		case 'F':
			o->first_timeout = atof(optarg);
			break;
		case 'k':
			o->start_key = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (!o->host)
		die("--connect HOST:PORT is required%s", "");
	if (o->user && !o->user_password_file)
		die("--user needs --user-password-file%s", "");
}

static size_t build_encodings(const struct opts *o, int32_t *list)
{
	char tmp[256];
	size_t n = 0;

	snprintf(tmp, sizeof(tmp), "%s", o->encodings);
	for (char *save, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!strcmp(t, "tight"))
			list[n++] = PG_ENC_TIGHT;
		else if (!strcmp(t, "zrle"))
			list[n++] = PG_ENC_ZRLE;
		else if (!strcmp(t, "raw"))
			list[n++] = PG_ENC_RAW;
		else if (!strcmp(t, "copyrect"))
			list[n++] = PG_ENC_COPYRECT;
		else if (!strcmp(t, "hextile"))
			list[n++] = PG_ENC_HEXTILE;
		else if (!strcmp(t, "rre"))
			list[n++] = PG_ENC_RRE;
		else
			die("unknown encoding '%s'", t);
	}
	list[n++] = PG_ENC_DESKTOP_SIZE;
	list[n++] = PG_ENC_EXT_DESKTOP_SIZE;
	list[n++] = PG_ENC_LAST_RECT;
	list[n++] = PG_ENC_QEMU_EXT_KEY;
	if (o->cursor)
		list[n++] = PG_ENC_CURSOR;
	if (o->quality >= 0 && o->quality <= 9)
		list[n++] = PG_ENC_JPEG_QUALITY_0 + o->quality;
	if (o->compress >= 0 && o->compress <= 9)
		list[n++] = PG_ENC_COMPRESS_LEVEL_0 + o->compress;
	return n;
}

static int connect_to(const struct opts *o)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
	struct addrinfo *ai;
	char port[16];
	int fd, one = 1;

	snprintf(port, sizeof(port), "%d", o->port);
	if (getaddrinfo(o->host, port, &hints, &ai))
		die("bad address '%s'", o->host);
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		die("cannot connect: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	freeaddrinfo(ai);
	return fd;
}

static int cb_vnc_auth(void *ud, const uint8_t challenge[16], uint8_t response[16])
{
	struct viewer *v = ud;
	char *pw;

	if (!v->o.password_file)
		return -1;
	pw = read_line_file(v->o.password_file);
	pg_vncauth_response(pw, challenge, response);
	explicit_bzero(pw, strlen(pw));
	free(pw);
	return 0;
}

static void print_samples(const char *name, struct samples *s)
{
	if (!s->n)
		return;
	printf(",\"%s\":{\"n\":%d,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}", name, s->n,
	       pct(s, 0.5), pct(s, 0.9), pct(s, 0.99), pct(s, 1.0));
}

int main(int argc, char **argv)
{
	static struct viewer v;
	struct sigaction sa = {.sa_handler = on_signal};
	int32_t enc[32];
	size_t nenc;
	int64_t t0, t1;
	double cpu0, cpu1, cpu[MAX_PIDS];
	long u0;
	uint64_t b0;
	long r0;

	parse_options(argc, argv, &v.o);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	v.rbuf = malloc(READ_CHUNK);
	struct pg_rfb_client_cb cb = {
	    .ud = &v,
	    .resize = cb_resize,
	    .damage = cb_damage,
	    .copy = cb_copy,
	    .update_end = cb_update_end,
	    .vnc_auth = cb_vnc_auth,
	    .security = cb_security,
	};
	v.rfb = pg_rfb_client_new(&cb);
	nenc = build_encodings(&v.o, enc);
	if (!v.rbuf || !v.rfb || pg_rfb_client_set_encodings(v.rfb, enc, nenc))
		die("cannot set up the client%s", "");
	v.fd = connect_to(&v.o);

	/* Handshake and the first full picture, within 20 s. */
	t0 = now_us();
	while (!pg_rfb_client_ready(v.rfb) || v.updates == 0) {
		if (now_us() - t0 > (int64_t)(v.o.first_timeout * 1e6))
			die("no picture within --first-timeout%s", "");
		if (stop_requested)
			return 1;
		if (read_some(&v, 100))
			feed(&v);
		if (pg_rfb_client_external(v.rfb) == PG_RFB_SEC_VENCRYPT && !v.ssl) {
			run_vencrypt(&v);
			feed(&v);
		}
	}
	if (v.o.start_key || v.o.pointer_set) {
		/* Xtigervnc draws the pointer into the pixels of a client that asked for
		 * cursor shapes too while the pointer is not where that client last put
		 * it, as in the first update, and takes it out only when the pointer
		 * moves: a viewer that only watches moves it a pixel and back. */
		pg_rfb_client_pointer(v.rfb, 0, v.o.pointer_x ^ 1, v.o.pointer_y);
		pg_rfb_client_pointer(v.rfb, 0, v.o.pointer_x, v.o.pointer_y);
		if (v.o.start_key) {
			pg_rfb_client_key(v.rfb, 1, v.o.start_key);
			pg_rfb_client_key(v.rfb, 0, v.o.start_key);
		}
		flush_out(&v);
	}
	pump_until(&v, now_us() + (int64_t)(v.o.warmup * 1e6), NULL);

	/* The measured window. */
	measuring = true;
	for (int i = 0; i < v.o.npids; i++)
		v.o.pids[i].cpu0 = watch_cpu(&v.o.pids[i]);
	cpu0 = cpu_self_ms();
	u0 = v.updates;
	b0 = v.bytes_in;
	r0 = v.rects;
	t0 = now_us();
	if (v.o.rtt)
		run_rtt(&v);
	if (v.o.type_n)
		run_typing(&v);
	if (!v.o.rtt && !v.o.type_n)
		run_window(&v, t0 + (int64_t)(v.o.duration * 1e6));
	t1 = now_us();
	cpu1 = cpu_self_ms();
	for (int i = 0; i < v.o.npids; i++)
		cpu[i] = watch_cpu(&v.o.pids[i]) - v.o.pids[i].cpu0;
	measuring = false;

	double secs = (t1 - t0) / 1e6;
	long upd = v.updates - u0;

	printf("{\"seconds\":%.3f,\"updates\":%ld,\"updates_per_s\":%.2f,\"bytes\":%llu,"
	       "\"bytes_per_s\":%.0f,\"rects\":%ld,\"width\":%d,\"height\":%d,"
	       "\"viewer_cpu_ms\":%.1f",
	       secs, upd, upd / secs, (unsigned long long)(v.bytes_in - b0),
	       (v.bytes_in - b0) / secs, v.rects - r0, v.fb.w, v.fb.h, cpu1 - cpu0);
	printf(",\"cpu_ms\":{");
	for (int i = 0; i < v.o.npids; i++)
		printf("%s\"%s\":%.1f", i ? "," : "", v.o.pids[i].name, cpu[i]);
	printf("}");
	print_samples("stamp_latency_ms", &v.stamp_lat);
	print_samples("rtt_ms", &v.rtt);
	print_samples("key_latency_ms", &v.key_lat);
	if (v.o.tj_ref > 0 && v.fb.px) {
		double e, d;
		unsigned long jb = 0;

		tj_reference(&v, &e, &d, &jb);
		printf(",\"tj_ref\":{\"encode_ms\":%.3f,\"decode_ms\":%.3f,\"jpeg_bytes\":%lu}", e,
		       d, jb);
	}
	printf("}\n");
	fflush(stdout);
	if (v.o.dump && v.fb.px) {
		pump_until(&v, now_us() + (int64_t)(v.o.settle * 1e6), NULL);
		dump_ppm(&v, v.o.dump);
	}
	if (v.ssl)
		SSL_free(v.ssl);
	SSL_CTX_free(v.ssl_ctx);
	pg_rfb_client_del(v.rfb);
	close(v.fd);
	return 0;
}
