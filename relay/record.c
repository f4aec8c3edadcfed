/* Session recording: what a session showed its viewers, for security staff after an
 * incident (docs/policy.md, docs/replay.md).
 *
 * A session records while at least one of its viewers' policies says record = yes.
 * The recording is the relay's own encoding of the session's picture (Tight,
 * lossless, in the canonical pixel format) at [recording] fps at most, never a byte
 * of the browser host's stream, plus the viewers' input and clipboard decisions as
 * JSON events. record/recfile.h writes it on a thread of its own: nothing here
 * waits for the disk. A write error, a full disk, a disk too slow for the queue or
 * the size limit stops the recording, never the session, and the audit log says so.
 *
 * Each picture's changed areas are copied from the session on the loop thread (a
 * few milliseconds for a whole 1080p picture) into the recorder's own, which the
 * thread pool then encodes: the session never waits for a recording. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/audit.h"
#include "codec/encoder.h"
#include "record/recfile.h"
#include "relay/log.h"
#include "relay/relay.h"
#include "relay/viewer_impl.h"

#define REC_MAX_DAMAGE	  32
#define REC_MOVE_EVERY_MS 100 /* pointer moves kept in a recording: 10 a second */
#define REC_EVENT_MAX	  (64u << 10)
#define REC_FRAME_MAX	  ((size_t)1 << 30) /* an 8192x8192 picture, raw, and then some */

/* A session's slot after its recording stopped by itself (disk full, size limit):
 * not started again until the session ends, so a full disk is one audit record. */
static struct pg_recorder gave_up;

struct pg_recorder {
	struct pg_relay *relay;
	struct pg_session *s; /* NULL once the session let go of it */
	struct pg_rec_writer *w;
	char path[PATH_MAX];
	char session_id[17];
	uint64_t t0_ns; /* uv_hrtime() at the start */
	uv_timer_t timer;
	bool timer_open;
	uv_work_t work;
	bool busy; /* an encoding or the close is on the pool */
	struct pg_encoder *enc;
	struct pg_buf out;
	struct pg_fb pic; /* what the recording has shown; the job encodes from it */
	struct pg_rect damage[REC_MAX_DAMAGE];
	int ndamage;
	struct pg_rect job[REC_MAX_DAMAGE];
	int njob;
	bool job_key;
	int job_rc;
	uint64_t job_us;
	int w_rec, h_rec; /* the size the recording last said */
	uint64_t last_key_ms;
	uint64_t frames, events;
	bool stopping;
	char reason[300];
	int error; /* what stopped the writer, negative errno; 0 for none */
	char why[300];
	struct pg_rec_result res;
};

static uint64_t rec_time_us(const struct pg_recorder *r)
{
	return (uv_hrtime() - r->t0_ns) / 1000;
}

static void rlog(int level, const struct pg_recorder *r, const char *fmt, const char *arg)
{
	pg_log(level, "session %s: recording %s: %s%s", r->session_id, r->path, fmt, arg);
}

/* ---- closing ---- */

static void close_work(uv_work_t *work)
{
	struct pg_recorder *r = work->data;
	char end[400];
	json_t *j = json_pack("{s:s}", "reason", r->reason);
	char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
	snprintf(end, sizeof(end), "%s", txt ? txt : "{}");
	free(txt);
	json_decref(j);
	pg_rec_writer_close(r->w, end, &r->res);
	r->w = NULL;
}

static void recorder_free(struct pg_recorder *r)
{
	pg_encoder_del(r->enc);
	pg_buf_free(&r->out);
	pg_fb_free(&r->pic);
	free(r);
}

static void after_close(uv_work_t *work, int status)
{
	struct pg_recorder *r = work->data;
	(void)status;
	const struct pg_rec_result *res = &r->res;
	int error = r->error ? r->error : res->error;
	const char *why = *r->why ? r->why : res->why;
	pg_log(error ? PG_LOG_WARN : PG_LOG_INFO,
	       "session %s: recording %s closed: %llu bytes, %llu frames, %llu events, %s%s%s",
	       r->session_id, r->path, (unsigned long long)res->bytes,
	       (unsigned long long)r->frames, (unsigned long long)r->events, r->reason,
	       error ? "; " : "", error ? why : "");
	pg_audit(r->relay, "recording-end", PG_AUDIT_S("session", r->session_id),
		 PG_AUDIT_S("file", r->path), PG_AUDIT_U("bytes", res->bytes),
		 PG_AUDIT_U("frames", r->frames), PG_AUDIT_U("events", r->events),
		 PG_AUDIT_U("duration_ms", res->duration_us / 1000),
		 PG_AUDIT_S("sha256", res->sha256), PG_AUDIT_S("reason", r->reason),
		 PG_AUDIT_S("error", error ? why : ""));
	r->relay->recordings--;
	recorder_free(r);
}

