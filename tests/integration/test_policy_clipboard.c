/* The clipboard rules of [policy], enforced by the running relay: legacy cut text
 * (Latin-1) both ways between a libvncclient viewer and a libvncserver browser host,
 * allowed or denied by clipboard_to_browser / clipboard_to_viewer; the detectors
 * (My Number, corporate number, credit card), deny patterns, clipboard_max_bytes and
 * clipboard_min_interval_ms toward the browser; clipboard_latin1 for legacy viewers;
 * the Extended Clipboard spoken by a raw viewer (codec/clipboard.h): UTF-8 text to the
 * browser only after the relay asks for it, full-width digits caught after NFKC,
 * Japanese text through both ways, other formats blocked. Each decision is checked in
 * the audit trail, and clipboard text never appears there unless
 * [relay] audit_clipboard_text = 1 (and then only allowed text).
 *
 * Barriers: clipboard text and input from one viewer cross in order, so a key sent
 * after the text is at the host only once the text would be; the host's clipboard and
 * its pictures reach the relay in order, so a picture change after the text is at the
 * viewer only once the text would be. Loopback only; every wait is bounded. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth_util.h"
#include "codec/clipboard.h"
#include "harness_util.h"
#include "policy_util.h"

#define W	320
#define H	240
#define WAIT_MS 10000

/* 住民票の写し (a copy of the residence certificate): 6 characters, 18 bytes. */
#define JUMINHYO "\xe4\xbd\x8f\xe6\xb0\x91\xe7\xa5\xa8\xe3\x81\xae\xe5\x86\x99\xe3\x81\x97"
/* １２３４５６７８９０１８: a valid My Number in full-width digits, 36 bytes. */
#define FULLWIDTH_MYNUMBER                                                                         \
	"\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94\xef\xbc\x95\xef\xbc\x96"                 \
	"\xef\xbc\x97\xef\xbc\x98\xef\xbc\x99\xef\xbc\x90\xef\xbc\x91\xef\xbc\x98"

static struct au_env env;
static struct it_host *host;
static struct it_relay *relay;
static struct it_viewer *viewer;
static int xfd = -1;
static unsigned seed = 1;
static int barrier_keys;
static int nclip; /* clipboard records checked so far */

static void teardown(void)
{
	if (xfd >= 0)
		close(xfd);
	xfd = -1;
	viewer_stop(viewer);
	viewer = NULL;
	relay_stop(relay);
	relay = NULL;
	host_free(host);
	host = NULL;
	au_env_free(&env);
	barrier_keys = 0;
	nclip = 0;
}

TestSuite(policy_clipboard, .fini = teardown, .timeout = 40);

static void check(const char *err, const char *what)
{
	if (err)
		relay_dump_log(relay, 6000);
	cr_assert_null(err, "%s: %s", what, err);
}

/* Host (with the Extended Clipboard for its own text when ext), config with these
 * [relay] keys and [policy] lines, relay. */
static void start_ext(const char *relay_extra, const char *policy, bool ext)
{
	char sections[4096];

	if (it_direct_mode())
		cr_skip_test("the policy is the relay's: nothing to test with PG_IT_DIRECT=1");
	cr_assert(au_env_init(&env, false), "cannot make the scratch folder");
	host = host_start(W, H, &(struct it_host_opts){.ext_clipboard = ext});
	cr_assert_not_null(host, "host did not start");
	snprintf(sections, sizeof(sections), "[policy]\n%s", policy);
	cr_assert(pu_write_config(&env, host_port(host), relay_extra, sections));
	relay = pu_relay_start(&env, host_port(host));
	cr_assert_not_null(relay, "relay did not start with the policy config");
}

static void start(const char *policy)
{
	start_ext(NULL, policy, false);
}

/* The relay's worker and the host have agreed on the Extended Clipboard (libvncserver
 * offers it to every client that lists it, and the relay's worker does), and the
 * relay knows: clipboard text to the browser goes as UTF-8 from now on. */
static void wait_host_xclip(void)
{
	int64_t deadline = it_now_ms() + WAIT_MS;

	while (!host_client_ext_clipboard(host) && it_now_ms() < deadline)
		it_sleep_ms(10);
	cr_assert(host_client_ext_clipboard(host),
		  "the relay did not negotiate the Extended Clipboard with the host");
	if (!relay_log_wait(relay, "browser host clipboard: Extended Clipboard", WAIT_MS))
		relay_dump_log(relay, 4000);
	cr_assert(relay_log_contains(relay, "browser host clipboard: Extended Clipboard"));
}

