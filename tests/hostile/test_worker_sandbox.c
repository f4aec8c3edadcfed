/* The upstream worker as it runs behind the real relay: locked down once connected
 * (what /proc shows of it), killed and replaced when it stops answering, reported
 * when its sandbox kills it, and a soak of worker deaths (SIGKILL, SIGSEGV) and
 * viewer reconnects after which the relay holds no more descriptors or memory. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy_util.h"
#include "relay/sandbox.h"

#define W 320
#define H 240

static struct au_env env;
static struct it_host *host;
static struct it_relay *relay;
static struct it_viewer *viewer;
static unsigned seed = 1;
static const struct it_viewer_opts raw = {.bpp = 32, .encodings = "raw", .compress = -1};

static void check(const char *err, const char *what)
{
	if (err)
		relay_dump_log(relay, 6000);
	cr_assert_null(err, "%s: %s", what, err);
}

static void start(void)
{
	if (it_direct_mode())
		cr_skip_test("the worker is the relay's: nothing to test with PG_IT_DIRECT=1");
	cr_assert(au_env_init(&env, false), "cannot make the scratch folder");
	host = host_start(W, H, NULL);
	cr_assert_not_null(host, "host did not start");
	/* A short stall timeout and quick reconnects keep the test short. */
	cr_assert(pu_write_config(&env, host_port(host), NULL,
				  "[upstream]\nstall_timeout = 2\nreconnect_max = 1\n"));
	relay = pu_relay_start(&env, host_port(host));
	cr_assert_not_null(relay, "relay did not start");
	viewer = viewer_start(relay_port(relay), &raw);
	cr_assert_not_null(viewer, "viewer did not connect");
	check(viewer_wait_match(viewer, host, 15000, 0), "first picture");
}

static void stop(void)
{
	viewer_stop(viewer);
	relay_stop(relay);
	host_free(host);
	au_env_free(&env);
}

TestSuite(worker_sandbox, .init = start, .fini = stop, .timeout = 120);

/* The relay's one child: the upstream worker (0 when there is none right now). */
static pid_t worker_pid(void)
{
	char path[64], buf[256] = "";
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)relay_pid(relay),
		 (int)relay_pid(relay));
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return (pid_t)atoi(buf);
}

static int children(void)
{
	char path[64], buf[256] = "";
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)relay_pid(relay),
		 (int)relay_pid(relay));
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int n = 0;
	if (fgets(buf, sizeof(buf), f))
		for (char *t = strtok(buf, " \n"); t; t = strtok(NULL, " \n"))
			n++;
	fclose(f);
	return n;
}

/* A new worker, other than old, that has finished its handshake and locked down. */
static pid_t wait_new_worker(pid_t old, int timeout_ms)
{
	int64_t end = it_now_ms() + timeout_ms;
	while (it_now_ms() < end) {
		pid_t p = worker_pid();
		if (p > 0 && p != old)
			return p;
		it_sleep_ms(20);
	}
	return 0;
}

static bool status_is(pid_t pid, const char *key, const char *value)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	bool ok = false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, strlen(key)) || line[strlen(key)] != ':')
			continue;
		char *v = line + strlen(key) + 1;
		v += strspn(v, " \t");
		ok = !strncmp(v, value, strlen(value));
		break;
	}
	fclose(f);
	return ok;
}

static int count_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static bool ns_differs(pid_t a, pid_t b, const char *ns)
{
	char pa[64], pb[64], la[128] = "", lb[128] = "";
	snprintf(pa, sizeof(pa), "/proc/%d/ns/%s", (int)a, ns);
	snprintf(pb, sizeof(pb), "/proc/%d/ns/%s", (int)b, ns);
	if (readlink(pa, la, sizeof(la) - 1) <= 0 || readlink(pb, lb, sizeof(lb) - 1) <= 0)
		return false;
	return strcmp(la, lb) != 0;
}

/* The host changes, and the viewer must see it: the session works. */
static void picture_follows(const char *what)
{
	host_fill_pattern(host, ++seed);
	check(viewer_wait_match(viewer, host, 15000, 0), what);
}

Test(worker_sandbox, live_worker_is_locked_down)
{
	pid_t w = wait_new_worker(0, 5000);
	cr_assert_gt(w, 0, "no worker under the relay");
	cr_expect(status_is(w, "NoNewPrivs", "1"), "worker NoNewPrivs is not 1");
	if (!pg_sandbox_sanitized())
		cr_expect(status_is(w, "Seccomp", "2"), "worker Seccomp is not 2 (filter)");
	if (geteuid() == 0 && !pg_sandbox_sanitized()) {
		cr_expect(status_is(w, "Uid", "65534\t65534\t65534\t65534"),
			  "the worker runs as root, not nobody");
		cr_expect(ns_differs(w, relay_pid(relay), "net"),
			  "the worker shares the relay's network namespace");
		cr_expect(ns_differs(w, relay_pid(relay), "mnt"),
			  "the worker shares the relay's mount namespace");
	}
	/* stdin, stdout, stderr, the channel, the browser host's socket: nothing else. */
	cr_expect_eq(count_fds(w), 5, "the worker holds %d descriptors, not 5", count_fds(w));
	picture_follows("picture through the locked-down worker");
}

