/* pg_clip_check: direction, limits, UTF-8, stripping, detectors on the NFKC form, deny
 * patterns with their match limit, the interval and the Latin-1 helpers. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy_util.h"

static struct pg_config c;
static struct pg_policy p;
static struct pg_clip_verdict v;

static void fini(void)
{
	pg_config_free(&c);
}

TestSuite(clip, .fini = fini);

static const char open_cfg[] = "[policy]\nclipboard_to_browser = text\nclipboard_to_viewer = "
			       "text\nclipboard_min_interval_ms = 500\n";

static void open_policy(const char *extra)
{
	char text[2048];
	snprintf(text, sizeof(text), "%s%s", open_cfg, extra);
	pol_resolve(&c, text, NULL, &p);
}

/* Check text to the browser; on success compare the output with want. */
static int to_browser(const char *text, const char *want)
{
	size_t len = strlen(text), out_len = 0;
	uint8_t *out = malloc(len + 1);
	int rc = pg_clip_check(&p, PG_CLIP_TO_BROWSER, (const uint8_t *)text, len, out, len,
			       &out_len, &v);
	if (rc == 0 && want) {
		cr_assert_eq(out_len, strlen(want), "'%.*s'", (int)out_len, out);
		cr_assert_eq(memcmp(out, want, out_len), 0, "'%.*s'", (int)out_len, out);
	}
	cr_assert_eq(v.allowed, rc == 0);
	free(out);
	return rc;
}

static void denied_by(const char *text, const char *rule)
{
	cr_assert_eq(to_browser(text, NULL), -1, "allowed: %s", text);
	cr_assert_str_eq(v.rule, rule, "%s", text);
}

static void allowed(const char *text)
{
	cr_assert_eq(to_browser(text, NULL), 0, "%s: denied by %s", text, v.rule);
}

Test(clip, japanese_text_crosses_only_when_text)
{
	const char *jp = "住民票の写し";
	pol_resolve(&c, "[policy]\n", NULL, &p);
	cr_assert_eq(pol_check(&p, PG_CLIP_TO_VIEWER, jp, &v), -1);
	cr_assert_str_eq(v.rule, "clipboard_to_viewer = deny");
	cr_assert_eq(pol_check(&p, PG_CLIP_TO_BROWSER, jp, &v), -1);
	cr_assert_str_eq(v.rule, "clipboard_to_browser = deny");
	pg_config_free(&c);
	open_policy("");
	cr_assert_eq(pol_check(&p, PG_CLIP_TO_VIEWER, jp, &v), 0);
	cr_assert_str_eq(v.rule, "clipboard_to_viewer = text");
	cr_assert_eq(v.bytes, 18);
	cr_assert_eq(v.chars, 6);
	cr_assert_eq(to_browser(jp, jp), 0);
}

Test(clip, byte_limit_denies_whole_transfer)
{
	open_policy("clipboard_max_bytes = 10\n");
	allowed("0123456789");
	denied_by("0123456789A", "clipboard_max_bytes 10");
	cr_assert_eq(v.bytes, 11);
}

Test(clip, char_limit_counts_characters_not_bytes)
{
	open_policy("clipboard_max_chars = 3\n");
	allowed("住民票");
	denied_by("住民票の", "clipboard_max_chars 3");
	cr_assert_eq(v.chars, 4);
}

