/* The policy, applied to one viewer (see docs/policy.md): who may have a session,
 * what the clipboard carries each way, how fast keys may come, and when a session
 * ends. Every decision is an audit event; clipboard text itself is written only when
 * [relay] audit_clipboard_text says so. Runs on the loop thread; the checks are
 * bounded (text at most PG_CHAN_CLIP_MAX bytes, PCRE2 with match limits). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "auth/audit.h"
#include "auth/users.h"
#include "codec/buf.h"
#include "codec/clipboard.h"
#include "codec/err.h"
#include "codec/rfb.h"
#include "codec/rfb_server.h"
#include "config/clipcheck.h"
#include "config/policy.h"
#include "relay/channel.h"
#include "relay/log.h"
#include "relay/metrics.h"
#include "relay/relay.h"
#include "relay/viewer_impl.h"
#include "render/text.h"

#define vlog(level, v, fmt, ...)                                                                   \
	pg_log(level, "viewer %llu %s %s: " fmt, (unsigned long long)(v)->id, (v)->peer,           \
	       *(v)->user ? (v)->user : "-", ##__VA_ARGS__)

/* Input that costs the relay work per message, without a policy key of its own:
 * generous for people, bounded for floods. Viewers send 60 to 125 pointer events a
 * second while the mouse moves, and a clipboard message or two per copy. */
#define POINTER_RATE  240
#define POINTER_BURST 240
#define CLIP_RATE     10
#define CLIP_BURST    20
#define PG_XSTR(x)    #x
#define PG_STR(x)     PG_XSTR(x)
#define RUN_GAP_MS    1000 /* a run of drops ends a second after its last drop */
#define ENC_AUDITS    4	   /* encodings-ignored records per viewer */

#define BANNER_IDLE   1
#define BANNER_MAX    2
#define BANNER_NOTICE 3
#define BANNER_DRAIN  4	   /* the relay is going away: stays to the end */
#define NOTICE_MS     4000 /* how long a refused transfer is shown */

static const char *const dir_name[] = {
    [PG_CLIP_TO_BROWSER] = "to-browser", [PG_CLIP_TO_VIEWER] = "to-viewer"};

static const char *user_or_dash(const struct pg_viewer *v)
{
	return *v->user ? v->user : "-";
}

static const char *browser_host(const struct pg_viewer *v)
{
	return v->session ? pg_session_label(v->session) : "";
}

/* ---- admission ---- */

static int resolve(struct pg_viewer *v)
{
	if (!v->policy) {
		v->policy = malloc(sizeof(*v->policy));
		if (!v->policy)
			return -1;
	}
	pg_policy_effective(v->relay->policy, *v->user ? v->groups : NULL, v->policy);
	return 0;
}

static int sessions_of(const struct pg_relay *relay, const struct pg_viewer *v)
{
	int n = 0;
	for (const struct pg_viewer *o = relay->viewer_list; o; o = o->next)
		n += o != v && !o->closing && o->session && !strcmp(o->user, v->user);
	return n;
}

static void audit_applied(struct pg_viewer *v, const char *reason, const char *previous)
{
	const struct pg_policy *p = v->policy;
	pg_audit(v->relay, "policy-applied", PG_AUDIT_S("user", user_or_dash(v)),
		 PG_AUDIT_S("source", v->addr), PG_AUDIT_S("policy", p->decided_by),
		 PG_AUDIT_S("clipboard_to_browser",
			    p->clipboard_to_browser == PG_POLICY_TEXT ? "text" : "deny"),
		 PG_AUDIT_S("clipboard_to_viewer",
			    p->clipboard_to_viewer == PG_POLICY_TEXT ? "text" : "deny"),
		 PG_AUDIT_B("view_only", p->view_only), PG_AUDIT_I("idle_timeout", p->idle_timeout),
		 PG_AUDIT_I("max_session", p->max_session), PG_AUDIT_S("reason", reason),
		 PG_AUDIT_S("previous", previous));
}

int pg_guard_admit(struct pg_viewer *v, const char **told, char *logged, size_t logged_size)
{
	struct pg_relay *relay = v->relay;
	if (resolve(v) < 0) {
		*told = "the relay is out of memory";
		snprintf(logged, logged_size, "out of memory");
		return -1;
	}
	const struct pg_policy *p = v->policy;
	const char *rule = NULL;
	if (!pg_policy_allows_address(p, (const struct sockaddr *)&v->sa)) {
		*told = "this network may not use the relay";
		rule = "allowed_networks";
	} else if (*v->user && !relay->takeover &&
		   sessions_of(relay, v) >= p->max_sessions_per_user) {
		*told = "too many sessions for this user";
		rule = "max_sessions_per_user";
	}
	if (rule) {
		snprintf(logged, logged_size, "%s (%s, %s)", *told, rule, p->decided_by);
		pg_audit(relay, "session-refused", PG_AUDIT_S("user", user_or_dash(v)),
			 PG_AUDIT_S("source", v->addr), PG_AUDIT_S("reason", *told),
			 PG_AUDIT_S("rule", rule), PG_AUDIT_S("policy", p->decided_by),
			 PG_AUDIT_I("max_sessions_per_user", p->max_sessions_per_user));
		return -1;
	}
	v->last_input_ms = pg_now_ms();
	if (!v->login_ms)
		v->login_ms = v->last_input_ms; /* security None: the session starts now */
	v->key_tokens = p->keys_burst;
	v->key_refill_ms = v->last_input_ms;
	audit_applied(v, "join", "");
	return 0;
}