static void on_timer_closed(uv_handle_t *h)
{
	struct pg_recorder *r = h->data;
	r->timer_open = false;
	if (r->busy)
		return; /* the encoding's end closes it */
	r->busy = true;
	r->work.data = r;
	uv_queue_work(r->relay->loop, &r->work, close_work, after_close);
}

/* Stop: the session keeps going. The file is closed on the pool once the encoding
 * in progress (if any) is written. */
static void recorder_stop(struct pg_recorder *r, const char *reason)
{
	if (r->stopping)
		return;
	r->stopping = true;
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}

/* The writer stopped by itself (disk full, too slow, size limit): once only. */
static void writer_failed(struct pg_recorder *r, int rc)
{
	if (r->stopping)
		return;
	r->error = rc;
	pg_rec_writer_error(r->w, r->why, sizeof(r->why));
	if (!*r->why)
		snprintf(r->why, sizeof(r->why), "%s", strerror(-rc));
	rlog(PG_LOG_WARN, r, "stopped, the session goes on: ", r->why);
	if (r->s && *pg_session_recorder(r->s) == r)
		*pg_session_recorder(r->s) = &gave_up;
	pg_audit(r->relay, "recording-stopped", PG_AUDIT_S("session", r->session_id),
		 PG_AUDIT_S("file", r->path), PG_AUDIT_S("error", r->why));
	recorder_stop(r, rc == -EFBIG	  ? "size limit ([recording] max_file_size)"
			 : rc == -ENOBUFS ? "the disk is too slow ([recording] max_queue)"
					  : "write error");
}

static void put(struct pg_recorder *r, int type, int flags, uint64_t us, const void *data,
		size_t len)
{
	if (r->stopping || !r->w)
		return;
	int rc = pg_rec_writer_put(r->w, type, flags, us, data, len);
	if (rc < 0)
		writer_failed(r, rc);
}

/* ---- events ---- */

