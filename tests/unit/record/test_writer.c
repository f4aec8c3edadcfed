/* The writer under a failing or slow disk: it reports the error, never makes the
 * caller wait, and what it leaves on disk is a valid recording whose SHA-256 is the
 * one it reports. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "rec_util.h"

static void teardown(void)
{
	ru_cleanup();
}

TestSuite(writer, .fini = teardown);

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* A FRAME-sized payload that differs from record to record. */
static void payload(uint8_t *p, size_t n, int i)
{
	for (size_t k = 0; k < n; k++)
		p[k] = (uint8_t)(k * 31 + (size_t)i * 7);
}

/* put, asserting it returned within 50 ms; its result. */
static int timed_put(struct pg_rec_writer *w, int i, const uint8_t *p, size_t n, uint64_t *worst)
{
	uint64_t t0 = now_us();
	int rc = pg_rec_writer_put(w, PG_REC_FRAME, i % 10 ? 0 : PG_REC_FLAG_KEY,
				   (uint64_t)i * 1000, p, n);
	uint64_t dt = now_us() - t0;
	if (dt > *worst)
		*worst = dt;
	cr_assert_lt(dt, 50000, "put %d took %llu us", i, (unsigned long long)dt);
	return rc;
}

/* Wait (bounded) until the writer reports an error. */
static int wait_error(struct pg_rec_writer *w, char *why, size_t why_size)
{
	for (int i = 0; i < 500; i++) {
		int e = pg_rec_writer_error(w, why, why_size);
		if (e)
			return e;
		usleep(10000);
	}
	return 0;
}

