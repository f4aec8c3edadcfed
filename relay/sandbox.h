/* The upstream worker's lockdown. A worker parses every byte the browser host sends,
 * and that host faces the Internet: assume one day a decoder bug lets it run code in
 * the worker. pg_sandbox_enter, called once the worker has connected and before it
 * reads any host byte, leaves such code nothing to gain:
 *
 *   - every descriptor but the ones it names is closed;
 *   - started as root: empty mount, network, IPC, UTS, PID and cgroup namespaces, a
 *     chroot into an empty directory, and an unprivileged user with no groups (not
 *     root: an unprivileged user namespace with the same, where the kernel allows it);
 *   - resource limits: address space, file size, descriptors, no processes, CPU;
 *   - no new privileges, not dumpable (no ptrace, no core);
 *   - a seccomp filter that kills the process on any system call outside a short
 *     allow-list: no open, no exec, no socket or connect, no mapping made executable.
 *
 * Builds with a sanitizer keep only the descriptor closing, no_new_privs and the
 * lesser limits: their runtimes open report files by name, map huge shadows and
 * (LeakSanitizer) trace the process from a clone at exit. */
#ifndef PG_RELAY_SANDBOX_H
#define PG_RELAY_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pg_sandbox_opts {
	uid_t uid; /* who to become when running as root ([sandbox] user) */
	gid_t gid;
	uint64_t address_space; /* RLIMIT_AS, bytes; 0: none */
	uint64_t file_size;	/* RLIMIT_FSIZE, bytes: the largest shared framebuffer */
	uint64_t cpu_seconds;	/* RLIMIT_CPU; 0: none */
	const int *keep_fds;	/* descriptors that stay open (besides 0, 1 and 2) */
	int nkeep;
};

/* What pg_sandbox_enter managed, for one log line. */
struct pg_sandbox_report {
	bool namespaces; /* new namespaces and the chroot */
	bool user;	 /* runs as opts.uid (root) or in a user namespace (not root) */
	bool seccomp;	 /* the filter is loaded */
	char note[160];	 /* what was skipped, and why; empty when nothing */
};

/* Lock the calling, single-threaded process down. Returns 0, or -1 with err filled:
 * then the caller must exit, as it may be half locked. Namespaces are best effort
 * (a container may forbid them; the report says so); everything else is required. */
int pg_sandbox_enter(const struct pg_sandbox_opts *opts, struct pg_sandbox_report *rep, char *err,
		     size_t errlen);

/* True when this build has a sanitizer runtime, which the filter would kill. */
bool pg_sandbox_sanitized(void);

#endif