Test(worker_sandbox, stalled_worker_is_replaced)
{
	pid_t w = wait_new_worker(0, 5000);
	cr_assert_gt(w, 0);
	/* Stopped, it answers nothing: as stuck as a worker looping in a decoder. */
	cr_assert_eq(kill(w, SIGSTOP), 0);
	cr_assert(relay_log_wait(relay, "made no progress", 10000),
		  "the relay did not notice the stalled worker");
	cr_assert(au_audit_wait(env.audit, NULL, 0, 5000, "\"event\":\"worker-stalled\"", NULL),
		  "no worker-stalled audit record");
	pid_t nw = wait_new_worker(w, 10000);
	cr_assert_gt(nw, 0, "no new worker after the stalled one was killed");
	picture_follows("picture after the stalled worker was replaced");
	cr_expect(viewer_connected(viewer), "the viewer was dropped");
}

Test(worker_sandbox, sandbox_kill_is_reported)
{
	pid_t w = wait_new_worker(0, 5000);
	cr_assert_gt(w, 0);
	/* What the seccomp filter does to a forbidden call, delivered by hand: the
	 * relay's reporting and recovery are what is tested here (the filter itself in
	 * tests/unit/sandbox). */
	cr_assert_eq(kill(w, SIGSYS), 0);
	cr_assert(relay_log_wait(relay, "killed by its sandbox", 10000),
		  "no log line for a worker the sandbox killed");
	cr_assert(au_audit_wait(env.audit, NULL, 0, 5000, "\"event\":\"sandbox-violation\"", NULL),
		  "no sandbox-violation audit record");
	cr_assert_gt(wait_new_worker(w, 10000), 0);
	picture_follows("picture after the sandbox kill");
}

/* Worker deaths and viewer reconnects, over and over: after a warm-up the relay's
 * descriptors and memory must not grow. */
Test(worker_sandbox, soak_kills_and_reconnects, .timeout = 180)
{
	const int rounds = 24;
	int fds_warm = -1;
	long rss_warm = -1;
	pid_t rp = relay_pid(relay);
	for (int i = 0; i < rounds; i++) {
		pid_t w = wait_new_worker(0, 10000);
		cr_assert_gt(w, 0, "round %d: no worker", i);
		/* A crash, as a decoder bug would give; AddressSanitizer would report a
		 * SIGSEGV as a finding, so its builds crash the worker with SIGABRT. */
		int crash = pg_sandbox_sanitized() ? SIGABRT : SIGSEGV;
		cr_assert_eq(kill(w, i % 2 ? crash : SIGKILL), 0);
		cr_assert_gt(wait_new_worker(w, 10000), 0, "round %d: worker not replaced", i);
		/* Three more viewers come and go. */
		for (int k = 0; k < 3; k++) {
			struct it_viewer *v = viewer_start(relay_port(relay), &raw);
			cr_assert_not_null(v, "round %d: extra viewer %d did not connect", i, k);
			check(viewer_wait_match(v, host, 15000, 0), "extra viewer's picture");
			viewer_stop(v);
		}
		picture_follows("picture after a worker death");
		if (i == 3) {
			it_sleep_ms(300);
			fds_warm = count_fds(rp);
			rss_warm = it_rss_kib(rp);
		}
	}
	it_sleep_ms(500);
	int fds = count_fds(rp);
	long rss = it_rss_kib(rp);
	cr_log_info("soak: %d rounds; relay fds %d -> %d, RSS %ld -> %ld KiB", rounds, fds_warm,
		    fds, rss_warm, rss);
	cr_expect(relay_alive(relay));
	cr_expect_leq(fds, fds_warm + 1, "relay descriptors grew from %d to %d", fds_warm, fds);
	/* Under a sanitizer RSS measures its quarantine and shadow; the plain build
	 * checks pixelgate's own memory. */
	if (!it_relay_instrumented())
		cr_expect_lt(rss - rss_warm, 8 * 1024, "relay memory grew by %ld KiB",
			     rss - rss_warm);
	cr_expect_eq(children(), 1, "the relay has %d children, not one worker", children());
	char line[4096];
	cr_expect(pu_audit_nth(env.audit, "worker-exit", rounds - 1, line, sizeof(line), 5000),
		  "fewer than %d worker-exit audit records", rounds);
}
