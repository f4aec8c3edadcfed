/* The upstream worker speaks VeNCrypt with TLS to a real Xtigervnc (Debian
 * tigervnc-standalone-server) and checks the host's certificate against a CA file
 * and/or a pinned fingerprint. Each test makes a CA, a certificate for 127.0.0.1 and
 * an unrelated CA with the openssl command into a temporary directory, starts
 * Xtigervnc with its root window painted with the test pattern (ImageMagick's
 * display), and puts pixelgate in front with a config file. A libvncclient viewer
 * must then see exactly that picture; every refusal must be logged with the reason
 * that names the setting at fault. Loopback only, every wait bounded, every process
 * in its own group and killed with the test. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness_util.h"

#define W	     800
#define H	     600
#define PASSWORD     "pg-tls-secret"
#define LOG_WAIT_MS  15000
#define SEEN_WAIT_MS 20000

static char dir[64];
static pid_t xv_pid = -1;
static int xv_port = -1;
static struct it_relay *relay;
static struct it_viewer *viewer;
static struct it_host *vnc_host;
static char pin_good[128], pin_wrong[128];
static uint32_t picture[W * H];
static char xv_display[16];

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A shell command that must succeed (every path in it is under dir). */
static void run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert_eq(system(cmd), 0, "command failed: %s", cmd);
}

static void write_file(const char *name, int mode, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void write_file(const char *name, int mode, const char *fmt, ...)
{
	char path[256];
	va_list ap;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	FILE *f = fdopen(fd, "w");
	cr_assert_not_null(f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	cr_assert_eq(fclose(f), 0);
}

/* "SHA256 Fingerprint=AB:CD:..." as the openssl command prints it: the part after '='. */
static void fingerprint(const char *cert, char *out, size_t len)
{
	char cmd[512], line[256];

	snprintf(cmd, sizeof(cmd), "openssl x509 -noout -fingerprint -sha256 -in %s/%s", dir, cert);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	bool got = fgets(line, sizeof(line), p) != NULL;
	pclose(p);
	char *eq = got ? strchr(line, '=') : NULL;
	cr_assert_not_null(eq, "no fingerprint from: %s", cmd);
	eq[strcspn(eq, "\r\n")] = '\0';
	snprintf(out, len, "%s", eq + 1);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/pg-it-uptls-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	/* A CA, the host's certificate for 127.0.0.1 signed by it, and a second CA that
	 * signed nothing of the host's. EC keys: fast to make. */
	static const char key[] = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
	run("cd %s && openssl req -x509 %s -keyout ca.key -out ca.pem -days 2 "
	    "-subj /CN=pixelgate-test-ca 2>/dev/null",
	    dir, key);
	run("cd %s && openssl req -x509 %s -keyout other-ca.key -out other-ca.pem -days 2 "
	    "-subj /CN=pixelgate-other-ca 2>/dev/null",
	    dir, key);
	write_file("ext.cnf", 0644, "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n");
	run("cd %s && openssl req %s -keyout key.pem -out host.csr -subj /CN=127.0.0.1 "
	    "2>/dev/null && openssl x509 -req -in host.csr -CA ca.pem -CAkey ca.key "
	    "-CAcreateserial -out cert.pem -days 2 -extfile ext.cnf 2>/dev/null",
	    dir, key);
	fingerprint("cert.pem", pin_good, sizeof(pin_good));
	fingerprint("other-ca.pem", pin_wrong, sizeof(pin_wrong));
	run("cd %s && printf '%%s\\n' '" PASSWORD "' | vncpasswd -f > vncpasswd", dir);
	write_file("password.txt", 0600, PASSWORD "\n");
}

/* The harness pattern for seed, in picture[] and as a binary PPM for the host. */
static void make_picture(unsigned seed)
{
	char ppm[256];
	snprintf(ppm, sizeof(ppm), "%s/picture.ppm", dir);
	FILE *f = fopen(ppm, "wb");
	cr_assert_not_null(f);
	fprintf(f, "P6\n%d %d\n255\n", W, H);
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			uint32_t p = it_pattern_pixel(seed, x, y, W, H);
			picture[y * W + x] = p;
			fputc((int)(p >> 16 & 0xff), f);
			fputc((int)(p >> 8 & 0xff), f);
			fputc((int)(p & 0xff), f);
		}
	cr_assert_eq(fclose(f), 0);
}

/* Paint the host's root window with picture.ppm. display sets the background and
 * exits (with status 1, even when it worked: the picture checks are what count). */
static void paint_host(void)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "DISPLAY=:%s timeout 20 display -window root %s/picture.ppm 2>/dev/null",
		 xv_display, dir);
	if (system(cmd) == -1)
		cr_assert_fail("cannot run display");
}

