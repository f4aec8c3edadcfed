/* The users file: every parse error names file:line and why; save and load round
 * trip (comments kept, mode 0600); password verification for right, wrong, unknown
 * and locked users; the caps on stored scrypt parameters; the whole login check with
 * TOTP and replay. Hashes here use ln=10, cheap but within the accepted range. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/totp.h"
#include "auth/users.h"

#define LN 10

static char hash_a[PG_USERS_MAX_HASH + 1], hash_b[PG_USERS_MAX_HASH + 1];

static void make_hashes(void)
{
	cr_assert_eq(pg_users_hash_password("alice-pw", 8, LN, 8, 1, hash_a, sizeof(hash_a)), 0);
	cr_assert_eq(pg_users_hash_password("bob-pw12", 8, LN, 8, 1, hash_b, sizeof(hash_b)), 0);
}

static struct pg_users *parse_ok(const char *text)
{
	struct pg_users *db = NULL;
	char err[256];
	int rc = pg_users_parse(text, strlen(text), "users", &db, err, sizeof(err));
	cr_assert_eq(rc, 0, "parse failed: %s", err);
	return db;
}

static void parse_fails(const char *text, int want_rc, const char *want_err)
{
	struct pg_users *db = (struct pg_users *)1;
	char err[256];
	int rc = pg_users_parse(text, strlen(text), "users", &db, err, sizeof(err));
	cr_assert_eq(rc, want_rc, "rc %d for: %s (err: %s)", rc, text, err);
	cr_assert_null(db);
	cr_assert(strstr(err, want_err), "error \"%s\" lacks \"%s\"", err, want_err);
}

Test(users, hash_format)
{
	make_hashes();
	cr_assert_eq(strncmp(hash_a, "$scrypt$ln=10,r=8,p=1$", 22), 0, "%s", hash_a);
	/* 16-byte salt, 32-byte key: 22 + 43 base64 characters. */
	cr_assert_eq(strlen(hash_a), 22 + 22 + 1 + 43);
	cr_assert_eq(pg_users_check_hash(hash_a), 0);
	/* A fresh salt each time. */
	cr_assert_str_neq(hash_a, hash_b);
	char again[PG_USERS_MAX_HASH + 1];
	cr_assert_eq(pg_users_hash_password("alice-pw", 8, LN, 8, 1, again, sizeof(again)), 0);
	cr_assert_str_neq(again, hash_a);
	cr_assert_eq(pg_users_hash_password("x", 1, LN, 8, 1, again, 20), -E2BIG);
}