/* ---- input ---- */

static bool view_only(struct pg_viewer *v, const char *what)
{
	if (!v->policy->view_only)
		return false;
	if (!v->input_blocked) {
		v->input_blocked = true;
		vlog(PG_LOG_INFO, v, "view-only: %s and all further input dropped", what);
		pg_audit(v->relay, "input-blocked", PG_AUDIT_S("user", user_or_dash(v)),
			 PG_AUDIT_S("source", v->addr), PG_AUDIT_S("browser_host", browser_host(v)),
			 PG_AUDIT_S("input", what), PG_AUDIT_S("rule", "view_only = yes"),
			 PG_AUDIT_S("policy", v->policy->decided_by));
	}
	return true;
}

/* Top the bucket up (full on first use). */
static void rate_refill(struct pg_rate *r, double rate, double burst, uint64_t now)
{
	if (!r->refill_ms)
		r->tokens = burst;
	else
		r->tokens += (double)(now - r->refill_ms) * rate / 1000.0;
	if (r->tokens > burst)
		r->tokens = burst;
	r->refill_ms = now;
}

/* 1: the event passes; 0: dropped; -1: dropped, the first of a run (log and audit it).
 * floor lets an event that should not be lost dip that far below zero. */
static int rate_take(struct pg_rate *r, double rate, double burst, double floor, uint64_t now)
{
	rate_refill(r, rate, burst, now);
	if (r->tokens >= 1.0 - floor) {
		r->tokens -= 1.0;
		if (r->limited && now - r->last_drop_ms >= RUN_GAP_MS)
			r->limited = false;
		return 1;
	}
	r->dropped++;
	r->last_drop_ms = now;
	if (r->limited)
		return 0;
	r->limited = true;
	return -1;
}

static void audit_limited(struct pg_viewer *v, const char *input, const char *rule,
			  uint64_t dropped)
{
	vlog(PG_LOG_WARN, v, "%s over the limit (%s)", input, rule);
	pg_audit(v->relay, "input-limited", PG_AUDIT_S("user", user_or_dash(v)),
		 PG_AUDIT_S("source", v->addr), PG_AUDIT_S("browser_host", browser_host(v)),
		 PG_AUDIT_S("rule", rule), PG_AUDIT_S("policy", "relay"),
		 PG_AUDIT_U("events_dropped_so_far", dropped), PG_AUDIT_S("input", input));
}

static bool take_held(struct pg_viewer *v, uint32_t keysym)
{
	for (int i = 0; i < PG_GUARD_HELD_KEYS; i++) {
		if (v->held[i] == keysym && keysym) {
			v->held[i] = 0;
			return true;
		}
	}
	return false;
}

static void hold(struct pg_viewer *v, uint32_t keysym)
{
	for (int i = 0; i < PG_GUARD_HELD_KEYS; i++) {
		if (!v->held[i] || v->held[i] == keysym) {
			v->held[i] = keysym;
			return;
		}
	}
	v->held[0] = keysym; /* forget the oldest slot; an extra key-up is harmless */
}

/* A token bucket: keys_per_second tokens a second, at most keys_burst. Only key-downs
 * spend one; the up of a dropped down is dropped too, any other up passes so no key
 * sticks on the browser host. */
static bool key_allowed(struct pg_viewer *v, bool down, uint32_t keysym)
{
	const struct pg_policy *p = v->policy;
	uint64_t now = pg_now_ms();
	v->key_tokens += (double)(now - v->key_refill_ms) * p->keys_per_second / 1000.0;
	if (v->key_tokens > p->keys_burst)
		v->key_tokens = p->keys_burst;
	v->key_refill_ms = now;
	if (!down)
		return !take_held(v, keysym);
	if (v->key_tokens >= 1.0) {
		v->key_tokens -= 1.0;
		/* The run ends only after a quiet second: under a sustained flood each
		 * refilled token would otherwise start a new run, and a new record. */
		if (now - v->key_last_drop_ms >= RUN_GAP_MS)
			v->keys_limited = false;
		return true;
	}
	hold(v, keysym);
	v->keys_dropped++;
	v->key_last_drop_ms = now;
	if (!v->keys_limited) {
		char rule[96];
		v->keys_limited = true;
		snprintf(rule, sizeof(rule), "keys_per_second = %d, keys_burst = %d",
			 p->keys_per_second, p->keys_burst);
		vlog(PG_LOG_WARN, v, "keystrokes over the limit (%s); dropping them", rule);
		pg_audit(v->relay, "input-limited", PG_AUDIT_S("user", user_or_dash(v)),
			 PG_AUDIT_S("source", v->addr), PG_AUDIT_S("browser_host", browser_host(v)),
			 PG_AUDIT_S("rule", rule), PG_AUDIT_S("policy", p->decided_by),
			 PG_AUDIT_U("keys_dropped_so_far", v->keys_dropped),
			 PG_AUDIT_S("input", "keyboard"));
	}
	return false;
}

static void drop_banner(struct pg_viewer *v);
static void notice_refusal(struct pg_viewer *v, enum pg_clip_dir dir, const char *rule);

