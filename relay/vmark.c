/* The marks a viewer's pixels carry (docs/policy.md): the visible watermark of its
 * policy, naming the user, the address, the session and the time, and optionally an
 * invisible code that pixelgate-mark reads back from a screenshot. Both are drawn by
 * update.c into the viewer's own copy of each update, so no viewer can remove them
 * and each viewer's marks are its own.
 *
 * Rendering needs the relay's font, which belongs to the loop thread: it happens
 * here, at login, on reload and when the clock in the text turns a minute. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "relay/log.h"
#include "relay/relay.h"
#include "relay/viewer_impl.h"
#include "render/mark.h"
#include "render/watermark.h"

struct pg_vmark {
	struct pg_watermark wm; /* empty without a visible watermark */
	struct pg_wm_style st;
	char text[PG_WM_TEXT_MAX];
	bool invisible;
	uint32_t code;
	bool clock;	/* the text shows the time: rendered again each minute */
	int64_t minute; /* of the clock when rendered */
};

#define VMARK_RENDERS_PER_TICK 16 /* clock renders a second, over all viewers */

void pg_vmark_free(struct pg_viewer *v)
{
	if (!v->mark)
		return;
	pg_watermark_free(&v->mark->wm);
	free(v->mark);
	v->mark = NULL;
}

static void damage_all(struct pg_viewer *v)
{
	if (v->vw > 0 && v->vh > 0)
		pg_viewer_damage(v, &(struct pg_rect){0, 0, v->vw, v->vh}, 1);
}

int pg_vmark_refresh(struct pg_viewer *v, const char *session_id, char *why, size_t why_size)
{
	const struct pg_policy *p = v->policy;
	if (!p)
		return 0;
	if (!*p->watermark && !p->watermark_invisible) {
		if (v->mark) {
			pg_vmark_free(v);
			damage_all(v);
		}
		return 0;
	}
	struct pg_vmark *m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	time_t now = time(NULL);
	m->invisible = p->watermark_invisible;
	m->minute = (int64_t)now / 60;
	m->st = (struct pg_wm_style){.size_px = p->watermark_size,
				     .opacity_pct = p->watermark_opacity,
				     .angle_deg = p->watermark_angle,
				     .layout = p->watermark_layout,
				     .rgb = (uint32_t)p->watermark_color};
	if (*p->watermark) {
		struct pg_session_info info = {0};
		if (!session_id && v->session) {
			pg_session_info(v->session, &info);
			session_id = info.id;
		}
		struct pg_wm_vars vars = {.user = *v->user ? v->user : "-",
					  .addr = v->addr,
					  .session = session_id,
					  .host = v->relay->hostname,
					  .now = now};
		m->clock = pg_wm_template_uses_clock(p->watermark);
		if (pg_wm_expand(p->watermark, &vars, m->text, sizeof(m->text), why, why_size) < 0)
			goto fail;
	}
	struct pg_vmark *old = v->mark;
	if (old && old->invisible == m->invisible && !strcmp(old->text, m->text) &&
	    !memcmp(&old->st, &m->st, sizeof(m->st))) {
		old->minute = m->minute;
		free(m);
		return 0; /* nothing to see changed */
	}
	if (*m->text) {
		if (!v->relay->font) {
			snprintf(why, why_size, "no font ([relay] font)");
			goto fail;
		}
		if (pg_watermark_render(v->relay->font, m->text, &m->st, &m->wm, why, why_size) < 0)
			goto fail;
	}
	if (m->invisible) {
		/* One code per viewer for its life: viewer-join says which. */
		if (v->mark_code_set) {
			m->code = v->mark_code;
		} else {
			uint32_t c = 0;
			while (!c && getrandom(&c, sizeof(c), 0) != (ssize_t)sizeof(c))
				;
			v->mark_code = m->code = c ? c : 1;
			v->mark_code_set = true;
		}
	}
	pg_vmark_free(v);
	v->mark = m;
	damage_all(v);
	return 0;
fail:
	free(m);
	return -1;
}

void pg_vmark_moved(struct pg_viewer *v, const struct pg_rect *dst)
{
	v->mark_moved = v->mark_moved_pending ? pg_rect_union(v->mark_moved, *dst) : *dst;
	v->mark_moved_pending = true;
	v->mark_moved_ms = pg_now_ms();
}

/* Marks moved by copies go back in place once the copies have stopped. */
static void fix_moved(struct pg_viewer *v, uint64_t now)
{
	if (!v->mark_moved_pending || v->closing ||
	    now - v->mark_moved_ms < (uint64_t)v->relay->refine_delay_ms)
		return;
	v->mark_moved_pending = false;
	if (v->mark)
		pg_viewer_damage(v, &v->mark_moved, 1);
}

void pg_vmark_fix_moved(struct pg_relay *relay)
{
	uint64_t now = pg_now_ms();
	for (struct pg_viewer *v = relay->viewer_list; v; v = v->next)
		fix_moved(v, now);
}

/* Once a second: marks whose text shows the time follow the clock. A few each tick,
 * so a minute turning for a thousand viewers is spread over seconds. */
void pg_vmark_tick(struct pg_relay *relay)
{
	int budget = VMARK_RENDERS_PER_TICK;
	int64_t minute = (int64_t)time(NULL) / 60;
	char why[256];
	struct pg_viewer *next;
	for (struct pg_viewer *v = relay->viewer_list; v && budget > 0; v = next) {
		next = v->next;
		if (!v->mark || !v->mark->clock || v->mark->minute == minute || v->closing)
			continue;
		budget--;
		if (pg_vmark_refresh(v, NULL, why, sizeof(why)) < 0) {
			char reason[300];
			snprintf(reason, sizeof(reason), "cannot draw the watermark: %s", why);
			pg_viewer_close(v, reason);
		}
	}
}

bool pg_vmark_bounds(const struct pg_viewer *v, int w, int h, struct pg_rect *out)
{
	const struct pg_vmark *m = v->mark;
	if (!m)
		return false;
	if (m->invisible) {
		*out = (struct pg_rect){0, 0, w, h};
		return true;
	}
	*out = pg_watermark_bounds(&m->wm, w, h);
	return !pg_rect_empty(out);
}

bool pg_vmark_moves_badly(const struct pg_viewer *v)
{
	const struct pg_vmark *m = v->mark;
	return m && (m->invisible || (*m->text && m->wm.layout == PG_WM_TILE));
}

void pg_vmark_draw(const struct pg_viewer *v, struct pg_fb *fb, const struct pg_rect *clip)
{
	const struct pg_vmark *m = v->mark;
	if (!m)
		return;
	if (*m->text)
		pg_watermark_draw(fb, &m->wm, clip);
	if (m->invisible)
		pg_mark_draw(fb, m->code, clip);
}