/* A libvncclient viewer whose received bytes are recorded. */
static struct it_viewer *must_view(void)
{
	static const struct it_viewer_opts o = {
	    .bpp = 32, .encodings = "raw", .compress = -1, .record = true};
	struct it_viewer *v = viewer_start(relay_port(relay), &o);

	if (!v)
		relay_dump_log(relay, 4000);
	cr_assert_not_null(v, "viewer did not connect");
	check(viewer_wait_match(v, host, 15000, 0), "first picture");
	wait_host_xclip();
	return v;
}

/* The host's connection from the relay broke (the host reset it). */
static void host_link_intact(void)
{
	if (relay_log_contains(relay, "upstream worker (pid")) {
		relay_dump_log(relay, 3000);
		cr_assert_fail(
		    "the browser host dropped the relay's connection (see the log above): "
		    "text the policy allowed never arrived");
	}
}

/* Everything the viewer (the libvncclient one, or the raw one when fd >= 0) sent
 * before now has been decided at the relay and, if let through, delivered. */
static void barrier_on(int fd)
{
	int64_t deadline = it_now_ms() + WAIT_MS;
	bool down = (barrier_keys & 1) == 0;

	if (fd >= 0) {
		/* KeyEvent: Shift down or up. */
		uint8_t m[8] = {4, down, 0, 0, 0, 0, 0xff, 0xe1};

		cr_assert_eq(raw_client_send(fd, m, sizeof(m)), 0, "send failed");
	} else {
		cr_assert(viewer_send_key(viewer, 0xffe1, down), "send failed");
	}
	barrier_keys++;
	while (host_key_count(host) < barrier_keys && it_now_ms() < deadline) {
		host_link_intact();
		it_sleep_ms(10);
	}
	if (host_key_count(host) < barrier_keys)
		relay_dump_log(relay, 4000);
	cr_assert_eq(host_key_count(host), barrier_keys, "the barrier key did not reach the host");
}

static void viewer_barrier(void)
{
	barrier_on(-1);
}

/* Everything the host sent before now has reached the viewer. */
static void host_barrier(void)
{
	host_change_region(host, 0, 0, 40, 30, ++seed);
	check(viewer_wait_match(viewer, host, WAIT_MS, 0), "picture after the host's clipboard");
}

/* What a clipboard record must say; NULL or -1: not checked. */
struct want {
	const char *direction, *verdict, *format, *rule;
	long long bytes, chars, replaced;
};

static void want_str(const char *line, const char *key, const char *want)
{
	char got[512];

	if (!want)
		return;
	cr_assert(pu_field_str(line, key, got, sizeof(got)), "no %s in %s", key, line);
	cr_assert_str_eq(got, want, "clipboard record: %s is \"%s\", expected \"%s\": %s", key, got,
			 want, line);
}

static void want_int(const char *line, const char *key, long long want)
{
	long long got;

	if (want < 0)
		return;
	cr_assert(pu_field_int(line, key, &got), "no %s in %s", key, line);
	cr_assert_eq(got, want, "clipboard record: %s is %lld, expected %lld: %s", key, got, want,
		     line);
}

/* The next clipboard record in the audit trail (one per transfer and viewer). */
static void expect_clip(const struct want *w, char *line, size_t size)
{
	if (!pu_audit_nth(env.audit, "clipboard", nclip, line, size, WAIT_MS)) {
		relay_dump_log(relay, 4000);
		cr_assert_fail("no clipboard record #%d (%s, %s, %s)", nclip + 1, w->direction,
			       w->verdict, w->rule ? w->rule : "");
	}
	nclip++;
	want_str(line, "user", "-");
	want_str(line, "source", "127.0.0.1");
	want_str(line, "policy", "policy");
	cr_assert(strstr(line, "\"browser_host\":\"127.0.0.1:"), "no browser_host: %s", line);
	want_str(line, "direction", w->direction);
	want_str(line, "verdict", w->verdict);
	want_str(line, "format", w->format);
	want_str(line, "rule", w->rule);
	want_int(line, "bytes", w->bytes);
	want_int(line, "chars", w->chars);
	want_int(line, "replaced", w->replaced);
}