static void activity(struct pg_viewer *v)
{
	v->last_input_ms = pg_now_ms();
	if (v->banner_kind == BANNER_IDLE)
		drop_banner(v); /* the idle warning goes with the first input */
}

void pg_guard_key(struct pg_viewer *v, bool down, uint32_t keysym, uint32_t keycode)
{
	/* A held key is known by its keycode when it has one (its keysym may be 0,
	 * and is not needed to match the up); keysyms stay below 1 << 30. */
	uint32_t id = keycode ? keycode | 0x80000000u : keysym;
	activity(v);
	if (view_only(v, "keyboard") || !key_allowed(v, down, id))
		return;
	pg_record_key(v, down, keysym, keycode);
	pg_session_key(v->session, down, keysym, keycode);
}

static void send_pointer(struct pg_viewer *v, uint8_t mask, int x, int y)
{
	v->ptr_pending = false;
	v->ptr_sent_mask = mask;
	pg_record_pointer(v, mask, x, y);
	pg_session_pointer(v->session, mask, x, y);
}

/* Pointer events over the bucket are coalesced, not queued: the newest waits and
 * goes with the next token, so a flood costs the browser host POINTER_RATE events a
 * second and the channel it shares with every viewer of the session stays free. A
 * button change may overdraw the bucket, so a click is not lost to mouse motion. */
void pg_guard_pointer(struct pg_viewer *v, uint8_t mask, int x, int y)
{
	activity(v);
	if (view_only(v, "pointer")) {
		v->pointer_dropped++;
		return;
	}
	bool change = mask != v->ptr_sent_mask;
	int rc = rate_take(&v->ptr_rate, POINTER_RATE, POINTER_BURST, change ? POINTER_BURST : 0,
			   pg_now_ms());
	if (rc > 0) {
		send_pointer(v, mask, x, y);
		return;
	}
	if (v->ptr_pending)
		v->pointer_dropped++; /* the one it replaces never goes */
	v->ptr_pending = true;
	v->ptr_mask = mask;
	v->ptr_x = (uint16_t)x;
	v->ptr_y = (uint16_t)y;
	if (rc < 0)
		audit_limited(v, "pointer",
			      "pointer events over " PG_STR(POINTER_RATE) " a second are coalesced",
			      v->ptr_rate.dropped);
}

void pg_guard_input_done(struct pg_viewer *v)
{
	if (!v->ptr_pending || v->closing || !v->policy)
		return;
	rate_refill(&v->ptr_rate, POINTER_RATE, POINTER_BURST, pg_now_ms());
	if (v->ptr_rate.tokens < 1.0)
		return;
	v->ptr_rate.tokens -= 1.0;
	send_pointer(v, v->ptr_mask, v->ptr_x, v->ptr_y);
}

/* ---- clipboard ---- */

static void audit_clip(struct pg_viewer *v, enum pg_clip_dir dir, const char *format,
		       const struct pg_clip_verdict *vd, const uint8_t *text, size_t len)
{
	char content[PG_AUDIT_MAX_VALUE];
	v->clip_count[dir][vd->allowed]++;
	pg_metrics_clipboard(v->relay->metrics, dir == PG_CLIP_TO_VIEWER, vd->allowed);
	content[0] = '\0';
	if (v->relay->audit_clipboard_text && vd->allowed && text) {
		/* The checked text, cut at a character boundary; the audit escapes it. */
		size_t n = len < sizeof(content) - 1 ? len : sizeof(content) - 1;
		while (n && n < len && (text[n] & 0xc0) == 0x80)
			n--;
		memcpy(content, text, n);
		content[n] = '\0';
	}
	vlog(PG_LOG_INFO, v, "clipboard %s %s: %zu bytes, %zu characters (%s)", dir_name[dir],
	     vd->allowed ? "allowed" : "denied", vd->bytes, vd->chars, vd->rule);
	if (!vd->allowed)
		notice_refusal(v, dir, vd->rule);
	pg_record_clipboard(v, dir_name[dir], vd->allowed, vd->rule, vd->bytes,
			    vd->allowed ? text : NULL, len);
	if (!v->relay->audit)
		return;
	const struct pg_audit_field f[] = {
	    PG_AUDIT_S("user", user_or_dash(v)),
	    PG_AUDIT_S("source", v->addr),
	    PG_AUDIT_S("browser_host", browser_host(v)),
	    PG_AUDIT_S("direction", dir_name[dir]),
	    PG_AUDIT_S("verdict", vd->allowed ? "allowed" : "denied"),
	    PG_AUDIT_S("format", format),
	    PG_AUDIT_U("bytes", vd->bytes),
	    PG_AUDIT_U("chars", vd->chars),
	    PG_AUDIT_U("stripped", vd->stripped),
	    PG_AUDIT_U("replaced", vd->replaced),
	    PG_AUDIT_S("rule", vd->rule),
	    PG_AUDIT_S("policy", v->policy->decided_by),
	    PG_AUDIT_S("text", content), /* last: left out unless enabled */
	};
	size_t n = sizeof(f) / sizeof(f[0]) - (*content ? 0 : 1);
	pg_relay_audit_result(pg_audit_event(v->relay->audit, "clipboard", f, n), "clipboard");
}

