#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum pg_log_level current = PG_LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};

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
	fprintf(stderr, "%s.%03ldZ %s %s\n", stamp, ts.tv_nsec / 1000000, names[level], line);
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