/* The text crossed to the host, whole. */
static void host_has(const char *text)
{
	char got[4096];
	bool utf8;

	cr_assert(host_wait_cut_text(host, 1, WAIT_MS), "no clipboard text reached the host");
	cr_assert(host_last_cut_text(host, got, sizeof(got), NULL, &utf8));
	cr_assert_str_eq(got, text, "the host got \"%s\" (%s), not \"%s\"", got,
			 utf8 ? "UTF-8" : "Latin-1", text);
}

static void not_in_audit(const char *text)
{
	cr_assert_eq(au_audit_count(env.audit, text, NULL), 0,
		     "clipboard text \"%s\" is in the audit trail", text);
}

Test(policy_clipboard, both_directions_denied_by_default)
{
	static const char to_viewer[] = "PG-HOST-CLIP-must-not-cross";
	static const char to_browser[] = "PG-VIEWER-CLIP-must-not-cross";
	char line[2048];

	start("");
	viewer = must_view();
	host_send_cut_text(host, to_viewer, strlen(to_viewer));
	expect_clip(&(struct want){"to-viewer", "denied", "latin1", "clipboard_to_viewer = deny",
				   (long long)strlen(to_viewer), -1, -1},
		    line, sizeof(line));
	host_barrier();
	cr_assert_eq(viewer_cut_count(viewer), 0, "the viewer got cut text");
	cr_assert_not(viewer_received_contains(viewer, to_viewer, strlen(to_viewer)),
		      "the host's clipboard bytes reached the viewer");

	cr_assert(viewer_send_cut_text(viewer, to_browser, strlen(to_browser)));
	viewer_barrier();
	expect_clip(&(struct want){"to-browser", "denied", "latin1", "clipboard_to_browser = deny",
				   (long long)strlen(to_browser), -1, -1},
		    line, sizeof(line));
	cr_assert_eq(host_cut_text_count(host), 0, "the viewer's clipboard reached the host");
	not_in_audit(to_viewer);
	not_in_audit(to_browser);
	cr_assert(!relay_log_contains(relay, to_viewer) && !relay_log_contains(relay, to_browser),
		  "clipboard text is in the relay's log");
}

Test(policy_clipboard, to_viewer_text_legacy)
{
	/* Latin-1 on both legacy ends: é is one byte on the wire, two in UTF-8. */
	static const char text[] = "caf\xe9 from the web side";
	char line[2048], got[256];

	start("clipboard_to_viewer = text\nclipboard_min_interval_ms = 0\n");
	viewer = must_view();
	host_send_cut_text(host, text, strlen(text));
	cr_assert(viewer_wait_cut_text(viewer, 1, WAIT_MS), "the viewer got no cut text");
	cr_assert(viewer_last_cut_text(viewer, got, sizeof(got), NULL));
	cr_assert_str_eq(got, text, "the viewer got \"%s\"", got);
	/* The other direction keeps its default, deny. */
	cr_assert(viewer_send_cut_text(viewer, "back out", 8));
	viewer_barrier();
	cr_assert_eq(host_cut_text_count(host), 0);
	not_in_audit("from the web side");
	cr_assert_eq(au_audit_count(env.audit, "\"text\":", NULL), 0);
	expect_clip(&(struct want){"to-viewer", "allowed", "latin1", "clipboard_to_viewer = text",
				   (long long)strlen(text) + 1, (long long)strlen(text), 0},
		    line, sizeof(line));
	expect_clip(&(struct want){"to-browser", "denied", "latin1", "clipboard_to_browser = deny",
				   8, -1, -1},
		    line, sizeof(line));
}

Test(policy_clipboard, to_browser_text_legacy_viewer)
{
	static const char text[] = "search: city hall opening hours";
	char line[2048];

	start("clipboard_to_browser = text\nclipboard_min_interval_ms = 0\n");
	viewer = must_view();
	cr_assert(viewer_send_cut_text(viewer, text, strlen(text)));
	viewer_barrier();
	host_has(text);
	cr_assert_eq(host_cut_text_count(host), 1);
	not_in_audit("opening hours");
	cr_assert(viewer_connected(viewer));
	expect_clip(&(struct want){"to-browser", "allowed", "latin1", "clipboard_to_browser = text",
				   (long long)strlen(text), (long long)strlen(text), 0},
		    line, sizeof(line));
}

