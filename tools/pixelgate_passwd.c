/* pixelgate-passwd: manage the users file (auth/users.h). Passwords come from the
 * terminal (no echo, asked twice) or, when stdin is not a terminal, as one line of
 * stdin; never from the command line. Exit 0 on success, 1 on failure, 2 on a
 * usage error.
 *
 * PIXELGATE_SCRYPT_LN (10..20, within the caps of auth/users.h) lowers or raises the
 * scrypt cost of the hashes add and passwd write; the tests use it to stay fast. It
 * changes nothing else: a hash carries its own parameters. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <qrencode.h>

#include "auth/totp.h"
#include "auth/users.h"

#define PROG	       "pixelgate-passwd"
#define DEFAULT_FILE   "/etc/pixelgate/users"
#define MIN_PASSWORD   8
#define ENROL_ATTEMPTS 3
#define EXIT_FAIL      1
#define EXIT_USAGE     2

static struct termios saved_termios;
static volatile sig_atomic_t termios_saved;

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " [-f USERS_FILE] COMMAND\n"
		   "commands:\n"
		   "  add USER [--groups a,b]  add a user (asks for the password)\n"
		   "  passwd USER              change a user's password\n"
		   "  lock USER | unlock USER  refuse or allow the user's logins\n"
		   "  del USER                 delete a user\n"
		   "  groups USER a,b          set the user's groups (\"\" for none)\n"
		   "  totp USER                enrol the user in TOTP (shows a QR code)\n"
		   "  totp-off USER            turn the user's TOTP off\n"
		   "  list                     list users, groups and flags\n"
		   "The users file defaults to " DEFAULT_FILE ". Passwords are read from the\n"
		   "terminal, or as one line of stdin when it is not a terminal.\n");
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static void
error(const char *fmt, ...)
{
	va_list ap;
	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void restore_terminal(int sig)
{
	if (termios_saved)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* One line from stdin into buf, without the newline, unbuffered so no copy of a
 * secret stays in stdio. Returns its length, -E2BIG when longer than size - 1
 * (the rest of the line is consumed), -ENODATA at end of input with nothing read. */
static int read_line(char *buf, size_t size)
{
	size_t n = 0;
	bool any = false, over = false;
	for (;;) {
		char c;
		ssize_t r = read(STDIN_FILENO, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		any = true;
		if (c == '\n')
			break;
		if (n + 1 < size)
			buf[n++] = c;
		else
			over = true;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (over) {
		OPENSSL_cleanse(buf, size);
		return -E2BIG;
	}
	return any ? (int)n : -ENODATA;
}

/* Prompt on the terminal with echo off. */
static int read_hidden(const char *prompt, char *buf, size_t size)
{
	struct termios t;
	fputs(prompt, stderr);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &saved_termios) < 0)
		return -errno;
	termios_saved = 1;
	t = saved_termios;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	t.c_lflag |= ICANON;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) < 0)
		return -errno;
	int rc = read_line(buf, size);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
	termios_saved = 0;
	fputc('\n', stderr);
	return rc;
}

/* The new password: twice from a terminal, once from other stdin. */
static int get_password(char *buf, size_t size)
{
	char again[PG_USERS_MAX_PASSWORD + 2];
	int n;
	bool tty = isatty(STDIN_FILENO);
	if (tty)
		n = read_hidden("New password: ", buf, size);
	else
		n = read_line(buf, size);
	if (n == -E2BIG) {
		error("password longer than %d bytes", PG_USERS_MAX_PASSWORD);
		return -1;
	}
	if (n < 0) {
		error("no password given on stdin");
		return -1;
	}
	if (strlen(buf) != (size_t)n) {
		error("password contains a NUL byte");
		return -1;
	}
	if (n < MIN_PASSWORD) {
		error("password too short: at least %d characters", MIN_PASSWORD);
		return -1;
	}
	if (!tty)
		return n;
	int m = read_hidden("Repeat password: ", again, sizeof(again));
	bool same = m == n && CRYPTO_memcmp(again, buf, (size_t)n) == 0;
	OPENSSL_cleanse(again, sizeof(again));
	if (!same) {
		error("passwords do not match");
		return -1;
	}
	return n;
}