static void deny(struct pg_viewer *v, enum pg_clip_dir dir, const char *format, size_t bytes,
		 const char *rule)
{
	struct pg_clip_verdict vd = {.bytes = bytes};
	snprintf(vd.rule, sizeof(vd.rule), "%s", rule);
	audit_clip(v, dir, format, &vd, NULL, 0);
}

static void format_names(char *out, size_t size, uint32_t formats)
{
	static const char *const names[] = {"text", "rtf", "html", "dib", "files"};
	out[0] = '\0';
	for (unsigned i = 0; i < 16; i++) {
		if (!(formats & (1u << i)))
			continue;
		size_t o = strlen(out);
		if (i < 5)
			snprintf(out + o, size - o, "%s%s", o ? "," : "", names[i]);
		else
			snprintf(out + o, size - o, "%sformat-%u", o ? "," : "", i);
	}
}

static void formats_blocked(struct pg_viewer *v, enum pg_clip_dir dir, uint32_t formats)
{
	char names[128];
	format_names(names, sizeof(names), formats);
	vlog(PG_LOG_WARN, v, "clipboard %s: formats %s never cross; dropped", dir_name[dir], names);
	pg_audit(v->relay, "clipboard-format-blocked", PG_AUDIT_S("user", user_or_dash(v)),
		 PG_AUDIT_S("source", v->addr), PG_AUDIT_S("browser_host", browser_host(v)),
		 PG_AUDIT_S("direction", dir_name[dir]), PG_AUDIT_S("formats", names),
		 PG_AUDIT_S("rule", "only plain text crosses, always"));
}

/* The policy on one transfer: content, then (toward a legacy peer) whether Latin-1
 * holds it, then the interval. Returns 0 with the bytes to send in out (sanitized
 * UTF-8 with LF line ends, or Latin-1 when latin1), or -1; audited either way. */
static int check(struct pg_viewer *v, enum pg_clip_dir dir, const char *format, const uint8_t *text,
		 size_t len, bool latin1, uint8_t *out, size_t *out_len)
{
	static uint8_t checked[PG_CHAN_CLIP_MAX];
	struct pg_clip_verdict vd, more;
	uint64_t now = pg_now_ms();
	uint64_t since = v->clip_last_ms[dir] ? now - v->clip_last_ms[dir] : UINT64_MAX;
	int rc;
	if (len > PG_CHAN_CLIP_MAX) {
		memset(&vd, 0, sizeof(vd));
		vd.bytes = len;
		snprintf(vd.rule, sizeof(vd.rule), "larger than the relay carries (64 KiB)");
		rc = -1;
	} else {
		rc = pg_clip_check(v->policy, dir, text, len, checked, sizeof(checked), out_len,
				   &vd);
	}
	if (rc == 0 && latin1) {
		rc = pg_clip_to_latin1(v->policy, checked, *out_len, out, PG_CHAN_CLIP_MAX, out_len,
				       &more);
		vd.replaced = more.replaced;
		if (rc < 0)
			snprintf(vd.rule, sizeof(vd.rule), "%s", more.rule);
	} else if (rc == 0) {
		memcpy(out, checked, *out_len);
	}
	/* The content's rules first: a refused My Number is recorded as such even when it
	 * also came too soon. */
	if (rc == 0 && pg_clip_check_interval(v->policy, since, &more) < 0) {
		snprintf(vd.rule, sizeof(vd.rule), "%s", more.rule);
		rc = -1;
	}
	vd.allowed = rc == 0;
	if (rc < 0) {
		audit_clip(v, dir, format, &vd, NULL, 0);
		return -1;
	}
	v->clip_last_ms[dir] = now;
	audit_clip(v, dir, format, &vd, checked, *out_len);
	return 0;
}

/* Checked text toward the browser host: Extended Clipboard when the host speaks it,
 * else Latin-1 per clipboard_latin1. */
static void to_browser(struct pg_viewer *v, const char *format, const uint8_t *text, size_t len)
{
	static uint8_t out[PG_CHAN_CLIP_MAX];
	size_t n;
	bool ext = v->session && pg_session_host_ext_clipboard(v->session);
	if (check(v, PG_CLIP_TO_BROWSER, format, text, len, !ext, out, &n) < 0)
		return;
	if (!v->session ||
	    pg_session_clip_to_host(v->session, ext ? PG_CHAN_CLIP_UTF8 : PG_CHAN_CLIP_LATIN1, out,
				    n) < 0)
		vlog(PG_LOG_WARN, v, "clipboard to-browser: browser host not connected; dropped");
}

static int send_buf(struct pg_viewer *v, struct pg_buf *b, int rc)
{
	if (rc == 0)
		pg_viewer_send(v, b->data, b->len);
	pg_buf_free(b);
	return rc;
}

