/* The worker's lockdown (relay/sandbox.c), in a child process: what it allows still
 * works, what it forbids kills the child with SIGSYS, and /proc shows the result
 * (Seccomp 2, NoNewPrivs 1, another user, other namespaces, an empty root). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "relay/sandbox.h"

#define NOBODY 65534

/* Run fn in a locked-down child; the child reports on a pipe (byte 'R' when locked,
 * then fn's result byte) and waits for one byte before it exits. */
struct child {
	pid_t pid;
	int to, from; /* pipes: to the child, from the child */
};

static struct child spawn(int (*fn)(void))
{
	int up[2], down[2];
	signal(SIGPIPE, SIG_IGN); /* a child the filter killed leaves a closed pipe */
	cr_assert_eq(pipe(up), 0);
	cr_assert_eq(pipe(down), 0);
	struct child c = {.to = down[1], .from = up[0]};
	c.pid = fork();
	cr_assert_geq(c.pid, 0);
	if (c.pid == 0) {
		close(up[0]);
		close(down[1]);
		int keep[] = {up[1], down[0]};
		struct pg_sandbox_opts o = {
		    .uid = NOBODY,
		    .gid = NOBODY,
		    .address_space = 1ull << 30,
		    .file_size = 64u << 20,
		    .cpu_seconds = 60,
		    .keep_fds = keep,
		    .nkeep = 2,
		};
		struct pg_sandbox_report rep;
		char err[256];
		if (pg_sandbox_enter(&o, &rep, err, sizeof(err)) < 0) {
			(void)!write(up[1], "E", 1);
			(void)!write(up[1], err, strlen(err));
			_exit(2);
		}
		(void)!write(up[1], "R", 1);
		char go;
		(void)!read(down[0], &go, 1);
		char r = fn ? (char)fn() : 'K';
		(void)!write(up[1], &r, 1);
		(void)!read(down[0], &go, 1);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	char b;
	cr_assert_eq(read(c.from, &b, 1), 1, "the child said nothing");
	if (b == 'E') {
		char err[256] = "";
		(void)!read(c.from, err, sizeof(err) - 1);
		cr_assert_fail("pg_sandbox_enter failed: %s", err);
	}
	cr_assert_eq(b, 'R');
	return c;
}

/* Let the child run fn; returns fn's byte, or 0 when the child died instead, with
 * *sig set to the signal that ended it. */
static char run(struct child *c, int *sig)
{
	(void)!write(c->to, "g", 1);
	char r = 0;
	if (read(c->from, &r, 1) != 1)
		r = 0;
	(void)!write(c->to, "x", 1);
	int status;
	cr_assert_eq(waitpid(c->pid, &status, 0), c->pid);
	*sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	close(c->to);
	close(c->from);
	return r;
}

static void expect_killed(int (*fn)(void), const char *what)
{
	if (pg_sandbox_sanitized())
		cr_skip("sanitizer build: the worker runs without its seccomp filter");
	struct child c = spawn(fn);
	int sig;
	char r = run(&c, &sig);
	cr_assert_eq(r, 0, "%s was allowed (the child answered %c)", what, r);
	cr_assert_eq(sig, SIGSYS, "%s: child ended by signal %d, not SIGSYS", what, sig);
}

static int do_open(void)
{
	return open("/etc/passwd", O_RDONLY) >= 0 ? 'Y' : 'N';
}

static int do_socket(void)
{
	return socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 'Y' : 'N';
}

static int do_exec(void)
{
	char *argv[] = {"/bin/true", NULL};
	execve("/bin/true", argv, NULL);
	return 'N';
}

static int do_fork(void)
{
	pid_t p = fork();
	if (p == 0)
		_exit(0);
	return p > 0 ? 'Y' : 'N';
}

static int do_mmap_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p != MAP_FAILED ? 'Y' : 'N';
}

static int do_mprotect_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 'M';
	return mprotect(p, 4096, PROT_READ | PROT_EXEC) == 0 ? 'Y' : 'N';
}

static int do_ptrace_kill(void)
{
	/* Signalling any other process: the parent here. */
	return kill(getppid(), 0) == 0 ? 'Y' : 'N';
}

Test(sandbox, open_kills)
{
	expect_killed(do_open, "open");
}

Test(sandbox, socket_kills)
{
	expect_killed(do_socket, "socket");
}

Test(sandbox, exec_kills)
{
	expect_killed(do_exec, "execve");
}

Test(sandbox, fork_kills)
{
	expect_killed(do_fork, "fork");
}

Test(sandbox, executable_mapping_kills)
{
	expect_killed(do_mmap_exec, "mmap(PROT_EXEC)");
}

Test(sandbox, mprotect_exec_kills)
{
	expect_killed(do_mprotect_exec, "mprotect(PROT_EXEC)");
}

Test(sandbox, kill_other_process_kills)
{
	expect_killed(do_ptrace_kill, "kill");
}

/* Everything a worker does: memory, a sealed shared framebuffer passed on a socket,
 * the clock, stderr, and exit. */