Test(clip, invalid_utf8_refused)
{
	open_policy("");
	const char *bad[] = {"\xff",	     "a\xc3",	     "\xc0\xaf",
			     "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
			     "\x80",	     "\xe4\xbd"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		denied_by(bad[i], "invalid UTF-8");
	/* to the viewer too: no content rules, but UTF-8 is checked */
	cr_assert_eq(pol_check(&p, PG_CLIP_TO_VIEWER, "\xff", &v), -1);
	cr_assert_str_eq(v.rule, "invalid UTF-8");
}

Test(clip, controls_stripped_tab_lf_kept_crlf_folded)
{
	open_policy("");
	cr_assert_eq(to_browser("a\tb\r\nc\rd\x01\x1b[31me\x7f\xc2\x85\xc2\x9f"
				"f\n",
				"a\tb\nc\nd[31mef\n"),
		     0);
	cr_assert_eq(v.stripped, 5);
}

Test(clip, bidi_controls_stripped)
{
	open_policy("");
	cr_assert_eq(to_browser("x\u202Eabc\u202Cy\u2066z\u2069\u200E\u200F\u061C!", "xabcyz!"), 0);
	cr_assert_eq(v.stripped, 7);
}

Test(clip, output_is_original_not_nfkc)
{
	open_policy("");
	cr_assert_eq(to_browser("ＡＢＣ１２３ｶﾀｶﾅ", "ＡＢＣ１２３ｶﾀｶﾅ"), 0);
}

Test(clip, mynumber_detected)
{
	open_policy("");
	denied_by("123456789018", "detector mynumber");
	denied_by("My Number: 1234 5678 9018.", "detector mynumber");
	denied_by("1234-5678-9018", "detector mynumber");
	denied_by("１２３４５６７８９０１８", "detector mynumber");	/* full width */
	denied_by("１２３４－５６７８－９０１８", "detector mynumber"); /* full-width hyphens */
	denied_by("1234\u30005678\u30009018", "detector mynumber");	/* ideographic space */
	denied_by("1234\u200B5678\u200B9018", "detector mynumber");	/* zero-width space */
	denied_by("No. 987654321093", "detector mynumber");
	denied_by("番号123456789018です", "detector mynumber");
	denied_by("tel 03-1234 1234 5678 9018", "detector mynumber"); /* hidden in a sequence */
}

Test(clip, mynumber_invalid_or_longer_runs_pass)
{
	open_policy("");
	allowed("123456789012");	     /* wrong check digit */
	allowed("１２３４５６７８９０１２"); /* same, full width */
	allowed("1234567890180");	     /* 13-digit run holding a valid 12 */
	allowed("0123456789018");	     /* valid 12 at the end of a 13-digit run */
	allowed("12345678901800000");
	allowed("12 3456 789018"); /* not grouped 4-4-4 */
	allowed("1234.5678.9018"); /* dots are not separators */
}

Test(clip, mynumber_only_when_enabled)
{
	open_policy("detect = credit_card\n");
	allowed("123456789018");
	pg_config_free(&c);
	open_policy("detect = none\n");
	allowed("123456789018");
	allowed("4111 1111 1111 1111");
}

Test(clip, corporate_number_detected)
{
	open_policy("");
	denied_by("7000012050002", "detector corporate_number"); /* the National Tax Agency */
	denied_by("法人番号 7-0000-1205-0002", "detector corporate_number");
	denied_by("７００００１２０５０００２", "detector corporate_number");
}

Test(clip, corporate_number_wrong_check_digit_passes)
{
	open_policy("detect = corporate_number\n");
	allowed("6000012050002");
	allowed("70000120500021");
}

Test(clip, credit_cards_detected)
{
	open_policy("");
	denied_by("4111 1111 1111 1111", "detector credit_card"); /* also holds a My Number */
	denied_by("4111111111111111", "detector credit_card");
	denied_by("5555-5555-5555-4444", "detector credit_card");
	denied_by("3782 822463 10005", "detector credit_card"); /* Amex 4-6-5 */
	denied_by("3530111333300000", "detector credit_card");	/* JCB */
	denied_by("４１１１１１１１１１１１１１１１", "detector credit_card");
}

Test(clip, credit_card_failing_luhn_or_unknown_prefix_passes)
{
	open_policy("detect = credit_card\n");
	allowed("4111 1111 1111 1112");
	allowed("9111111111111111111");	 /* no such issuer, Luhn aside */
	allowed("41111111111111111111"); /* 20 digits */
}

Test(clip, deny_patterns_numbered_and_matched_after_nfkc)
{
	open_policy("deny_pattern = 秘密\ndeny_pattern = (?i)confidential\n"
		    "deny_pattern = 住民票コード\\s*\\d{11}\n");
	allowed("ordinary text");
	denied_by("極秘密文書", "deny_pattern #1");
	denied_by("ＣＯＮＦＩＤＥＮＴＩＡＬ", "deny_pattern #2");
	denied_by("住民票ｺｰﾄﾞ １２３４５６７８９０１", "deny_pattern #3");
}

Test(clip, patterns_and_detectors_only_to_browser)
{
	open_policy("deny_pattern = secret\n");
	cr_assert_eq(pol_check(&p, PG_CLIP_TO_VIEWER, "secret 123456789018", &v), 0);
}

Test(clip, catastrophic_pattern_hits_the_match_limit, .timeout = 20)
{
	char *text = malloc(5000);
	memset(text, 'a', 4000);
	strcpy(text + 4000, "!");
	open_policy("deny_pattern = ^(a+)+$\n");
	time_t start = time(NULL);
	cr_assert_eq(to_browser(text, NULL), -1);
	cr_assert_str_eq(v.rule, "pattern match limit (deny_pattern #1)");
	cr_assert_lt(time(NULL) - start, 10);
	free(text);
}

Test(clip, empty_text_allowed)
{
	size_t out_len = 1;
	uint8_t out[1];
	open_policy("deny_pattern = ^$\n");
	cr_assert_eq(pg_clip_check(&p, PG_CLIP_TO_VIEWER, NULL, 0, out, 0, &out_len, &v), 0);
	cr_assert_eq(out_len, 0);
	/* an empty transfer to the browser still meets the patterns */
	cr_assert_eq(
	    pg_clip_check(&p, PG_CLIP_TO_BROWSER, (const uint8_t *)"", 0, out, 0, &out_len, &v),
	    -1);
}

Test(clip, interval)
{
	open_policy("");
	cr_assert_eq(pg_clip_check_interval(&p, UINT64_MAX, &v), 0);
	cr_assert_eq(pg_clip_check_interval(&p, 500, &v), 0);
	cr_assert_eq(pg_clip_check_interval(&p, 499, &v), -1);
	cr_assert_str_eq(v.rule, "clipboard_min_interval_ms 500");
}

Test(clip, latin1_in)
{
	uint8_t out[16];
	size_t n;
	cr_assert_eq(pg_clip_from_latin1((const uint8_t *)"caf\xe9", 4, out, sizeof(out), &n), 0);
	cr_assert_eq(n, 5);
	cr_assert_eq(memcmp(out, "café", 5), 0);
	cr_assert_eq(pg_clip_from_latin1((const uint8_t *)"\xe9\xe9", 2, out, 3, &n), -1);
}

Test(clip, latin1_out_drop_and_replace)
{
	uint8_t out[64];
	size_t n;
	open_policy("");
	cr_assert_eq(pg_clip_to_latin1(&p, (const uint8_t *)"café", 5, out, sizeof(out), &n, &v),
		     0);
	cr_assert_eq(n, 4);
	cr_assert_eq(memcmp(out, "caf\xe9", 4), 0);
	const char *jp = "住民票 A";
	cr_assert_eq(
	    pg_clip_to_latin1(&p, (const uint8_t *)jp, strlen(jp), out, sizeof(out), &n, &v), -1);
	cr_assert_str_eq(v.rule, "clipboard_latin1 = drop (U+4F4F has no Latin-1 form)");
	pg_config_free(&c);
	open_policy("clipboard_latin1 = replace\n");
	cr_assert_eq(
	    pg_clip_to_latin1(&p, (const uint8_t *)jp, strlen(jp), out, sizeof(out), &n, &v), 0);
	cr_assert_eq(n, 5);
	cr_assert_eq(memcmp(out, "??? A", 5), 0);
	cr_assert_eq(v.replaced, 3);
}

Test(clip, detector_entry_point)
{
	unsigned which;
	const char *t = "4111111111111111";
	cr_assert(pg_clip_detect((const uint8_t *)t, strlen(t), PG_POLICY_DETECT_ALL, &which));
	cr_assert_eq(which, PG_POLICY_DETECT_CREDIT_CARD);
	/* without the card detector, the first 12 digits are still a valid My Number
	 * only when separated from the rest */
	cr_assert_not(
	    pg_clip_detect((const uint8_t *)t, strlen(t), PG_POLICY_DETECT_MYNUMBER, &which));
	t = "4111 1111 1111 1111";
	cr_assert(pg_clip_detect((const uint8_t *)t, strlen(t), PG_POLICY_DETECT_MYNUMBER, &which));
	cr_assert_eq(which, PG_POLICY_DETECT_MYNUMBER);
}