/* Extended Clipboard from the viewer. Returns 0, or -1 when it was cut off. */
static int ext_from_viewer(struct pg_viewer *v, const uint8_t *payload, size_t len)
{
	static uint8_t text[PG_CHAN_CLIP_MAX + 1];
	struct pg_xclip_msg m;
	const char *why = NULL;
	struct pg_buf b;
	int rc = pg_xclip_parse(payload, len, PG_CHAN_CLIP_MAX, &m, text, sizeof(text), &why);
	if (rc == PG_EUNSUP)
		return 0; /* reserved actions only: nothing to do */
	if (rc < 0) {
		char reason[200];
		snprintf(reason, sizeof(reason), "bad input: %s", why ? why : "Extended Clipboard");
		if (rc == PG_ELIMIT)
			deny(v, PG_CLIP_TO_BROWSER, "utf8", len,
			     "over the 64 KiB the relay announced; viewer cut off");
		pg_audit(v->relay, "message-blocked", PG_AUDIT_S("user", user_or_dash(v)),
			 PG_AUDIT_S("source", v->addr), PG_AUDIT_U("message_type", 6),
			 PG_AUDIT_S("message", "ClientCutText (Extended Clipboard)"),
			 PG_AUDIT_S("reason", reason));
		pg_viewer_close(v, reason);
		return -1;
	}
	if (m.dropped_formats)
		formats_blocked(v, PG_CLIP_TO_BROWSER, m.dropped_formats);
	pg_buf_init(&b, (size_t)PG_CHAN_CLIP_MAX * 2 + 256);
	switch (m.action) {
	case PG_XCLIP_A_CAPS:
		v->clip_caps_known = true;
		v->clip_actions = m.actions;
		v->clip_text_max = m.text_max;
		break;
	case PG_XCLIP_A_NOTIFY:
		if (!(m.formats & PG_XCLIP_TEXT))
			break;
		/* Ask for the text only when it may cross; a denial needs no content. */
		if (v->policy->clipboard_to_browser != PG_POLICY_TEXT)
			deny(v, PG_CLIP_TO_BROWSER, "utf8", 0, "clipboard_to_browser = deny");
		else
			send_buf(v, &b, pg_xclip_build_request(&b, true));
		break;
	case PG_XCLIP_A_REQUEST:
		if ((m.formats & PG_XCLIP_TEXT) && v->clip_pending) {
			static uint8_t crlf[PG_CHAN_CLIP_MAX * 2];
			size_t n = pg_xclip_lf_to_crlf(v->clip_pending, v->clip_pending_len, crlf);
			send_buf(v, &b, pg_xclip_build_provide(&b, true, crlf, n));
			free(v->clip_pending);
			v->clip_pending = NULL;
		}
		break;
	case PG_XCLIP_A_PEEK:
		send_buf(v, &b, pg_xclip_build_notify(&b, true, v->clip_pending != NULL));
		break;
	case PG_XCLIP_A_PROVIDE:
		if (m.formats & PG_XCLIP_TEXT) {
			size_t n = pg_xclip_crlf_to_lf(text, m.text_len, text);
			to_browser(v, "utf8", text, n);
		}
		break;
	}
	pg_buf_free(&b);
	return 0;
}

int pg_guard_cut_text(struct pg_viewer *v, const struct pg_cmsg *m)
{
	static uint8_t utf8[PG_CHAN_CLIP_MAX * 2];
	size_t n;
	/* Each message is a policy check, a log line, an audit record (with its
	 * fdatasync) and perhaps a banner: over the bucket they are dropped unread. */
	int rc = rate_take(&v->clip_rate, CLIP_RATE, CLIP_BURST, 0, pg_now_ms());
	if (rc < 0)
		audit_limited(v, "clipboard",
			      "clipboard messages over " PG_STR(CLIP_RATE) " a second are dropped",
			      v->clip_rate.dropped);
	if (rc <= 0)
		return 0;
	if (m->cut.extended)
		return ext_from_viewer(v, m->cut.text, m->cut.len);
	if (m->cut.len > PG_CHAN_CLIP_MAX) {
		deny(v, PG_CLIP_TO_BROWSER, "latin1", m->cut.len,
		     "larger than the relay carries (64 KiB)");
		return 0;
	}
	pg_clip_from_latin1(m->cut.text, m->cut.len, utf8, sizeof(utf8), &n);
	to_browser(v, "latin1", utf8, n);
	return 0;
}

void pg_guard_ext_clipboard(struct pg_viewer *v)
{
	v->has_ext_clip = true;
	if (v->clip_caps_sent)
		return;
	struct pg_buf b;
	pg_buf_init(&b, 256);
	/* Text only, whatever the policy says now: a reload may allow it later, and a
	 * denied transfer is audited either way. */
	if (send_buf(v, &b, pg_xclip_build_caps(&b, true, PG_XCLIP_ACTIONS, PG_CHAN_CLIP_MAX)) == 0)
		v->clip_caps_sent = true;
}

void pg_guard_clip_from_host(struct pg_viewer *v, const uint8_t *utf8, size_t len,
			     const char *format)
{
	static uint8_t checked[PG_CHAN_CLIP_MAX], out[PG_CHAN_CLIP_MAX * 2];
	size_t n;
	struct pg_buf b;
	if (v->state != V_NORMAL || v->closing || !v->policy)
		return;
	bool ext = v->has_ext_clip && v->clip_caps_known;
	if (check(v, PG_CLIP_TO_VIEWER, format, utf8, len, !ext, checked, &n) < 0)
		return;
	pg_buf_init(&b, (size_t)PG_CHAN_CLIP_MAX * 2 + 256);
	if (!ext) {
		send_buf(v, &b, pg_xclip_build_legacy(&b, true, checked, n));
		return;
	}
	free(v->clip_pending);
	v->clip_pending = NULL;
	if ((v->clip_actions & PG_XCLIP_PROVIDE) && v->clip_text_max >= n + 1) {
		size_t w = pg_xclip_lf_to_crlf(checked, n, out);
		send_buf(v, &b, pg_xclip_build_provide(&b, true, out, w));
	} else if ((v->clip_actions & PG_XCLIP_NOTIFY) && (v->clip_pending = malloc(n + 1))) {
		memcpy(v->clip_pending, checked, n);
		v->clip_pending_len = n;
		send_buf(v, &b, pg_xclip_build_notify(&b, true, true));
	}
	pg_buf_free(&b);
}