static int scrypt_ln(unsigned *ln)
{
	const char *s = getenv("PIXELGATE_SCRYPT_LN");
	*ln = PG_USERS_SCRYPT_LN;
	if (!s || !*s)
		return 0;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < PG_USERS_SCRYPT_MIN_LN || v > 20) {
		error("PIXELGATE_SCRYPT_LN=%s: expected a whole number from %d to 20", s,
		      PG_USERS_SCRYPT_MIN_LN);
		return -1;
	}
	*ln = (unsigned)v;
	return 0;
}

/* Ask for a password and hash it into hash. */
static int new_hash(char *hash, size_t size)
{
	char pw[PG_USERS_MAX_PASSWORD + 2];
	unsigned ln;
	if (scrypt_ln(&ln) < 0)
		return -1;
	int n = get_password(pw, sizeof(pw));
	int rc = n < 0 ? -1
		       : pg_users_hash_password(pw, (size_t)n, ln, PG_USERS_SCRYPT_R,
						PG_USERS_SCRYPT_P, hash, size);
	OPENSSL_cleanse(pw, sizeof(pw));
	if (rc == -EINVAL && n >= 0)
		error("scrypt parameters ln=%u r=%d p=%d are over the limits", ln,
		      PG_USERS_SCRYPT_R, PG_USERS_SCRYPT_P);
	else if (rc < -1)
		error("cannot hash the password: %s", strerror(-rc));
	return rc < 0 ? -1 : 0;
}

/* Hold an exclusive lock on the users file so two edits do not lose one another.
 * The lock is on the inode, and a save replaces the inode: after locking, check the
 * path still names what was locked, or try again. Returns the fd, -1 when the file
 * does not exist yet (nothing to lock), or -2 on error. */
