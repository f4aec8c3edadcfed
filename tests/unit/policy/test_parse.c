/* [policy] and [policy GROUP]: defaults, every value form, and that each bad line is
 * an error naming file:line, the section, the key, the value and what was expected. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_util.h"

static struct pg_config c;
static struct pg_config_errors e;

static void fini(void)
{
	pg_config_free(&c);
}

TestSuite(policy_parse, .fini = fini);

/* Load text that must fail; the one error must name the file and line. */
static void expect_error(const char *text, int line, const char *needle)
{
	char where[96];
	memset(&e, 0, sizeof(e));
	cr_assert_eq(pol_load(&c, &e, text), -1, "accepted: %s", text);
	snprintf(where, sizeof(where), "%s:%d: ", pol_path, line);
	cr_assert(pol_has_error(&e, where), "no '%s' in: %s", where, e.msg[0]);
	cr_assert(pol_has_error(&e, needle), "no '%s' in: %s", needle, e.msg[0]);
	pg_config_free(&c);
}

Test(policy_parse, defaults_without_any_section)
{
	struct pg_policy p;
	pg_config_init(&c);
	pg_policy_effective(&c.policy, "anyone", &p);
	cr_assert_eq(p.clipboard_to_browser, PG_POLICY_DENY);
	cr_assert_eq(p.clipboard_to_viewer, PG_POLICY_DENY);
	cr_assert_eq(p.clipboard_max_bytes, 4096);
	cr_assert_eq(p.clipboard_max_chars, 4096);
	cr_assert_eq(p.clipboard_min_interval_ms, 1000);
	cr_assert_eq(p.clipboard_latin1, PG_POLICY_DROP);
	cr_assert_eq(p.view_only, 0);
	cr_assert_eq(p.keys_per_second, 20);
	cr_assert_eq(p.keys_burst, 40);
	cr_assert_eq(p.idle_timeout, 15 * 60);
	cr_assert_eq(p.max_session, 8 * 3600);
	cr_assert_eq(p.warn_before, 60);
	cr_assert_eq(p.max_sessions_per_user, 3);
	cr_assert_eq(p.detect, PG_POLICY_DETECT_ALL);
	cr_assert_eq(p.npatterns, 0);
	cr_assert(p.any_network);
	cr_assert_str_eq(p.decided_by, "policy");
}

Test(policy_parse, reads_every_key)
{
	struct pg_policy p;
	pol_resolve(&c,
		    "[policy]\nclipboard_to_browser = text\nclipboard_to_viewer = text\n"
		    "clipboard_max_bytes = 100\nclipboard_max_chars = 50\n"
		    "clipboard_min_interval_ms = 0\nclipboard_latin1 = replace\nview_only = yes\n"
		    "keys_per_second = 5\nkeys_burst = 10\nidle_timeout = 30s\nmax_session = 2h\n"
		    "warn_before = 5s\nmax_sessions_per_user = 1\ndetect = mynumber, credit_card\n"
		    "deny_pattern = secret\nallowed_networks = 10.0.0.0/8, 2001:db8::/32\n",
		    NULL, &p);
	cr_assert_eq(p.clipboard_to_browser, PG_POLICY_TEXT);
	cr_assert_eq(p.clipboard_to_viewer, PG_POLICY_TEXT);
	cr_assert_eq(p.clipboard_max_bytes, 100);
	cr_assert_eq(p.clipboard_max_chars, 50);
	cr_assert_eq(p.clipboard_min_interval_ms, 0);
	cr_assert_eq(p.clipboard_latin1, PG_POLICY_REPLACE);
	cr_assert_eq(p.view_only, 1);
	cr_assert_eq(p.keys_per_second, 5);
	cr_assert_eq(p.keys_burst, 10);
	cr_assert_eq(p.idle_timeout, 30);
	cr_assert_eq(p.max_session, 7200);
	cr_assert_eq(p.warn_before, 5);
	cr_assert_eq(p.max_sessions_per_user, 1);
	cr_assert_eq(p.detect, PG_POLICY_DETECT_MYNUMBER | PG_POLICY_DETECT_CREDIT_CARD);
	cr_assert_eq(p.npatterns, 1);
	cr_assert_str_eq(p.patterns[0]->source, "secret");
	cr_assert_eq(p.patterns[0]->number, 1);
	cr_assert_not(p.any_network);
	cr_assert_eq(p.nnets, 2);
	cr_assert_eq(p.nets[0].family, 4);
	cr_assert_eq(p.nets[0].prefix, 8);
	cr_assert_eq(p.nets[1].family, 6);
	cr_assert_eq(p.nets[1].prefix, 32);
}

