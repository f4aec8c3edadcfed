/* Field values from peers: escaped by jansson, never breaking a line; ill-formed
 * UTF-8 replaced; lengths capped. Names that could carry a secret are refused. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "audit_util.h"

static struct pg_audit *a;
static const char *path;

static void init(void)
{
	char err[256];
	path = au_path("audit.log");
	a = pg_audit_open(path, NULL, err, sizeof(err));
	cr_assert_not_null(a, "%s", err);
}

static void fini(void)
{
	pg_audit_close(a);
	au_cleanup();
}

TestSuite(audit_fields, .init = init, .fini = fini);

/* Write one record with user = value and return the user string as read back. */
static char *roundtrip(const char *value)
{
	size_t n;
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_S("user", value)), 0);
	char **lines = au_read_lines(path, &n);
	json_t *o = json_loads(lines[n - 1], 0, NULL);
	cr_assert_not_null(o, "%s", lines[n - 1]);
	char *s = strdup(json_string_value(json_object_get(o, "user")));
	json_decref(o);
	au_free_lines(lines, n);
	return s;
}

static size_t line_count(void)
{
	size_t n;
	char **all_lines = au_read_lines(path, &n);
	au_free_lines(all_lines, n);
	return n;
}

Test(audit_fields, hostile_strings_stay_on_one_line)
{
	const char *hostile =
	    "eve\n{\"seq\":1}\r\n\"quoted\" back\\slash\ttab \x01\x1b[31m\x7f end";
	char *back = roundtrip(hostile);
	cr_assert_str_eq(back, hostile);
	free(back);
	cr_assert_eq(line_count(), 2);
	/* No raw control byte reaches the file. */
	FILE *f = fopen(path, "r");
	int c, newlines = 0;
	while ((c = fgetc(f)) != EOF) {
		cr_assert(c >= 0x20 || c == '\n', "raw control byte 0x%02x", c);
		newlines += c == '\n';
	}
	fclose(f);
	cr_assert_eq(newlines, 2);
	const char *paths[] = {path};
	char out[1024];
	cr_assert_eq(au_verify(paths, 1, out, sizeof(out), NULL), 0, "%s", out);
}

Test(audit_fields, japanese_text_is_kept)
{
	char *back = roundtrip("山田太郎");
	cr_assert_str_eq(back, "山田太郎");
	free(back);
}

Test(audit_fields, ill_formed_utf8_becomes_replacement_characters)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"a\xff\xfe"
	     "b",
	     "a\xef\xbf\xbd\xef\xbf\xbd"
	     "b"},
	    {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},		      /* overlong '/' */
	    {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
	    {"x\xe3\x81", "x\xef\xbf\xbd\xef\xbf\xbd"},		      /* cut character */
	    {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	    {"csi\xc2\x9b"
	     "2J",
	     "csi\xef\xbf\xbd"
	     "2J"}, /* C1 control */
	    {"ok \xf0\x9f\x94\x91", "ok \xf0\x9f\x94\x91"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *back = roundtrip(cases[i].in);
		cr_assert_str_eq(back, cases[i].want, "case %zu", i);
		free(back);
	}
}

Test(audit_fields, long_values_are_capped)
{
	char big[1001];
	memset(big, 'a', 1000);
	big[1000] = '\0';
	char *back = roundtrip(big);
	cr_assert_eq(strlen(back), PG_AUDIT_MAX_VALUE + strlen(PG_AUDIT_TRUNCATED));
	cr_assert_str_eq(back + PG_AUDIT_MAX_VALUE, PG_AUDIT_TRUNCATED);
	free(back);

	/* Cut on a character boundary: 100 three-byte characters fit 85 times. */
	char kana[301] = "";
	for (int i = 0; i < 100; i++)
		strcat(kana, "\xe3\x81\x82");
	back = roundtrip(kana);
	cr_assert_eq(strlen(back), 255 + strlen(PG_AUDIT_TRUNCATED));
	cr_assert(!strncmp(back, kana, 255));
	cr_assert_str_eq(back + 255, PG_AUDIT_TRUNCATED);
	free(back);

	/* Exactly at the cap: not truncated. */
	big[PG_AUDIT_MAX_VALUE] = '\0';
	back = roundtrip(big);
	cr_assert_str_eq(back, big);
	free(back);
}

Test(audit_fields, the_biggest_record_fits)
{
	struct pg_audit_field f[PG_AUDIT_MAX_FIELDS];
	char keys[PG_AUDIT_MAX_FIELDS][PG_AUDIT_MAX_KEY + 1];
	char ctl[PG_AUDIT_MAX_VALUE + 100];
	memset(ctl, 1, sizeof(ctl) - 1); /* each byte escapes to six */
	ctl[sizeof(ctl) - 1] = '\0';
	for (int i = 0; i < PG_AUDIT_MAX_FIELDS; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%031d", i);
		f[i] = PG_AUDIT_S(keys[i], ctl);
	}
	cr_assert_eq(pg_audit_event(a, "test", f, PG_AUDIT_MAX_FIELDS), 0);
	const char *paths[] = {path};
	char out[1024];
	cr_assert_eq(au_verify(paths, 1, out, sizeof(out), NULL), 0, "%s", out);
}

Test(audit_fields, types)
{
	size_t n;
	cr_assert_eq(PG_AUDIT_EVENT(a, "session-end", PG_AUDIT_I("delta", -5),
				    PG_AUDIT_U("bytes_up", 1234567890123ULL),
				    PG_AUDIT_B("view_only", true), PG_AUDIT_S("host", NULL)),
		     0);
	char **lines = au_read_lines(path, &n);
	cr_assert(strstr(lines[n - 1], "\"event\":\"session-end\",\"delta\":-5,\"bytes_up\":"
				       "1234567890123,\"view_only\":true,\"host\":null,\"prev\":"),
		  "%s", lines[n - 1]);
	au_free_lines(lines, n);
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_U("n", UINT64_MAX)), -EINVAL);
}