void pg_guard_clip_host_dropped(struct pg_viewer *v, const char *why, uint32_t bytes,
				uint32_t formats)
{
	if (v->state != V_NORMAL || v->closing || !v->policy)
		return;
	if (formats & ~PG_XCLIP_TEXT)
		formats_blocked(v, PG_CLIP_TO_VIEWER, formats & ~PG_XCLIP_TEXT);
	else
		deny(v, PG_CLIP_TO_VIEWER, "utf8", bytes, why);
}

/* ---- what a viewer may not ask for ---- */

const char *pg_guard_message_name(uint8_t type)
{
	switch (type) {
	case PG_RFB_SET_PIXEL_FORMAT:
		return "SetPixelFormat";
	case PG_RFB_SET_ENCODINGS:
		return "SetEncodings";
	case PG_RFB_FB_UPDATE_REQUEST:
		return "FramebufferUpdateRequest";
	case PG_RFB_KEY_EVENT:
		return "KeyEvent";
	case PG_RFB_POINTER_EVENT:
		return "PointerEvent";
	case PG_RFB_CLIENT_CUT_TEXT:
		return "ClientCutText";
	case PG_RFB_SET_DESKTOP_SIZE:
		return "SetDesktopSize";
	case 7:
		return "UltraVNC FileTransfer";
	case 8:
		return "UltraVNC SetScale";
	case 9:
		return "UltraVNC SetServerInput";
	case 10:
		return "UltraVNC SetSingleWindow";
	case 11:
		return "UltraVNC TextChat";
	case 15:
		return "PalmVNC SetScaleFactor";
	case 130:
	case 131:
	case 132:
	case 133:
	case 134:
	case 135:
	case 136:
		return "TightVNC file transfer";
	case 150:
		return "EnableContinuousUpdates";
	case 248:
		return "ClientFence";
	case 250:
		return "xvp";
	case 252:
		return "TightVNC extension (file transfer)";
	case 253:
		return "gii";
	case 254:
	case 127:
		return "VMware";
	case 255:
		return "QEMU client message";
	default:
		return "unknown message type";
	}
}

void pg_guard_unknown_encodings(struct pg_viewer *v, const int32_t *list, int n)
{
	char names[PG_AUDIT_MAX_VALUE];
	/* A viewer that keeps changing the set would otherwise write a record (and an
	 * fdatasync) and a log line per SetEncodings. */
	if (v->unknown_enc_audits > ENC_AUDITS)
		return;
	if (++v->unknown_enc_audits > ENC_AUDITS) {
		vlog(PG_LOG_WARN, v,
		     "changed its unknown encodings %d times; not audited for it any more",
		     ENC_AUDITS);
		return;
	}
	names[0] = '\0';
	for (int i = 0; i < n; i++) {
		size_t o = strlen(names);
		if (o + 14 >= sizeof(names))
			break;
		snprintf(names + o, sizeof(names) - o, "%s%d", o ? "," : "", list[i]);
	}
	vlog(PG_LOG_DEBUG, v, "%d encodings pixelgate does not offer, ignored: %s", n, names);
	pg_audit(v->relay, "encodings-ignored", PG_AUDIT_S("user", user_or_dash(v)),
		 PG_AUDIT_S("source", v->addr), PG_AUDIT_I("count", n),
		 PG_AUDIT_S("encodings", names),
		 PG_AUDIT_S("rule", "only pixel encodings and harmless pseudo-encodings are used"));
}

/* ---- session limits and their warning ---- */

void pg_banner_unref(struct pg_banner *b)
{
	if (b && --b->refs == 0) {
		pg_overlay_free(b->ov);
		free(b->ov);
		free(b);
	}
}

/* Swap the viewer's banner for b (NULL: none), then redraw where either sits: the
 * update that follows is encoded with the new one only. */
static void set_banner(struct pg_viewer *v, struct pg_banner *b)
{
	struct pg_banner *old = v->banner;
	struct pg_rect r[2];
	int n = 0;
	v->banner = b;
	if (old)
		r[n++] = (struct pg_rect){old->x, old->y, old->ov->w, old->ov->h};
	if (b)
		r[n++] = (struct pg_rect){b->x, b->y, b->ov->w, b->ov->h};
	if (n)
		pg_viewer_damage(v, r, n);
	pg_banner_unref(old);
}

static void drop_banner(struct pg_viewer *v)
{
	if (v->banner)
		set_banner(v, NULL);
	v->banner_kind = 0;
	v->banner_secs = 0;
}

/* Put text in a banner at the top of the viewer's picture (kind: BANNER_*), red for
 * the end of a session, grey for a notice. Without a font: the log and the bell. */