static void put_event(struct pg_recorder *r, json_t *ev)
{
	if (!ev)
		return;
	char *txt = json_dumps(ev, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(ev);
	if (!txt)
		return;
	size_t len = strlen(txt);
	if (len <= REC_EVENT_MAX) {
		put(r, PG_REC_EVENT, 0, rec_time_us(r), txt, len);
		r->events++;
	}
	free(txt);
}

static struct pg_recorder *recorder_of(const struct pg_viewer *v)
{
	if (!v->session)
		return NULL;
	struct pg_recorder *r = *pg_session_recorder(v->session);
	return r && r != &gave_up && !r->stopping ? r : NULL;
}

static json_t *viewer_event(const struct pg_viewer *v, const char *event)
{
	return json_pack("{s:s,s:I,s:s}", "event", event, "viewer", (json_int_t)v->id, "user",
			 *v->user ? v->user : "-");
}

void pg_record_key(struct pg_viewer *v, bool down, uint32_t keysym, uint32_t keycode)
{
	struct pg_recorder *r = recorder_of(v);
	bool named = v->policy && v->policy->record_keys;
	if (!r || (!down && !named))
		return; /* unnamed keys: a press says enough */
	json_t *ev = viewer_event(v, "key");
	if (ev) {
		json_object_set_new(ev, "down", json_boolean(down));
		if (named && keysym)
			json_object_set_new(ev, "keysym", json_integer(keysym));
		if (named && keycode)
			json_object_set_new(ev, "keycode", json_integer(keycode));
	}
	put_event(r, ev);
}

void pg_record_pointer(struct pg_viewer *v, uint8_t mask, int x, int y)
{
	struct pg_recorder *r = recorder_of(v);
	if (!r)
		return;
	uint64_t now = pg_now_ms();
	bool buttons = mask != v->rec_mask;
	if (!buttons && now - v->rec_move_ms < REC_MOVE_EVERY_MS)
		return;
	v->rec_mask = mask;
	v->rec_move_ms = now;
	json_t *ev = viewer_event(v, buttons ? "buttons" : "move");
	if (ev) {
		json_object_set_new(ev, "x", json_integer(x));
		json_object_set_new(ev, "y", json_integer(y));
		json_object_set_new(ev, "mask", json_integer(mask));
	}
	put_event(r, ev);
}

void pg_record_clipboard(struct pg_viewer *v, const char *direction, bool allowed, const char *rule,
			 size_t bytes, const uint8_t *text, size_t len)
{
	struct pg_recorder *r = recorder_of(v);
	if (!r)
		return;
	json_t *ev = viewer_event(v, "clipboard");
	if (ev) {
		json_object_set_new(ev, "direction", json_string(direction));
		json_object_set_new(ev, "decision", json_string(allowed ? "allowed" : "denied"));
		json_object_set_new(ev, "bytes", json_integer((json_int_t)bytes));
		if (rule && *rule)
			json_object_set_new(ev, "rule", json_string(rule));
		/* Text only where policy asks for it; invalid UTF-8 is left out whole. */
		if (text && v->policy && v->policy->record_clipboard_text)
			json_object_set_new(ev, "text", json_stringn((const char *)text, len));
	}
	put_event(r, ev);
}

static void record_presence(struct pg_recorder *r, const struct pg_viewer *v, const char *event)
{
	json_t *ev = viewer_event(v, event);
	if (ev) {
		json_object_set_new(ev, "address", json_string(v->addr));
		if (v->policy)
			json_object_set_new(ev, "policy", json_string(v->policy->decided_by));
	}
	put_event(r, ev);
}

/* ---- pictures ---- */

static void add_damage(struct pg_recorder *r, struct pg_rect d)
{
	if (pg_rect_empty(&d))
		return;
	if (r->ndamage == REC_MAX_DAMAGE) {
		/* Many small changes: one rectangle around them all. */
		for (int i = 1; i < r->ndamage; i++)
			r->damage[0] = pg_rect_union(r->damage[0], r->damage[i]);
		r->ndamage = 1;
		r->damage[0] = pg_rect_union(r->damage[0], d);
		return;
	}
	r->damage[r->ndamage++] = d;
}

void pg_record_damage(struct pg_session *s, const struct pg_rect *d, int n)
{
	struct pg_recorder *r = *pg_session_recorder(s);
	if (!r || r == &gave_up || r->stopping)
		return;
	for (int i = 0; i < n; i++)
		add_damage(r, d[i]);
}

static void encode_work(uv_work_t *work)
{
	struct pg_recorder *r = work->data;
	r->out.len = 0;
	r->job_rc = pg_rec_encode_update(r->enc, &r->pic, r->job, r->njob, r->job_key, &r->out);
}

static void after_encode(uv_work_t *work, int status)
{
	struct pg_recorder *r = work->data;
	(void)status;
	r->busy = false;
	if (r->job_rc < 0) {
		char why[64];
		snprintf(why, sizeof(why), "encoder error %d", r->job_rc);
		rlog(PG_LOG_WARN, r, "stopped, the session goes on: ", why);
		recorder_stop(r, "encoder error");
	} else {
		put(r, PG_REC_FRAME, r->job_key ? PG_REC_FLAG_KEY : 0, r->job_us, r->out.data,
		    r->out.len);
		r->frames++;
	}
	if (r->stopping && !r->timer_open) {
		r->busy = true;
		uv_queue_work(r->relay->loop, &r->work, close_work, after_close);
	}
}

/* A picture: the damage since the last one, or the whole picture (a key frame,
 * where playback can start) every keyframe_interval and after a resize. */
static void on_tick(uv_timer_t *t)
{
	struct pg_recorder *r = t->data;
	struct pg_session *s = r->s;
	if (r->busy || r->stopping || !s)
		return;
	int rc = r->w ? pg_rec_writer_error(r->w, NULL, 0) : 0;
	if (rc < 0)
		return writer_failed(r, rc);
	const struct pg_fb *fb = pg_session_fb(s);
	if (!fb->px || fb->w <= 0 || fb->h <= 0)
		return;
	uint64_t now = pg_now_ms();
	bool key = !r->last_key_ms || fb->w != r->w_rec || fb->h != r->h_rec ||
		   now - r->last_key_ms >= (uint64_t)r->relay->rec_key_ms;
	if (!key && !r->ndamage)
		return;
	r->job_us = rec_time_us(r);
	/* A key frame begins with the picture's size (DesktopSize), so a resize needs
	 * nothing more. */
	r->w_rec = fb->w;
	r->h_rec = fb->h;
	if (key) {
		r->job[0] = (struct pg_rect){0, 0, fb->w, fb->h};
		r->njob = 1;
		r->last_key_ms = now;
	} else {
		r->njob = 0;
		for (int i = 0; i < r->ndamage; i++) {
			struct pg_rect d =
			    pg_rect_intersect(r->damage[i], (struct pg_rect){0, 0, fb->w, fb->h});
			if (!pg_rect_empty(&d))
				r->job[r->njob++] = d;
		}
	}
	r->ndamage = 0;
	if (!r->njob)
		return;
	if (r->pic.w != fb->w || r->pic.h != fb->h) {
		pg_fb_free(&r->pic);
		if (pg_fb_alloc(&r->pic, fb->w, fb->h) < 0)
			return recorder_stop(r, "out of memory");
	}
	for (int i = 0; i < r->njob; i++)
		pg_fb_copy_rect(&r->pic, fb, &r->job[i]);
	r->job_key = key;
	r->busy = true;
	r->work.data = r;
	uv_queue_work(r->relay->loop, &r->work, encode_work, after_encode);
}

/* ---- starting and stopping ---- */

static struct pg_recorder *recorder_start(struct pg_session *s, const struct pg_viewer *first)
{
	struct pg_relay *relay = first->relay;
	struct pg_session_info info;
	pg_session_info(s, &info);
	struct pg_recorder *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->relay = relay;
	r->s = s;
	snprintf(r->session_id, sizeof(r->session_id), "%s", info.id);
	time_t now = time(NULL);
	struct tm tm;
	char stamp[32], iso[40];
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S%z", &tm);
	int n =
	    snprintf(r->path, sizeof(r->path), "%s/%s-%s.pgrec", relay->rec_dir, stamp, info.id);
	struct pg_enc_opts opts = {
	    .quality = -1, .fine_quality = -1, .subsampling = -1, .compress = 1};
	r->enc = pg_encoder_new(PG_ENC_TIGHT, &pg_pixfmt_canonical, &opts);
	pg_buf_init(&r->out, REC_FRAME_MAX);
	const struct pg_fb *fb = pg_session_fb(s);
	json_t *meta =
	    json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:s,s:s,s:i,s:i}", "format",
		      "pixelgate-recording", "version", 1, "session", info.id, "browser_host",
		      info.browser_host, "started", iso, "relay", relay->hostname, "user",
		      *first->user ? first->user : "-", "width", fb->w, "height", fb->h,
		      "pixel_format", "rgb888-le32", "encoding", "tight-lossless", "fps",
		      relay->rec_fps, "keyframe_interval_ms", relay->rec_key_ms);
	char *meta_txt = meta ? json_dumps(meta, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(meta);
	char err[300] = "out of memory";
	if (n >= (int)sizeof(r->path))
		snprintf(err, sizeof(err), "path too long");
	else if (r->enc && meta_txt)
		r->w = pg_rec_writer_open(r->path, meta_txt, relay->rec_max_bytes,
					  relay->rec_max_queue, err, sizeof(err));
	free(meta_txt);
	if (!r->w) {
		pg_log(PG_LOG_ERROR, "session %s: cannot record to %s: %s; the session goes on",
		       info.id, r->path, err);
		pg_audit(relay, "recording-failed", PG_AUDIT_S("session", info.id),
			 PG_AUDIT_S("file", r->path), PG_AUDIT_S("error", err));
		recorder_free(r);
		return NULL;
	}
	r->t0_ns = uv_hrtime();
	uv_timer_init(relay->loop, &r->timer);
	r->timer.data = r;
	r->timer_open = true;
	uint64_t every = (uint64_t)(1000 / relay->rec_fps);
	uv_timer_start(&r->timer, on_tick, 0, every ? every : 1);
	relay->recordings++;
	pg_log(PG_LOG_INFO, "session %s: recording to %s", info.id, r->path);
	pg_audit(relay, "recording-start", PG_AUDIT_S("session", info.id),
		 PG_AUDIT_S("browser_host", info.browser_host), PG_AUDIT_S("file", r->path),
		 PG_AUDIT_S("user", *first->user ? first->user : "-"),
		 PG_AUDIT_S("source", first->addr),
		 PG_AUDIT_S("policy", first->policy ? first->policy->decided_by : ""));
	return r;
}