Test(writer, dev_full_reports_enospc_without_blocking)
{
	char err[256], why[256];
	int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	struct pg_rec_writer *w = pg_rec_writer_fdopen(fd, RU_META, 0, 1 << 20, err, sizeof(err));
	cr_assert_not_null(w, "%s", err);
	uint8_t p[1000];
	uint64_t worst = 0;
	payload(p, sizeof(p), 0);
	int rc = timed_put(w, 0, p, sizeof(p), &worst);
	cr_assert(rc == 0 || rc == -ENOSPC);
	cr_assert_eq(wait_error(w, why, sizeof(why)), -ENOSPC);
	cr_assert(strstr(why, "write: No space left on device after 0 bytes"), "%s", why);
	for (int i = 1; i < 100; i++)
		cr_assert_eq(timed_put(w, i, p, sizeof(p), &worst), -ENOSPC);
	struct pg_rec_result res;
	cr_assert_eq(pg_rec_writer_close(w, "{\"reason\":\"x\"}", &res), -ENOSPC);
	cr_assert_eq(res.bytes, 0);
	cr_assert_eq(res.records, 0);
	cr_assert_str_eq(res.why, why);
	/* SHA-256 of nothing. */
	cr_assert_str_eq(res.sha256,
			 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

Test(writer, file_size_limit_keeps_a_valid_file)
{
	char path[256], err[256], hex[65];
	snprintf(path, sizeof(path), "%s/fsize.pgrec", ru_dir());
	/* The disk is "full" at 100000 bytes: writes past it fail with EFBIG. */
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit rl = {100000, 100000};
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);

	struct pg_rec_writer *w = pg_rec_writer_open(path, RU_META, 0, 8 << 20, err, sizeof(err));
	cr_assert_not_null(w, "%s", err);
	uint8_t p[7000];
	uint64_t worst = 0;
	int i, rc = 0;
	for (i = 0; i < 200 && rc == 0; i++) {
		payload(p, sizeof(p), i);
		rc = timed_put(w, i, p, sizeof(p), &worst);
		if (rc == 0)
			rc = pg_rec_writer_error(w, NULL, 0);
		usleep(2000);
	}
	cr_assert_eq(rc, -EFBIG, "stopped with %d after %d records", rc, i);
	struct pg_rec_result res;
	cr_assert_eq(pg_rec_writer_close(w, "{\"reason\":\"x\"}", &res), -EFBIG);
	cr_assert(strstr(res.why, "write: File too large after"), "%s", res.why);

	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq((uint64_t)st.st_size, res.bytes);
	cr_assert_leq(res.bytes, 100000);
	ru_sha256_file(path, hex);
	cr_assert_str_eq(hex, res.sha256);

	struct pg_rec_reader *r = pg_rec_reader_open(path, err, sizeof(err));
	cr_assert_not_null(r, "%s", err);
	struct pg_rec_stats s;
	cr_assert_eq(pg_rec_reader_index(r, &s), 0);
	cr_assert_eq(s.end, PG_REC_NO_END, "%s", s.end_why);
	cr_assert_eq(s.frames + 1, res.records);
	cr_assert_eq(s.frames, (100000 - 16 - 16 - strlen(RU_META)) / (16 + sizeof(p)));
	pg_rec_reader_del(r);
	cr_log_info("RLIMIT_FSIZE: %llu frames, %llu bytes kept, slowest put %llu us",
		    (unsigned long long)s.frames, (unsigned long long)res.bytes,
		    (unsigned long long)worst);
}

Test(writer, max_bytes_stops_with_efbig_and_closes_cleanly)
{
	char path[256], err[256], why[256], hex[65];
	snprintf(path, sizeof(path), "%s/max.pgrec", ru_dir());
	struct pg_rec_writer *w = pg_rec_writer_open(path, RU_META, 60000, 0, err, sizeof(err));
	cr_assert_not_null(w, "%s", err);
	uint8_t p[5000];
	uint64_t worst = 0;
	int i, rc = 0;
	for (i = 0; i < 100 && rc == 0; i++) {
		payload(p, sizeof(p), i);
		rc = timed_put(w, i, p, sizeof(p), &worst);
	}
	cr_assert_eq(rc, -EFBIG);
	cr_assert_eq(pg_rec_writer_error(w, why, sizeof(why)), -EFBIG);
	cr_assert(strstr(why, "limit of 60000 bytes"), "%s", why);
	cr_assert_eq(timed_put(w, 999, p, 10, &worst), -EFBIG);
	struct pg_rec_result res;
	cr_assert_eq(pg_rec_writer_close(w, "{\"reason\":\"limit\"}", &res), -EFBIG);
	cr_assert_leq(res.bytes, 60000);
	ru_sha256_file(path, hex);
	cr_assert_str_eq(hex, res.sha256);
	struct pg_rec_reader *r = pg_rec_reader_open(path, err, sizeof(err));
	cr_assert_not_null(r, "%s", err);
	struct pg_rec_stats s;
	cr_assert_eq(pg_rec_reader_index(r, &s), 0);
	cr_assert_eq(s.end, PG_REC_CLEAN);
	cr_assert_eq(s.frames, (uint64_t)i - 1);
	cr_assert_str_eq(s.end_json, "{\"reason\":\"limit\"}");
	pg_rec_reader_del(r);
}

struct drain {
	int fd;
	uint8_t *buf;
	size_t len, cap;
};

static void *drain_main(void *arg)
{
	struct drain *d = arg;
	for (;;) {
		if (d->len == d->cap) {
			d->cap = d->cap ? 2 * d->cap : 1 << 20;
			d->buf = realloc(d->buf, d->cap);
		}
		ssize_t n = read(d->fd, d->buf + d->len, d->cap - d->len);
		if (n <= 0)
			break;
		d->len += (size_t)n;
	}
	return NULL;
}

Test(writer, slow_disk_stops_with_enobufs)
{
	char err[256], why[256];
	int fds[2];
	cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
	/* Nobody reads the pipe yet: the disk is "slow". */
	struct pg_rec_writer *w =
	    pg_rec_writer_fdopen(fds[1], RU_META, 0, 256 << 10, err, sizeof(err));
	cr_assert_not_null(w, "%s", err);
	uint8_t p[16000];
	uint64_t worst = 0;
	int i, rc = 0;
	for (i = 0; i < 1000 && rc == 0; i++) {
		payload(p, sizeof(p), i);
		rc = timed_put(w, i, p, sizeof(p), &worst);
	}
	cr_assert_eq(rc, -ENOBUFS);
	int accepted = i - 1;
	/* What the pipe holds plus the queue's cap, no more. */
	cr_assert_lt(accepted * (16 + (int)sizeof(p)), (256 << 10) + (1 << 20));
	cr_assert_eq(pg_rec_writer_error(w, why, sizeof(why)), -ENOBUFS);
	cr_assert(strstr(why, "the disk is too slow"), "%s", why);

	/* The disk catches up: the queued records and END arrive whole. */
	struct drain d = {.fd = fds[0]};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, drain_main, &d), 0);
	struct pg_rec_result res;
	cr_assert_eq(pg_rec_writer_close(w, "{\"reason\":\"slow\"}", &res), -ENOBUFS);
	pthread_join(th, NULL);
	close(fds[0]);
	cr_assert_eq(d.len, res.bytes);
	struct pg_rec_reader *r = pg_rec_reader_open_mem(d.buf, d.len, err, sizeof(err));
	cr_assert_not_null(r, "%s", err);
	struct pg_rec_stats s;
	cr_assert_eq(pg_rec_reader_index(r, &s), 0);
	cr_assert_eq(s.end, PG_REC_CLEAN);
	cr_assert_eq(s.frames, (uint64_t)accepted);
	pg_rec_reader_del(r);
	free(d.buf);
	cr_log_info("slow disk: %d records accepted before ENOBUFS, slowest put %llu us", accepted,
		    (unsigned long long)worst);
}