static void banner_text(struct pg_viewer *v, int kind, const char *text)
{
	struct pg_banner *b = calloc(1, sizeof(*b));
	char err[256];
	if (!b || !(b->ov = calloc(1, sizeof(*b->ov))))
		goto fail;
	int w = v->vw > 0 ? v->vw : 640;
	uint32_t bg = kind == BANNER_NOTICE ? 0x303030 : 0xb00020;
	if (!v->relay->font || pg_overlay_banner(v->relay->font, text, w >= 900 ? 22 : 16, 0xffffff,
						 bg, 230, w, b->ov, err, sizeof(err)) < 0)
		goto fail;
	b->refs = 1;
	b->x = (w - b->ov->w) / 2 > 0 ? (w - b->ov->w) / 2 : 0;
	b->y = 8; /* clear of the top edge, where viewers put their own bars */
	v->banner_kind = kind;
	set_banner(v, b);
	return;
fail:
	if (b)
		free(b->ov);
	free(b);
	if (v->banner_kind != kind) {
		/* Still tell once, in the log and with the bell, without a picture. */
		vlog(PG_LOG_WARN, v, "cannot draw the banner (%s): %s",
		     v->relay->font ? "render" : "no font", text);
		pg_viewer_bell(v);
		v->banner_kind = kind;
	}
}

static void show_countdown(struct pg_viewer *v, int kind, int secs)
{
	char text[512];
	if (v->banner_kind == kind && v->banner_secs == secs)
		return;
	if (kind == BANNER_IDLE)
		snprintf(
		    text, sizeof(text),
		    "操作がないため、あと %d 秒でセッションを終了します。\n"
		    "No input: this session ends in %d s. Move the mouse or press a key to stay.",
		    secs, secs);
	else
		snprintf(text, sizeof(text),
			 "利用時間の上限のため、あと %d 秒でセッションを終了します。\n"
			 "Maximum session time: this session ends in %d s. Save your work.",
			 secs, secs);
	banner_text(v, kind, text);
	v->banner_secs = secs;
}

/* Why a transfer was refused, for the user (the audit keeps the exact rule). */
static const char *refusal_ja(const char *rule)
{
	static const struct {
		const char *prefix, *ja;
	} map[] = {
	    {"clipboard_to_browser = deny", "ブラウザへの貼り付けは許可されていません"},
	    {"clipboard_to_viewer = deny", "ブラウザからのコピーは許可されていません"},
	    {"detector mynumber", "マイナンバーを含むため"},
	    {"detector corporate_number", "法人番号を含むため"},
	    {"detector credit_card", "クレジットカード番号を含むため"},
	    {"deny_pattern", "禁止された語句を含むため"},
	    {"pattern match limit", "禁止された語句を含むため"},
	    {"clipboard_max", "文字数が上限を超えているため"},
	    {"larger than", "文字数が上限を超えているため"},
	    {"clipboard_min_interval_ms", "間隔が短すぎるため"},
	    {"clipboard_latin1", "相手が日本語を扱えないため"},
	    {"invalid UTF-8", "文字コードが不正なため"},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strncmp(rule, map[i].prefix, strlen(map[i].prefix)))
			return map[i].ja;
	return "セキュリティポリシーによる";
}

/* A refused transfer, shown for NOTICE_MS unless a session-end warning is up. */
static void notice_refusal(struct pg_viewer *v, enum pg_clip_dir dir, const char *rule)
{
	char text[512];
	if (v->banner_kind == BANNER_IDLE || v->banner_kind == BANNER_MAX ||
	    v->banner_kind == BANNER_DRAIN)
		return;
	snprintf(text, sizeof(text),
		 "クリップボード%s: 転送しませんでした（%s）\n"
		 "Clipboard %s: not transferred (security policy: %s)",
		 dir == PG_CLIP_TO_BROWSER ? "（リモートへ）" : "（リモートから）",
		 refusal_ja(rule), dir == PG_CLIP_TO_BROWSER ? "to the remote browser" : "from it",
		 rule);
	banner_text(v, BANNER_NOTICE, text);
	v->notice_until_ms = pg_now_ms() + NOTICE_MS;
}

void pg_guard_drain(struct pg_relay *relay, const char *text)
{
	struct pg_viewer *next;
	for (struct pg_viewer *v = relay->viewer_list; v; v = next) {
		next = v->next;
		if (v->closing)
			continue;
		if (v->state != V_NORMAL || !v->policy) {
			pg_viewer_close(v, "relay is restarting");
			continue;
		}
		/* A notice that outlasts any session-end countdown: nothing after it
		 * matters more than the relay going away. */
		banner_text(v, BANNER_NOTICE, text);
		v->banner_kind = BANNER_DRAIN;
		v->notice_until_ms = UINT64_MAX;
	}
}