Test(users, parameter_caps)
{
	static const char *const salt_key = "$AAAAAAAAAAAAAAAAAAAAAA$"
					    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	static const struct {
		const char *params;
		int rc;
	} v[] = {
	    {"ln=14,r=8,p=1", 0},	 {"ln=10,r=1,p=1", 0},	       {"ln=16,r=8,p=2", 0},
	    {"ln=9,r=8,p=1", -ERANGE},	/* below the floor */
	    {"ln=21,r=1,p=1", -ERANGE}, /* over ln's cap */
	    {"ln=17,r=8,p=1", -ERANGE}, /* 128 MiB */
	    {"ln=16,r=8,p=3", -ERANGE}, /* work 3 * 2^19 */
	    {"ln=14,r=33,p=1", -ERANGE}, {"ln=14,r=8,p=17", -ERANGE},  {"ln=14,r=0,p=1", -ERANGE},
	    {"ln=999,r=8,p=1", -ERANGE}, {"ln=1000,r=8,p=1", -EINVAL}, /* four digits */
	    {"ln=014,r=8,p=1", -EINVAL},			       /* leading zero */
	    {"ln=14,r=8", -EINVAL},	 {"ln=14,p=1,r=8", -EINVAL},   {"ln=-1,r=8,p=1", -EINVAL},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char h[300];
		snprintf(h, sizeof(h), "$scrypt$%s%s", v[i].params, salt_key);
		cr_assert_eq(pg_users_check_hash(h), v[i].rc, "%s", h);
	}
	static const char *const bad[] = {
	    "",
	    "$argon2id$v=19$m=65536,t=3,p=4$AAAA$AAAA",
	    "$scrypt$ln=14,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA",			      /* no key */
	    "$scrypt$ln=14,r=8,p=1$AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* short salt
										       */
	    "$scrypt$ln=14,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAA", /* short key */
	    "$scrypt$ln=14,r=8,p=1$AAAAAAAAAAAAAAAAAAAAA=$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "$scrypt$ln=14,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAB$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(pg_users_check_hash(bad[i]), -EINVAL, "%s", bad[i]);
	/* New hashes are held to the same caps. */
	char out[PG_USERS_MAX_HASH + 1];
	cr_assert_eq(pg_users_hash_password("x", 1, 21, 8, 1, out, sizeof(out)), -EINVAL);
	cr_assert_eq(pg_users_hash_password("x", 1, 17, 8, 1, out, sizeof(out)), -EINVAL);
	cr_assert_eq(pg_users_hash_password("x", 1, 9, 8, 1, out, sizeof(out)), -EINVAL);
}

Test(users, parse_good_file)
{
	make_hashes();
	char text[2048];
	snprintf(text, sizeof(text),
		 "# pixelgate users\n"
		 "\n"
		 "alice:staff,it:%s:JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP:\r\n"
		 "   # indented comment\n"
		 "b.o-b_2@example.jp::%s::locked",
		 hash_a, hash_b);
	struct pg_users *db = parse_ok(text);
	cr_assert_eq(pg_users_count(db), 2);
	const struct pg_user *a = pg_users_lookup(db, "alice");
	cr_assert_not_null(a);
	cr_assert_str_eq(pg_users_groups(a), "staff,it");
	cr_assert(pg_users_in_group(a, "staff"));
	cr_assert(pg_users_in_group(a, "it"));
	cr_assert_not(pg_users_in_group(a, "staf"));
	cr_assert_not(pg_users_in_group(a, ""));
	cr_assert(pg_users_has_totp(a));
	cr_assert_not(pg_users_is_locked(a));
	const struct pg_user *b = pg_users_lookup(db, "b.o-b_2@example.jp");
	cr_assert_not_null(b);
	cr_assert(pg_users_is_locked(b));
	cr_assert_not(pg_users_has_totp(b));
	cr_assert_str_eq(pg_users_groups(b), "");
	cr_assert_null(pg_users_lookup(db, "Alice"));
	cr_assert_eq(pg_users_at(db, 0), a);
	cr_assert_null(pg_users_at(db, 2));
	pg_users_del(db);
	db = parse_ok("");
	cr_assert_eq(pg_users_count(db), 0);
	pg_users_del(db);
}

Test(users, parse_errors_name_file_and_line)
{
	make_hashes();
	char t[4096];
	const char *h = hash_a;
	snprintf(t, sizeof(t), "# c\nalice:staff:%s:\n", h);
	parse_fails(t, -EINVAL, "users:2: expected 5 fields NAME:GROUPS:HASH:TOTP:FLAGS, found 4");
	snprintf(t, sizeof(t), "\nalice:staff:%s:::\n", h);
	parse_fails(t, -EINVAL, "users:2: expected 5 fields");
	snprintf(t, sizeof(t), "al ice:staff:%s::\n", h);
	parse_fails(t, -EINVAL, "users:1: bad user name 'al ice'");
	snprintf(t, sizeof(t), "-alice::%s::\n", h);
	parse_fails(t, -EINVAL, "users:1: bad user name '-alice'");
	snprintf(t, sizeof(t), "::%s::\n", h);
	parse_fails(t, -EINVAL, "users:1: bad user name ''");
	snprintf(t, sizeof(t), "%s::%s::\n",
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", h);
	parse_fails(t, -EINVAL, "users:1: bad user name 'aaaa");
	snprintf(t, sizeof(t), "alice::%s::\n#\nbob::%s::\nalice::%s::\n", h, h, h);
	parse_fails(t, -EINVAL, "users:4: duplicate user 'alice' (first on line 1)");
	snprintf(t, sizeof(t), "alice:staff,,it:%s::\n", h);
	parse_fails(t, -EINVAL, "users:1: user 'alice': bad group name ''");
	snprintf(t, sizeof(t), "alice:st@ff:%s::\n", h);
	parse_fails(t, -EINVAL, "users:1: user 'alice': bad group name 'st@ff'");
	snprintf(t, sizeof(t), "alice:it,staff,it:%s::\n", h);
	parse_fails(t, -EINVAL, "users:1: user 'alice': group 'it' listed twice");
	parse_fails("alice::plaintext::\n", -EINVAL,
		    "users:1: user 'alice': bad password hash: expected $scrypt$");
	parse_fails("alice::$scrypt$ln=22,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$"
		    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA::\n",
		    -EINVAL, "users:1: user 'alice': scrypt parameters over the limits");
	snprintf(t, sizeof(t), "alice::%s:JBSWY3DPEHPK3PX1:\n", h);
	parse_fails(t, -EINVAL, "users:1: user 'alice': bad TOTP secret: expected base32");
	snprintf(t, sizeof(t), "alice::%s:jbswy3dpehpk3pxp:\n", h);
	parse_fails(t, -EINVAL, "users:1: user 'alice': bad TOTP secret: expected base32");
	snprintf(t, sizeof(t), "alice::%s:JBSWY3DP:\n", h);
	parse_fails(t, -EINVAL, "users:1: user 'alice': bad TOTP secret: key must be 10 to 64");
	snprintf(t, sizeof(t), "alice::%s::locked,admin\n", h);
	parse_fails(t, -EINVAL, "users:1: user 'alice': unknown flag 'admin' (known: locked)");
	snprintf(t, sizeof(t), "alice::%s::locked,\n", h);
	parse_fails(t, -EINVAL, "users:1: user 'alice': empty flag");
	parse_fails("a\0b::x::\n", -EINVAL, "users:1: expected 5 fields");
	/* The error never quotes a secret. */
	snprintf(t, sizeof(t), "alice::%s:JBSWY3DPEHPK3PX1:\n", h);
	char err[256];
	struct pg_users *db;
	pg_users_parse(t, strlen(t), "users", &db, err, sizeof(err));
	cr_assert_null(strstr(err, "JBSWY3"));
	cr_assert_null(strstr(err, "$scrypt"));
}

Test(users, parse_limits)
{
	make_hashes();
	/* A line over PG_USERS_MAX_LINE, even a comment. */
	size_t n = PG_USERS_MAX_LINE + 10;
	char *t = malloc(n + 16);
	memcpy(t, "ok::", 4);
	memset(t, '#', n);
	memcpy(t + n, "\n", 2);
	parse_fails(t, -EINVAL, "users:1: line longer than 1024 bytes");
	free(t);
	/* NUL inside a line. */
	struct pg_users *db;
	char err[256];
	cr_assert_eq(pg_users_parse("#a\0b\n", 5, "u", &db, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "u:1: NUL byte"), "%s", err);
	/* One user too many. */
	size_t line = strlen(hash_a) + 32, total = (PG_USERS_MAX_USERS + 1) * line;
	char *big = malloc(total), *p = big;
	char *last = NULL;
	for (int i = 0; i <= PG_USERS_MAX_USERS; i++) {
		last = p;
		p += sprintf(p, "u%d::%s::\n", i, hash_a);
	}
	cr_assert_eq(pg_users_parse(big, (size_t)(p - big), "u", &db, err, sizeof(err)), -E2BIG);
	cr_assert(strstr(err, "u:10001: too many users (at most 10000)"), "%s", err);
	/* Exactly the limit is fine (and the duplicate check stays quick). */
	cr_assert_eq(pg_users_parse(big, (size_t)(last - big), "u", &db, err, sizeof(err)), 0, "%s",
		     err);
	cr_assert_eq(pg_users_count(db), PG_USERS_MAX_USERS);
	pg_users_del(db);
	free(big);
}

static char tmpdir[64];

static void mk_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pg-users-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	cr_assert_eq(system(cmd), 0);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f);
	static char buf[8192];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

Test(users, save_load_round_trip, .init = mk_tmpdir, .fini = rm_tmpdir)
{
	make_hashes();
	char text[2048], path[128], err[256];
	snprintf(text, sizeof(text),
		 "# header comment\n"
		 "alice:staff:%s::\n"
		 "\n"
		 "# bob is on leave\n"
		 "bob:it:%s::locked\n"
		 "# trailer\n",
		 hash_a, hash_b);
	struct pg_users *db = parse_ok(text);
	snprintf(path, sizeof(path), "%s/users", tmpdir);
	cr_assert_eq(pg_users_save(db, path), 0);
	/* Identical bytes when nothing changed. */
	cr_assert_str_eq(slurp(path), text);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600);

	/* Change everything there is to change, save, load, compare. */
	cr_assert_eq(pg_users_add(db, "carol", "staff,it", hash_a), 0);
	cr_assert_eq(pg_users_add(db, "carol", "", hash_a), -EEXIST);
	cr_assert_eq(pg_users_add(db, "bad name", "", hash_a), -EINVAL);
	cr_assert_eq(pg_users_add(db, "dave", "a,,b", hash_a), -EINVAL);
	cr_assert_eq(pg_users_add(db, "dave", "", "nohash"), -EINVAL);
	cr_assert_eq(pg_users_set_locked(db, "bob", false), 0);
	cr_assert_eq(pg_users_set_groups(db, "alice", "admins"), 0);
	cr_assert_eq(pg_users_set_groups(db, "alice", "bad group"), -EINVAL);
	cr_assert_eq(pg_users_set_totp(db, "carol", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"), 0);
	cr_assert_eq(pg_users_set_totp(db, "carol", "JBSW"), -EINVAL);
	cr_assert_eq(pg_users_set_hash(db, "alice", hash_b), 0);
	cr_assert_eq(pg_users_set_hash(db, "nobody", hash_b), -ENOENT);
	cr_assert_eq(pg_users_remove(db, "nobody"), -ENOENT);
	cr_assert_eq(pg_users_save(db, path), 0);
	pg_users_del(db);

	cr_assert_eq(pg_users_load(path, &db, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(pg_users_count(db), 3);
	const struct pg_user *u = pg_users_lookup(db, "alice");
	cr_assert_str_eq(pg_users_groups(u), "admins");
	cr_assert_eq(pg_users_verify_password(db, "alice", "bob-pw12", 8), 0);
	cr_assert_not(pg_users_is_locked(pg_users_lookup(db, "bob")));
	cr_assert(pg_users_has_totp(pg_users_lookup(db, "carol")));
	uint8_t key[PG_TOTP_MAX_KEY];
	cr_assert_eq(pg_users_totp_key(db, "carol", key, sizeof(key)), 20);
	cr_assert_eq(pg_users_totp_key(db, "alice", key, sizeof(key)), -ENODATA);

	/* Removing bob keeps the comment above him, now above what follows. */
	cr_assert_eq(pg_users_remove(db, "bob"), 0);
	cr_assert_eq(pg_users_set_totp(db, "carol", NULL), 0);
	cr_assert_eq(pg_users_save(db, path), 0);
	pg_users_del(db);
	char want[2048];
	snprintf(want, sizeof(want),
		 "# header comment\n"
		 "alice:admins:%s::\n"
		 "\n"
		 "# bob is on leave\n"
		 "carol:staff,it:%s::\n"
		 "# trailer\n",
		 hash_b, hash_a);
	cr_assert_str_eq(slurp(path), want);

	/* No temporary file is left behind. */
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 1", tmpdir);
	cr_assert_eq(system(cmd), 0);
}

Test(users, load_errors, .init = mk_tmpdir, .fini = rm_tmpdir)
{
	make_hashes();
	char path[128], err[256], text[1024];
	struct pg_users *db = NULL;
	snprintf(path, sizeof(path), "%s/users", tmpdir);
	cr_assert_eq(pg_users_load(path, &db, err, sizeof(err)), -ENOENT);
	cr_assert(strstr(err, "cannot open"), "%s", err);

	snprintf(text, sizeof(text), "alice::%s::\n\nbob::%s::frozen\n", hash_a, hash_b);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	chmod(path, 0644);
	cr_assert_eq(pg_users_load(path, &db, err, sizeof(err)), -EPERM);
	cr_assert(strstr(err, "mode 0644"), "%s", err);
	chmod(path, 0640);
	char want[200];
	snprintf(want, sizeof(want), "%s:3: user 'bob': unknown flag 'frozen' (known: locked)",
		 path);
	cr_assert_eq(pg_users_load(path, &db, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, want);
	cr_assert_null(db);
	cr_assert_eq(pg_users_load(tmpdir, &db, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "not a regular file"), "%s", err);
}

Test(users, verify_password)
{
	make_hashes();
	char text[1024];
	snprintf(text, sizeof(text), "alice::%s::\nbob::%s::locked\n", hash_a, hash_b);
	struct pg_users *db = parse_ok(text);
	cr_assert_eq(pg_users_verify_password(db, "alice", "alice-pw", 8), 0);
	cr_assert_eq(pg_users_verify_password(db, "alice", "alice-pW", 8), -EACCES);
	cr_assert_eq(pg_users_verify_password(db, "alice", "alice-p", 7), -EACCES);
	/* HMAC would take "pw\0" for "pw": a NUL is refused outright. */
	cr_assert_eq(pg_users_verify_password(db, "alice", "alice-pw\0", 9), -EACCES);
	char h[PG_USERS_MAX_HASH + 1];
	cr_assert_eq(pg_users_hash_password("pw\0x", 4, LN, 8, 1, h, sizeof(h)), -EINVAL);
	cr_assert_eq(pg_users_verify_password(db, "alice", "", 0), -EACCES);
	cr_assert_eq(pg_users_verify_password(db, "carol", "alice-pw", 8), -ENOENT);
	cr_assert_eq(pg_users_verify_password(db, "bob", "bob-pw12", 8), -EPERM);
	cr_assert_eq(pg_users_verify_password(db, "bob", "wrong", 5), -EPERM);
	char *huge = calloc(1, PG_USERS_MAX_PASSWORD + 2);
	memset(huge, 'x', PG_USERS_MAX_PASSWORD + 1);
	cr_assert_eq(pg_users_verify_password(db, "alice", huge, PG_USERS_MAX_PASSWORD + 1),
		     -EINVAL);
	cr_assert_eq(pg_users_verify_password(db, "nobody", huge, PG_USERS_MAX_PASSWORD + 1),
		     -ENOENT);
	free(huge);
	pg_users_del(db);
}

Test(users, authenticate_with_totp)
{
	make_hashes();
	/* RFC 6238's key "12345678901234567890" in base32. */
	const char *secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
	const uint8_t key[] = "12345678901234567890";
	const uint64_t now = 1700000000;
	char text[1024], input[64], code[7];
	uint32_t c;
	snprintf(text, sizeof(text), "alice::%s:%s:\nbob::%s::\n", hash_a, secret, hash_b);
	struct pg_users *db = parse_ok(text);
	enum pg_users_result why;

	cr_assert_eq(pg_totp_hotp(key, 20, pg_totp_step(now), 6, &c), 0);
	snprintf(code, sizeof(code), "%06u", c);
	snprintf(input, sizeof(input), "alice-pw%s", code);

	/* Password without the code. */
	cr_assert_eq(pg_users_authenticate(db, "alice", "alice-pw", 8, false, now, &why), -EACCES);
	cr_assert_eq(why, PG_USERS_TOTP_MISSING);
	/* Wrong password, right code: the password is checked first. */
	snprintf(text, sizeof(text), "alice-pX%s", code);
	cr_assert_eq(pg_users_authenticate(db, "alice", text, 14, false, now, &why), -EACCES);
	cr_assert_eq(why, PG_USERS_BAD_PASSWORD);
	/* Right password, wrong code. */
	cr_assert_eq(pg_users_authenticate(db, "alice", "alice-pw000000", 14, false, now, &why),
		     -EACCES);
	cr_assert(why == PG_USERS_TOTP_BAD || c == 0);
	/* Both right, then the same code again. */
	cr_assert_eq(pg_users_authenticate(db, "alice", input, 14, false, now, &why), 0);
	cr_assert_eq(why, PG_USERS_OK);
	cr_assert_eq(pg_users_totp_last_step(pg_users_lookup(db, "alice")), pg_totp_step(now));
	cr_assert_eq(pg_users_authenticate(db, "alice", input, 14, false, now + 10, &why), -EACCES);
	cr_assert_eq(why, PG_USERS_TOTP_REPLAYED);
	/* An expired code (three steps old). */
	cr_assert_eq(pg_users_set_totp_last_step(db, "alice", 0), 0);
	cr_assert_eq(pg_users_authenticate(db, "alice", input, 14, false, now + 90, &why), -EACCES);
	cr_assert_eq(why, PG_USERS_TOTP_BAD);

	/* A user without TOTP: the whole input is the password. */
	cr_assert_eq(pg_users_authenticate(db, "bob", "bob-pw12", 8, false, now, &why), 0);
	cr_assert_eq(pg_users_authenticate(db, "bob", "bob-pw12", 8, true, now, &why), -EACCES);
	cr_assert_eq(why, PG_USERS_TOTP_NOT_ENROLLED);
	cr_assert_eq(pg_users_authenticate(db, "bob", "nope", 4, false, now, &why), -EACCES);
	cr_assert_eq(why, PG_USERS_BAD_PASSWORD);
	cr_assert_eq(pg_users_authenticate(db, "eve", "x", 1, false, now, &why), -EACCES);
	cr_assert_eq(why, PG_USERS_UNKNOWN_USER);
	cr_assert_eq(pg_users_set_locked(db, "bob", true), 0);
	cr_assert_eq(pg_users_authenticate(db, "bob", "bob-pw12", 8, false, now, &why), -EACCES);
	cr_assert_eq(why, PG_USERS_LOCKED);
	cr_assert_str_eq(pg_users_result_str(PG_USERS_LOCKED), "user locked");
	pg_users_del(db);
}

Test(users, name_and_group_validation)
{
	cr_assert(pg_users_valid_name("alice"));
	cr_assert(pg_users_valid_name("a.b_c-d@example.jp"));
	cr_assert(pg_users_valid_name("1st"));
	cr_assert_not(pg_users_valid_name(""));
	cr_assert_not(pg_users_valid_name(".hidden"));
	cr_assert_not(pg_users_valid_name("a:b"));
	cr_assert_not(pg_users_valid_name("a,b"));
	cr_assert_not(pg_users_valid_name("日本"));
	cr_assert(pg_users_valid_groups(""));
	cr_assert(pg_users_valid_groups("staff,it"));
	cr_assert_not(pg_users_valid_groups("staff,"));
	cr_assert_not(pg_users_valid_groups(",staff"));
	cr_assert_not(pg_users_valid_groups("a@b"));
	char many[400] = "";
	for (int i = 0; i <= PG_USERS_MAX_GROUPS; i++)
		sprintf(many + strlen(many), "%sg%d", i ? "," : "", i);
	cr_assert_not(pg_users_valid_groups(many));
	*strrchr(many, ',') = '\0';
	cr_assert(pg_users_valid_groups(many));
}
