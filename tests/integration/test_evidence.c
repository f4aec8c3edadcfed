/* Evidence (docs/policy.md): the watermark and the invisible code each viewer's pixels
 * carry, and the session recording, checked against a running relay between a
 * libvncserver browser host and libvncclient viewers that log in with VeNCrypt.
 *
 * The watermark is proven pixel for pixel: the test renders the text it expects
 * ("alice 127.0.0.1") with the same font and style and draws it over the host's
 * picture; the viewer's picture must be exactly that, and another user's must be
 * exactly theirs. The invisible code is read back from the viewer's picture and must
 * be the one the audit's viewer-join record names. The recording is read back with
 * record/recfile.h: its last picture must be the host's, its events the viewer's
 * input, and its SHA-256 the one recording-end audited; a recording over its size
 * limit stops while the viewer keeps seeing the host. Loopback only; waits bounded. */
#include <criterion/criterion.h>

#include <rfb/rfbclient.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth_util.h"
#include "harness_util.h"
#include "policy_util.h"
#include "record/recfile.h"
#include "render/mark.h"
#include "render/watermark.h"

#define W	480
#define H	320
#define WAIT_MS 15000

#define PW_ALICE "correct horse battery"
#define PW_CAROL "contractor and press"

static struct au_env env;
static struct it_host *host;
static struct it_relay *relay;
static struct au_viewer *views[3];
static char rec_dir[160];

static void teardown(void)
{
	for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++) {
		au_viewer_stop(views[i]);
		views[i] = NULL;
	}
	relay_stop(relay);
	relay = NULL;
	host_free(host);
	host = NULL;
	au_env_free(&env);
}

TestSuite(evidence, .fini = teardown, .timeout = 90);

/* alice (group staff) and carol (group koho); config with extra after [relay]. */
static void start(const char *extra)
{
	char a[512], c[512], hash[256], text[2048], cfg[4096];

	if (it_direct_mode())
		cr_skip_test("marks and recordings are the relay's: nothing to test directly");
	cr_assert(au_env_init(&env, true), "cannot make the scratch folder or certificate");
	host = host_start(W, H, NULL);
	cr_assert_not_null(host, "host did not start");
	cr_assert(au_hash(&env, PW_ALICE, hash, sizeof(hash)));
	snprintf(a, sizeof(a), "alice:staff:%s::\n", hash);
	cr_assert(au_hash(&env, PW_CAROL, hash, sizeof(hash)));
	snprintf(c, sizeof(c), "carol:koho:%s::\n", hash);
	snprintf(text, sizeof(text), "# evidence test users\n%s%s", a, c);
	cr_assert(au_write_file(env.users, 0600, text));
	snprintf(rec_dir, sizeof(rec_dir), "%s/rec", env.dir);
	snprintf(cfg, sizeof(cfg), "%s\n[recording]\ndirectory = %s\nfps = 20\n", extra, rec_dir);
	cr_assert(au_write_config(&env, cfg));
	relay = au_relay_start(&env, host_port(host));
	cr_assert_not_null(relay, "relay did not start with the evidence config");
}

static struct au_viewer *log_in(const char *user, const char *password)
{
	static struct au_login logins[2];
	struct au_login *l = &logins[!strcmp(user, "carol")];
	*l = (struct au_login){.user = user,
			       .password = password,
			       .ca_file = env.cert,
			       .subtype = rfbVeNCryptX509Plain};
	struct au_viewer *v = au_viewer_start(relay_port(relay), l, NULL);
	if (!v)
		relay_dump_log(relay, 4000);
	cr_assert_not_null(v, "'%s' could not log in", user);
	return v;
}

