/* pixelgate-replay: look at a pixelgate session recording (docs/replay.md).
 *
 *   pixelgate-replay info FILE
 *   pixelgate-replay events FILE [--from T] [--to T]
 *   pixelgate-replay serve FILE [--listen ADDR:PORT] [--allow-remote] [--from T]
 *                               [--speed X] [--loop]
 *   pixelgate-replay png FILE --at T -o OUT.png
 *   pixelgate-replay png FILE --every SECONDS -o DIR
 *   pixelgate-replay video FILE -o OUT.mp4|.webm|.mkv [--from T] [--to T] [--fps N]
 *
 * T is seconds ("90", "12.5"), "M:SS" or "H:MM:SS(.fff)".
 * Exit status: 0 when all is well, 1 when the recording is damaged or an output
 * cannot be written, 2 for a usage error. A recording cut short (no END) is not
 * an error: it is what a crash or a full disk leaves, readable to its last record. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <png.h>

#include "render/text.h"
#include "replay.h"

#define PROG PG_REPLAY_PROG

extern char **environ;

static int usage(void)
{
	fprintf(stderr,
		"usage: " PROG " info FILE\n"
		"       " PROG " events FILE [--from T] [--to T]\n"
		"       " PROG " serve FILE [--listen ADDR:PORT] [--allow-remote] [--from T]\n"
		"                        [--speed X] [--loop]\n"
		"       " PROG " png FILE --at T -o OUT.png\n"
		"       " PROG " png FILE --every SECONDS -o DIR\n"
		"       " PROG
		" video FILE -o OUT.mp4|OUT.webm|OUT.mkv [--from T] [--to T] [--fps N]\n"
		"T: seconds (90, 12.5), M:SS or H:MM:SS(.fff)\n");
	return 2;
}

/* ---- time and text ---- */

/* Whole digits into *v (at most max); false when s is not that. */
static bool parse_uint(const char *s, size_t n, uint64_t max, uint64_t *v)
{
	*v = 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (uint64_t)(s[i] - '0');
		if (*v > max)
			return false;
	}
	return true;
}

/* "90", "12.5", "M:SS", "H:MM:SS(.fff)" to microseconds. */
static bool parse_time(const char *s, uint64_t *us)
{
	const char *parts[3];
	size_t lens[3], n = 0;
	const char *p = s;
	for (;;) {
		const char *c = strchr(p, ':');
		if (n == 3)
			return false;
		parts[n] = p;
		lens[n] = c ? (size_t)(c - p) : strlen(p);
		n++;
		if (!c)
			break;
		p = c + 1;
	}
	/* The last part: seconds with up to 6 decimals. */
	const char *sec = parts[n - 1];
	size_t sl = lens[n - 1];
	const char *dot = memchr(sec, '.', sl);
	size_t il = dot ? (size_t)(dot - sec) : sl;
	uint64_t whole, frac = 0, h = 0, m = 0;
	uint64_t max_s = n == 1 ? 100000000ull : 59;
	if (!parse_uint(sec, il, max_s, &whole))
		return false;
	if (dot) {
		size_t fl = sl - il - 1;
		if (fl == 0 || fl > 6 || !parse_uint(dot + 1, fl, 999999, &frac))
			return false;
		for (size_t i = fl; i < 6; i++)
			frac *= 10;
	}
	if (n == 3) {
		if (!parse_uint(parts[0], lens[0], 100000, &h) ||
		    !parse_uint(parts[1], lens[1], 59, &m) || lens[1] != 2 || il != 2)
			return false;
	} else if (n == 2) {
		if (!parse_uint(parts[0], lens[0], 10000000, &m) || il != 2)
			return false;
	}
	*us = ((h * 60 + m) * 60 + whole) * 1000000ull + frac;
	return true;
}

void pg_replay_fmt_time(uint64_t us, char *buf, size_t size)
{
	uint64_t ms = us / 1000;
	snprintf(buf, size, "%" PRIu64 ":%02u:%02u.%03u", ms / 3600000, (unsigned)(ms / 60000 % 60),
		 (unsigned)(ms / 1000 % 60), (unsigned)(ms % 1000));
}