Test(audit_fields, secrets_and_bad_names_are_refused)
{
	static const char *const bad_keys[] = {
	    "password",	   "user_password",
	    "passwd",	   "otp_code",
	    "code",	   "secret",
	    "api_token",   "pin",
	    "key",	   "private_key",
	    "credentials", "totp",
	    "ts",	   "seq",
	    "event",	   "prev",
	    "User",	   "",
	    "9lives",	   "a-b",
	    "a b",	   "k0123456789012345678901234567890x",
	};
	for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++)
		cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_S(bad_keys[i], "x")), -EINVAL,
			     "key '%s'", bad_keys[i]);
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_S(NULL, "x")), -EINVAL);
	static const char *const bad_events[] = {
	    "chain-start",
	    "chain-continued",
	    "chain-broken-at-start",
	    "chain-x",
	    "Auth",
	    "",
	    "auth failure",
	    "-x",
	    "a123456789012345678901234567890123456789012345678",
	};
	for (size_t i = 0; i < sizeof(bad_events) / sizeof(bad_events[0]); i++)
		cr_assert_eq(PG_AUDIT_EVENT(a, bad_events[i], PG_AUDIT_S("user", "x")), -EINVAL,
			     "event '%s'", bad_events[i]);
	cr_assert_eq(pg_audit_event(a, NULL, NULL, 0), -EINVAL);
	/* Repeated keys, too many fields. */
	cr_assert_eq(PG_AUDIT_EVENT(a, "test", PG_AUDIT_S("user", "x"), PG_AUDIT_S("user", "y")),
		     -EINVAL);
	struct pg_audit_field many[PG_AUDIT_MAX_FIELDS + 1];
	char keys[PG_AUDIT_MAX_FIELDS + 1][8];
	for (int i = 0; i <= PG_AUDIT_MAX_FIELDS; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		many[i] = PG_AUDIT_I(keys[i], i);
	}
	cr_assert_eq(pg_audit_event(a, "test", many, PG_AUDIT_MAX_FIELDS + 1), -EINVAL);
	/* Words that merely contain a secret's name are fine. */
	cr_assert_eq(PG_AUDIT_EVENT(a, "auth-failure", PG_AUDIT_S("user", "x"),
				    PG_AUDIT_S("reason", "bad password"), PG_AUDIT_I("bypassed", 0),
				    PG_AUDIT_S("keyboard", "jp106"), PG_AUDIT_S("source", "::1")),
		     0);
}

Test(audit_fields, file_is_private)
{
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
}