/* The host's picture with text drawn as the relay's default watermark style draws it. */
static uint32_t *expected(const char *text, const struct pg_wm_style *st)
{
	int w, h;
	char err[256];
	uint32_t *px = host_snapshot(host, &w, &h);
	cr_assert_not_null(px);
	struct pg_fb fb = {.px = px, .w = w, .h = h, .stride = w};
	struct pg_font *font =
	    pg_font_open(PG_FONT_NOTO_CJK, PG_FONT_NOTO_CJK_JP, err, sizeof(err));
	cr_assert_not_null(font, "%s", err);
	struct pg_watermark wm;
	cr_assert_eq(pg_watermark_render(font, text, st, &wm, err, sizeof(err)), 0, "%s", err);
	pg_watermark_draw(&fb, &wm, NULL);
	pg_watermark_free(&wm);
	pg_font_del(font);
	return px;
}

static const struct pg_wm_style default_style = {.size_px = PG_WM_DEFAULT_PX,
						 .opacity_pct = PG_WM_DEFAULT_OPACITY,
						 .angle_deg = PG_WM_DEFAULT_ANGLE,
						 .layout = PG_WM_TILE,
						 .rgb = PG_WM_DEFAULT_RGB};

static void must_see(struct au_viewer *v, const uint32_t *px, const char *what)
{
	const char *why = au_viewer_wait_pixels(v, px, W, H, WAIT_MS);
	if (why)
		relay_dump_log(relay, 6000);
	cr_assert_null(why, "%s: %s", what, why);
}

static long differing(const uint32_t *a, const uint32_t *b)
{
	long n = 0;
	for (int i = 0; i < W * H; i++)
		n += a[i] != b[i];
	return n;
}

Test(evidence, watermark_names_each_viewer)
{
	start("[policy]\nwatermark = {user} {addr}\n"
	      "[policy koho]\nwatermark = \xe5\xa7\x94\xe8\xa8\x97 {user}\\n{addr}\n"
	      "watermark_layout = bottom-right\nwatermark_opacity = 40\nwatermark_angle = 0\n");
	host_fill_pattern(host, 7);
	views[0] = log_in("alice", PW_ALICE);
	views[1] = log_in("carol", PW_CAROL);
	uint32_t *want_a = expected("alice 127.0.0.1", &default_style);
	struct pg_wm_style koho = default_style;
	koho.layout = PG_WM_BOTTOM_RIGHT;
	koho.opacity_pct = 40;
	koho.angle_deg = 0;
	/* 委託 carol / 127.0.0.1 */
	uint32_t *want_c = expected("\xe5\xa7\x94\xe8\xa8\x97 carol\n127.0.0.1", &koho);
	must_see(views[0], want_a, "alice's picture is not the host's with her watermark");
	must_see(views[1], want_c, "carol's picture is not the host's with her watermark");
	int w, h;
	uint32_t *plain = host_snapshot(host, &w, &h);
	cr_assert_gt(differing(want_a, plain), W * H / 50, "alice's watermark is too faint");
	cr_assert_gt(differing(want_a, want_c), W * H / 50, "both users see the same marks");
	free(want_a);
	free(want_c);
	free(plain);

	/* Pictures that change keep the mark where they change. */
	host_change_region(host, 40, 30, 200, 150, 11);
	want_a = expected("alice 127.0.0.1", &default_style);
	must_see(views[0], want_a, "after a change, alice's picture lost its watermark");
	free(want_a);

	char line[4096], session[64];
	cr_assert(au_audit_wait(env.audit, line, sizeof(line), WAIT_MS, "\"viewer-join\"",
				"\"user\":\"alice\"", NULL));
	cr_assert(pu_field_str(line, "session", session, sizeof(session)));
	cr_assert_eq(strlen(session), 16, "viewer-join names no session: %s", line);
	cr_assert_eq(au_audit_verify(env.audit), 0);
}

/* A page that scrolls under a tiled watermark: the copies move the mark with the
 * page for a moment, then the relay draws it in place again. */
Test(evidence, a_scrolled_page_gets_its_mark_back_in_place)
{
	start("[policy]\nwatermark = {user} {addr}\n");
	host_fill_pattern(host, 5);
	static struct au_login l;
	l = (struct au_login){.user = "alice",
			      .password = PW_ALICE,
			      .ca_file = env.cert,
			      .subtype = rfbVeNCryptX509Plain,
			      .encodings = "copyrect raw"};
	views[0] = au_viewer_start(relay_port(relay), &l, NULL);
	cr_assert_not_null(views[0]);
	uint32_t *want = expected("alice 127.0.0.1", &default_style);
	must_see(views[0], want, "before the scroll");
	free(want);
	for (int i = 0; i < 6; i++) {
		host_scroll(host, 24, 40 + (unsigned)i);
		it_sleep_ms(60);
	}
	want = expected("alice 127.0.0.1", &default_style);
	must_see(views[0], want, "the mark did not come back in place after the scroll");
	free(want);
}

