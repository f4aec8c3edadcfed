/* The tamper-evident audit trail: JSON Lines, one record per line, each record holding
 * the SHA-256 of the previous record's line (a hash chain that continues across
 * rotated files), and the verifier auditors run over the files. The format is
 * described in docs/audit.md.
 *
 * A struct pg_audit belongs to one thread (the relay's loop); the verifier is
 * reentrant. Nothing here logs: failures come back as a negative errno and, where
 * a caller must tell an operator why, as text in an err buffer. */
#ifndef PG_AUTH_AUDIT_H
#define PG_AUTH_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A field value longer than this many bytes is cut (on a UTF-8 character boundary)
 * and gets PG_AUDIT_TRUNCATED appended. */
#define PG_AUDIT_MAX_VALUE  256
#define PG_AUDIT_TRUNCATED  "\xe2\x80\xa6truncated"
#define PG_AUDIT_MAX_FIELDS 32
/* Keys: 1..32 of [a-z0-9_], starting with a letter. Events: 1..48 of [a-z0-9-]. */
#define PG_AUDIT_MAX_KEY   32
#define PG_AUDIT_MAX_EVENT 48
/* No record is longer than this (the caps above keep every record well below it);
 * the verifier and the chain recovery at open read at most this much of a line. */
#define PG_AUDIT_MAX_LINE 65536

/* The events the audit module writes itself. */
#define PG_AUDIT_EV_CHAIN_START	    "chain-start"
#define PG_AUDIT_EV_CHAIN_CONTINUED "chain-continued"
#define PG_AUDIT_EV_CHAIN_BROKEN    "chain-broken-at-start"

enum pg_audit_type {
	PG_AUDIT_STR,  /* v.s, UTF-8 from anyone: invalid bytes become U+FFFD, capped */
	PG_AUDIT_INT,  /* v.i */
	PG_AUDIT_UINT, /* v.u, at most INT64_MAX */
	PG_AUDIT_BOOL, /* v.b */
};

struct pg_audit_field {
	const char *key;
	enum pg_audit_type type;
	union {
		const char *s; /* NULL is written as JSON null */
		int64_t i;
		uint64_t u;
		bool b;
	} v;
};

#define PG_AUDIT_S(k, val) ((struct pg_audit_field){.key = (k), .type = PG_AUDIT_STR, .v.s = (val)})
#define PG_AUDIT_I(k, val) ((struct pg_audit_field){.key = (k), .type = PG_AUDIT_INT, .v.i = (val)})
#define PG_AUDIT_U(k, val)                                                                         \
	((struct pg_audit_field){.key = (k), .type = PG_AUDIT_UINT, .v.u = (val)})
#define PG_AUDIT_B(k, val)                                                                         \
	((struct pg_audit_field){.key = (k), .type = PG_AUDIT_BOOL, .v.b = (val)})

/* pg_audit_event with the fields given inline:
 *   PG_AUDIT_EVENT(a, "auth-failure", PG_AUDIT_S("user", u), PG_AUDIT_S("reason", r)); */
#define PG_AUDIT_EVENT(a, event, ...)                                                              \
	pg_audit_event((a), (event), (const struct pg_audit_field[]){__VA_ARGS__},                 \
		       sizeof((const struct pg_audit_field[]){__VA_ARGS__}) /                      \
			   sizeof(struct pg_audit_field))

enum pg_audit_sync {
	PG_AUDIT_SYNC_EVERY, /* fdatasync after every record (the default) */
	PG_AUDIT_SYNC_NONE,  /* leave it to the kernel: a crash may lose the last records */
	/* Written at once, synced by a thread of the log's own as soon as the disk
	 * allows, all records written meanwhile in one fdatasync: a slow disk never
	 * holds the caller. A process crash loses nothing (the lines are in the
	 * kernel's cache); a power loss may lose those of the last sync or so. A
	 * failed sync is returned by the next pg_audit_event. */
	PG_AUDIT_SYNC_BEHIND,
};

struct pg_audit;

/* Open (creating with mode 0600) the audit file at path for appending and continue
 * the chain found at its end:
 *  - an empty file starts a new chain with a "chain-start" record (seq 1, prev zeros);
 *  - a file whose last line is a record continues from it (no record is written);
 *  - a file whose end is damaged (no final newline, not JSON, not a record) gets an
 *    explicit "chain-broken-at-start" record whose prev is the hash of the damaged
 *    line, so the damage stays visible to the verifier.
 * syslog_ident, when not NULL, also sends each record to syslog (LOG_AUTHPRIV) under
 * that ident; syslog is per process, so only one audit log per process should use it.
 * Returns NULL with a reason in err on failure. */
struct pg_audit *pg_audit_open(const char *path, const char *syslog_ident, char *err,
			       size_t errlen);

/* Choose when records reach the disk. Returns 0, -EINVAL, or the error of starting
 * the syncing thread (BEHIND). The thread, once started, stays until
 * pg_audit_close, which waits for its last sync. */
int pg_audit_set_sync(struct pg_audit *a, enum pg_audit_sync mode);
enum pg_audit_sync pg_audit_get_sync(const struct pg_audit *a);

/* Append one record: ts, seq, event, the n fields in order, prev. event and every
 * key are checked: -EINVAL for a malformed name, a reserved key (ts, seq, event,
 * prev), a repeated key, more than PG_AUDIT_MAX_FIELDS, or a key that names a secret
 * (any '_'-separated part being password, passwd, pass, passphrase, secret, token,
 * otp, totp, code, pin, key, credential or credentials): secrets cannot be logged.
 * Other failures: -ENOMEM, or the errno of write/fdatasync (-EIO, -ENOSPC...). After
 * a failed write the next call first repairs the chain as pg_audit_reopen does. */
int pg_audit_event(struct pg_audit *a, const char *event, const struct pg_audit_field *fields,
		   size_t n);

/* Close and open the path again (on SIGHUP, after logrotate renamed the file). A new
 * empty file starts with a "chain-continued" record (prev = hash of the last record
 * written, prev_seq, prev_hash); the same file is simply continued; a file that does
 * not end with this log's last record gets "chain-broken-at-start". Returns 0, or a
 * negative errno with a reason in err; on failure the old file stays in use. */
int pg_audit_reopen(struct pg_audit *a, char *err, size_t errlen);

/* The seq the next record gets, and the hex SHA-256 of the last line written or
 * found (64 characters and a NUL). */
uint64_t pg_audit_next_seq(const struct pg_audit *a);
void pg_audit_last_hash(const struct pg_audit *a, char hex[65]);

/* Close the file (and syslog, if opened). NULL is fine. */
void pg_audit_close(struct pg_audit *a);

/* Verifying files given in rotation order, oldest first. report gets each problem as
 * "FILE:LINE: what" (and notes, with is_problem false); at most one problem per file:
 * after the first, the rest of that file is only read so that the next file's link
 * to it can still be checked. */
struct pg_audit_verify_result {
	uint64_t records;   /* records that verified */
	uint64_t last_seq;  /* of the last record read */
	char last_hash[65]; /* hex SHA-256 of the last line read */
	unsigned problems;
};

/* Returns 0 when the whole chain verifies, 1 when a problem was reported, or a
 * negative errno when a file cannot be read (reported too). */
int pg_audit_verify(const char *const *paths, size_t n,
		    void (*report)(void *ctx, bool is_problem, const char *msg), void *ctx,
		    struct pg_audit_verify_result *res);

#endif
