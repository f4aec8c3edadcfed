#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

static enum pg_log_level current = PG_LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};
/* sd-daemon(3)'s prefixes: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
static const char *const priorities[] = {"<3>", "<4>", "<6>", "<7>"};
static bool json;
static int journal = -1; /* stderr is journald's stream: unknown yet, no, yes */

int pg_log_set_format(const char *name)
{
	if (strcmp(name, "text") && strcmp(name, "json"))
		return -1;
	json = !strcmp(name, "json");
	return 0;
}

/* systemd names the stream it gave us in JOURNAL_STREAM ("device:inode"); stderr
 * redirected elsewhere (a file, a pipe) does not match it. */
static bool to_journal(void)
{
	if (journal < 0) {
		const char *js = getenv("JOURNAL_STREAM");
		unsigned long long dev, ino;
		struct stat st;
		journal = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
			  !fstat(STDERR_FILENO, &st) && (unsigned long long)st.st_dev == dev &&
			  (unsigned long long)st.st_ino == ino;
	}
	return journal > 0;
}

int pg_log_set_level(const char *name)
{
	for (int i = 0; i < 4; i++) {
		if (!strcmp(name, names[i])) {
			current = (enum pg_log_level)i;
			return 0;
		}
	}
	return -1;
}

int pg_log_enabled(enum pg_log_level level)
{
	return level <= current;
}

void pg_log(enum pg_log_level level, const char *fmt, ...)
{
	if (level > current)
		return;
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	const char *prio = to_journal() ? priorities[level] : "";
	if (json) {
		char ms[64];
		snprintf(ms, sizeof(ms), "%s.%03ldZ", stamp, ts.tv_nsec / 1000000);
		/* jansson escapes what it must; text from peers is escaped already. */
		json_t *o =
		    json_pack("{s:s,s:s,s:s}", "ts", ms, "level", names[level], "msg", line);
		char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		if (text)
			fprintf(stderr, "%s%s\n", prio, text);
		free(text);
		json_decref(o);
	} else if (*prio) {
		fprintf(stderr, "%s%s %s\n", prio, names[level], line);
	} else {
		fprintf(stderr, "%s.%03ldZ %s %s\n", stamp, ts.tv_nsec / 1000000, names[level],
			line);
	}
}

void pg_log_escape(char *out, size_t out_size, const void *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = in;
	size_t o = 0;
	if (!out_size)
		return;
	for (size_t i = 0; i < len && o + 5 < out_size; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
			out[o++] = (char)p[i];
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[p[i] >> 4];
			out[o++] = hex[p[i] & 15];
		}
	}
	out[o] = '\0';
}