Test(writer, refuses_to_follow_or_replace)
{
	char path[256], link[256], err[256];
	snprintf(path, sizeof(path), "%s/exists.pgrec", ru_dir());
	snprintf(link, sizeof(link), "%s/link.pgrec", ru_dir());
	int fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	cr_assert_null(pg_rec_writer_open(path, RU_META, 0, 0, err, sizeof(err)));
	cr_assert(strstr(err, "File exists"), "%s", err);
	cr_assert_eq(symlink("nowhere", link), 0);
	cr_assert_null(pg_rec_writer_open(link, RU_META, 0, 0, err, sizeof(err)));
	cr_assert(strstr(err, "File exists"), "%s", err);
	unlink(link);

	snprintf(path, sizeof(path), "%s/mode.pgrec", ru_dir());
	mode_t old = umask(0);
	struct pg_rec_writer *w = pg_rec_writer_open(path, RU_META, 0, 0, err, sizeof(err));
	umask(old);
	cr_assert_not_null(w, "%s", err);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0640);
	cr_assert_eq(pg_rec_writer_put(w, 0, 0, 0, "x", 1), -EINVAL);
	cr_assert_eq(pg_rec_writer_put(w, PG_REC_EVENT, 0, 0, "{}", (64u << 20) + 1), -EINVAL);
	/* Times never go back. */
	cr_assert_eq(pg_rec_writer_put(w, PG_REC_EVENT, 0, 500, "{}", 2), 0);
	cr_assert_eq(pg_rec_writer_put(w, PG_REC_EVENT, 0, 400, "{}", 2), 0);
	struct pg_rec_result res;
	cr_assert_eq(pg_rec_writer_close(w, NULL, &res), 0);
	cr_assert_eq(res.records, 3);
	cr_assert_eq(res.duration_us, 500);
	struct pg_rec_reader *r = pg_rec_reader_open(path, err, sizeof(err));
	struct pg_rec_stats s;
	cr_assert_eq(pg_rec_reader_index(r, &s), 0);
	cr_assert_eq(s.end, PG_REC_NO_END);
	cr_assert_eq(s.events, 2);
	pg_rec_reader_del(r);
}