void pg_replay_print_safe(FILE *f, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < len) {
		uint32_t cp;
		size_t n = pg_utf8_decode(s + i, len - i, &cp);
		if (n == 0) {
			fprintf(f, "\\x%02x", s[i]);
			i++;
			continue;
		}
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
			fprintf(f, "\\x%02x", (unsigned)cp);
		else if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
			 cp == 0x200e || cp == 0x200f || cp == 0x061c)
			fprintf(f, "\\u%04x", (unsigned)cp);
		else
			fwrite(s + i, 1, n, f);
		i += n;
	}
}

/* ---- opening ---- */

static struct pg_rec_reader *open_rec(const char *path)
{
	char err[256];
	struct pg_rec_reader *r = pg_rec_reader_open(path, err, sizeof(err));
	if (!r) {
		fprintf(stderr, PROG ": %s: ", path);
		pg_replay_print_safe(stderr, err, strlen(err));
		fputc('\n', stderr);
	}
	return r;
}

/* A note on stderr when the recording stops early; false when it is damaged. */
static bool report_end(const char *path, const struct pg_rec_stats *st)
{
	if (st->end == PG_REC_CUT)
		fprintf(stderr, PROG ": note: %s was cut short (%s); read up to there\n", path,
			st->end_why);
	else if (st->end == PG_REC_NO_END)
		fprintf(stderr,
			PROG ": note: %s has no END record after offset %" PRIu64
			     " (not closed cleanly)\n",
			path, st->end_offset);
	else if (st->end == PG_REC_DAMAGED)
		fprintf(stderr, PROG ": %s is damaged: %s; read up to there\n", path, st->end_why);
	return st->end != PG_REC_DAMAGED;
}

/* ---- info ---- */

static void print_value(json_t *v)
{
	if (json_is_string(v)) {
		pg_replay_print_safe(stdout, json_string_value(v), json_string_length(v));
		return;
	}
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
	if (s)
		pg_replay_print_safe(stdout, s, strlen(s));
	free(s);
}

static int cmd_info(int argc, char **argv)
{
	if (argc != 1)
		return usage();
	const char *path = argv[0];
	struct pg_rec_reader *r = open_rec(path);
	if (!r)
		return 1;
	struct pg_rec_stats st;
	char hex[65], dur[32];
	struct stat sb;
	int rc = pg_rec_reader_index(r, &st);
	if (rc < 0 || pg_rec_reader_sha256(r, hex) < 0 || stat(path, &sb) < 0) {
		fprintf(stderr, PROG ": %s: cannot read it: %s\n", path,
			rc < 0 ? pg_rec_reader_error(r) : strerror(errno));
		pg_rec_reader_del(r);
		return 1;
	}
	const struct pg_rec_meta *m = pg_rec_reader_meta(r);
	json_t *meta = json_loadb(m->json, m->json_len, 0, NULL);

	printf("file:          ");
	pg_replay_print_safe(stdout, path, strlen(path));
	printf("\nsha256:        %s\n", hex);
	printf("bytes:         %" PRIu64 "\n", (uint64_t)sb.st_size);
	const char *key;
	json_t *v;
	json_object_foreach(meta, key, v)
	{
		if (!strcmp(key, "format") || !strcmp(key, "version"))
			continue;
		printf("%s:", key);
		for (size_t i = strlen(key) + 1; i < 15; i++)
			putchar(' ');
		print_value(v);
		putchar('\n');
	}
	json_decref(meta);
	pg_replay_fmt_time(st.duration_us, dur, sizeof(dur));
	printf("duration:      %s (%.3f s)\n", dur, (double)st.duration_us / 1e6);
	printf("frames:        %" PRIu64 " (%" PRIu64 " key frames)\n", st.frames, st.key_frames);
	printf("events:        %" PRIu64 "\n", st.events);
	if (st.unknown)
		printf("unknown:       %" PRIu64 " records of types this reader does not know\n",
		       st.unknown);
	switch (st.end) {
	case PG_REC_CLEAN:
		printf("ended:         cleanly, END at offset %" PRIu64 ": ", st.end_offset);
		pg_replay_print_safe(stdout, st.end_json, strlen(st.end_json));
		putchar('\n');
		break;
	case PG_REC_NO_END:
		printf("ended:         not cleanly: no END record; the last whole record ends at "
		       "offset %" PRIu64 "\n",
		       st.end_offset);
		break;
	case PG_REC_CUT:
		printf("ended:         cut short: %s; readable up to offset %" PRIu64 "\n",
		       st.end_why, st.end_offset);
		break;
	default:
		printf("ended:         DAMAGED: %s; readable up to offset %" PRIu64 "\n",
		       st.end_why, st.end_offset);
	}
	pg_rec_reader_del(r);
	return st.end == PG_REC_DAMAGED ? 1 : 0;
}