static void teardown(void)
{
	viewer_stop(viewer);
	relay_stop(relay);
	if (vnc_host) {
		host_stop(vnc_host);
		host_free(vnc_host);
	}
	if (xv_pid > 0) {
		kill(-xv_pid, SIGTERM);
		int64_t deadline = it_now_ms() + 5000;
		while (waitpid(xv_pid, NULL, WNOHANG) == 0 && it_now_ms() < deadline)
			it_sleep_ms(20);
		kill(-xv_pid, SIGKILL);
		waitpid(xv_pid, NULL, WNOHANG);
	}
	if (dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
}

TestSuite(upstream_tls, .init = setup, .fini = teardown, .timeout = 90);

static void dump_xv_log(void)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "tail -n 20 %s/xtigervnc.log >&2", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "no Xtigervnc log\n");
}

/* Start Xtigervnc on a display it picks itself (-displayfd), listening on loopback,
 * with security (an -SecurityTypes value) and the test certificate; paint the root
 * window with the pattern. */
static void xv_start(const char *security)
{
	char geometry[32], port[16], cert[128], key[128], auth[128], log[128];
	int pfd[2];

	xv_port = it_free_port();
	cr_assert_gt(xv_port, 0);
	snprintf(geometry, sizeof(geometry), "%dx%d", W, H);
	snprintf(port, sizeof(port), "%d", xv_port);
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(auth, sizeof(auth), "%s/vncpasswd", dir);
	snprintf(log, sizeof(log), "%s/xtigervnc.log", dir);
	cr_assert_eq(pipe(pfd), 0);
	xv_pid = fork();
	cr_assert_geq(xv_pid, 0);
	if (xv_pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (lfd >= 0) {
			dup2(lfd, STDOUT_FILENO);
			dup2(lfd, STDERR_FILENO);
		}
		dup2(pfd[1], 3);
		close_range(4, ~0u, 0);
		execlp("Xtigervnc", "Xtigervnc", "-displayfd", "3", "-SecurityTypes", security,
		       "-X509Cert", cert, "-X509Key", key, "-rfbauth", auth, "-localhost",
		       "-interface", "127.0.0.1", "-rfbport", port, "-geometry", geometry, "-depth",
		       "24", "-nolisten", "tcp", "-desktop", "pg-tls-host", (char *)NULL);
		_exit(127);
	}
	setpgid(xv_pid, xv_pid);
	close(pfd[1]);
	char num[16] = "";
	size_t got = 0;
	struct pollfd p = {.fd = pfd[0], .events = POLLIN};
	int64_t deadline = it_now_ms() + 15000;
	while (got < sizeof(num) - 1 && !strchr(num, '\n')) {
		int left = (int)(deadline - it_now_ms());
		if (left <= 0 || poll(&p, 1, left) != 1)
			break;
		ssize_t n = read(pfd[0], num + got, sizeof(num) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		num[got] = '\0';
	}
	close(pfd[0]);
	if (!strchr(num, '\n'))
		dump_xv_log();
	cr_assert(strchr(num, '\n'), "Xtigervnc did not report its display");
	num[strcspn(num, "\n")] = '\0';
	snprintf(xv_display, sizeof(xv_display), "%s", num);
	make_picture(1);
	paint_host();
}

/* pixelgate in front of upstream_port, configured by a file: viewers without login
 * on loopback, and the [upstream] lines given. */
static void relay_with(int upstream_port, const char *upstream_lines)
{
	char conf[128];
	write_file("pixelgate.conf", 0600, "[relay]\nsecurity = none\n\n[upstream]\n%s",
		   upstream_lines);
	snprintf(conf, sizeof(conf), "%s/pixelgate.conf", dir);
	const char *args[] = {"-c", conf, NULL};
	relay = relay_start(upstream_port, args);
	cr_assert_not_null(relay, "relay did not start");
}

static void expect_picture(void)
{
	static const struct it_viewer_opts o = {.bpp = 32, .encodings = "zrle", .compress = -1};

	viewer = viewer_start(relay_port(relay), &o);
	if (!viewer)
		relay_dump_log(relay, 4000);
	cr_assert_not_null(viewer, "viewer could not connect through pixelgate");
	const char *err = viewer_wait_match_picture(viewer, picture, W, H, SEEN_WAIT_MS, 0);
	if (err) {
		relay_dump_log(relay, 4000);
		dump_xv_log();
	}
	cr_assert_null(err, "picture through TLS: %s", err);
	cr_assert_not(relay_log_contains(relay, "exited with status"),
		      "the worker reported a failure");
}

static void expect_log(const char *needle)
{
	bool seen = relay_log_wait(relay, needle, LOG_WAIT_MS);
	if (!seen)
		relay_dump_log(relay, 4000);
	cr_assert(seen, "relay log lacks \"%s\"", needle);
}

/* Sessions start when a viewer arrives: an RFB 3.8 viewer that picks None and then
 * waits for its SecurityResult. Returns the socket. */
static int viewer_knock(void)
{
	uint8_t b[256];

	int fd = raw_client_open(relay_port(relay), NULL);
	cr_assert_geq(fd, 0);
	struct timeval tv = {.tv_sec = 30};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(raw_client_send(fd, "RFB 003.008\n", 12), 0);
	cr_assert(raw_client_read(fd, b, 1));
	cr_assert(b[0] > 0 && raw_client_read(fd, b + 1, b[0]));
	cr_assert(memchr(b + 1, 1, b[0]), "relay does not offer None");
	cr_assert_eq(raw_client_send(fd, "\x01", 1), 0);
	return fd;
}

/* The knocking viewer must be told, in its SecurityResult, that the browser host is
 * not available (at the latest after the relay's bounded wait). */
static void expect_viewer_told_unavailable(int fd)
{
	static const char reason[] = "the browser host is not available right now";
	uint8_t b[256];

	cr_assert(raw_client_read(fd, b, 8), "no SecurityResult");
	cr_assert_eq(rd32(b), 1u, "SecurityResult is not failed");
	uint32_t len = rd32(b + 4);
	cr_assert(len < sizeof(b) && raw_client_read(fd, b, len));
	b[len] = '\0';
	cr_assert(strstr((char *)b, reason), "viewer told \"%s\"", b);
}

/* A viewer arrives, the worker refuses the host with this reason in the log. */
static void expect_refusal(const char *needle, bool check_viewer)
{
	int fd = viewer_knock();
	expect_log(needle);
	if (check_viewer)
		expect_viewer_told_unavailable(fd);
	close(fd);
}

Test(upstream_tls, x509vnc_with_ca)
{
	char lines[512];

	xv_start("X509Vnc");
	snprintf(lines, sizeof(lines),
		 "tls = x509\nca_file = %s/ca.pem\npassword_file = %s/password.txt\n", dir, dir);
	relay_with(xv_port, lines);
	expect_picture();
	/* Updates keep coming inside TLS: a new picture on the host reaches the viewer. */
	make_picture(2);
	paint_host();
	const char *err = viewer_wait_match_picture(viewer, picture, W, H, SEEN_WAIT_MS, 0);
	cr_assert_null(err, "second picture through TLS: %s", err);
}

Test(upstream_tls, x509vnc_with_pin_only)
{
	char lines[512];

	xv_start("X509Vnc");
	snprintf(lines, sizeof(lines),
		 "tls = x509\npin_sha256 = %s\npassword_file = %s/password.txt\n", pin_good, dir);
	relay_with(xv_port, lines);
	expect_picture();
}

/* X509None: no VNC authentication inside TLS, no password configured; CA and pin
 * both given, so both must hold. */
Test(upstream_tls, x509none_with_ca_and_pin)
{
	char lines[512];

	xv_start("X509None");
	snprintf(lines, sizeof(lines), "tls = x509\nca_file = %s/ca.pem\npin_sha256 = %s\n", dir,
		 pin_good);
	relay_with(xv_port, lines);
	expect_picture();
}

Test(upstream_tls, wrong_pin_refused, .timeout = 120)
{
	char lines[512];

	xv_start("X509Vnc");
	snprintf(lines, sizeof(lines),
		 "tls = x509\npin_sha256 = %s\npassword_file = %s/password.txt\n", pin_wrong, dir);
	relay_with(xv_port, lines);
	expect_refusal("upstream worker: browser host certificate does not match pin_sha256", true);
}

/* A CA that did not sign the host's certificate; the correct pin does not rescue
 * it, since with both every check must hold. */
Test(upstream_tls, untrusted_ca_refused)
{
	char lines[512];

	xv_start("X509Vnc");
	snprintf(lines, sizeof(lines),
		 "tls = x509\nca_file = %s/other-ca.pem\npin_sha256 = %s\n"
		 "password_file = %s/password.txt\n",
		 dir, pin_good, dir);
	relay_with(xv_port, lines);
	expect_refusal("upstream worker: browser host certificate not trusted by ca_file (", false);
}

/* The right certificate, the wrong VNC password: refused inside TLS, by the host. */
Test(upstream_tls, wrong_password_refused)
{
	char lines[512];

	xv_start("X509Vnc");
	write_file("wrong.txt", 0600, "not-the-password\n");
	snprintf(lines, sizeof(lines),
		 "tls = x509\nca_file = %s/ca.pem\npassword_file = %s/wrong.txt\n", dir, dir);
	relay_with(xv_port, lines);
	expect_refusal("upstream worker: browser host: security: host refused authentication",
		       false);
}

Test(upstream_tls, tls_none_against_vencrypt_host)
{
	char lines[512];

	xv_start("X509Vnc");
	snprintf(lines, sizeof(lines), "tls = none\npassword_file = %s/password.txt\n", dir);
	relay_with(xv_port, lines);
	expect_refusal("it requires VeNCrypt (TLS): set [upstream] tls = x509 with ca_file and/or "
		       "pin_sha256",
		       false);
}

/* A host with VNC authentication only (libvncserver): tls = x509 must not fall back. */
Test(upstream_tls, x509_against_vncauth_host)
{
	char lines[512];
	struct it_host_opts o = {.password = PASSWORD};

	vnc_host = host_start(W, H, &o);
	cr_assert_not_null(vnc_host);
	snprintf(lines, sizeof(lines),
		 "tls = x509\nca_file = %s/ca.pem\npassword_file = %s/password.txt\n", dir, dir);
	relay_with(host_port(vnc_host), lines);
	expect_refusal("upstream worker: browser host does not offer VeNCrypt; [upstream] tls = "
		       "x509 requires it",
		       false);
	cr_assert_eq(host_clients(vnc_host), 0, "the host completed a handshake without TLS");
}

/* VeNCrypt with anonymous TLS only (TLSVnc): no certificate to check, so refused. */
Test(upstream_tls, x509_against_anonymous_tls_host)
{
	char lines[512];

	xv_start("TLSVnc");
	snprintf(lines, sizeof(lines),
		 "tls = x509\nca_file = %s/ca.pem\npassword_file = %s/password.txt\n", dir, dir);
	relay_with(xv_port, lines);
	expect_refusal("upstream worker: browser host offers no VeNCrypt subtype with a "
		       "certificate (X509None, X509Vnc); it offers 258 (TLSVnc)",
		       false);
}
