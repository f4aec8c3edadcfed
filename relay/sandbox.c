#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* The build defines this for every sanitizer (GCC has no macro for UBSan alone). */
#ifdef PG_SANITIZER_BUILD
#define PG_SANITIZED 1
#endif

bool pg_sandbox_sanitized(void)
{
#ifdef PG_SANITIZED
	return true;
#else
	return false;
#endif
}

static int fail(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -1;
}

static void note(struct pg_sandbox_report *rep, const char *what)
{
	size_t used = strlen(rep->note);
	snprintf(rep->note + used, sizeof(rep->note) - used, "%s%s", used ? "; " : "", what);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Close everything from 3 up but the descriptors to keep. Returns the highest kept. */
static int close_others(const int *keep, int nkeep)
{
	int sorted[16];
	int n = 0;
	for (int i = 0; i < nkeep && n < 16; i++)
		if (keep[i] > 2)
			sorted[n++] = keep[i];
	qsort(sorted, (size_t)n, sizeof(sorted[0]), cmp_int);
	unsigned lo = 3;
	for (int i = 0; i < n; i++) {
		if ((unsigned)sorted[i] > lo)
			close_range(lo, (unsigned)sorted[i] - 1, 0);
		lo = (unsigned)sorted[i] + 1;
	}
	close_range(lo, ~0u, 0);
	return n ? sorted[n - 1] : 2;
}

/* Leave the relay's view of the system: nothing mounted, no network, no other
 * processes; then an empty, read-only root. As root this needs no user namespace;
 * otherwise a user namespace grants the rights for the rest, where the kernel lets
 * unprivileged users have one. */
static bool enter_namespaces(bool root, struct pg_sandbox_report *rep)
{
	int flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID |
		    CLONE_NEWCGROUP;
	if (!root)
		flags |= CLONE_NEWUSER;
	if (unshare(flags) < 0) {
		char why[96];
		snprintf(why, sizeof(why), "no namespaces (%s)", strerror(errno));
		note(rep, why);
		return false;
	}
	/* fdinfo of a process whose descriptors are closed holds nothing to open, and
	 * nothing can be created in it: an empty root without a directory of our own. */
	if (chroot("/proc/self/fdinfo") < 0 || chdir("/") < 0) {
		char why[96];
		snprintf(why, sizeof(why), "no chroot (%s)", strerror(errno));
		note(rep, why);
		return false;
	}
	return true;
}

static int drop_user(const struct pg_sandbox_opts *o, char *err, size_t n)
{
	if (o->uid == 0 || o->gid == 0)
		return fail(err, n,
			    "refusing to run the worker as root: set [sandbox] user to an "
			    "unprivileged user");
	if (setgroups(0, NULL) < 0 || setresgid(o->gid, o->gid, o->gid) < 0 ||
	    setresuid(o->uid, o->uid, o->uid) < 0)
		return fail(err, n, "cannot become uid %u gid %u: %s", (unsigned)o->uid,
			    (unsigned)o->gid, strerror(errno));
	/* Proof, not trust: getting root back must now fail. */
	if (setuid(0) == 0 || geteuid() == 0)
		return fail(err, n, "still able to regain root after dropping it");
	return 0;
}

static int limit(int resource, uint64_t value, const char *name, char *err, size_t n)
{
	struct rlimit rl = {.rlim_cur = value, .rlim_max = value};
	struct rlimit old;
	if (getrlimit(resource, &old) == 0 && old.rlim_max != RLIM_INFINITY && old.rlim_max < value)
		rl.rlim_cur = rl.rlim_max = old.rlim_max; /* never ask for more than we have */
	if (setrlimit(resource, &rl) < 0)
		return fail(err, n, "cannot limit %s to %llu: %s", name, (unsigned long long)value,
			    strerror(errno));
	return 0;
}

static int set_limits(const struct pg_sandbox_opts *o, int highest_fd, char *err, size_t n)
{
	/* Descriptors: the kept ones, plus room for one shared framebuffer being
	 * replaced by the next (created, sent, closed). */
	if (limit(RLIMIT_NOFILE, (uint64_t)highest_fd + 4, "open files", err, n) ||
	    limit(RLIMIT_CORE, 0, "core size", err, n) ||
	    limit(RLIMIT_MEMLOCK, 0, "locked memory", err, n) ||
	    limit(RLIMIT_MSGQUEUE, 0, "message queues", err, n) ||
	    limit(RLIMIT_LOCKS, 0, "file locks", err, n))
		return -1;
	if (o->file_size && limit(RLIMIT_FSIZE, o->file_size, "file size", err, n))
		return -1;
	if (o->cpu_seconds && limit(RLIMIT_CPU, o->cpu_seconds, "CPU time", err, n))
		return -1;
#ifndef PG_SANITIZED
	if (limit(RLIMIT_NPROC, 0, "processes", err, n))
		return -1;
	if (o->address_space && limit(RLIMIT_AS, o->address_space, "address space", err, n))
		return -1;
#endif
	return 0;
}

#ifndef PG_SANITIZED
/* What a decoding worker does once connected: read and write its two sockets and
 * stderr, pass descriptors (the shared framebuffer) on the channel, manage memory,
 * tell the time, wait, and exit. */
static const int allowed[] = {
    SCMP_SYS(read),
    SCMP_SYS(write),
    SCMP_SYS(readv),
    SCMP_SYS(writev),
    SCMP_SYS(recvmsg),
    SCMP_SYS(sendmsg),
    SCMP_SYS(recvfrom),
    SCMP_SYS(sendto),
    SCMP_SYS(poll),
    SCMP_SYS(ppoll),
    SCMP_SYS(close),
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(madvise),
    SCMP_SYS(brk),
    SCMP_SYS(memfd_create),
    SCMP_SYS(ftruncate),
    SCMP_SYS(fstat),
    SCMP_SYS(lseek),
    SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(nanosleep),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(getrandom),
    SCMP_SYS(futex),
    SCMP_SYS(getpid),
    SCMP_SYS(getuid),
    SCMP_SYS(geteuid),
    SCMP_SYS(getgid),
    SCMP_SYS(getegid),
    SCMP_SYS(gettid),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(restart_syscall),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
};

static int load_filter(char *err, size_t n)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return fail(err, n, "seccomp_init failed");
	int rc = 0;
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]) && rc == 0; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0);
	/* Memory, but never executable: injected code cannot be made to run. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				      SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				      SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* Sealing the shared framebuffer, and the descriptor flags stdio asks for. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
				      SCMP_A1(SCMP_CMP_EQ, F_ADD_SEALS));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
				      SCMP_A1(SCMP_CMP_EQ, F_GETFL));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
				      SCMP_A1(SCMP_CMP_EQ, F_GETFD));
	/* glibc's fstat is newfstatat(fd, "", AT_EMPTY_PATH): on a descriptor, no path. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 1,
				      SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH));
	/* abort() signals itself, and only itself. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				      SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(rt_sigaction), 0);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		return fail(err, n, "cannot load the seccomp filter: %s", strerror(-rc));
	return 0;
}
#endif

int pg_sandbox_enter(const struct pg_sandbox_opts *o, struct pg_sandbox_report *rep, char *err,
		     size_t errlen)
{
	memset(rep, 0, sizeof(*rep));
	/* What libc would open lazily later, when nothing can be opened: the time zone. */
	tzset();
	int highest = close_others(o->keep_fds, o->nkeep);
	if (pg_sandbox_sanitized()) {
		/* The runtime writes its report to a file named by its options (no chroot, and
		 * a user that may write there) and LeakSanitizer traces the process from a
		 * clone at exit (dumpable, processes allowed): keep what the tests check of
		 * the rest, and say so. */
		note(rep,
		     "sanitizer build: no namespaces, user, seccomp filter, dumpable, process or "
		     "address-space limit");
	} else {
		bool root = geteuid() == 0;
		rep->namespaces = enter_namespaces(root, rep);
		if (root) {
			if (drop_user(o, err, errlen) < 0)
				return -1;
			rep->user = true;
		} else {
			rep->user = rep->namespaces; /* a user namespace came with them */
		}
	}
	/* Changing credentials cleared these; the worker must still die with the relay. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
		return fail(err, errlen, "the relay is gone");
	if (set_limits(o, highest, err, errlen) < 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail(err, errlen, "cannot set no_new_privs: %s", strerror(errno));
#ifndef PG_SANITIZED
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return fail(err, errlen, "cannot clear dumpable: %s", strerror(errno));
	if (load_filter(err, errlen) < 0)
		return -1;
	rep->seccomp = true;
#endif
	return 0;
}