static void check_limits(struct pg_viewer *v, uint64_t now)
{
	const struct pg_policy *p = v->policy;
	uint64_t idle_end = v->last_input_ms + (uint64_t)p->idle_timeout * 1000;
	uint64_t max_end = v->login_ms + (uint64_t)p->max_session * 1000;
	bool idle_first = idle_end <= max_end;
	uint64_t end = idle_first ? idle_end : max_end;
	if (now >= end) {
		char reason[400];
		snprintf(reason, sizeof(reason), "%s (%s = %ds, %s)",
			 idle_first ? "idle too long" : "maximum session time reached",
			 idle_first ? "idle_timeout" : "max_session",
			 idle_first ? p->idle_timeout : p->max_session, p->decided_by);
		pg_audit(v->relay, "session-limit", PG_AUDIT_S("user", user_or_dash(v)),
			 PG_AUDIT_S("source", v->addr), PG_AUDIT_S("browser_host", browser_host(v)),
			 PG_AUDIT_S("rule", idle_first ? "idle_timeout" : "max_session"),
			 PG_AUDIT_I("seconds", idle_first ? p->idle_timeout : p->max_session),
			 PG_AUDIT_S("policy", p->decided_by));
		pg_viewer_close(v, reason);
		return;
	}
	if (v->banner_kind == BANNER_DRAIN)
		return;
	uint64_t left = (end - now + 999) / 1000;
	if (left <= (uint64_t)p->warn_before)
		show_countdown(v, idle_first ? BANNER_IDLE : BANNER_MAX, (int)left);
	else if (v->banner_kind != BANNER_NOTICE || now >= v->notice_until_ms)
		drop_banner(v);
}

void pg_guard_tick(struct pg_relay *relay)
{
	uint64_t now = pg_now_ms();
	struct pg_viewer *next;
	for (struct pg_viewer *v = relay->viewer_list; v; v = next) {
		next = v->next; /* v may close, and leave the list */
		if (v->state == V_NORMAL && !v->closing && v->policy) {
			/* A coalesced pointer event whose flood ended waits no longer. */
			pg_guard_input_done(v);
			check_limits(v, now);
		}
	}
	pg_vmark_tick(relay);
	pg_viewer_check_stalled(relay);
}

/* Users whose account went away lose their session; the others take their new
 * groups (users file) before the policy is resolved again. */
void pg_guard_refresh_users(struct pg_relay *relay)
{
	struct pg_viewer *next;
	for (struct pg_viewer *v = relay->viewer_list; v; v = next) {
		next = v->next;
		if (!*v->user || v->closing || !strcmp(v->user, relay->vnc_auth_user))
			continue;
		const struct pg_user *u =
		    relay->users ? pg_users_lookup(relay->users, v->user) : NULL;
		if (u) {
			snprintf(v->groups, sizeof(v->groups), "%s", pg_users_groups(u));
		} else if (!relay->ldap || !v->ldap_login) {
			pg_audit(relay, "session-limit", PG_AUDIT_S("user", v->user),
				 PG_AUDIT_S("source", v->addr),
				 PG_AUDIT_S("rule", "user removed from the users file"));
			pg_viewer_close(v, "user removed from the users file (reload)");
		}
	}
}

void pg_guard_reload(struct pg_relay *relay)
{
	struct pg_viewer *next;
	for (struct pg_viewer *v = relay->viewer_list; v; v = next) {
		next = v->next;
		if (!v->policy || v->closing)
			continue;
		char before[sizeof(v->policy->decided_by)];
		snprintf(before, sizeof(before), "%s", v->policy->decided_by);
		if (resolve(v) < 0) {
			pg_viewer_close(v, "out of memory applying the new policy");
			continue;
		}
		if (v->key_tokens > v->policy->keys_burst)
			v->key_tokens = v->policy->keys_burst;
		audit_applied(v, "reload", before);
		char why[256];
		if (pg_vmark_refresh(v, NULL, why, sizeof(why)) < 0) {
			char reason[300];
			snprintf(reason, sizeof(reason), "cannot draw the watermark: %s", why);
			pg_viewer_close(v, reason);
			continue;
		}
		if (!pg_policy_allows_address(v->policy, (const struct sockaddr *)&v->sa)) {
			pg_audit(relay, "session-limit", PG_AUDIT_S("user", user_or_dash(v)),
				 PG_AUDIT_S("source", v->addr),
				 PG_AUDIT_S("rule", "allowed_networks"),
				 PG_AUDIT_S("policy", v->policy->decided_by));
			pg_viewer_close(v, "this network is no longer allowed (reload)");
		}
	}
	pg_guard_tick(relay);
}

void pg_guard_leave(struct pg_viewer *v)
{
	if (v->policy && v->state == V_NORMAL)
		pg_audit(v->relay, "policy-summary", PG_AUDIT_S("user", user_or_dash(v)),
			 PG_AUDIT_S("source", v->addr),
			 PG_AUDIT_U("clipboard_to_browser_allowed", v->clip_count[0][1]),
			 PG_AUDIT_U("clipboard_to_browser_denied", v->clip_count[0][0]),
			 PG_AUDIT_U("clipboard_to_viewer_allowed", v->clip_count[1][1]),
			 PG_AUDIT_U("clipboard_to_viewer_denied", v->clip_count[1][0]),
			 PG_AUDIT_U("keys_dropped", v->keys_dropped),
			 PG_AUDIT_U("pointer_dropped", v->pointer_dropped));
	free(v->clip_pending);
	v->clip_pending = NULL;
	pg_banner_unref(v->banner);
	v->banner = NULL;
	pg_vmark_free(v);
	free(v->policy);
	v->policy = NULL;
}