/* ---- options ---- */

struct opts {
	uint64_t from, to, at, every;
	bool has_from, has_to, has_at, has_every;
	const char *out, *listen;
	bool allow_remote, loop;
	double speed;
	long fps;
};

/* name is one of the comma-separated words of list. */
static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; *p;) {
		size_t w = strcspn(p, ",");
		if (w == n && !strncmp(p, name, n))
			return true;
		p += w + (p[w] == ',');
	}
	return false;
}

/* Parse the options after FILE; only those in allowed ("from,to,...") are taken. */
static int parse_opts(int argc, char **argv, const char *allowed, struct opts *o)
{
	*o = (struct opts){.speed = 1.0, .fps = 10};
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) && strcmp(a, "-o")) {
			fprintf(stderr, PROG ": unexpected argument '%s'\n", a);
			return 2;
		}
		const char *name = !strcmp(a, "-o") ? "out" : a + 2;
		if (!in_list(allowed, name)) {
			fprintf(stderr, PROG ": unknown option '%s' here\n", a);
			return 2;
		}
		if (!strcmp(name, "allow-remote")) {
			o->allow_remote = true;
			continue;
		}
		if (!strcmp(name, "loop")) {
			o->loop = true;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, PROG ": %s wants a value\n", a);
			return 2;
		}
		const char *v = argv[++i];
		char *end;
		bool ok = true;
		if (!strcmp(name, "from"))
			ok = o->has_from = parse_time(v, &o->from);
		else if (!strcmp(name, "to"))
			ok = o->has_to = parse_time(v, &o->to);
		else if (!strcmp(name, "at"))
			ok = o->has_at = parse_time(v, &o->at);
		else if (!strcmp(name, "every"))
			ok = (o->has_every = parse_time(v, &o->every)) && o->every >= 1000;
		else if (!strcmp(name, "out"))
			o->out = v;
		else if (!strcmp(name, "listen"))
			o->listen = v;
		else if (!strcmp(name, "speed")) {
			errno = 0;
			o->speed = strtod(v, &end);
			ok = !errno && *v && !*end && o->speed >= 0.01 && o->speed <= 100;
		} else if (!strcmp(name, "fps")) {
			errno = 0;
			o->fps = strtol(v, &end, 10);
			ok = !errno && *v && !*end && o->fps >= 1 && o->fps <= 120;
		} else {
			fprintf(stderr, PROG ": unknown option '%s'\n", a);
			return 2;
		}
		if (!ok) {
			fprintf(stderr, PROG ": bad value '%s' for %s (%s)\n", v, a,
				!strcmp(name, "speed") ? "0.01 to 100"
				: !strcmp(name, "fps") ? "1 to 120"
				: !strcmp(name, "every")
				    ? "a time of at least 0.001 s"
				    : "seconds (90, 12.5), M:SS or H:MM:SS(.fff)");
			return 2;
		}
	}
	if (o->has_from && o->has_to && o->to < o->from) {
		fprintf(stderr, PROG ": --to is before --from\n");
		return 2;
	}
	return 0;
}

/* ---- events ---- */