/* One transfer toward the browser that the policy must refuse for rule. */
static void refused(const char *text, const char *rule, long long chars)
{
	char line[2048];
	int before = host_cut_text_count(host);

	cr_assert(viewer_send_cut_text(viewer, text, strlen(text)));
	viewer_barrier();
	cr_assert_eq(host_cut_text_count(host), before, "\"%s\" reached the host", text);
	expect_clip(&(struct want){"to-browser", "denied", "latin1", rule, (long long)strlen(text),
				   chars, -1},
		    line, sizeof(line));
	not_in_audit(text);
}

/* One transfer toward the browser that must arrive. */
static void allowed(const char *text)
{
	int before = host_cut_text_count(host);
	char line[2048];

	cr_assert(viewer_send_cut_text(viewer, text, strlen(text)));
	viewer_barrier();
	cr_assert(host_wait_cut_text(host, before + 1, WAIT_MS), "\"%s\" did not reach the host",
		  text);
	host_has(text);
	expect_clip(&(struct want){"to-browser", "allowed", "latin1", "clipboard_to_browser = text",
				   (long long)strlen(text), (long long)strlen(text), 0},
		    line, sizeof(line));
	not_in_audit(text);
}

Test(policy_clipboard, detectors_refuse_numbers)
{
	start("clipboard_to_browser = text\nclipboard_min_interval_ms = 0\n");
	viewer = must_view();
	refused("123456789018", "detector mynumber", 12);
	refused("my number: 1234 5678 9018, thanks", "detector mynumber", -1);
	refused("7000012050002", "detector corporate_number", 13);
	refused("card 4111 1111 1111 1111 exp 12/30", "detector credit_card", -1);
	cr_assert_eq(host_cut_text_count(host), 0, "a refused number reached the host");
	/* A wrong check digit is no My Number. */
	allowed("123456789012");
	cr_assert_eq(host_cut_text_count(host), 1);
}

Test(policy_clipboard, deny_patterns_and_max_bytes)
{
	start("clipboard_to_browser = text\nclipboard_min_interval_ms = 0\n"
	      "clipboard_max_bytes = 20\n"
	      "deny_pattern = (?i)confidential\n"
	      "deny_pattern = (?i)top\\s*secret\n");
	viewer = must_view();
	refused("CONFIDENTIAL memo", "deny_pattern #1", -1);
	refused("top  Secret plan", "deny_pattern #2", -1);
	refused("twenty-one bytes long", "clipboard_max_bytes 20", -1);
	cr_assert_eq(host_cut_text_count(host), 0);
	allowed("twenty bytes exactly");
}

Test(policy_clipboard, min_interval_between_transfers)
{
	start("clipboard_to_browser = text\nclipboard_min_interval_ms = 1000\n");
	viewer = must_view();
	allowed("first transfer");
	refused("second too soon", "clipboard_min_interval_ms 1000", 15);
	it_sleep_ms(1100);
	allowed("third after a second");
	cr_assert_eq(host_cut_text_count(host), 2);
}

Test(policy_clipboard, audit_clipboard_text_records_allowed_text_only)
{
	char line[2048], text[256];

	start_ext("audit_clipboard_text = 1\n",
		  "clipboard_to_browser = text\nclipboard_min_interval_ms = 0\n", false);
	viewer = must_view();
	refused("123456789018", "detector mynumber", 12);
	cr_assert_eq(au_audit_count(env.audit, "\"text\":", NULL), 0,
		     "denied clipboard text was written to the audit trail");
	cr_assert(viewer_send_cut_text(viewer, "visible to the auditor", 22));
	viewer_barrier();
	expect_clip(&(struct want){"to-browser", "allowed", "latin1", NULL, 22, 22, -1}, line,
		    sizeof(line));
	cr_assert(pu_field_str(line, "text", text, sizeof(text)), "no text field: %s", line);
	cr_assert_str_eq(text, "visible to the auditor");
	cr_assert_eq(au_audit_count(env.audit, "\"text\":", NULL), 1);
}

/* ---- legacy viewers and text Latin-1 cannot hold ---- */

/* A legacy viewer takes Latin-1 only: the record must describe what the viewer got,
 * so text clipboard_latin1 = drop refuses is recorded as denied (not allowed, as when
 * the relay audited before converting), and the characters replace changed are
 * counted. */