static bool wants_recording(const struct pg_viewer *v)
{
	return !v->closing && v->policy && v->policy->record;
}

void pg_record_check(struct pg_session *s)
{
	struct pg_recorder **slot = pg_session_recorder(s);
	struct pg_viewer **viewers;
	int n = pg_session_viewers(s, &viewers);
	const struct pg_viewer *first = NULL;
	for (int i = 0; i < n && !first; i++)
		if (wants_recording(viewers[i]))
			first = viewers[i];
	if (!first) {
		if (*slot && *slot != &gave_up)
			pg_record_session_end(s, "no viewer whose policy records is left");
		return;
	}
	/* The file starts with the picture's size: it waits for the first picture. */
	if (!*slot && first->relay->rec_dir[0] && pg_session_fb(s)->w > 0)
		*slot = recorder_start(s, first);
	for (int i = 0; i < n; i++)
		if (!viewers[i]->closing)
			pg_record_viewer(viewers[i], true);
}

void pg_record_viewer(struct pg_viewer *v, bool joined)
{
	struct pg_recorder *r = recorder_of(v);
	if (!r || v->rec_joined == joined)
		return;
	v->rec_joined = joined;
	record_presence(r, v, joined ? "viewer-join" : "viewer-leave");
}

const char *pg_record_file(struct pg_session *s)
{
	struct pg_recorder *r = *pg_session_recorder(s);
	return r && r != &gave_up && !r->stopping ? r->path : "";
}

