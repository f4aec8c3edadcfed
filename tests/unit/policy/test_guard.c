/* Every prefix of UTF-8 multibyte sequences and of mixed fixtures, placed right
 * against a PROT_NONE page (input and output), so an over-read or over-write crashes. */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "policy_util.h"

static struct pg_config c;
static struct pg_policy p;
static uint8_t *in_page, *out_page;
static size_t page;

static uint8_t *guarded(void)
{
	uint8_t *m =
	    mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(m, MAP_FAILED);
	cr_assert_eq(mprotect(m + page, page, PROT_NONE), 0);
	return m;
}

static void init(void)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	in_page = guarded();
	out_page = guarded();
	pol_resolve(&c,
		    "[policy]\nclipboard_to_browser = text\nclipboard_to_viewer = text\n"
		    "clipboard_latin1 = replace\ndeny_pattern = never-matches\n",
		    NULL, &p);
}

static void fini(void)
{
	munmap(in_page, 2 * page);
	munmap(out_page, 2 * page);
	pg_config_free(&c);
}

TestSuite(clip_guard, .init = init, .fini = fini);

/* Run every checker on s[0..n) placed at the end of the readable page. */
static int check_at_guard(const uint8_t *s, size_t n, enum pg_clip_dir dir)
{
	uint8_t *in = in_page + page - n;
	uint8_t *out = out_page + page - n;
	struct pg_clip_verdict v, lv;
	size_t out_len, l1_len;
	unsigned which;
	memcpy(in, s, n);
	int rc = pg_clip_check(&p, dir, in, n, out, n, &out_len, &v);
	int lrc = pg_clip_to_latin1(&p, in, n, out, n, &l1_len, &lv);
	cr_assert_eq(rc, lrc, "check and Latin-1 disagree on %zu bytes", n);
	if (rc < 0)
		cr_assert_str_eq(v.rule, "invalid UTF-8");
	pg_clip_detect(in, n, PG_POLICY_DETECT_ALL, &which);
	return rc;
}

static void every_prefix(const char *fixture)
{
	size_t len = strlen(fixture);
	/* a prefix is valid exactly when it does not end inside a sequence */
	for (size_t n = 0; n <= len; n++) {
		const uint8_t *s = (const uint8_t *)fixture;
		bool complete = n == len || (s[n] & 0xc0) != 0x80;
		for (int d = 0; d < 2; d++) {
			int rc = check_at_guard(s, n, d ? PG_CLIP_TO_VIEWER : PG_CLIP_TO_BROWSER);
			cr_assert_eq(rc == 0, complete, "prefix %zu of '%s'", n, fixture);
		}
	}
}

Test(clip_guard, two_byte_sequence)
{
	every_prefix("é");
	every_prefix("\xc2\x85"); /* C1 NEL: valid, stripped */
}

Test(clip_guard, three_byte_sequences)
{
	every_prefix("住");
	every_prefix("\u202E"); /* bidi override: valid, stripped */
	every_prefix("１");	/* full-width digit */
}

Test(clip_guard, four_byte_sequence)
{
	every_prefix("😀");
	every_prefix("\U0010FFFF");
}

Test(clip_guard, mixed_fixture)
{
	every_prefix("住民票の写し\r\n１２３４ é 😀\t\u2066x\u2069");
}

Test(clip_guard, truncated_sequences_against_the_guard)
{
	/* lead bytes whose continuation would lie on the guard page */
	const char *leads[] = {"\xc3",	   "\xe4",	   "\xe4\xbd",	   "\xf0",
			       "\xf0\x9f", "\xf0\x9f\x98", "a\xf4\x8f\xbf"};
	for (size_t i = 0; i < sizeof(leads) / sizeof(leads[0]); i++)
		cr_assert_eq(
		    check_at_guard((const uint8_t *)leads[i], strlen(leads[i]), PG_CLIP_TO_BROWSER),
		    -1);
}