Test(policy_clipboard, latin1_drop_refuses_japanese_to_a_legacy_viewer)
{
	char line[2048];

	start_ext(NULL, "clipboard_to_viewer = text\nclipboard_min_interval_ms = 0\n", true);
	viewer = must_view();
	host_send_cut_text(host, JUMINHYO, strlen(JUMINHYO));
	host_barrier();
	cr_assert_eq(viewer_cut_count(viewer), 0, "the legacy viewer got cut text");
	not_in_audit(JUMINHYO);
	/* The viewer got nothing: the record must say so, and why. */
	expect_clip(&(struct want){"to-viewer", "denied", "utf8",
				   "clipboard_latin1 = drop (U+4F4F has no Latin-1 form)", 18, -1,
				   -1},
		    line, sizeof(line));
}

Test(policy_clipboard, latin1_replace_to_a_legacy_viewer)
{
	char line[2048], got[64];

	start_ext(NULL,
		  "clipboard_to_viewer = text\nclipboard_min_interval_ms = 0\n"
		  "clipboard_latin1 = replace\n",
		  true);
	viewer = must_view();
	host_send_cut_text(host, "caf\xc3\xa9 " JUMINHYO, 6 + strlen(JUMINHYO));
	cr_assert(viewer_wait_cut_text(viewer, 1, WAIT_MS), "the legacy viewer got no cut text");
	cr_assert(viewer_last_cut_text(viewer, got, sizeof(got), NULL));
	cr_assert_str_eq(got, "caf\xe9 ??????", "the legacy viewer got \"%s\"", got);
	expect_clip(&(struct want){"to-viewer", "allowed", "utf8", NULL, 24, 11, 6}, line,
		    sizeof(line));
}

/* ---- the Extended Clipboard, spoken by a raw viewer ---- */

/* A raw viewer (the only one) that has the relay's caps and has sent its own. */
static void xclip_start(void)
{
	struct pg_xclip_msg m;
	char text[64];
	int rc;

	xfd = pu_xclip_viewer(relay_port(relay));
	if (xfd < 0)
		relay_dump_log(relay, 4000);
	cr_assert(xfd >= 0, "raw Extended Clipboard viewer: handshake failed");
	rc = pu_xclip_read(xfd, WAIT_MS, &m, text, sizeof(text));
	cr_assert_eq(rc, 1, "the relay sent no Extended Clipboard caps (%d)", rc);
	cr_assert_eq(m.action, PG_XCLIP_A_CAPS, "first Extended Clipboard message: action %d",
		     m.action);
	cr_assert_eq(m.formats, PG_XCLIP_TEXT, "the relay offers formats 0x%x, not text only",
		     m.formats);
	cr_assert(m.actions & PG_XCLIP_REQUEST);
	cr_assert_eq(pu_xclip_send_caps(xfd, 65536), 0);
	cr_assert_eq(pu_xclip_sync(xfd, WAIT_MS), 0, "no notify in answer to a peek");
	wait_host_xclip();
}

/* Notify; the relay must ask (request) or, when may_ask is false, stay silent. */
static void xclip_offer(bool may_ask)
{
	struct pg_xclip_msg m;
	char text[64];
	int rc;

	cr_assert_eq(pu_xclip_send_notify(xfd), 0);
	rc = pu_xclip_read(xfd, may_ask ? WAIT_MS : 800, &m, text, sizeof(text));
	if (!may_ask) {
		cr_assert_eq(rc, 0,
			     "the relay answered a notify it must not ask for (%d, action %d)", rc,
			     m.action);
		return;
	}
	cr_assert_eq(rc, 1, "no answer to the notify (%d)", rc);
	cr_assert_eq(m.action, PG_XCLIP_A_REQUEST, "answer to notify: action %d", m.action);
	cr_assert(m.formats & PG_XCLIP_TEXT);
}