static int do_worker_things(void)
{
	void *big = malloc(64u << 20);
	if (!big)
		return 'm';
	memset(big, 1, 64u << 20);
	free(big);
	int fd = memfd_create("fb", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, 1 << 20) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return 'f';
	void *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return 'p';
	memset(p, 2, 1 << 20);
	munmap(p, 1 << 20);
	close(fd);
	struct timespec t;
	if (clock_gettime(CLOCK_MONOTONIC, &t) < 0)
		return 't';
	fprintf(stderr, "sandboxed child: still able to write to stderr\n");
	return 'K';
}

Test(sandbox, allowed_calls_work)
{
	struct child c = spawn(do_worker_things);
	int sig;
	char r = run(&c, &sig);
	cr_assert_eq(r, 'K', "the child failed at step %c (signal %d)", r ? r : '?', sig);
	cr_assert_eq(sig, 0);
}

/* A line of /proc/PID/status, e.g. "Seccomp:\t2". */
static bool status_has(pid_t pid, const char *key, const char *value)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	bool found = false;
	size_t kl = strlen(key);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			char *v = line + kl + 1;
			v += strspn(v, " \t");
			found = *value ? !strncmp(v, value, strlen(value)) : *v == '\n';
			break;
		}
	}
	fclose(f);
	return found;
}

static bool same_ns(pid_t pid, const char *ns)
{
	char a[64], b[64], la[128] = "", lb[128] = "";
	snprintf(a, sizeof(a), "/proc/%d/ns/%s", (int)pid, ns);
	snprintf(b, sizeof(b), "/proc/self/ns/%s", ns);
	cr_assert_gt(readlink(a, la, sizeof(la) - 1), 0, "cannot read %s", a);
	cr_assert_gt(readlink(b, lb, sizeof(lb) - 1), 0);
	return !strcmp(la, lb);
}

/* A soft and hard limit in /proc/PID/limits, e.g. "Max processes  0  0  processes". */
static bool limit_is(pid_t pid, const char *name, const char *value)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	bool ok = false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, name, strlen(name)) || line[strlen(name)] != ' ')
			continue;
		char soft[32], hard[32];
		ok = sscanf(line + 26, "%31s %31s", soft, hard) == 2 && !strcmp(soft, value) &&
		     !strcmp(hard, value);
		break;
	}
	fclose(f);
	return ok;
}

Test(sandbox, proc_shows_the_lockdown)
{
	struct child c = spawn(NULL);
	cr_expect(status_has(c.pid, "NoNewPrivs", "1"), "NoNewPrivs is not 1");
	if (!pg_sandbox_sanitized())
		cr_expect(status_has(c.pid, "Seccomp", "2"), "Seccomp is not 2 (filter)");
	/* Sanitizer builds keep the user, namespaces and root (relay/sandbox.h). */
	if (geteuid() == 0 && !pg_sandbox_sanitized()) {
		cr_expect(status_has(c.pid, "Uid", "65534\t65534\t65534\t65534"),
			  "the child still runs as root");
		cr_expect(status_has(c.pid, "Groups", ""), "groups not dropped");
		cr_expect(!same_ns(c.pid, "net"), "same network namespace as the parent");
		cr_expect(!same_ns(c.pid, "mnt"), "same mount namespace as the parent");
		cr_expect(!same_ns(c.pid, "ipc"), "same IPC namespace as the parent");
		char root[64], target[256] = "";
		snprintf(root, sizeof(root), "/proc/%d/root", (int)c.pid);
		cr_expect_gt(readlink(root, target, sizeof(target) - 1), 0);
		cr_expect(strstr(target, "fdinfo") != NULL, "root is %s, not an empty directory",
			  target);
	}
	cr_expect(limit_is(c.pid, "Max cpu time", "60"), "CPU time not limited to 60 s");
	cr_expect(limit_is(c.pid, "Max core file size", "0"), "core files not off");
	if (!pg_sandbox_sanitized()) {
		cr_expect(limit_is(c.pid, "Max processes", "0"), "processes not limited to 0");
		cr_expect(limit_is(c.pid, "Max address space", "1073741824"),
			  "address space not limited to 1 GiB");
	}
	int sig;
	run(&c, &sig);
	cr_expect_eq(sig, 0);
}

/* Descriptors the relay did not name are closed before the first host byte. */
static int count_fds(void)
{
	/* fcntl(F_GETFD) is allowed; probe the low numbers. */
	int n = 0;
	for (int fd = 0; fd < 64; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return '0' + n;
}

Test(sandbox, closes_other_descriptors)
{
	int stray = open("/dev/null", O_RDONLY);
	cr_assert_geq(stray, 0);
	struct child c = spawn(count_fds);
	close(stray);
	int sig;
	char r = run(&c, &sig);
	/* 0, 1, 2 and the two pipe ends kept. */
	cr_assert_eq(r, '5', "the child has %d descriptors open, not 5", r - '0');
}