static int cmd_events(int argc, char **argv)
{
	struct opts o;
	if (argc < 1)
		return usage();
	int rc = parse_opts(argc - 1, argv + 1, "from,to", &o);
	if (rc)
		return rc;
	struct pg_rec_reader *r = open_rec(argv[0]);
	if (!r)
		return 1;
	struct pg_rec_record rec;
	while ((rc = pg_rec_reader_next(r, &rec)) == 1) {
		if (rec.type != PG_REC_EVENT || (o.has_from && rec.time_us < o.from))
			continue;
		if (o.has_to && rec.time_us > o.to)
			break;
		char t[32];
		pg_replay_fmt_time(rec.time_us, t, sizeof(t));
		printf("%s  ", t);
		pg_replay_print_safe(stdout, (const char *)rec.data, rec.len);
		putchar('\n');
	}
	struct pg_rec_stats st;
	bool ok = pg_rec_reader_index(r, &st) == 0 && report_end(argv[0], &st);
	pg_rec_reader_del(r);
	return ok ? 0 : 1;
}

/* ---- png ---- */

static int write_png(const char *path, const struct pg_fb *fb)
{
	FILE *f = NULL;
	png_structp png = NULL;
	png_infop info = NULL;
	png_bytep volatile row = NULL;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);

	if (fd < 0 || !(f = fdopen(fd, "wb"))) {
		fprintf(stderr, PROG ": cannot create %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	info = png ? png_create_info_struct(png) : NULL;
	row = malloc((size_t)fb->w * 3);
	if (!png || !info || !row)
		goto fail;
	if (setjmp(png_jmpbuf(png)))
		goto fail;
	png_init_io(png, f);
	png_set_IHDR(png, info, (png_uint_32)fb->w, (png_uint_32)fb->h, 8, PNG_COLOR_TYPE_RGB,
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (int y = 0; y < fb->h; y++) {
		const uint32_t *px = fb->px + (size_t)y * fb->stride;
		for (int x = 0; x < fb->w; x++) {
			row[3 * x] = (png_byte)(px[x] >> 16);
			row[3 * x + 1] = (png_byte)(px[x] >> 8);
			row[3 * x + 2] = (png_byte)px[x];
		}
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	free(row);
	if (fclose(f) != 0) {
		fprintf(stderr, PROG ": cannot write %s: %s\n", path, strerror(errno));
		unlink(path);
		return 1;
	}
	return 0;
fail:
	fprintf(stderr, PROG ": cannot write %s\n", path);
	png_destroy_write_struct(&png, &info);
	free(row);
	fclose(f);
	unlink(path);
	return 1;
}

/* Advance p to t; on damage print where and return false. */
static bool play_to(struct pg_rec_player *p, const char *path, uint64_t t, int *more)
{
	int rc = pg_rec_player_advance(p, t, NULL, NULL);
	if (rc < 0) {
		fprintf(stderr, PROG ": %s: ", path);
		const char *e = pg_rec_player_error(p);
		pg_replay_print_safe(stderr, e, strlen(e));
		fputc('\n', stderr);
		return false;
	}
	if (more)
		*more = rc;
	return true;
}

static int cmd_png(int argc, char **argv)
{
	struct opts o;
	if (argc < 1)
		return usage();
	int rc = parse_opts(argc - 1, argv + 1, "at,every,out", &o);
	if (rc)
		return rc;
	if (!o.out || o.has_at == o.has_every) {
		fprintf(stderr, PROG ": png wants -o and one of --at or --every\n");
		return 2;
	}
	struct pg_rec_reader *r = open_rec(argv[0]);
	if (!r)
		return 1;
	struct pg_rec_stats st;
	struct pg_rec_player *p = NULL;
	char t[32];
	rc = 1;
	if (pg_rec_reader_index(r, &st) < 0 || !(p = pg_rec_player_new(r)))
		goto out;
	report_end(argv[0], &st);
	if (o.has_at) {
		if (!play_to(p, argv[0], o.at, NULL))
			goto out;
		const struct pg_fb *fb = pg_rec_player_fb(p);
		rc = write_png(o.out, fb);
		if (rc == 0) {
			pg_replay_fmt_time(o.at, t, sizeof(t));
			printf("%s: %dx%d, the picture at %s%s\n", o.out, fb->w, fb->h, t,
			       o.at > st.duration_us ? " (after the recording's end)" : "");
		}
		goto out;
	}
	if (mkdir(o.out, 0750) < 0 && errno != EEXIST) {
		fprintf(stderr, PROG ": cannot make %s: %s\n", o.out, strerror(errno));
		goto out;
	}
	unsigned n = 0;
	for (uint64_t at = 0; at <= st.duration_us; at += o.every, n++) {
		char file[4096];
		if (n > 99999 || snprintf(file, sizeof(file), "%s/frame_%05u.png", o.out, n) >=
				     (int)sizeof(file)) {
			fprintf(stderr, PROG ": too many pictures or too long a folder name\n");
			goto out;
		}
		if (!play_to(p, argv[0], at, NULL) || write_png(file, pg_rec_player_fb(p)))
			goto out;
	}
	pg_replay_fmt_time(o.every, t, sizeof(t));
	printf("%s: %u pictures, one every %s\n", o.out, n, t);
	rc = 0;
out:
	pg_rec_player_del(p);
	pg_rec_reader_del(r);
	return rc;
}

/* ---- video ---- */

static const char *ext_of(const char *path)
{
	const char *dot = strrchr(path, '.');
	return dot && !strchr(dot, '/') ? dot + 1 : "";
}

static int cmd_video(int argc, char **argv)
{
	struct opts o;
	if (argc < 1)
		return usage();
	int rc = parse_opts(argc - 1, argv + 1, "from,to,fps,out", &o);
	if (rc)
		return rc;
	const char *ext = o.out ? ext_of(o.out) : "";
	if (strcmp(ext, "mp4") && strcmp(ext, "webm") && strcmp(ext, "mkv")) {
		fprintf(stderr, PROG ": video wants -o NAME.mp4, NAME.webm or NAME.mkv\n");
		return 2;
	}
	if (access(o.out, F_OK) == 0) {
		fprintf(stderr, PROG ": %s exists; not replacing it\n", o.out);
		return 1;
	}
	struct pg_rec_reader *r = open_rec(argv[0]);
	if (!r)
		return 1;
	struct pg_rec_stats st;
	struct pg_rec_player *p = NULL;
	uint8_t *frame = NULL;
	int pipefd[2] = {-1, -1};
	pid_t pid = -1;
	rc = 1;
	if (pg_rec_reader_index(r, &st) < 0 || !(p = pg_rec_player_new(r)))
		goto out;
	report_end(argv[0], &st);
	uint64_t from = o.has_from ? o.from : 0, to = o.has_to ? o.to : st.duration_us;
	if (from > st.duration_us) {
		fprintf(stderr, PROG ": --from is after the recording's end\n");
		goto out;
	}
	if (!play_to(p, argv[0], from, NULL))
		goto out;
	/* The first picture's size, made even for yuv420p; later sizes are drawn
	 * into its top-left corner. */
	const struct pg_fb *fb = pg_rec_player_fb(p);
	int vw = (fb->w + 1) & ~1, vh = (fb->h + 1) & ~1;
	size_t fsize = (size_t)vw * (size_t)vh * 4;
	uint64_t frames = (uint64_t)ceil((double)(to - from) * (double)o.fps / 1e6);
	if (frames == 0)
		frames = 1;
	frame = malloc(fsize);
	if (!frame)
		goto out;

	char size[32], rate[16];
	snprintf(size, sizeof(size), "%dx%d", vw, vh);
	snprintf(rate, sizeof(rate), "%ld", o.fps);
	const char *args[40] = {"ffmpeg",   "-hide_banner", "-loglevel", "error",
				"-nostdin", "-f",	    "rawvideo",	 "-pixel_format",
				"bgr0",	    "-video_size",  size,	 "-framerate",
				rate,	    "-i",	    "-",	 "-an"};
	int n = 16;
	if (!strcmp(ext, "webm")) {
		static const char *const vp9[] = {
		    "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used",
		    "8",    "-b:v",	  "0",	       "-crf",	   "30"};
		for (size_t i = 0; i < sizeof(vp9) / sizeof(vp9[0]); i++)
			args[n++] = vp9[i];
	} else {
		static const char *const x264[] = {"-c:v",     "libx264", "-preset",
						   "veryfast", "-crf",	  "18"};
		for (size_t i = 0; i < sizeof(x264) / sizeof(x264[0]); i++)
			args[n++] = x264[i];
		if (!strcmp(ext, "mp4")) {
			args[n++] = "-movflags";
			args[n++] = "+faststart";
		}
	}
	args[n++] = "-pix_fmt";
	args[n++] = "yuv420p";
	args[n++] = "-n";
	args[n++] = o.out;
	args[n] = NULL;

	posix_spawn_file_actions_t fa;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		goto out;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[0], 0);
	int err = posix_spawnp(&pid, "ffmpeg", &fa, NULL, (char *const *)args, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[0]);
	pipefd[0] = -1;
	if (err) {
		fprintf(stderr, PROG ": cannot run ffmpeg: %s (install Debian's ffmpeg)\n",
			strerror(err));
		pid = -1;
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	bool ok = true;
	for (uint64_t k = 0; k < frames && ok; k++) {
		uint64_t t = from + k * 1000000ull / (uint64_t)o.fps;
		if (!play_to(p, argv[0], t, NULL)) {
			ok = false;
			break;
		}
		fb = pg_rec_player_fb(p);
		memset(frame, 0, fsize);
		int cw = fb->w < vw ? fb->w : vw, ch = fb->h < vh ? fb->h : vh;
		for (int y = 0; y < ch; y++)
			memcpy(frame + (size_t)y * vw * 4, fb->px + (size_t)y * fb->stride,
			       (size_t)cw * 4);
		/* bgr0 is the canonical pixel's bytes on a little-endian host. */
		size_t done = 0;
		while (done < fsize) {
			ssize_t w = write(pipefd[1], frame + done, fsize - done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				fprintf(stderr, PROG ": ffmpeg stopped reading: %s\n",
					strerror(errno));
				ok = false;
				break;
			}
			done += (size_t)w;
		}
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	pid = -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, PROG ": ffmpeg failed (status %d)\n",
			WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		ok = false;
	}
	if (ok) {
		char a[32], b[32];
		pg_replay_fmt_time(from, a, sizeof(a));
		pg_replay_fmt_time(from + frames * 1000000ull / (uint64_t)o.fps, b, sizeof(b));
		printf("%s: %" PRIu64 " frames of %dx%d at %ld fps, %s to %s\n", o.out, frames, vw,
		       vh, o.fps, a, b);
		rc = 0;
	}
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	free(frame);
	pg_rec_player_del(p);
	pg_rec_reader_del(r);
	return rc;
}

/* ---- serve ---- */

static int cmd_serve(int argc, char **argv)
{
	struct opts o;
	if (argc < 1)
		return usage();
	int rc = parse_opts(argc - 1, argv + 1, "listen,allow-remote,from,speed,loop", &o);
	if (rc)
		return rc;
	struct pg_rec_reader *r = open_rec(argv[0]);
	if (!r)
		return 1;
	struct pg_rec_stats st;
	if (pg_rec_reader_index(r, &st) < 0) {
		pg_rec_reader_del(r);
		return 1;
	}
	report_end(argv[0], &st);
	const char *base = strrchr(argv[0], '/');
	struct pg_replay_serve_opts so = {
	    .listen = o.listen,
	    .allow_remote = o.allow_remote,
	    .from_us = o.from,
	    .speed = o.speed,
	    .loop = o.loop,
	    .name = base ? base + 1 : argv[0],
	};
	rc = pg_replay_serve(r, &so);
	pg_rec_reader_del(r);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	const char *cmd = argv[1];
	if (!strcmp(cmd, "info"))
		return cmd_info(argc - 2, argv + 2);
	if (!strcmp(cmd, "events"))
		return cmd_events(argc - 2, argv + 2);
	if (!strcmp(cmd, "png"))
		return cmd_png(argc - 2, argv + 2);
	if (!strcmp(cmd, "video"))
		return cmd_video(argc - 2, argv + 2);
	if (!strcmp(cmd, "serve"))
		return cmd_serve(argc - 2, argv + 2);
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		usage();
		return 0;
	}
	fprintf(stderr, PROG ": unknown command '%s'\n", cmd);
	return usage();
}