Test(policy_clipboard, xclip_to_browser_japanese_passes_fullwidth_mynumber_does_not)
{
	char line[2048];

	start("clipboard_to_browser = text\nclipboard_min_interval_ms = 0\n");
	xclip_start();
	xclip_offer(true);
	cr_assert_eq(pu_xclip_send_provide(xfd, FULLWIDTH_MYNUMBER), 0);
	barrier_on(xfd);
	cr_assert_eq(host_cut_text_count(host), 0, "full-width My Number digits reached the host");
	expect_clip(&(struct want){"to-browser", "denied", "utf8", "detector mynumber", 36, 12, -1},
		    line, sizeof(line));

	xclip_offer(true);
	cr_assert_eq(pu_xclip_send_provide(xfd, JUMINHYO), 0);
	barrier_on(xfd);
	host_has(JUMINHYO);
	expect_clip(&(struct want){"to-browser", "allowed", "utf8", "clipboard_to_browser = text",
				   18, 6, 0},
		    line, sizeof(line));
	not_in_audit(JUMINHYO);
	not_in_audit(FULLWIDTH_MYNUMBER);
	cr_assert(raw_client_open_still(xfd), "the relay closed the Extended Clipboard viewer");
}

Test(policy_clipboard, xclip_to_browser_denied_is_never_requested)
{
	char line[2048];

	start("");
	xclip_start();
	xclip_offer(false);
	expect_clip(&(struct want){"to-browser", "denied", "utf8", "clipboard_to_browser = deny", 0,
				   -1, -1},
		    line, sizeof(line));
	/* Text pushed without a request is judged and refused all the same. */
	cr_assert_eq(pu_xclip_send_provide(xfd, "pushed without a request"), 0);
	barrier_on(xfd);
	cr_assert_eq(host_cut_text_count(host), 0, "denied text reached the host");
	expect_clip(&(struct want){"to-browser", "denied", "utf8", "clipboard_to_browser = deny",
				   24, -1, -1},
		    line, sizeof(line));
	not_in_audit("pushed without a request");
}

Test(policy_clipboard, xclip_to_viewer_japanese)
{
	struct pg_xclip_msg m;
	char text[256], line[2048];
	int rc;

	start_ext(NULL, "clipboard_to_viewer = text\nclipboard_min_interval_ms = 0\n", true);
	xclip_start();
	host_send_cut_text(host, JUMINHYO "\n2", strlen(JUMINHYO) + 2);
	rc = pu_xclip_read(xfd, WAIT_MS, &m, text, sizeof(text));
	cr_assert_eq(rc, 1, "the Extended Clipboard viewer got no clipboard message (%d)", rc);
	cr_assert_eq(m.action, PG_XCLIP_A_PROVIDE, "action %d, not provide", m.action);
	cr_assert_str_eq(text, JUMINHYO "\r\n2", "the viewer got \"%s\"", text);
	expect_clip(
	    &(struct want){"to-viewer", "allowed", "utf8", "clipboard_to_viewer = text", 20, 8, 0},
	    line, sizeof(line));
	not_in_audit(JUMINHYO);
}

Test(policy_clipboard, xclip_other_formats_are_blocked)
{
	/* ClientCutText, length -4: notify with text, RTF and HTML. */
	static const uint8_t notify[] = {6, 0, 0, 0, 0xff, 0xff, 0xff, 0xfc, 0x08, 0, 0, 0x07};
	char line[2048], formats[64];

	start("clipboard_to_browser = text\nclipboard_min_interval_ms = 0\n");
	xclip_start();
	cr_assert_eq(raw_client_send(xfd, notify, sizeof(notify)), 0);
	if (!pu_audit_nth(env.audit, "clipboard-format-blocked", 0, line, sizeof(line), WAIT_MS))
		relay_dump_log(relay, 4000);
	cr_assert(pu_audit_nth(env.audit, "clipboard-format-blocked", 0, line, sizeof(line), 0),
		  "no clipboard-format-blocked record");
	cr_assert(pu_field_str(line, "formats", formats, sizeof(formats)));
	cr_assert_str_eq(formats, "rtf,html", "%s", line);
	cr_assert(strstr(line, "\"direction\":\"to-browser\""), "%s", line);
	/* The text in the same notify is still asked for: only the rest is blocked. */
	{
		struct pg_xclip_msg m;
		char text[16];

		cr_assert_eq(pu_xclip_read(xfd, WAIT_MS, &m, text, sizeof(text)), 1);
		cr_assert_eq(m.action, PG_XCLIP_A_REQUEST);
		cr_assert_eq(m.formats, PG_XCLIP_TEXT, "the relay asked for formats 0x%x",
			     m.formats);
	}
	cr_assert(raw_client_open_still(xfd));
}