Test(policy_parse, durations)
{
	long s;
	cr_assert_eq(pg_policy_parse_duration("30s", &s), 0);
	cr_assert_eq(s, 30);
	cr_assert_eq(pg_policy_parse_duration("15m", &s), 0);
	cr_assert_eq(s, 900);
	cr_assert_eq(pg_policy_parse_duration("8h", &s), 0);
	cr_assert_eq(s, 28800);
	cr_assert_eq(pg_policy_parse_duration("45", &s), 0);
	cr_assert_eq(s, 45);
	const char *bad[] = {"", "m", "-5s", "5x", "5mm", "1.5h", " 5s", "5 s"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(pg_policy_parse_duration(bad[i], &s), -1, "'%s'", bad[i]);
}

Test(policy_parse, bad_enum_value)
{
	expect_error("[policy]\n\nclipboard_to_browser = allow\n", 3,
		     "[policy] clipboard_to_browser = 'allow': not valid (expected deny or text)");
}

Test(policy_parse, bad_bool_and_latin1)
{
	expect_error("[policy staff]\nview_only = 1\n", 2, "(expected yes or no)");
	expect_error("[policy]\nclipboard_latin1 = mangle\n", 2, "(expected drop or replace)");
}

Test(policy_parse, number_out_of_range)
{
	expect_error("[policy]\nclipboard_max_bytes = 0\n", 2,
		     "[policy] clipboard_max_bytes = '0' is out of range (expected 1..65536)");
	expect_error("[policy]\nkeys_per_second = many\n", 2, "(expected a whole number)");
}

Test(policy_parse, bad_duration)
{
	expect_error("[policy]\nidle_timeout = 15 minutes\n", 2,
		     "idle_timeout = '15 minutes': not valid (expected a duration like 30s");
	expect_error("[policy]\nmax_session = 0s\n", 2, "is out of range (expected 1s..604800s");
}

Test(policy_parse, unknown_key_lists_known_keys)
{
	expect_error("[policy kokuho]\nclipboard = text\n", 2,
		     "unknown key 'clipboard' in [policy kokuho] (known keys: merge deny_pattern");
}

Test(policy_parse, bad_group_name)
{
	expect_error("[policy bad/name]\nview_only = yes\n", 2,
		     "[policy bad/name]: expected [policy] or [policy GROUP]");
}

Test(policy_parse, key_given_twice)
{
	expect_error("[policy]\nview_only = yes\nview_only = no\n", 3,
		     "[policy] view_only is given twice in this section");
}

Test(policy_parse, merge_only_in_default_section)
{
	expect_error("[policy staff]\nmerge = first\n", 2, "only [policy] may say how groups");
	expect_error("[policy]\nmerge = loosest\n", 2, "expected restrictive or first");
}

Test(policy_parse, bad_detector)
{
	expect_error("[policy]\ndetect = mynumber,iban\n", 2,
		     "detect = 'mynumber,iban': unknown detector 'iban'");
	struct pg_policy p;
	pol_resolve(&c, "[policy]\ndetect = none\n", NULL, &p);
	cr_assert_eq(p.detect, 0);
}

Test(policy_parse, bad_networks)
{
	expect_error("[policy]\nallowed_networks = 10.0.0.0/33\n", 2,
		     "'10.0.0.0/33' is not an address or CIDR");
	expect_error("[policy]\nallowed_networks = 10.0.0.1/8\n", 2,
		     "'10.0.0.1/8' has host bits set");
	expect_error("[policy]\nallowed_networks = , ,\n", 2, "'' is not an address");
	expect_error("[policy]\nallowed_networks = lgwan\n", 2, "(expected any, or");
}

Test(policy_parse, pattern_compile_error_names_pattern_and_pcre2_message)
{
	expect_error("[policy]\ndeny_pattern = ok\n\ndeny_pattern = (unclosed\n", 4,
		     "[policy] deny_pattern = '(unclosed': missing closing parenthesis at offset "
		     "9 (expected a PCRE2 regular expression)");
}

Test(policy_parse, pattern_not_utf8)
{
	expect_error("[policy]\ndeny_pattern = \xff\xfe\n", 2, "not valid UTF-8");
}

Test(policy_parse, every_bad_line_reported_at_once)
{
	memset(&e, 0, sizeof(e));
	cr_assert_eq(pol_load(&c, &e,
			      "[policy]\nview_only = maybe\n[policy a]\nkeys_burst = -1\n"
			      "deny_pattern = [\n"),
		     -1);
	cr_assert_eq(e.count, 3);
}

Test(policy_parse, check_burst_below_rate)
{
	memset(&e, 0, sizeof(e));
	cr_assert_eq(pol_load(&c, &e, "[policy fast]\nkeys_per_second = 100\n"), 0);
	cr_assert_eq(pg_policy_check(&c.policy, &e), -1);
	cr_assert(pol_has_error(&e, "[policy fast] keys_burst = 40 is below keys_per_second = 100"),
		  "%s", e.msg[0]);
}

Test(policy_parse, full_width_pattern_is_normalised)
{
	struct pg_policy p;
	struct pg_clip_verdict v;
	pol_resolve(&c, "[policy]\nclipboard_to_browser = text\ndeny_pattern = ＳＥＣＲＥＴ\n",
		    NULL, &p);
	cr_assert_eq(pol_check(&p, PG_CLIP_TO_BROWSER, "top SECRET file", &v), -1);
	cr_assert_str_eq(v.rule, "deny_pattern #1");
}

Test(policy_parse, print_shows_each_group)
{
	char *buf = NULL;
	size_t size = 0;
	struct pg_policy p;
	pol_resolve(&c,
		    "[policy]\ndeny_pattern = secret\n[policy kokuho]\nclipboard_to_viewer = text\n"
		    "allowed_networks = 10.1.0.0/16\n",
		    NULL, &p);
	FILE *f = open_memstream(&buf, &size);
	pg_policy_print(&c.policy, f);
	fclose(f);
	cr_assert(strstr(buf, "; users in no group with a [policy GROUP] section (from policy)"),
		  "%s", buf);
	cr_assert(strstr(buf, "; members of group kokuho (from policy kokuho)\n"
			      "clipboard_to_browser = deny\nclipboard_to_viewer = text\n"),
		  "%s", buf);
	cr_assert(strstr(buf, "idle_timeout = 15m\nmax_session = 8h\nwarn_before = 1m\n"), "%s",
		  buf);
	cr_assert(strstr(buf, "deny_pattern = secret ; #1\nallowed_networks = 10.1.0.0/16\n"), "%s",
		  buf);
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &size);
	pg_config_print(&c, f);
	fclose(f);
	cr_assert(strstr(buf, "[policy kokuho]\n; clipboard from the browser to the LGWAN viewer: "
			      "deny or text\nclipboard_to_viewer = text\n"
			      "allowed_networks = 10.1.0.0/16\n"),
		  "%s", buf);
	free(buf);
}