static int lock_file(const char *path)
{
	for (int tries = 0; tries < 100; tries++) {
		struct stat a, b;
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return errno == ENOENT ? -1 : -2;
		if (flock(fd, LOCK_EX) < 0 || fstat(fd, &a) < 0) {
			close(fd);
			return -2;
		}
		if (stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return fd;
		close(fd);
	}
	return -2;
}

static struct pg_users *load(const char *path, bool may_create)
{
	char err[512];
	struct pg_users *db = NULL;
	int rc = pg_users_load(path, &db, err, sizeof(err));
	if (rc == -ENOENT && may_create) {
		db = pg_users_new();
		if (!db)
			error("out of memory");
		return db;
	}
	if (rc < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		return NULL;
	}
	return db;
}

static int save(struct pg_users *db, const char *path)
{
	int rc = pg_users_save(db, path);
	if (rc < 0) {
		error("cannot write %s: %s (the file is unchanged)", path, strerror(-rc));
		return -1;
	}
	return 0;
}

static bool need_user(const struct pg_users *db, const char *path, const char *user)
{
	if (pg_users_lookup(db, user))
		return true;
	error("no user '%s' in %s", user, path);
	return false;
}

/* A QR code of text on stdout, two modules per character cell with Unicode half
 * blocks. Light modules are drawn as blocks; on a terminal, colours are forced to
 * white on black so it scans whatever the terminal's own colours. */
static int print_qr(const char *text)
{
	static const int quiet = 4; /* modules, as ISO/IEC 18004 asks */
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (!qr)
		return -1;
	bool tty = isatty(STDOUT_FILENO);
	int w = qr->width;
	for (int y = -quiet; y < w + quiet; y += 2) {
		if (tty)
			fputs("\033[97;40m", stdout);
		for (int x = -quiet; x < w + quiet; x++) {
			bool top = y >= 0 && y < w && x >= 0 && x < w && (qr->data[y * w + x] & 1);
			bool bot = y + 1 >= 0 && y + 1 < w && x >= 0 && x < w &&
				   (qr->data[(y + 1) * w + x] & 1);
			/* Blocks are light: dark modules are where no block is drawn. */
			if (!top && !bot)
				fputs("\u2588", stdout);
			else if (!top)
				fputs("\u2580", stdout);
			else if (!bot)
				fputs("\u2584", stdout);
			else
				fputc(' ', stdout);
		}
		if (tty)
			fputs("\033[0m", stdout);
		fputc('\n', stdout);
	}
	QRcode_free(qr);
	return 0;
}

static int cmd_totp(struct pg_users *db, const char *path, const char *user)
{
	uint8_t key[PG_TOTP_KEY_SIZE];
	char secret[PG_TOTP_MAX_BASE32 + 1], uri[512], code[32];
	int rc = -1;

	if (RAND_bytes(key, sizeof(key)) != 1) {
		error("cannot get random bytes for the secret");
		return -1;
	}
	pg_totp_base32_encode(key, sizeof(key), secret, sizeof(secret));
	if (pg_totp_uri(user, secret, uri, sizeof(uri)) < 0) {
		error("user name too long for an otpauth URI");
		goto out;
	}
	printf("Scan this QR code with an authenticator app (or enter the secret by hand):\n\n");
	if (print_qr(uri) < 0)
		error("cannot draw the QR code; use the URI below");
	printf("\n%s\nsecret: %s\n\n", uri, secret);
	printf("From now on %s types the password immediately followed by the 6-digit code,\n"
	       "with nothing between them.\n\n",
	       user);
	fflush(stdout);

	bool tty = isatty(STDIN_FILENO);
	for (int attempt = 0; attempt < (tty ? ENROL_ATTEMPTS : 1); attempt++) {
		uint64_t last = 0;
		if (tty) {
			fputs("Code shown by the app: ", stderr);
			fflush(stderr);
		}
		int n = read_line(code, sizeof(code));
		if (n == -ENODATA) {
			error("no code given; TOTP not enabled");
			goto out;
		}
		int v = n < 0 ? -EINVAL
			      : pg_totp_verify(key, sizeof(key), code, (size_t)n,
					       (uint64_t)time(NULL), &last);
		if (v == 0) {
			if (pg_users_set_totp(db, user, secret) < 0) {
				error("cannot store the secret");
				goto out;
			}
			rc = save(db, path);
			if (rc == 0)
				printf("TOTP enabled for %s\n", user);
			goto out;
		}
		if (v == -EINVAL)
			error("expected the %d digits the app shows", PG_TOTP_DIGITS);
		else
			error("wrong code (is the clock right?)");
	}
	error("TOTP not enabled for %s", user);
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(uri, sizeof(uri));
	OPENSSL_cleanse(code, sizeof(code));
	return rc;
}

static int cmd_list(const struct pg_users *db)
{
	size_t n = pg_users_count(db);
	printf("%-24s %-30s %-5s %s\n", "USER", "GROUPS", "TOTP", "LOCKED");
	for (size_t i = 0; i < n; i++) {
		const struct pg_user *u = pg_users_at(db, i);
		const char *g = pg_users_groups(u);
		printf("%-24s %-30s %-5s %s\n", pg_users_name(u), *g ? g : "-",
		       pg_users_has_totp(u) ? "yes" : "no", pg_users_is_locked(u) ? "yes" : "no");
	}
	return 0;
}

struct command {
	const char *name;
	int args; /* after the command name, not counting options */
	bool writes;
};

static const struct command commands[] = {
    {"add", 1, true},	 {"passwd", 1, true},	{"lock", 1, true},
    {"unlock", 1, true}, {"del", 1, true},	{"groups", 2, true},
    {"totp", 1, true},	 {"totp-off", 1, true}, {"list", 0, false},
};

static int run(const char *path, const struct command *c, char **argv, const char *groups)
{
	const char *user = c->args ? argv[0] : NULL;
	char hash[PG_USERS_MAX_HASH + 1];
	int rc = -1;
	int lock = c->writes ? lock_file(path) : -1;
	if (lock == -2) {
		error("cannot lock %s: %s", path, strerror(errno));
		return -1;
	}
	struct pg_users *db = load(path, strcmp(c->name, "add") == 0);
	if (!db)
		goto out;

	if (strcmp(c->name, "list") == 0) {
		rc = cmd_list(db);
	} else if (strcmp(c->name, "add") == 0) {
		if (pg_users_lookup(db, user)) {
			error("user '%s' already exists in %s", user, path);
			goto out;
		}
		if (pg_users_count(db) >= PG_USERS_MAX_USERS) {
			error("%s already has %d users, the most it may hold", path,
			      PG_USERS_MAX_USERS);
			goto out;
		}
		if (new_hash(hash, sizeof(hash)) < 0)
			goto out;
		if (pg_users_add(db, user, groups ? groups : "", hash) < 0) {
			error("cannot add '%s'", user);
			goto out;
		}
		rc = save(db, path);
		if (rc == 0)
			printf("added %s\n", user);
	} else if (!need_user(db, path, user)) {
		goto out;
	} else if (strcmp(c->name, "passwd") == 0) {
		if (new_hash(hash, sizeof(hash)) < 0 || pg_users_set_hash(db, user, hash) < 0)
			goto out;
		rc = save(db, path);
		if (rc == 0)
			printf("password changed for %s\n", user);
	} else if (strcmp(c->name, "lock") == 0 || strcmp(c->name, "unlock") == 0) {
		bool locking = c->name[0] == 'l';
		pg_users_set_locked(db, user, locking);
		rc = save(db, path);
		if (rc == 0)
			printf("%s %s\n", locking ? "locked" : "unlocked", user);
	} else if (strcmp(c->name, "del") == 0) {
		rc = pg_users_remove(db, user);
		if (rc == 0)
			rc = save(db, path);
		if (rc == 0)
			printf("deleted %s\n", user);
	} else if (strcmp(c->name, "groups") == 0) {
		rc = pg_users_set_groups(db, user, argv[1]);
		if (rc == 0)
			rc = save(db, path);
		if (rc == 0)
			printf("groups of %s: %s\n", user, *argv[1] ? argv[1] : "(none)");
	} else if (strcmp(c->name, "totp") == 0) {
		rc = cmd_totp(db, path, user);
	} else if (strcmp(c->name, "totp-off") == 0) {
		pg_users_set_totp(db, user, NULL);
		rc = save(db, path);
		if (rc == 0)
			printf("TOTP off for %s\n", user);
	}
out:
	OPENSSL_cleanse(hash, sizeof(hash));
	pg_users_del(db);
	if (lock >= 0)
		close(lock);
	return rc < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	const char *path = DEFAULT_FILE, *groups = NULL;
	char *args[2];
	int nargs = 0, i = 1;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (i < argc && strcmp(argv[i], "-f") == 0) {
		if (i + 1 >= argc) {
			error("-f needs a file name");
			return EXIT_USAGE;
		}
		path = argv[i + 1];
		i += 2;
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const struct command *c = NULL;
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (strcmp(argv[i], commands[k].name) == 0)
			c = &commands[k];
	if (!c) {
		error("unknown command '%s' (try " PROG " --help)", argv[i]);
		return EXIT_USAGE;
	}
	for (i++; i < argc; i++) {
		if (strcmp(c->name, "add") == 0 && strcmp(argv[i], "--groups") == 0) {
			if (i + 1 >= argc) {
				error("--groups needs a value such as staff,it");
				return EXIT_USAGE;
			}
			groups = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] != '\0' && nargs == 0) {
			error("%s: unknown option '%s'", c->name, argv[i]);
			return EXIT_USAGE;
		} else if (nargs < c->args) {
			args[nargs++] = argv[i];
		} else {
			error("%s: unexpected argument '%s'", c->name, argv[i]);
			return EXIT_USAGE;
		}
	}
	if (nargs != c->args) {
		error("%s: expected %s", c->name,
		      c->args == 0   ? "no arguments"
		      : c->args == 1 ? "a user name"
				     : "a user name and a group list such as staff,it");
		return EXIT_USAGE;
	}
	if (c->args && !pg_users_valid_name(args[0])) {
		error("bad user name '%.64s': use 1-%d of A-Z a-z 0-9 . _ @ -, starting with a "
		      "letter or digit",
		      args[0], PG_USERS_MAX_NAME);
		return EXIT_USAGE;
	}
	if (groups && !pg_users_valid_groups(groups)) {
		error("bad group list '%.200s': comma-separated names of A-Z a-z 0-9 . _ -, at "
		      "most %d, no repeats",
		      groups, PG_USERS_MAX_GROUPS);
		return EXIT_USAGE;
	}
	if (c->args == 2 && !pg_users_valid_groups(args[1])) {
		error("bad group list '%.200s': comma-separated names of A-Z a-z 0-9 . _ -, at "
		      "most %d, no repeats",
		      args[1], PG_USERS_MAX_GROUPS);
		return EXIT_USAGE;
	}
	signal(SIGINT, restore_terminal);
	signal(SIGTERM, restore_terminal);
	signal(SIGHUP, restore_terminal);
	return run(path, c, args, groups) < 0 ? EXIT_FAIL : 0;
}