Test(evidence, invisible_code_reads_back)
{
	start("[policy]\nwatermark_invisible = yes\n");
	host_fill_colour(host, 0xf4f4f4);
	views[0] = log_in("alice", PW_ALICE);
	char line[4096], mark[32];
	cr_assert(au_audit_wait(env.audit, line, sizeof(line), WAIT_MS, "\"viewer-join\"",
				"\"user\":\"alice\"", NULL));
	cr_assert(pu_field_str(line, "mark", mark, sizeof(mark)));
	uint32_t code = (uint32_t)strtoul(mark, NULL, 16);
	cr_assert_neq(code, 0, "viewer-join names no mark: %s", line);
	int w, h;
	uint32_t *want = host_snapshot(host, &w, &h);
	struct pg_fb fb = {.px = want, .w = w, .h = h, .stride = w};
	pg_mark_draw(&fb, code, NULL);
	must_see(views[0], want, "the picture is not the host's with the viewer's code");
	uint32_t read = 0;
	double confidence = 0;
	cr_assert_eq(pg_mark_read(&fb, &read, &confidence), 0, "the code does not read back");
	cr_assert_eq(read, code, "read 0x%08x, the audit says 0x%08x", read, code);
	free(want);
}

struct events {
	int keys, named, joins;
};

static void count_event(void *ctx, const struct pg_rec_record *rec)
{
	struct events *e = ctx;
	char json[1024];
	size_t n = rec->len < sizeof(json) - 1 ? rec->len : sizeof(json) - 1;
	memcpy(json, rec->data, n);
	json[n] = '\0';
	if (strstr(json, "\"event\":\"key\""))
		e->keys++;
	if (strstr(json, "\"keysym\""))
		e->named++;
	if (strstr(json, "\"event\":\"viewer-join\""))
		e->joins++;
}

/* The file recording-end names, its SHA-256 checked, played to its end. */
static struct pg_rec_reader *recording_of(char *line, size_t size, struct events *ev,
					  uint32_t **last)
{
	char file[512], sha[80], got[65], err[256];
	cr_assert(au_audit_wait(env.audit, line, size, WAIT_MS, "\"recording-end\"", NULL),
		  "no recording-end record");
	cr_assert(pu_field_str(line, "file", file, sizeof(file)));
	cr_assert(pu_field_str(line, "sha256", sha, sizeof(sha)));
	cr_assert_eq(strncmp(file, rec_dir, strlen(rec_dir)), 0, "%s is not in %s", file, rec_dir);
	struct pg_rec_reader *r = pg_rec_reader_open(file, err, sizeof(err));
	cr_assert_not_null(r, "%s: %s", file, err);
	cr_assert_eq(pg_rec_reader_sha256(r, got), 0);
	cr_assert_str_eq(got, sha, "the file is not what recording-end audited");
	struct pg_rec_record rec;
	int rc;
	while ((rc = pg_rec_reader_next(r, &rec)) > 0)
		if (rec.type == PG_REC_EVENT)
			count_event(ev, &rec);
	cr_assert_eq(rc, 0, "%s", pg_rec_reader_error(r));
	pg_rec_reader_rewind(r);
	struct pg_rec_player *p = pg_rec_player_new(r);
	cr_assert_not_null(p);
	rc = pg_rec_player_advance(p, UINT64_MAX, NULL, NULL);
	cr_assert_geq(rc, 0, "%s", pg_rec_player_error(p));
	const struct pg_fb *fb = pg_rec_player_fb(p);
	cr_assert_eq(fb->w, W);
	cr_assert_eq(fb->h, H);
	*last = malloc(sizeof(uint32_t) * W * H);
	for (int y = 0; y < H; y++)
		memcpy(*last + y * W, fb->px + (size_t)y * fb->stride, sizeof(uint32_t) * W);
	pg_rec_player_del(p);
	return r;
}