void pg_record_session_end(struct pg_session *s, const char *reason)
{
	struct pg_recorder **slot = pg_session_recorder(s);
	struct pg_recorder *r = *slot;
	*slot = NULL;
	if (!r || r == &gave_up)
		return;
	r->s = NULL;
	recorder_stop(r, reason);
}

/* ---- the folder ---- */

int pg_record_prepare(struct pg_relay *relay, char *err, size_t err_size)
{
	if (!relay->rec_dir[0])
		return 0;
	if (mkdir(relay->rec_dir, 0750) < 0 && errno != EEXIST) {
		snprintf(err, err_size, "[recording] directory %s: cannot create: %s",
			 relay->rec_dir, strerror(errno));
		return -1;
	}
	if (access(relay->rec_dir, W_OK | X_OK) < 0) {
		snprintf(err, err_size, "[recording] directory %s: not writable: %s",
			 relay->rec_dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Recordings older than [recording] max_age go, each audited. Finished files only:
 * one still written has a fresh modification time. */
void pg_record_sweep(struct pg_relay *relay)
{
	if (!relay->rec_dir[0] || relay->rec_max_age_days <= 0)
		return;
	DIR *d = opendir(relay->rec_dir);
	if (!d) {
		pg_log(PG_LOG_WARN, "[recording] directory %s: %s", relay->rec_dir,
		       strerror(errno));
		return;
	}
	time_t limit = time(NULL) - (time_t)relay->rec_max_age_days * 86400;
	struct dirent *e;
	int deleted = 0;
	while ((e = readdir(d)) && deleted < 1000) {
		size_t len = strlen(e->d_name);
		struct stat st;
		if (len < 6 || strcmp(e->d_name + len - 6, ".pgrec"))
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || st.st_mtime >= limit)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) < 0) {
			pg_log(PG_LOG_WARN, "[recording] cannot delete %s/%s: %s", relay->rec_dir,
			       e->d_name, strerror(errno));
			continue;
		}
		deleted++;
		pg_log(PG_LOG_INFO, "[recording] deleted %s/%s (older than max_age = %d days)",
		       relay->rec_dir, e->d_name, relay->rec_max_age_days);
		pg_audit(relay, "recording-deleted", PG_AUDIT_S("file", e->d_name),
			 PG_AUDIT_I("max_age_days", relay->rec_max_age_days),
			 PG_AUDIT_U("bytes", (uint64_t)st.st_size));
	}
	closedir(d);
}