Test(evidence, recording_keeps_what_was_shown)
{
	start("[policy]\nrecord = yes\n");
	host_fill_pattern(host, 3);
	views[0] = log_in("alice", PW_ALICE);
	char line[4096];
	cr_assert(au_audit_wait(env.audit, line, sizeof(line), WAIT_MS, "\"recording-start\"",
				"\"user\":\"alice\"", NULL),
		  "no recording-start record");
	const char *why = au_viewer_wait_match(views[0], host, WAIT_MS);
	cr_assert_null(why, "%s", why);
	for (int i = 0; i < 5; i++) {
		host_change_region(host, 20 * i, 10 * i, 120, 90, 20 + (unsigned)i);
		why = au_viewer_wait_match(views[0], host, WAIT_MS);
		cr_assert_null(why, "%s", why);
		cr_assert(au_viewer_send_key(views[0], 'a' + (uint32_t)i, true));
		cr_assert(au_viewer_send_key(views[0], 'a' + (uint32_t)i, false));
		it_sleep_ms(150);
	}
	it_sleep_ms(500); /* a few recording ticks: the last picture is in */
	au_viewer_stop(views[0]);
	views[0] = NULL;
	struct events ev = {0};
	uint32_t *last;
	struct pg_rec_reader *r = recording_of(line, sizeof(line), &ev, &last);
	int w, h;
	uint32_t *now = host_snapshot(host, &w, &h);
	cr_assert_eq(differing(last, now), 0, "the recording's last picture is not the host's");
	cr_assert_eq(ev.keys, 5, "%d key presses recorded, 5 made", ev.keys);
	cr_assert_eq(ev.named, 0, "keys are named without record_keys = yes");
	cr_assert_geq(ev.joins, 1);
	struct pg_rec_stats st;
	cr_assert_eq(pg_rec_reader_index(r, &st), 0);
	cr_assert_eq(st.end, PG_REC_CLEAN, "the recording did not end cleanly");
	cr_assert_geq(st.key_frames, 1);
	pg_rec_reader_del(r);
	free(last);
	free(now);
	cr_assert_eq(au_audit_verify(env.audit), 0);
}

Test(evidence, recording_over_its_limit_stops_and_the_session_goes_on)
{
	start("[policy]\nrecord = yes\n[recording]\nmax_file_size = 1\n");
	views[0] = log_in("alice", PW_ALICE);
	char line[4096];
	cr_assert(
	    au_audit_wait(env.audit, line, sizeof(line), WAIT_MS, "\"recording-start\"", NULL));
	/* Noise compresses badly: a megabyte is a few pictures. */
	for (int i = 0; i < 40 && !au_audit_count(env.audit, "\"recording-stopped\"", NULL); i++) {
		host_fill_pattern(host, 100 + (unsigned)i);
		it_sleep_ms(120);
	}
	cr_assert(
	    au_audit_wait(env.audit, line, sizeof(line), WAIT_MS, "\"recording-stopped\"", NULL),
	    "the recording never hit its limit");
	cr_assert(au_audit_wait(env.audit, line, sizeof(line), WAIT_MS, "\"recording-end\"",
				"max_file_size", NULL));
	host_change_region(host, 0, 0, 100, 100, 999);
	const char *why = au_viewer_wait_match(views[0], host, WAIT_MS);
	cr_assert_null(why, "the session did not go on: %s", why);
	char file[512];
	struct stat st;
	cr_assert(pu_field_str(line, "file", file, sizeof(file)));
	cr_assert_eq(stat(file, &st), 0);
	cr_assert_leq(st.st_size, 1 << 20, "the file grew past its limit: %lld",
		      (long long)st.st_size);
	cr_assert_eq(au_audit_count(env.audit, "\"recording-start\"", NULL), 1,
		     "a stopped recording was started again");
}
